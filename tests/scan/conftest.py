"""The scanner's platform tests use the intelligence tests' client and people."""

from tests.intel.conftest import client, intel

__all__ = ["client", "intel"]
