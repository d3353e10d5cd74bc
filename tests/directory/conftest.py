"""Fixtures of the directory tests: a client, people of every role, a sample directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from balai.config import Settings
from balai.db import make_engine
from balai.migrate import upgrade
from tests.conftest import Databases, session_on
from tests.directory.helpers import People, Sample, make_people, make_sample
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
def people(db: Session) -> People:
    """Home, away and hub organisations with a user of every role."""
    return make_people(db)


@pytest.fixture
def sample(db: Session) -> Sample:
    """A small region's directory."""
    return make_sample(db)


@pytest.fixture(scope="session")
def second_engine(databases: Databases) -> Iterator[Engine]:
    """Another empty, migrated database: the second state that imports are tried on."""
    engine = make_engine(databases.new_url("second"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def second_db(second_engine: Engine) -> Iterator[Session]:
    """A session on the second database, rolled back after the test."""
    connection = second_engine.connect()
    outer = connection.begin()
    session = session_on(connection)
    yield session
    session.close()
    outer.rollback()
    connection.close()
