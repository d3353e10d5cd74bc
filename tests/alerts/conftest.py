"""The alert tests use the intelligence tests' client and people (TH, MY, SG)."""

from tests.intel.conftest import client, intel

__all__ = ["client", "intel"]
