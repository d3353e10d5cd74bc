"""Fixtures of the intelligence tests: a client, and people of every role in three states."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.config import Settings
from tests.intel.helpers import Intel, make_intel
from tests.web import app_on


@pytest.fixture
def client(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """A client of the app on the test's transaction (pages and API).

    Server errors come back as 500 responses rather than exceptions, so that a test of a
    refusal checks what was (not) written before it checks the response.
    """
    app = app_on(connection, settings)
    with TestClient(
        app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False
    ) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def intel(db: Session) -> Intel:
    """Home, away and third organisations with their users, committed."""
    return make_intel(db)
