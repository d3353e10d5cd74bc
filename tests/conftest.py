"""Test fixtures: a real database migrated once per run, a savepoint per test, real SMTP.

BALAI_TEST_DB chooses the database: "sqlite" (default) or "postgresql" (a throwaway
database created on the server at BALAI_TEST_PG, 127.0.0.1:5432 by default).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from balai.config import Settings, load_settings
from balai.db import make_engine
from balai.migrate import upgrade
from tests.smtp import SmtpSink

BACKEND = os.environ.get("BALAI_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("BALAI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def pytest_report_header() -> str:
    """Say which database this run uses."""
    return f"balai database backend: {BACKEND}"


class Databases:
    """Creates and drops throwaway databases on the chosen backend."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []

    def new_url(self, label: str) -> str:
        """A fresh, empty database's URL."""
        name = f"balai_{label}_{uuid.uuid4().hex[:10]}"
        if BACKEND == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.sqlite3')}"
        admin = create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        return f"{PG_SERVER}/{name}"

    def drop_all(self) -> None:
        """Drop every database this run created."""
        if not self.created:
            return
        admin = create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Factory of throwaway databases, dropped at the end of the run."""
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def engine(databases: Databases) -> Iterator[Engine]:
    """The run's database, migrated once."""
    eng = make_engine(databases.new_url("main"))
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    if outer.is_active:
        outer.rollback()
    conn.close()


def session_on(connection: Connection) -> Session:
    """A session whose commits only release savepoints of the test's transaction."""
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """The test's session."""
    session = session_on(connection)
    yield session
    session.close()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback that records what it receives."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def mail(smtp: SmtpSink) -> SmtpSink:
    """The SMTP sink, emptied for this test."""
    smtp.clear()
    return smtp


def make_settings(database_url: str, smtp_port: int, **overrides: object) -> Settings:
    """Settings for tests: real database and SMTP, fast retries."""
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "base_url": "http://testserver",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "outbox_backoff_seconds": 0.2,
        "worker_poll_seconds": 0.2,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(engine: Engine, smtp: SmtpSink) -> Settings:
    """Settings pointing at the run's database and SMTP sink."""
    return make_settings(engine.url.render_as_string(hide_password=False), smtp.port)
