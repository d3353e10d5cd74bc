"""`balai intel import` against a throwaway database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from balai.accounts.models import Role
from balai.cli.app import app
from balai.db import make_engine, make_sessionmaker
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import IntelImport, ObservableValue, SharingGroup, StixObject
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases
from tests.factories import make_org, make_user
from tests.intel.helpers import body, indicator, malware, stix_examples, stix_objects
from tests.shared_data import shared

runner = CliRunner()


@dataclass
class CliWorld:
    """A database of its own, with an analyst of one organisation and another's group."""

    url: str
    email: str
    org_id: uuid.UUID
    foreign_group_id: uuid.UUID
    own_group_id: uuid.UUID

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the command's database."""
        engine = make_engine(self.url, pool=False)
        try:
            with make_sessionmaker(engine)() as session:
                yield session
        finally:
            engine.dispose()

    def rows(self) -> list[int]:
        """Objects, indexed values and imports."""
        with self.session() as session:
            return [
                session.scalar(select(func.count()).select_from(model)) or 0
                for model in (StixObject, ObservableValue, IntelImport)
            ]


@pytest.fixture
def world(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    """An empty, migrated database that `balai` runs against, with one analyst."""
    url = databases.new_url("intel_cli")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        org = make_org(session, name="ThaiCERT", country="TH")
        other = make_org(session, name="MyCERT", country="MY")
        user = make_user(session, org, role=Role.ANALYST, email="analyst@thaicert.example")
        make_user(session, org, role=Role.ANALYST, email="gone@thaicert.example", active=False)
        foreign = SharingGroup(name="Malaysian banks", owner_org_id=other.id)
        own = SharingGroup(name="Thai banks", owner_org_id=org.id)
        session.add_all([foreign, own])
        session.commit()
        found = CliWorld(url, user.email, org.id, foreign.id, own.id)
    engine.dispose()
    monkeypatch.setenv("BALAI_DATABASE_URL", url)
    monkeypatch.setenv("BALAI_SECRET_KEY", SECRET)
    return found


def _flat(text: str) -> str:
    """Output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def _file(tmp_path: Path, data: bytes, name: str = "bundle.json") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _import(file: str, *options: str, user: str = "analyst@thaicert.example") -> Result:
    return runner.invoke(app, ["intel", "import", file, "--user", user, *options])


def test_every_real_example_imports_then_is_already_present(world: CliWorld) -> None:
    seen: set[str] = set()
    for name in stix_examples():
        path = shared(f"stix/{name}")
        ids = {o["id"] for o in stix_objects(path)}
        new, present = len(ids - seen), len(ids & seen)  # two examples share an identity
        seen |= ids
        result = runner.invoke(
            app, ["intel", "import", str(path), "--user", world.email, "--tlp", "green"]
        )
        assert result.exit_code == 0, result.output
        assert f"imported {new} new objects and 0 new versions; {present} already here" in _flat(
            result.stdout
        )
    total = len(seen)
    assert world.rows()[0] == total
    assert world.rows()[2] == len(stix_examples())
    with world.session() as session:
        held = set(session.execute(select(StixObject.owner_org_id, StixObject.tlp).distinct()))
        assert held == {(world.org_id, Tlp.GREEN)}
        batch = session.scalars(select(IntelImport).order_by(IntelImport.created_at)).first()
        assert batch is not None
        assert batch.filename == stix_examples()[0]
        assert batch.distribution == Distribution.COMMUNITY
    path = shared("stix/apt1.json")
    again = runner.invoke(app, ["intel", "import", str(path), "--user", world.email])
    assert again.exit_code == 0, again.output
    assert "imported 0 new objects and 0 new versions; 76 already here; 0 values indexed" in (
        _flat(again.stdout)
    )
    assert world.rows()[0] == total


def test_a_bad_file_names_every_problem_and_writes_nothing(world: CliWorld, tmp_path: Path) -> None:
    good = indicator("[ipv4-addr:value = '198.51.100.7']")
    bad_pattern = indicator("[ipv4-addr:value = ")
    no_family = {k: v for k, v in malware().items() if k != "is_family"}
    result = _import(_file(tmp_path, body(good, bad_pattern, no_family)))
    assert result.exit_code == 1, result.output
    printed = _flat(result.stderr)
    assert "2 problem(s); nothing was changed" in printed
    assert f"objects[1] ({bad_pattern['id']}).pattern: not a valid STIX pattern" in printed
    assert f"objects[2] ({no_family['id']}).is_family: is required" in printed
    assert world.rows() == [0, 0, 0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"type": "bundle",\n "objects": [\n  {]}', "line 3, column 4: not valid JSON"),
        ('{"name": "caf\u00e9"}'.encode("latin-1"), "file: not UTF-8 text"),
    ],
    ids=["malformed", "not-utf8"],
)
def test_an_unreadable_file_exits_1(
    world: CliWorld, tmp_path: Path, data: bytes, expected: str
) -> None:
    result = _import(_file(tmp_path, data))
    assert result.exit_code == 1, result.output
    assert expected in _flat(result.stderr)
    assert world.rows() == [0, 0, 0]


def test_markings_and_users_are_checked(world: CliWorld, tmp_path: Path) -> None:
    file = _file(tmp_path, body(malware()))
    checks = [
        (["--tlp", "red", "--distribution", "community"], "TLP:RED is for named recipients only"),
        (["--tlp", "green", "--distribution", "public"], "never public"),
        (["--distribution", "sharing_group"], "choose a sharing group"),
        (
            ["--tlp", "red", "--distribution", "sharing_group", "--sharing-group"],
            "sharing_group_id: no such sharing group",
        ),
    ]
    for options, message in checks:
        if options[-1] == "--sharing-group":
            options = [*options, str(world.foreign_group_id)]
        result = _import(file, *options)
        assert result.exit_code == 1, (options, result.output)
        assert message in _flat(result.stderr), options
    for email in ("nobody@thaicert.example", "gone@thaicert.example"):
        result = _import(file, user=email)
        assert result.exit_code == 1
        assert f"no active user with the e-mail address {email}" in _flat(result.stderr)
    assert world.rows() == [0, 0, 0]
    unknown = _import(file, "--tlp", "purple")
    assert unknown.exit_code == 2
    # The organisation's own group is fine.
    shared_ok = _import(
        file,
        "--tlp",
        "red",
        "--distribution",
        "sharing_group",
        "--sharing-group",
        str(world.own_group_id),
    )
    assert shared_ok.exit_code == 0, shared_ok.output
    assert world.rows()[0] == 1


def test_a_missing_file_is_a_usage_error(world: CliWorld, tmp_path: Path) -> None:
    result = _import(str(tmp_path / "nowhere.json"))
    assert result.exit_code == 2
    assert "does not exist" in _flat(result.output)
    assert world.rows() == [0, 0, 0]
