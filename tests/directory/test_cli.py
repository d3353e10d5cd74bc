"""`balai directory import` and `balai directory export` against throwaway databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vobject
from sqlalchemy import func, select
from typer.testing import CliRunner

from balai.cli.app import app
from balai.db import make_engine, make_sessionmaker
from balai.directory.models import Contact, ContactChannel, Organisation
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases
from tests.directory.helpers import team_file, thai_teams
from tests.directory.test_import import BAD_TEAM_PROBLEMS, BAD_TEAMS

runner = CliRunner()


def _use_new_database(databases: Databases, monkeypatch: pytest.MonkeyPatch, label: str) -> str:
    url = databases.new_url(label)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("BALAI_DATABASE_URL", url)
    monkeypatch.setenv("BALAI_SECRET_KEY", SECRET)
    return url


@pytest.fixture
def cli_db(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty, migrated database of its own that `balai` commands run against."""
    return _use_new_database(databases, monkeypatch, "cli")


def _rows(url: str) -> tuple[int, int, int]:
    engine = make_engine(url, pool=False)
    with make_sessionmaker(engine)() as session:
        found = tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Organisation, Contact, ContactChannel)
        )
    engine.dispose()
    return found[0], found[1], found[2]


def _flat(text: str) -> str:
    """Output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def _write(tmp_path: Path, data: bytes, name: str = "teams.json") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_import_creates_then_updates(cli_db: str, tmp_path: Path) -> None:
    file = _write(tmp_path, team_file(*thai_teams()))
    first = runner.invoke(app, ["directory", "import", file])
    assert first.exit_code == 0, first.output
    assert "organisations: 3 created, 0 updated; contacts: 6 created, 0 updated" in _flat(
        first.stdout
    )
    assert _rows(cli_db)[:2] == (3, 6)
    second = runner.invoke(app, ["directory", "import", file])
    assert second.exit_code == 0, second.output
    assert "organisations: 0 created, 3 updated; contacts: 0 created, 6 updated" in _flat(
        second.stdout
    )
    assert _rows(cli_db)[:2] == (3, 6)


def test_import_of_a_bad_file_names_every_problem_and_writes_nothing(
    cli_db: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["directory", "import", _write(tmp_path, team_file(*BAD_TEAMS))])
    assert result.exit_code == 1, result.output
    printed = _flat(result.stderr)
    assert f"{len(BAD_TEAM_PROBLEMS)} problem(s); nothing was changed" in printed
    for index, name, where, message in BAD_TEAM_PROBLEMS:
        loc = f"teams[{index}]" + (f".{where}" if where else "")
        label = f" (team {name!r})" if name else ""
        assert f"{loc}{label}: " in printed, loc
        assert message in printed
    assert _rows(cli_db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"teams": [\n  {"name": "Brunei CERT", "country": "BN",}\n]}', "line 2, column 43"),
        ('{"teams": [{"name": "Équipe", "country": "FR"}]}'.encode("latin-1"), "not UTF-8 text"),
    ],
    ids=["malformed-json", "not-utf8"],
)
def test_import_of_an_unreadable_file_exits_1(
    cli_db: str, tmp_path: Path, data: bytes, expected: str
) -> None:
    result = runner.invoke(app, ["directory", "import", _write(tmp_path, data)])
    assert result.exit_code == 1, result.output
    assert expected in _flat(result.stderr)
    assert _rows(cli_db) == (0, 0, 0)


def test_import_of_a_missing_file_is_a_usage_error(cli_db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["directory", "import", str(tmp_path / "nowhere.json")])
    assert result.exit_code == 2
    assert "does not exist" in _flat(result.output)


def test_export_round_trips_through_an_empty_instance(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, cli_db: str, tmp_path: Path
) -> None:
    assert (
        runner.invoke(
            app, ["directory", "import", _write(tmp_path, team_file(*thai_teams()))]
        ).exit_code
        == 0
    )
    exported = runner.invoke(app, ["directory", "export"])
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)
    assert [t["name"] for t in document["teams"]] == [
        "Malaysia Computer Emergency Response Team",
        "Electronic Transactions Development Agency",
        "Thailand Computer Emergency Response Team",
    ]
    second = _use_new_database(databases, monkeypatch, "cli_second")
    imported = runner.invoke(
        app, ["directory", "import", _write(tmp_path, exported.stdout.encode(), "export.json")]
    )
    assert imported.exit_code == 0, imported.output
    assert _rows(second) == _rows(cli_db)
    again = runner.invoke(app, ["directory", "export", "--output", str(tmp_path / "again.json")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again.json").read_text("utf-8"))["teams"] == document["teams"]


def test_export_as_vcard_of_one_organisation(cli_db: str, tmp_path: Path) -> None:
    runner.invoke(app, ["directory", "import", _write(tmp_path, team_file(*thai_teams()))])
    engine = make_engine(cli_db, pool=False)
    with make_sessionmaker(engine)() as session:
        cert = session.scalars(
            select(Organisation).where(Organisation.short_name == "ThaiCERT")
        ).one()
    engine.dispose()
    result = runner.invoke(
        app, ["directory", "export", "--format", "vcard", "--organisation", str(cert.id)]
    )
    assert result.exit_code == 0, result.output
    cards = {card.fn.value: card for card in vobject.readComponents(result.stdout)}
    assert sorted(cards) == ["Pranee Kittisak", "Somchai Wongsakul", "ThaiCERT team"]
    assert [e.value for e in cards["ThaiCERT team"].email_list] == [
        "report@thaicert.or.th",
        "op@thaicert.or.th",
    ]
    assert cards["Somchai Wongsakul"].tel.value == "+66 81 234 5678"
    assert cards["Somchai Wongsakul"].org.value == ["Thailand Computer Emergency Response Team"]
    wrong = runner.invoke(app, ["directory", "export", "--format", "csv"])
    assert wrong.exit_code == 2
    assert "--format: must be json or vcard" in _flat(wrong.output)


def test_import_problems_are_printed_verbatim(cli_db: str, tmp_path: Path) -> None:
    team = {"name": "CERT [/ops]", "country": "XX"}
    result = runner.invoke(app, ["directory", "import", _write(tmp_path, team_file(team))])
    assert result.exit_code == 1, result.output
    assert "teams[0].country (team 'CERT [/ops]'): 'XX' is not an ISO 3166-1" in _flat(
        result.stderr
    )
