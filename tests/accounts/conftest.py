"""People for the identity and security tests: two member organisations and a platform admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.app import create_app
from balai.config import Settings
from balai.directory.models import Organisation
from tests.accounts.helpers import browser
from tests.conftest import make_settings, session_on
from tests.factories import make_org, make_user
from tests.smtp import SmtpSink


@pytest.fixture
def org(db: Session) -> Organisation:
    """The organisation most tests act in."""
    return make_org(db, name="ThaiCERT", country="TH")


@pytest.fixture
def other_org(db: Session) -> Organisation:
    """An organisation whose users an admin of `org` must not see."""
    return make_org(db, name="MyCERT", country="MY")


@pytest.fixture
def admin(db: Session, org: Organisation) -> User:
    """An organisation admin of `org`."""
    user = make_user(db, org, role=Role.ORG_ADMIN, email="admin@thaicert.example")
    db.commit()
    return user


@pytest.fixture
def analyst(db: Session, org: Organisation) -> User:
    """An analyst of `org`."""
    user = make_user(db, org, role=Role.ANALYST, email="analyst@thaicert.example")
    db.commit()
    return user


@pytest.fixture
def reader(db: Session, org: Organisation) -> User:
    """A reader of `org`."""
    user = make_user(db, org, role=Role.READER, email="reader@thaicert.example")
    db.commit()
    return user


@pytest.fixture
def outsider(db: Session, other_org: Organisation) -> User:
    """A reader of `other_org`."""
    user = make_user(db, other_org, role=Role.READER, email="outsider@mycert.example")
    db.commit()
    return user


@pytest.fixture
def platform_admin(db: Session) -> User:
    """A platform admin, member of the operator's own organisation."""
    operator = make_org(db, name="Platform Operator", country="SG")
    user = make_user(db, operator, role=Role.PLATFORM_ADMIN, email="operator@hub.example")
    db.commit()
    return user


@pytest.fixture(scope="session")
def shared_app(engine: Engine, smtp: SmtpSink) -> Iterator[FastAPI]:
    """One app for the run: building one per test would cost more than most of these tests."""
    app = create_app(make_settings(engine.url.render_as_string(hide_password=False), smtp.port))
    yield app
    app.state.engine.dispose()


@pytest.fixture
def app(shared_app: FastAPI, connection: Connection, settings: Settings) -> FastAPI:
    """The app on this test's transaction and settings; a test may swap app.state.settings."""
    shared_app.state.settings = settings
    shared_app.state.sessionmaker = lambda: session_on(connection)
    return shared_app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser on the app."""
    with browser(app) as one:
        yield one
