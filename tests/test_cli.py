"""The `balai` command: database, organisations, users and API keys, clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from balai.accounts.models import ApiKey, User
from balai.audit.models import AuditEvent
from balai.cli.app import app
from balai.db import make_engine, make_sessionmaker
from balai.directory.models import Organisation
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases

runner = CliRunner()


@pytest.fixture
def cli_db(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database of its own that `balai` commands run against."""
    url = databases.new_url("cli")
    monkeypatch.setenv("BALAI_DATABASE_URL", url)
    monkeypatch.setenv("BALAI_SECRET_KEY", SECRET)
    monkeypatch.setenv("BALAI_SMTP_PORT", "1")  # nothing is delivered in these tests
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _count(url: str, model: type) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        count = session.scalar(select(func.count()).select_from(model)) or 0
    engine.dispose()
    return count


def test_db_upgrade_and_check(cli_db: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_organisation_user_and_api_key_lifecycle(cli_db: str) -> None:
    made = runner.invoke(
        app, ["org", "create", "--name", "ThaiCERT", "--kind", "national_cert", "--country", "th"]
    )
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["org", "list"])
    assert "ThaiCERT" in listed.output
    created = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "Niran@Example.org",
            "--name",
            "Niran",
            "--organisation",
            "ThaiCERT",
            "--role",
            "org_admin",
            "--password",
            "a long passphrase here",
        ],
    )
    assert created.exit_code == 0, created.output
    assert "niran@example.org" in created.output
    key = runner.invoke(app, ["apikey", "create", "--user", "niran@example.org", "--name", "siem"])
    assert key.exit_code == 0, key.output
    plain = next(line for line in key.output.splitlines() if line.startswith("balai_"))
    assert _count(cli_db, ApiKey) == 1
    listing = runner.invoke(app, ["apikey", "list", "--user", "niran@example.org"])
    assert "siem" in listing.output
    assert plain not in listing.output
    promoted = runner.invoke(app, ["user", "set-role", "niran@example.org", "analyst"])
    assert promoted.exit_code == 0, promoted.output
    gone = runner.invoke(app, ["user", "deactivate", "niran@example.org"])
    assert gone.exit_code == 0, gone.output
    users = runner.invoke(app, ["user", "list"])
    assert "analyst" in users.output
    assert _count(cli_db, AuditEvent) >= 5  # every change above was audited


def test_bad_input_is_named_and_writes_nothing(cli_db: str) -> None:
    bad_country = runner.invoke(
        app, ["org", "create", "--name", "X", "--kind", "company", "--country", "XX"]
    )
    assert bad_country.exit_code == 2
    assert "--country" in bad_country.output
    assert "'XX'" in bad_country.output
    no_org = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "a@example.org",
            "--name",
            "A",
            "--organisation",
            "Nowhere",
            "--password",
            "a long passphrase here",
        ],
    )
    assert no_org.exit_code == 1
    assert "no single organisation matches 'Nowhere'" in no_org.output
    runner.invoke(
        app, ["org", "create", "--name", "MyCERT", "--kind", "national_cert", "--country", "MY"]
    )
    short = runner.invoke(
        app,
        [
            "user",
            "create",
            "--email",
            "b@example.org",
            "--name",
            "B",
            "--organisation",
            "MyCERT",
            "--password",
            "short",
        ],
    )
    assert short.exit_code == 1
    assert "password: must be at least 12 characters" in short.output
    assert _count(cli_db, User) == 0
    assert _count(cli_db, Organisation) == 1


def test_missing_secret_key_stops_with_the_variable_named(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BALAI_SECRET_KEY")
    result = runner.invoke(app, ["org", "list"])
    assert result.exit_code == 2
    assert "BALAI_SECRET_KEY must be set" in result.output
