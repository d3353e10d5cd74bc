"""The sharpest cases of who sees shared intelligence, pinned one by one.

The property test in test_leaks.py roams over random worlds; these examples name the cases
that matter most, so that a regression reads as a sentence.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User, WebSession
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup, SharingGroupMember
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from balai.tokens import hash_token, new_token
from balai.web.middleware import SESSION_COOKIE
from tests.factories import api_key_for, make_org, make_user
from tests.web import client_for

Json = dict[str, Any]
CREATED = "2026-03-02T09:00:00.000Z"
LATER = "2026-03-09T09:00:00.000Z"
NOWHERE = f"indicator--{uuid.uuid4()}"


@dataclass
class Member:
    """An organisation and one of its users, with the user's API headers."""

    org: Organisation
    user: User
    headers: dict[str, str]


def member(db: Session, name: str, role: Role) -> Member:
    """A new organisation with a user of a role."""
    org = make_org(db, name=name)
    user = make_user(db, org, role=role)
    return Member(org, user, {"Authorization": f"Bearer {api_key_for(db, user)}"})


def indicator(value: str, *, stix_id: str | None = None, modified: str = CREATED) -> Json:
    """A STIX 2.1 indicator of an IPv4 address."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": CREATED,
        "modified": modified,
        "name": f"C2 server {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": CREATED,
    }


def report(refs: list[str]) -> Json:
    """A STIX 2.1 report pointing at some objects."""
    return {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": CREATED,
        "modified": CREATED,
        "name": "Campaign against ports",
        "published": CREATED,
        "object_refs": refs,
    }


def share(
    db: Session,
    by: Member,
    objects: list[Json],
    tlp: Tlp,
    distribution: Distribution,
    group: SharingGroup | None = None,
) -> None:
    """Import objects as the member's organisation through the real import, and commit."""
    import_stix(
        db,
        actor=Actor(via=Via.SESSION, user=by.user),
        data=json.dumps(
            {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        ).encode(),
        marking=Marking(
            tlp=tlp, distribution=distribution, sharing_group_id=group.id if group else None
        ),
    )
    db.commit()


def make_group(db: Session, owner: Member, *members: Member) -> SharingGroup:
    """A sharing group of the owner's organisation."""
    group = SharingGroup(
        id=uuid.uuid4(),
        name="Port authorities",
        owner_org_id=owner.org.id,
        members=[SharingGroupMember(organisation_id=m.org.id) for m in members],
    )
    db.add(group)
    db.commit()
    return group


def sign_in(client: TestClient, db: Session, user: User) -> None:
    """Give the client a web session of the user, opened directly (no argon2 log-in)."""
    token = new_token(32)
    now = utcnow()
    db.add(
        WebSession(
            id=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
        )
    )
    db.commit()
    client.cookies.set(SESSION_COOKIE, token)


def plain(response: httpx.Response, *asked: str) -> str:
    """A page with what was asked for blanked out and its CSRF tokens removed."""
    text = re.sub(r'name="csrf_token" value="[^"]*"', "", html.unescape(response.text))
    for value in asked:
        text = text.replace(value, "ASKED")
    return text


@pytest.fixture
def client(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """A client of the app on the test's transaction."""
    with client_for(connection, settings) as test_client:
        yield test_client


def test_red_shared_with_a_group_is_invisible_to_a_platform_admin_outside_it(
    db: Session, client: TestClient
) -> None:
    owner = member(db, "Port Authority CERT", Role.ANALYST)
    partner = member(db, "Harbour CSIRT", Role.READER)
    admin = member(db, "Regional Hub", Role.PLATFORM_ADMIN)
    group = make_group(db, owner, partner)
    red = indicator("203.0.113.50")
    share(db, owner, [red], Tlp.RED, Distribution.SHARING_GROUP, group)

    seen = client.get("/api/v1/intel/objects", headers=partner.headers).json()
    assert [i["stix_id"] for i in seen["items"]] == [red["id"]]

    def as_admin(path: str, **params: str) -> httpx.Response:
        response: httpx.Response = client.get(path, params=params, headers=admin.headers)
        return response

    assert as_admin("/api/v1/intel/objects").json()["total"] == 0
    assert as_admin("/api/v1/intel/search", q="203.0.113.50").json()["total"] == 0
    assert as_admin("/api/v1/sharing-groups").json() == []
    assert as_admin(f"/api/v1/sharing-groups/{group.id}").status_code == 404
    for suffix in ("", "/versions", "/bundle"):
        hidden = as_admin(f"/api/v1/intel/objects/{red['id']}{suffix}")
        nowhere = as_admin(f"/api/v1/intel/objects/{NOWHERE}{suffix}")
        assert (hidden.status_code, hidden.json()) == (404, nowhere.json())
    sign_in(client, db, admin.user)
    for suffix in ("", "/bundle"):
        hidden = client.get(f"/intel/objects/{red['id']}{suffix}")
        nowhere = client.get(f"/intel/objects/{NOWHERE}{suffix}")
        assert hidden.status_code == 404
        assert plain(hidden, red["id"]) == plain(nowhere, NOWHERE)
    assert red["id"] not in client.get("/intel/objects").text


def test_a_report_drops_the_references_its_reader_may_not_see(
    db: Session, client: TestClient
) -> None:
    owner = member(db, "Port Authority CERT", Role.ANALYST)
    holder = member(db, "Harbour CSIRT", Role.ANALYST)
    reader = member(db, "Coastguard SOC", Role.READER)
    shared, hidden = indicator("198.51.100.20"), indicator("198.51.100.21")
    nobody_holds = f"indicator--{uuid.uuid4()}"
    campaign = report([shared["id"], hidden["id"], nobody_holds])
    share(db, owner, [campaign, shared], Tlp.AMBER, Distribution.COMMUNITY)
    share(db, holder, [hidden], Tlp.RED, Distribution.ORGANISATION)

    path = f"/api/v1/intel/objects/{campaign['id']}"
    got = client.get(path, headers=reader.headers).json()
    # An id nobody holds goes too: were it kept, the reader could tell it from a hidden one.
    assert got["stix"]["object_refs"] == [shared["id"]]
    bundle = client.get(f"{path}/bundle", headers=reader.headers)
    assert {o["id"] for o in bundle.json()["objects"] if o["type"] != "marking-definition"} == {
        campaign["id"],
        shared["id"],
    }
    assert hidden["id"] not in bundle.text
    assert nobody_holds not in bundle.text
    sign_in(client, db, reader.user)
    page = client.get(f"/intel/objects/{campaign['id']}")
    assert page.status_code == 200
    assert shared["id"] in page.text
    assert hidden["id"] not in page.text
    assert nobody_holds not in page.text
    download = client.get(f"/intel/objects/{campaign['id']}/bundle")
    assert hidden["id"] not in download.text
    assert nobody_holds not in download.text

    mine = client.get(path, headers=holder.headers).json()
    assert mine["stix"]["object_refs"] == [shared["id"], hidden["id"]]


def test_leaving_a_sharing_group_hides_what_it_shares_at_once(
    db: Session, client: TestClient
) -> None:
    owner = member(db, "Port Authority CERT", Role.ORG_ADMIN)
    partner = member(db, "Harbour CSIRT", Role.ORG_ADMIN)
    group = make_group(db, owner, partner)
    shared = indicator("192.0.2.77")
    share(db, owner, [shared], Tlp.AMBER, Distribution.SHARING_GROUP, group)
    as_partner = partner.headers
    assert client.get("/api/v1/intel/objects", headers=as_partner).json()["total"] == 1

    changed = client.put(
        f"/api/v1/sharing-groups/{group.id}",
        json={"name": group.name, "member_ids": []},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text

    assert client.get("/api/v1/intel/objects", headers=as_partner).json()["total"] == 0
    assert (
        client.get(f"/api/v1/intel/objects/{shared['id']}", headers=as_partner).status_code == 404
    )
    found = client.get("/api/v1/intel/search", params={"q": "192.0.2.77"}, headers=as_partner)
    assert found.json()["total"] == 0
    assert client.get(f"/api/v1/sharing-groups/{group.id}", headers=as_partner).status_code == 404
    assert client.get("/api/v1/intel/objects", headers=owner.headers).json()["total"] == 1


def test_searching_a_value_only_hidden_objects_carry_looks_like_an_unknown_value(
    db: Session, client: TestClient
) -> None:
    owner = member(db, "Port Authority CERT", Role.ANALYST)
    outsider = member(db, "Coastguard SOC", Role.ORG_ADMIN)
    share(db, owner, [indicator("203.0.113.9")], Tlp.AMBER, Distribution.ORGANISATION)
    unknown = "203.0.113.10"

    def search(q: str) -> httpx.Response:
        response: httpx.Response = client.get(
            "/api/v1/intel/search", params={"q": q}, headers=outsider.headers
        )
        return response

    held = search("203.0.113.9")
    assert held.json()["total"] == 0
    assert held.json() == search(unknown).json()
    sign_in(client, db, outsider.user)
    held_page = client.get("/intel/search", params={"q": "203.0.113.9"})
    unknown_page = client.get("/intel/search", params={"q": unknown})
    assert held_page.status_code == unknown_page.status_code == 200
    assert plain(held_page, "203.0.113.9") == plain(unknown_page, unknown)


def test_counts_and_pages_never_include_hidden_rows(db: Session, client: TestClient) -> None:
    owner = member(db, "Port Authority CERT", Role.ANALYST)
    group_owner = member(db, "Harbour CSIRT", Role.ANALYST)
    reader = member(db, "Coastguard SOC", Role.READER)
    group = make_group(db, group_owner)
    visible = [indicator(f"192.0.2.{n}") for n in (1, 2, 3)]
    share(db, owner, visible, Tlp.GREEN, Distribution.COMMUNITY)
    share(db, owner, [indicator("192.0.2.4")], Tlp.RED, Distribution.ORGANISATION)
    share(db, group_owner, [indicator("192.0.2.5")], Tlp.AMBER, Distribution.SHARING_GROUP, group)

    seen: list[str] = []
    for number in (1, 2, 3):
        got = client.get(
            "/api/v1/intel/objects",
            params={"per_page": 1, "page": number},
            headers=reader.headers,
        ).json()
        assert (got["total"], got["pages"]) == (3, 3)
        seen += [i["stix_id"] for i in got["items"]]
    assert sorted(seen) == sorted(o["id"] for o in visible)
    for params in ({"type": "indicator"}, {"q": "C2 server"}):
        got = client.get("/api/v1/intel/objects", params=params, headers=reader.headers)
        assert got.json()["total"] == 3
    found = client.get("/api/v1/intel/search", params={"q": "C2 server"}, headers=reader.headers)
    assert found.json()["total"] == 3
    sign_in(client, db, reader.user)
    assert "3 in all" in client.get("/intel/objects").text
    assert "3 in all" in client.get("/intel/search", params={"q": "C2 server"}).text


def test_a_narrowed_marking_hides_older_versions_and_a_widened_one_reveals_none(
    db: Session, client: TestClient
) -> None:
    owner = member(db, "Port Authority CERT", Role.ANALYST)
    outsider = member(db, "Coastguard SOC", Role.PLATFORM_ADMIN)
    narrowed = indicator("198.51.100.60")
    widened = indicator("198.51.100.61")
    share(db, owner, [narrowed], Tlp.GREEN, Distribution.COMMUNITY)
    share(db, owner, [widened], Tlp.RED, Distribution.ORGANISATION)
    share(db, owner, [narrowed | {"modified": LATER}], Tlp.RED, Distribution.ORGANISATION)
    share(db, owner, [widened | {"modified": LATER}], Tlp.GREEN, Distribution.COMMUNITY)

    def get(path: str) -> httpx.Response:
        response: httpx.Response = client.get(
            f"/api/v1/intel/objects/{path}", headers=outsider.headers
        )
        return response

    # Were the GREEN version still shown, its reader would learn that a newer one exists.
    nowhere = get(f"{NOWHERE}/versions")
    assert (get(f"{narrowed['id']}/versions").status_code, nowhere.status_code) == (404, 404)
    assert get(f"{narrowed['id']}/versions").json() == nowhere.json()
    assert get(narrowed["id"]).status_code == 404
    versions = get(f"{widened['id']}/versions").json()
    assert [v["stix"]["modified"] for v in versions] == [LATER]
    listed = client.get("/api/v1/intel/objects", headers=outsider.headers).json()
    assert [i["stix_id"] for i in listed["items"]] == [widened["id"]]

    mine = client.get(f"/api/v1/intel/objects/{narrowed['id']}/versions", headers=owner.headers)
    assert [v["tlp"] for v in mine.json()] == ["green", "red"]


def test_reads_of_restricted_intelligence_are_audited_for_the_holder_only(
    db: Session,
) -> None:
    from balai.audit.models import AuditEvent
    from balai.audit.service import AuditFilter, list_events
    from balai.intel import service
    from tests.factories import actor_for as act
    from tests.intel.test_correlation import indicator, share

    holder = make_user(db, make_org(db, country="TH"), role=Role.ORG_ADMIN)
    reader = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    stranger = make_user(db, make_org(db, country="SG"), role=Role.PLATFORM_ADMIN)
    ioc = indicator("[ipv4-addr:value = '192.0.2.77']", "amber thing")
    (row,) = share(db, holder, Marking(tlp=Tlp.AMBER, distribution=Distribution.COMMUNITY), ioc)
    service.note_restricted_read(db, actor=act(reader), rows=[row], how="test")
    db.flush()

    def seen_by(user: User) -> list[AuditEvent]:
        page = list_events(db, actor=act(user), filters=AuditFilter(action="intel:object:"))
        return list(page.items)

    assert [e.object_id for e in seen_by(holder)] == [ioc["id"]]
    assert seen_by(stranger) == []  # a platform admin of another organisation learns nothing
