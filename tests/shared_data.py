"""Real public test material in ../shared/data (see its SOURCES.md); tests skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("BALAI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def shared(relative: str) -> Path:
    """A file of the shared test material; the calling test is skipped when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared test data is not beside this checkout")
    return path
