"""Import of team-directory files: all or nothing, and every problem named where it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.directory.models import ChannelKind, Contact, ContactRole, Organisation, OrgKind
from tests.directory.helpers import (
    Json,
    People,
    directory_rows,
    error_page,
    problems,
    sign_in,
    team_file,
    text_of,
    thai_teams,
    upload,
)
from tests.factories import make_org
from tests.web import app_on, csrf_of


def _import(client: TestClient, people: People, data: bytes) -> Json:
    response = client.post(
        "/api/v1/directory/import", content=data, headers=people.key(people.platform_admin)
    )
    assert response.status_code == 200, response.text
    report: Json = response.json()
    return report


def _refused(client: TestClient, people: People, data: bytes) -> list[Json]:
    before = directory_rows(people.db)
    response = client.post(
        "/api/v1/directory/import", content=data, headers=people.key(people.platform_admin)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert directory_rows(people.db) == before
    return problems(response)


def _org(db: Session, name: str) -> Organisation:
    db.expire_all()
    return db.scalars(select(Organisation).where(Organisation.name == name)).one()


def _contact(db: Session, name: str) -> Contact:
    db.expire_all()
    return db.scalars(select(Contact).where(Contact.name == name)).one()


def test_a_team_directory_creates_organisations_and_contacts(
    client: TestClient, people: People
) -> None:
    before = directory_rows(people.db)
    report = _import(client, people, team_file(*thai_teams()))
    assert report == {
        "organisations_created": 3,
        "organisations_updated": 0,
        "contacts_created": 6,
        "contacts_updated": 0,
    }
    assert directory_rows(people.db)[:2] == (before[0] + 3, before[1] + 6)
    db = people.db
    etda = _org(db, "Electronic Transactions Development Agency")
    cert = _org(db, "Thailand Computer Emergency Response Team")
    assert etda.kind == OrgKind.MINISTRY
    assert cert.parent_id == etda.id
    assert cert.short_name == "ThaiCERT"
    assert cert.website == "https://www.thaicert.or.th/"
    assert cert.constituency == "All internet users in Thailand"
    assert [s.value for s in cert.sectors] == ["digital_infrastructure"]
    # The team's own addresses become its 24/7 desk, with the team's key.
    desk = _contact(db, "ThaiCERT team")
    assert desk.organisation_id == cert.id
    assert desk.role == ContactRole.OPERATIONS
    assert desk.channel_values(ChannelKind.EMAIL) == ["report@thaicert.or.th", "op@thaicert.or.th"]
    assert desk.channel_values(ChannelKind.PHONE) == ["+66 2 123 1212"]
    assert desk.pgp_fingerprint == "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4"
    assert desk.timezone == "Asia/Bangkok"
    somchai = _contact(db, "Somchai Wongsakul")
    pranee = _contact(db, "Pranee Kittisak")
    assert somchai.alternate_id == pranee.id
    assert (somchai.office_start, somchai.office_end) == (time(8, 30), time(17, 30))
    assert somchai.last_verified_at is None
    assert pranee.last_verified_at == datetime(2025, 1, 15, 3, 0, tzinfo=UTC)
    assert _org(db, "Malaysia Computer Emergency Response Team").parent_id is None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.DIRECTORY_IMPORTED.value)
    ).one()
    assert event.actor_user_id == people.platform_admin.id
    assert event.details == report


def test_a_second_import_updates_instead_of_duplicating(client: TestClient, people: People) -> None:
    _import(client, people, team_file(*thai_teams()))
    after_first = directory_rows(people.db)
    changed = thai_teams()
    changed[1]["contacts"][0]["phones"] = ["+66 81 999 0000"]
    changed[1]["contacts"][0]["alternate"] = None
    changed[2]["name"] = changed[2]["name"].upper()  # names match whatever their case
    report = _import(client, people, team_file(*changed))
    assert report == {
        "organisations_created": 0,
        "organisations_updated": 3,
        "contacts_created": 0,
        "contacts_updated": 6,
    }
    assert directory_rows(people.db) == after_first
    somchai = _contact(people.db, "Somchai Wongsakul")
    assert somchai.channel_values(ChannelKind.PHONE) == ["+66 81 999 0000"]
    assert somchai.alternate_id is None
    assert _org(people.db, "MALAYSIA COMPUTER EMERGENCY RESPONSE TEAM").country == "MY"


def test_an_import_updates_an_organisation_already_in_the_directory(
    client: TestClient, people: People
) -> None:
    existing = make_org(people.db, name="Thailand Computer Emergency Response Team", country="TH")
    people.db.commit()
    report = _import(client, people, team_file(*thai_teams()))
    assert (report["organisations_created"], report["organisations_updated"]) == (2, 1)
    assert _org(people.db, "Thailand Computer Emergency Response Team").id == existing.id


def test_a_parent_may_already_be_in_the_directory(client: TestClient, people: People) -> None:
    parent = make_org(people.db, name="Ministry of Transport and Communications", country="MM")
    people.db.commit()
    team = {
        "name": "Myanmar CERT",
        "country": "MM",
        "parent": "ministry of transport and communications",
        "emails": ["mmcert@mmcert.org.mm"],
    }
    _import(client, people, team_file(team))
    assert _org(people.db, "Myanmar CERT").parent_id == parent.id


def test_alternates_may_name_contacts_listed_later_or_each_other(
    client: TestClient, people: People
) -> None:
    team = {
        "name": "Lao CERT",
        "country": "LA",
        "contacts": [
            {
                "name": "Khamphone",
                "role": "technical",
                "emails": ["k@laocert.gov.la"],
                "alternate": "Souksavanh",
            },
            {
                "name": "Souksavanh",
                "role": "technical",
                "emails": ["s@laocert.gov.la"],
                "alternate": "Khamphone",
            },
            {
                "name": "Night Desk",
                "role": "operations",
                "phones": ["+856 21 254 508"],
                "alternate": "Souksavanh",
            },
        ],
    }
    _import(client, people, team_file(team))
    khamphone = _contact(people.db, "Khamphone")
    souksavanh = _contact(people.db, "Souksavanh")
    assert khamphone.alternate_id == souksavanh.id
    assert souksavanh.alternate_id == khamphone.id
    assert _contact(people.db, "Night Desk").alternate_id == souksavanh.id
    again = _import(client, people, team_file(team))
    assert again["contacts_updated"] == 3
    assert _contact(people.db, "Khamphone").alternate_id == souksavanh.id


def test_the_documented_example_imports(client: TestClient, people: People) -> None:
    guide = Path(__file__).parents[2] / "docs" / "user" / "directory.md"
    section = guide.read_text("utf-8").split("## Team-directory files", 1)[1]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    make_org(people.db, name="Ministry of Digital Economy and Society", country="TH")
    people.db.commit()
    report = _import(client, people, example.encode())
    assert (report["organisations_created"], report["contacts_created"]) == (1, 3)
    officer = _contact(people.db, "Duty officer")
    assert _contact(people.db, "Niran Srisuk").alternate_id == officer.id
    assert _contact(people.db, "ThaiCERT team").role == ContactRole.OPERATIONS


def test_a_bare_list_of_teams_is_accepted(client: TestClient, people: People) -> None:
    report = _import(client, people, json.dumps(thai_teams()).encode())
    assert report["organisations_created"] == 3


# A file in which every team but the first is wrong in its own way.
BAD_TEAMS: list[Json] = [
    {"name": "Brunei CERT", "country": "BN", "emails": ["cert@bncert.gov.bn"]},
    {"name": "Cambodia CERT", "country": "KHM"},
    {
        "name": "Lao CERT",
        "country": "LA",
        "contacts": [
            {"name": "Khamphone", "role": "technical", "emails": ["khamphone at laocert"]}
        ],
    },
    {"name": "brunei cert", "country": "BN"},
    {"name": "Myanmar CERT", "country": "MM", "parent": "Ministry of Transport"},
    {
        "name": "PhCERT",
        "country": "PH",
        "contacts": [
            {
                "name": "Maria Santos",
                "role": "policy",
                "phones": ["+63 2 8920 0101"],
                "alternate": "Jose Rizal",
            }
        ],
    },
    {"name": "VNCERT", "country": "VN", "kind": "spy_agency"},
    {
        "name": "SingCERT",
        "country": "SG",
        "contacts": [
            {
                "name": "Desk",
                "role": "operations",
                "emails": ["desk@csa.gov.sg"],
                "office_start": "09:00",
            }
        ],
    },
    {"country": "ID", "emails": ["idsirtii@idsirtii.or.id"]},
    {"name": "TH-CERT", "country": "TH", "contacts": [{"name": "Nobody", "role": "technical"}]},
]

# (team index, its name or None, what the location names, what the message says)
BAD_TEAM_PROBLEMS = [
    (1, "Cambodia CERT", "country", "'KHM' is not an ISO 3166-1 alpha-2 country code"),
    (2, "Lao CERT", "contacts[0].emails[0]", "not a valid email address"),
    (3, "brunei cert", "", "the same team as teams[0]"),
    (4, "Myanmar CERT", "parent", "no organisation named 'Ministry of Transport' in MM"),
    (5, "PhCERT", "contacts[0]", "alternate 'Jose Rizal' is not a contact of this team"),
    (6, "VNCERT", "kind", "Input should be"),
    (7, "SingCERT", "contacts[0].office_end", "give both the start and the end of office hours"),
    (8, None, "name", "Field required"),
    (9, "TH-CERT", "contacts[0].emails", "needs at least one e-mail address or phone"),
]


def _located(problem: Json, index: int, name: str | None, where: str) -> bool:
    loc = str(problem["loc"])
    if not loc.startswith(f"teams[{index}]"):
        return False
    if name is not None and f"(team {name!r})" not in loc:
        return False
    path = loc.replace(f" (team {name!r})", "") if name else loc
    return path == f"teams[{index}]" + (f".{where}" if where else "")


def test_every_bad_record_is_reported_with_its_location_and_nothing_is_written(
    client: TestClient, people: People
) -> None:
    reported = _refused(client, people, team_file(*BAD_TEAMS))
    for index, name, where, message in BAD_TEAM_PROBLEMS:
        matching = [p for p in reported if _located(p, index, name, where)]
        assert matching, f"teams[{index}] {where} not reported in {reported}"
        assert any(message in p["msg"] for p in matching), (message, matching)
    assert not [p for p in reported if p["loc"].startswith("teams[0]")]
    assert len(reported) == len(BAD_TEAM_PROBLEMS)
    assert people.db.scalars(select(Organisation).where(Organisation.country == "BN")).all() == []


def test_malformed_json_is_located_by_line_and_column(client: TestClient, people: People) -> None:
    data = b'{"teams": [\n  {"name": "Brunei CERT", "country": "BN",}\n]}'
    [problem] = _refused(client, people, data)
    assert problem["loc"] == "line 2, column 43"
    assert problem["msg"].startswith("not valid JSON: Expecting property name")


def test_a_file_that_is_not_utf8_is_refused(client: TestClient, people: People) -> None:
    data = json.dumps({"teams": [{"name": "Équipe CERT", "country": "FR"}]}, ensure_ascii=False)
    assert _refused(client, people, data.encode("latin-1")) == [
        {"loc": "file", "msg": "not UTF-8 text"}
    ]


def test_an_unknown_parent_is_named(client: TestClient, people: People) -> None:
    team = {"name": "Myanmar CERT", "country": "MM", "parent": "Ministry of Transport"}
    assert _refused(client, people, team_file(team)) == [
        {
            "loc": "teams[0].parent (team 'Myanmar CERT')",
            "msg": "no organisation named 'Ministry of Transport' in MM",
        }
    ]


def test_a_parent_of_another_country_is_unknown(client: TestClient, people: People) -> None:
    teams = [
        {"name": "Regional Hub", "country": "SG"},
        {"name": "Lao CERT", "country": "LA", "parent": "Regional Hub"},
    ]
    [problem] = _refused(client, people, team_file(*teams))
    assert problem["loc"] == "teams[1].parent (team 'Lao CERT')"


def test_parent_cycles_are_refused(client: TestClient, people: People) -> None:
    teams = [
        {"name": "Lao CERT", "country": "LA", "parent": "Lao Telecom"},
        {"name": "Lao Telecom", "country": "LA", "parent": "Lao CERT"},
        {"name": "Lao Ministry", "country": "LA", "parent": "lao ministry"},
    ]
    assert _refused(client, people, team_file(*teams)) == [
        {
            "loc": f"teams[{i}].parent (team {t['name']!r})",
            "msg": "a team cannot be its own ancestor",
        }
        for i, t in enumerate(teams)
    ]


def test_a_parent_cycle_through_the_directory_is_refused(
    client: TestClient, people: People
) -> None:
    ministry = make_org(people.db, name="Lao Ministry", country="LA")
    make_org(people.db, name="Lao CERT", country="LA", parent=ministry)
    people.db.commit()
    team = {"name": "Lao Ministry", "country": "LA", "parent": "Lao CERT"}
    assert _refused(client, people, team_file(team)) == [
        {"loc": "teams[0].parent (team 'Lao Ministry')", "msg": "a team cannot be its own ancestor"}
    ]


def test_a_timestamp_without_a_time_zone_is_refused(client: TestClient, people: People) -> None:
    contact = {
        "name": "Khamphone",
        "role": "technical",
        "emails": ["k@laocert.gov.la"],
        "last_verified_at": "2025-01-15T03:00:00",
    }
    [problem] = _refused(
        client, people, team_file({"name": "Lao CERT", "country": "LA", "contacts": [contact]})
    )
    assert problem["loc"] == "teams[0].contacts[0].last_verified_at (team 'Lao CERT')"
    assert "timezone" in problem["msg"]


def test_duplicate_teams_are_refused(client: TestClient, people: People) -> None:
    teams = [
        {"name": "Brunei CERT", "country": "BN"},
        {"name": "Lao CERT", "country": "LA"},
        {"name": "BRUNEI CERT", "country": "bn"},
    ]
    assert _refused(client, people, team_file(*teams)) == [
        {
            "loc": "teams[2] (team 'BRUNEI CERT')",
            "msg": "the same team as teams[0] (same name and country)",
        }
    ]


def test_a_contact_twice_in_one_role_is_refused(client: TestClient, people: People) -> None:
    twice = {"name": "Khamphone", "role": "technical", "emails": ["k@laocert.gov.la"]}
    team = {"name": "Lao CERT", "country": "LA", "contacts": [twice, twice]}
    [problem] = _refused(client, people, team_file(team))
    assert problem["loc"] == "teams[0].contacts[1] (team 'Lao CERT')"
    assert "appears twice" in problem["msg"]


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"format": "misp", "teams": []}, "format"),
        ({"version": 2, "teams": []}, "version"),
        ({"teams": {"name": "Lao CERT"}}, "teams"),
        ({"teems": []}, "teems"),
        ("just a string", "file"),
    ],
)
def test_a_document_of_the_wrong_shape_is_refused(
    client: TestClient, people: People, document: object, where: str
) -> None:
    reported = _refused(client, people, json.dumps(document).encode())
    assert where in [p["loc"] for p in reported], reported


@pytest.fixture
def small_uploads(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """A client of an app that accepts uploads of at most 2048 bytes."""
    app = app_on(connection, settings.model_copy(update={"max_upload_bytes": 2048}))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


def _padded(size: int) -> bytes:
    data = team_file({"name": "Lao CERT", "country": "LA", "description": ""})
    padding = size - len(data)
    data = team_file({"name": "Lao CERT", "country": "LA", "description": "x" * padding})
    assert len(data) == size
    return data


def test_an_upload_over_the_size_limit_is_refused(
    small_uploads: TestClient, people: People
) -> None:
    before = directory_rows(people.db)
    headers = people.key(people.platform_admin)
    response = small_uploads.post(
        "/api/v1/directory/import", content=_padded(2049), headers=headers
    )
    assert response.status_code == 422, response.text
    assert problems(response) == [{"loc": "body", "msg": "larger than 2048 bytes"}]
    assert directory_rows(people.db) == before
    sign_in(small_uploads, people.db, people.platform_admin)
    page = upload(small_uploads, _padded(2049))
    assert page.status_code == 422, page.text
    assert "file: larger than 2048 bytes" in text_of(page.text)
    assert directory_rows(people.db) == before
    at_limit = small_uploads.post(
        "/api/v1/directory/import", content=_padded(2048), headers=headers
    )
    assert at_limit.status_code == 200, at_limit.text


def test_the_import_page_imports_an_uploaded_file(client: TestClient, people: People) -> None:
    sign_in(client, people.db, people.platform_admin)
    response = upload(client, team_file(*thai_teams()))
    assert response.status_code == 200, response.text
    shown = text_of(response.text)
    assert "3 organisations created, 0 updated" in shown
    assert "6 contacts created, 0 updated" in shown
    assert _org(people.db, "Electronic Transactions Development Agency").kind == OrgKind.MINISTRY


def test_the_import_page_lists_every_problem_and_imports_nothing(
    client: TestClient, people: People
) -> None:
    sign_in(client, people.db, people.platform_admin)
    before = directory_rows(people.db)
    response = upload(client, team_file(*BAD_TEAMS))
    assert response.status_code == 422, response.text
    shown = text_of(response.text)
    assert f"Nothing was imported: {len(BAD_TEAM_PROBLEMS)} problems" in shown
    assert "teams[4].parent (team 'Myanmar CERT'): no organisation named" in shown
    assert "teams[1].country (team 'Cambodia CERT'):" in shown
    assert directory_rows(people.db) == before


def test_the_import_page_asks_for_a_file(client: TestClient, people: People) -> None:
    sign_in(client, people.db, people.platform_admin)
    token = csrf_of(client.get("/directory/import").text)
    response = client.post(
        "/directory/import",
        data={"csrf_token": token},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 422, response.text
    assert "choose a JSON file to upload" in text_of(response.text)


@pytest.mark.parametrize("role", ["org_admin", "analyst", "reader"])
def test_only_platform_admins_import_through_the_api(
    client: TestClient, people: People, role: str
) -> None:
    before = directory_rows(people.db)
    response = client.post(
        "/api/v1/directory/import",
        content=team_file(*thai_teams()),
        headers=people.key(getattr(people, role)),
    )
    assert response.status_code == 403, response.text
    assert directory_rows(people.db) == before


@pytest.mark.parametrize("role", ["org_admin", "reader"])
def test_only_platform_admins_import_through_the_page(
    client: TestClient, people: People, role: str
) -> None:
    sign_in(client, people.db, getattr(people, role))
    token = csrf_of(client.get("/directory").text)
    before = directory_rows(people.db)
    posted = client.post(
        "/directory/import",
        data={"csrf_token": token},
        files={"file": ("teams.json", team_file(*thai_teams()), "application/json")},
    )
    assert directory_rows(people.db) == before
    error_page(posted, 403)
    error_page(client.get("/directory/import"), 403)


def test_the_import_link_is_offered_to_platform_admins_only(
    client: TestClient, people: People
) -> None:
    sign_in(client, people.db, people.org_admin)
    assert 'href="/directory/import"' not in client.get("/directory").text
    client.cookies.clear()
    sign_in(client, people.db, people.platform_admin)
    assert 'href="/directory/import"' in client.get("/directory").text
