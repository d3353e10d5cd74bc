"""The audit log: who reads which events, its filters, and that the table is append-only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.audit.service import record
from balai.directory.models import Organisation
from tests.accounts.helpers import bearer, browser, sign_in
from tests.factories import actor_for, api_key_for, make_user

MARCH = {"since": "2024-03-01T00:00:00Z", "until": "2024-04-01T00:00:00Z"}


@dataclass
class Log:
    """Six events in March 2024, each marked E1..E6 in its details."""

    admin: User  # org admin of ThaiCERT
    reader: User  # reader of ThaiCERT
    outsider_admin: User  # org admin of MyCERT
    platform_admin: User
    events: dict[str, AuditEvent]

    def ids(self, *names: str) -> list[int]:
        """Event ids, newest first as the log lists them."""
        return sorted((self.events[n].id for n in names), reverse=True)


@dataclass(frozen=True)
class _Spec:
    actor: Actor
    action: AuditAction
    object_id: uuid.UUID | None = None
    object_org_id: uuid.UUID | None = None
    actor_label: str | None = None


@pytest.fixture
def log(
    db: Session,
    org: Organisation,
    other_org: Organisation,
    admin: User,
    reader: User,
    platform_admin: User,
) -> Log:
    """E1 admin logs in; E2, E3 anonymous failures (a known and an unknown address); E4, E5
    MyCERT's admin acts at home; E6 a platform admin changes something of ThaiCERT's."""
    boss = make_user(db, other_org, role=Role.ORG_ADMIN, email="boss@mycert.example")
    anonymous = Actor(via=Via.SESSION, client_ip="192.0.2.7")
    specs = {
        "E1": _Spec(actor_for(admin), AuditAction.LOGIN, admin.id, org.id),
        "E2": _Spec(
            anonymous, AuditAction.LOGIN_FAILED, reader.id, org.id, "ab_c@thaicert.example"
        ),
        "E3": _Spec(anonymous, AuditAction.LOGIN_FAILED, actor_label="abxc@thaicert.example"),
        "E4": _Spec(actor_for(boss), AuditAction.USER_CREATED, boss.id, other_org.id),
        "E5": _Spec(actor_for(boss), AuditAction.APIKEY_USED, object_org_id=other_org.id),
        "E6": _Spec(actor_for(platform_admin), AuditAction.CONTACT_UPDATED, None, org.id),
    }
    events: dict[str, AuditEvent] = {}
    for day, (name, spec) in enumerate(specs.items(), start=1):
        event = record(
            db,
            actor=spec.actor,
            action=spec.action,
            object_type="user" if spec.object_id else None,
            object_id=spec.object_id,
            object_org_id=spec.object_org_id,
            details={"marker": name},
            actor_label=spec.actor_label,
        )
        event.at = datetime(2024, 3, day, 10, tzinfo=UTC)  # set before the INSERT: rows are final
        events[name] = event
    db.commit()
    return Log(admin, reader, boss, platform_admin, events)


def _listed(client: TestClient, user_key: dict[str, str], **params: str) -> list[int]:
    response = client.get("/api/v1/audit-events", params=params, headers=user_key)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["items"]]


def _key(db: Session, user: User) -> dict[str, str]:
    headers = bearer(api_key_for(db, user))
    db.commit()
    return headers


def test_platform_admins_see_every_event(client: TestClient, db: Session, log: Log) -> None:
    key = _key(db, log.platform_admin)
    assert _listed(client, key, **MARCH) == log.ids("E1", "E2", "E3", "E4", "E5", "E6")


def test_org_admins_see_only_events_of_their_organisation(
    client: TestClient, db: Session, log: Log
) -> None:
    thai = _key(db, log.admin)
    malay = _key(db, log.outsider_admin)
    # E6: a platform admin changed something of ThaiCERT's, so ThaiCERT's admin sees it.
    assert _listed(client, thai, **MARCH) == log.ids("E1", "E2", "E6")
    assert _listed(client, malay, **MARCH) == log.ids("E4", "E5")
    everything = client.get("/api/v1/audit-events", headers=thai, params={"per_page": 500})
    thai_org = str(log.admin.organisation_id)
    for event in everything.json()["items"]:
        assert thai_org in (event["actor_org_id"], event["object_org_id"]), event


@pytest.mark.parametrize("role", ["reader", "analyst"])
def test_members_without_an_admin_role_cannot_read_the_log(
    client: TestClient, db: Session, request: pytest.FixtureRequest, role: str, log: Log
) -> None:
    member: User = request.getfixturevalue(role)
    response = client.get("/api/v1/audit-events", headers=_key(db, member))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "auth:"}, ["E1", "E2", "E3"]),
        ({"action": "auth:session:login_failed"}, ["E2", "E3"]),
        ({"action": "accounts:user:"}, ["E4"]),
        ({"action": "%"}, []),
        ({"actor_label": "BOSS@mycert"}, ["E4", "E5"]),
        ({"actor_label": "ab_c@"}, ["E2"]),
        ({"actor_label": "%@thaicert"}, []),
        ({"since": "2024-03-02T00:00:00Z", "until": "2024-03-04T00:00:00Z"}, ["E2", "E3"]),
        ({"since": "2024-03-05T00:00:00+07:00"}, ["E5", "E6"]),
        ({"since": "2024-03-05T09:00:00"}, ["E5", "E6"]),
        ({"until": "2024-03-02"}, ["E1"]),
    ],
    ids=[
        "action-scope",
        "exact-action",
        "other-scope",
        "action-wildcard-is-literal",
        "actor-case-insensitive",
        "actor-underscore-is-literal",
        "actor-percent-is-literal",
        "date-range",
        "since-with-offset",
        "since-without-zone-is-utc",
        "until-a-day",
    ],
)
def test_the_api_filters_the_log(
    client: TestClient, db: Session, log: Log, params: dict[str, str], expected: list[str]
) -> None:
    key = _key(db, log.platform_admin)
    bounded = MARCH | params
    assert _listed(client, key, **bounded) == log.ids(*expected)


def test_the_api_filters_by_object_id(client: TestClient, db: Session, log: Log) -> None:
    key = _key(db, log.platform_admin)
    assert _listed(client, key, object_id=str(log.reader.id)) == log.ids("E2")


def test_the_api_rejects_a_malformed_date_with_the_field_named(
    client: TestClient, db: Session, log: Log
) -> None:
    key = _key(db, log.platform_admin)
    response = client.get("/api/v1/audit-events", params={"since": "March"}, headers=key)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["error"]["details"]] == ["query.since"]


def _markers(html: str) -> list[str]:
    return [m for m in ("E1", "E2", "E3", "E4", "E5", "E6") if f"marker={m}" in html]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["E1", "E2", "E3", "E4", "E5", "E6"]),
        ({"action": "auth:"}, ["E1", "E2", "E3"]),
        ({"who": "boss@"}, ["E4", "E5"]),
        ({"who": "ab_c"}, ["E2"]),
        ({"object_id": "OBJECT"}, ["E2"]),
        ({"since": "2024-03-02", "until": "2024-03-04"}, ["E2", "E3"]),
    ],
    ids=["all", "action", "who", "who-underscore-is-literal", "object", "days"],
)
def test_the_page_filters_the_log(
    client: TestClient, db: Session, log: Log, params: dict[str, str], expected: list[str]
) -> None:
    sign_in(client, db, log.platform_admin)
    query = {"since": "2024-03-01", "until": "2024-04-01"} | params
    if query.get("object_id") == "OBJECT":
        query["object_id"] = str(log.reader.id)
    page = client.get("/audit", params=query)
    assert page.status_code == 200
    assert _markers(page.text) == expected


def test_the_page_shows_org_admins_only_their_organisation(
    client: TestClient, db: Session, log: Log
) -> None:
    sign_in(client, db, log.admin)
    page = client.get("/audit", params={"since": "2024-03-01", "until": "2024-04-01"})
    assert page.status_code == 200
    assert _markers(page.text) == ["E1", "E2", "E6"]


def _reader_opens_the_log(log: Log) -> tuple[User, str, int]:
    return log.reader, "/audit", 403


def _admin_gives_a_bad_day(log: Log) -> tuple[User, str, int]:
    return log.admin, "/audit?since=yesterday", 422


@pytest.mark.parametrize(
    "case", [_reader_opens_the_log, _admin_gives_a_bad_day], ids=["reader", "bad-day"]
)
def test_the_page_refuses_with_an_error_page(
    app: FastAPI,
    db: Session,
    log: Log,
    case: Callable[[Log], tuple[User, str, int]],
) -> None:
    user, path, status = case(log)
    with browser(app, raise_server_exceptions=False) as client:
        sign_in(client, db, user)
        page = client.get(path)
    assert page.status_code != 500, "rendering the error page failed"
    assert page.status_code == status
    assert "marker=" not in page.text


def test_the_table_refuses_updates_in_the_database_itself(db: Session, log: Log) -> None:
    event = log.events["E1"]
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(
            update(AuditEvent).where(AuditEvent.id == event.id).values(action="auth:session:x")
        )
    db.expire_all()
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.id == event.id)) == (
        "auth:session:login"
    )


def test_the_table_refuses_deletes_in_the_database_itself(db: Session, log: Log) -> None:
    event_ids = [e.id for e in log.events.values()]
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(delete(AuditEvent).where(AuditEvent.id.in_(event_ids)))
    assert len(db.scalars(select(AuditEvent.id).where(AuditEvent.id.in_(event_ids))).all()) == 6
