"""Export: team-directory JSON that imports back into an empty instance, and vCard 3.0."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import pytest
import vobject
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import CLI
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.directory import io
from balai.directory.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    ContactRole,
    Organisation,
    OrgKind,
    Sector,
)
from balai.errors import ValidationFailed
from tests.directory.helpers import (
    Json,
    People,
    count,
    days_ago,
    error_page,
    sign_in,
)
from tests.factories import make_contact, make_org


@dataclass
class Region:
    """A directory with every field in use: a hierarchy, alternates, hours, keys, notes."""

    ministry: Organisation
    cert: Organisation
    mycert: Organisation
    somchai: Contact
    pranee: Contact
    aminah: Contact


def make_region(db: Session) -> Region:
    """Organisations and contacts whose every exportable field is set."""
    ministry = make_org(
        db,
        name="Ministry of Digital Economy and Society, Thailand; ETDA",
        country="TH",
        kind=OrgKind.MINISTRY,
        sectors=(Sector.DIGITAL_INFRASTRUCTURE, Sector.PUBLIC_ADMINISTRATION),
    )
    ministry.website = "https://www.mdes.go.th/"
    ministry.constituency = "Thai government agencies"
    ministry.description = "Policy lead for cyber security in Thailand."
    cert = make_org(db, name="ThaiCERT", country="TH", parent=ministry)
    cert.short_name = None
    mycert = make_org(db, name="MyCERT", country="MY", sectors=(Sector.TELECOMMUNICATIONS,))
    pranee = make_contact(
        db, cert, name="Pranee Kittisak", email="pranee@thaicert.or.th", phone=None
    )
    somchai = make_contact(
        db,
        cert,
        name="สมชาย วงศ์สกุล",
        email="somchai@thaicert.or.th",
        phone="+66 2 123 4567",
        languages=("th", "en"),
        alternate=pranee,
        verified_at=days_ago(30),
    )
    somchai.title = "Head of incident response, ThaiCERT"
    somchai.pgp_fingerprint = "0123456789ABCDEF0123456789ABCDEF01234567"
    somchai.timezone = "Asia/Bangkok"
    somchai.office_days = "mon,tue,wed,thu,fri"
    somchai.office_start = time(8, 30)
    somchai.office_end = time(17, 30)
    somchai.expires_on = date(2030, 12, 31)
    somchai.notes = "Prefers Signal after hours."
    somchai.channels.append(
        ContactChannel(kind=ChannelKind.EMAIL, value="ir@thaicert.or.th", position=2)
    )
    somchai.channels.append(
        ContactChannel(
            kind=ChannelKind.MESSENGER, value="+66 81 234 5678", label="Signal", position=3
        )
    )
    aminah = make_contact(
        db,
        mycert,
        name="Aminah Rahman",
        role=ContactRole.POLICY,
        email=None,
        phone="+60 3 8800 7999",
        languages=("ms",),
    )
    db.commit()
    return Region(ministry, cert, mycert, somchai, pranee, aminah)


def teams(document: Json) -> list[Json]:
    """A document's teams: what must survive a round trip (generated_at need not)."""
    assert document["format"] == "balai-team-directory"
    assert document["version"] == 1
    found: list[Json] = document["teams"]
    return found


def reimported(second_db: Session, document: Json) -> Json:
    """Import a document into the empty second database and export it from there."""
    assert count(second_db, Organisation) == 0
    io.import_directory(second_db, actor=CLI, data=json.dumps(document).encode())
    second_db.flush()
    return io.export_json(second_db, actor=CLI)


def _export(client: TestClient, people: People, via: str, **params: Any) -> Json:
    if via == "api":
        response = client.get(
            "/api/v1/directory/export", params=params, headers=people.key(people.reader)
        )
    else:
        sign_in(client, people.db, people.reader)
        response = client.get("/directory/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: Json = response.json()
    return document


@pytest.mark.parametrize("via", ["api", "page"])
def test_whole_directory_round_trips_through_an_empty_instance(
    client: TestClient, people: People, second_db: Session, via: str
) -> None:
    region = make_region(people.db)
    document = _export(client, people, via)
    exported = teams(document)
    assert [t["name"] for t in exported] == [
        "CyberSecurity Malaysia",
        "MyCERT",
        "ASEAN Regional CERT",
        "Ministry of Digital Economy and Society, Thailand; ETDA",
        "National Cyber Security Agency",
        "ThaiCERT",
    ]
    assert reimported(second_db, document)["teams"] == exported
    copy = second_db.scalars(select(Contact).where(Contact.name == "สมชาย วงศ์สกุล")).one()
    assert copy.alternate is not None
    assert copy.alternate.name == "Pranee Kittisak"
    assert copy.organisation.parent is not None
    assert copy.organisation.parent.name == region.ministry.name
    assert copy.last_verified_at == region.somchai.last_verified_at
    assert count(second_db, Contact) == 3


@pytest.mark.parametrize("via", ["api", "page"])
def test_one_organisation_round_trips_through_an_empty_instance(
    client: TestClient, people: People, second_db: Session, via: str
) -> None:
    region = make_region(people.db)
    document = _export(client, people, via, organisation_id=str(region.mycert.id))
    exported = teams(document)
    assert [t["name"] for t in exported] == ["MyCERT"]
    assert reimported(second_db, document)["teams"] == exported
    assert count(second_db, Contact) == 1


def test_export_carries_every_field(client: TestClient, people: People) -> None:
    region = make_region(people.db)
    [team] = teams(_export(client, people, "api", organisation_id=str(region.cert.id)))
    assert team["parent"] == region.ministry.name
    assert team["kind"] == "national_cert"
    pranee, somchai = team["contacts"]  # by role, then name: both technical; Thai sorts last
    assert pranee["name"] == "Pranee Kittisak"
    assert somchai == {
        "name": "สมชาย วงศ์สกุล",
        "role": "technical",
        "title": "Head of incident response, ThaiCERT",
        "emails": ["somchai@thaicert.or.th", "ir@thaicert.or.th"],
        "phones": ["+66 2 123 4567"],
        "messengers": [{"app": "Signal", "handle": "+66 81 234 5678"}],
        "pgp_fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567",
        "languages": ["en", "th"],
        "timezone": "Asia/Bangkok",
        "office_days": ["mon", "tue", "wed", "thu", "fri"],
        "office_start": "08:30:00",
        "office_end": "17:30:00",
        "expires_on": "2030-12-31",
        "notes": "Prefers Signal after hours.",
        "alternate": "Pranee Kittisak",
        "last_verified_at": somchai["last_verified_at"],
    }
    ministry = teams(_export(client, people, "api", organisation_id=str(region.ministry.id)))[0]
    assert ministry["website"] == "https://www.mdes.go.th/"
    assert ministry["sectors"] == ["digital_infrastructure", "public_administration"]
    assert ministry["constituency"] == "Thai government agencies"
    assert "parent" not in ministry


def test_a_child_exported_alone_imports_where_its_parent_exists(
    client: TestClient, people: People, second_db: Session
) -> None:
    region = make_region(people.db)
    document = _export(client, people, "api", organisation_id=str(region.cert.id))
    data = json.dumps(document).encode()
    # Into an empty instance its parent is unknown, and nothing is written ...
    with pytest.raises(ValidationFailed) as refused:
        io.import_directory(second_db, actor=CLI, data=data)
    assert [p.loc for p in refused.value.problems] == ["teams[0].parent (team 'ThaiCERT')"]
    assert count(second_db, Organisation) == 0
    # ... where the parent exists, it is linked.
    parent = make_org(second_db, name=region.ministry.name, country="TH")
    io.import_directory(second_db, actor=CLI, data=data)
    copy = second_db.scalars(select(Organisation).where(Organisation.name == "ThaiCERT")).one()
    assert copy.parent_id == parent.id


def test_page_export_is_a_download_named_for_its_scope(
    client: TestClient, db: Session, people: People
) -> None:
    region = make_region(db)
    sign_in(client, db, people.reader)
    whole = client.get("/directory/export", params={"format": "json"})
    assert whole.headers["content-disposition"] == 'attachment; filename="directory.json"'
    one = client.get(
        "/directory/export", params={"format": "vcard", "organisation_id": str(region.cert.id)}
    )
    assert one.headers["content-type"].startswith("text/vcard")
    assert one.headers["content-disposition"] == (
        f'attachment; filename="directory-{region.cert.id}.vcf"'
    )


def _cards(text: str) -> dict[str, Any]:
    return {card.uid.value: card for card in vobject.readComponents(text)}


def test_vcard_export_parses_back_with_every_contacts_details(
    client: TestClient, people: People
) -> None:
    region = make_region(people.db)
    response = client.get(
        "/api/v1/directory/export", params={"format": "vcard"}, headers=people.key(people.reader)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/vcard")
    cards = _cards(response.text)
    assert len(cards) == count(people.db, Contact) == 3
    expected = {
        region.somchai: (
            ["somchai@thaicert.or.th", "ir@thaicert.or.th"],
            ["+66 2 123 4567"],
            region.ministry.name,
        ),
        region.pranee: (["pranee@thaicert.or.th"], [], "ThaiCERT"),
        region.aminah: ([], ["+60 3 8800 7999"], "MyCERT"),
    }
    for contact, (emails, phones, _) in expected.items():
        card = cards[f"urn:uuid:{contact.id}"]
        assert card.fn.value == contact.name
        assert [e.value for e in card.contents.get("email", [])] == emails
        assert [t.value for t in card.contents.get("tel", [])] == phones
        assert card.org.value == [contact.organisation.name]
    somchai = cards[f"urn:uuid:{region.somchai.id}"]
    assert somchai.title.value == "Head of incident response, ThaiCERT"
    assert somchai.email.params["TYPE"] == ["INTERNET", "PREF"]
    assert somchai.x_pgp_fingerprint.value == "0123456789ABCDEF0123456789ABCDEF01234567"
    assert somchai.tz.value == "Asia/Bangkok"
    assert somchai.impp.value == "signal:+66 81 234 5678"
    assert somchai.categories.value == ["technical", "national_cert", "TH"]


def test_vcard_export_of_one_organisation_has_only_its_contacts(
    client: TestClient, people: People
) -> None:
    region = make_region(people.db)
    response = client.get(
        "/api/v1/directory/export",
        params={"format": "vcard", "organisation_id": str(region.cert.id)},
        headers=people.key(people.reader),
    )
    names = sorted(card.fn.value for card in vobject.readComponents(response.text))
    assert names == ["Pranee Kittisak", "สมชาย วงศ์สกุล"]


def test_exports_are_audited(client: TestClient, db: Session, people: People) -> None:
    region = make_region(db)
    headers = people.key(people.reader)
    client.get("/api/v1/directory/export", headers=headers)
    client.get(
        "/api/v1/directory/export",
        params={"format": "vcard", "organisation_id": str(region.cert.id)},
        headers=headers,
    )
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == AuditAction.DIRECTORY_EXPORTED.value)
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.actor_user_id, e.details["format"], e.object_id) for e in events] == [
        (people.reader.id, "json", None),
        (people.reader.id, "vcard", str(region.cert.id)),
    ]


def test_export_of_an_unknown_organisation_is_404(client: TestClient, people: People) -> None:
    response = client.get(
        "/api/v1/directory/export",
        params={"organisation_id": str(uuid.uuid4())},
        headers=people.key(people.reader),
    )
    assert response.status_code == 404, response.text


def test_export_in_an_unknown_format_is_422(client: TestClient, people: People) -> None:
    response = client.get(
        "/api/v1/directory/export", params={"format": "xml"}, headers=people.key(people.reader)
    )
    assert response.status_code == 422, response.text
    assert [d["loc"] for d in response.json()["error"]["details"]] == ["query.format"]


@pytest.mark.parametrize(
    ("params", "status"),
    [({"format": "xml"}, 422), ({"organisation_id": "00000000-0000-4000-8000-000000000000"}, 404)],
)
def test_page_export_refusals_are_error_pages(
    client: TestClient, db: Session, people: People, params: dict[str, str], status: int
) -> None:
    sign_in(client, db, people.reader)
    error_page(client.get("/directory/export", params=params), status)
