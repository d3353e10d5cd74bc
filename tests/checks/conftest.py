"""Fixtures of the communication-check tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.checks.helpers import Region, make_region


@pytest.fixture
def region(db: Session) -> Region:
    """A coordination centre, two checked CERTs and an outsider, committed."""
    return make_region(db)
