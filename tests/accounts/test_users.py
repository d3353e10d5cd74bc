"""Managing users on pages and through the API: who may create, see and change whom."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.directory.models import Organisation
from tests.accounts.helpers import (
    audit_events,
    bearer,
    browser,
    outbox_to,
    problem_locs,
    sign_in,
    snapshot,
)
from tests.factories import api_key_for, make_user
from tests.web import csrf_of, submit


def _key(db: Session, user: User) -> dict[str, str]:
    headers = bearer(api_key_for(db, user))
    db.commit()
    return headers


def _warm(client: TestClient, headers: dict[str, str]) -> None:
    """Use a key once, so that its hourly use record does not count as a later write."""
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def _new_user(org: Organisation, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "Niran.Srisuk@ThaiCERT.example",
        "name": "Niran Srisuk",
        "organisation_id": str(org.id),
        "role": "analyst",
        "timezone": "Asia/Bangkok",
    }
    body.update(changes)
    return body


def _form(org: Organisation, **changes: str) -> dict[str, str]:
    return {
        "email": "niran.srisuk@thaicert.example",
        "name": "Niran Srisuk",
        "organisation_id": str(org.id),
        "role": "analyst",
        "timezone": "Asia/Bangkok",
    } | changes


def _edit_form(user: User, **changes: str) -> dict[str, str]:
    return {
        "name": user.name,
        "role": user.role.value,
        "timezone": user.timezone,
        "active": "on",
    } | changes


def test_org_admin_creates_a_user_in_their_own_organisation(
    client: TestClient, db: Session, admin: User, org: Organisation
) -> None:
    response = client.post("/api/v1/users", json=_new_user(org), headers=_key(db, admin))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "niran.srisuk@thaicert.example"
    assert body["organisation_id"] == str(org.id)
    assert body["role"] == "analyst"
    assert body["has_totp"] is False
    assert "password_hash" not in body
    created = db.get(User, uuid.UUID(body["id"]))
    assert created is not None
    assert created.organisation_id == org.id
    [event] = audit_events(db, "accounts:user:created")
    assert event.actor_user_id == admin.id
    assert event.object_org_id == org.id
    assert len(outbox_to(db, "niran.srisuk@thaicert.example")) == 1


def test_org_admin_creates_a_user_on_the_page(
    client: TestClient, db: Session, admin: User, org: Organisation, other_org: Organisation
) -> None:
    sign_in(client, db, admin)
    form = client.get("/users/new")
    assert str(org.id) in form.text
    assert str(other_org.id) not in form.text, "only the admin's own organisation is offered"
    created = submit(client, "/users/new", "/users/new", _form(org))
    assert created.status_code == 303, created.text
    user = db.scalars(select(User).where(User.email == "niran.srisuk@thaicert.example")).one()
    assert user.role == Role.ANALYST
    assert user.organisation_id == org.id


def test_org_admin_cannot_create_a_user_in_another_organisation(
    client: TestClient, db: Session, admin: User, other_org: Organisation
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    api = client.post("/api/v1/users", json=_new_user(other_org), headers=headers)
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "forbidden"
    assert snapshot(db) == before


def test_org_admin_cannot_create_or_promote_a_platform_admin(
    client: TestClient, db: Session, admin: User, reader: User, org: Organisation
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    sign_in(client, db, admin)
    assert 'value="platform_admin"' not in client.get("/users/new").text
    before = snapshot(db)
    created = client.post(
        "/api/v1/users", json=_new_user(org, role="platform_admin"), headers=headers
    )
    promoted = client.patch(
        f"/api/v1/users/{reader.id}", json={"role": "platform_admin"}, headers=headers
    )
    assert created.status_code == 403
    assert promoted.status_code == 403
    assert snapshot(db) == before


def test_platform_admin_may_create_a_platform_admin_anywhere(
    client: TestClient, db: Session, platform_admin: User, other_org: Organisation
) -> None:
    sign_in(client, db, platform_admin)
    assert 'value="platform_admin"' in client.get("/users/new").text
    response = client.post(
        "/api/v1/users",
        json=_new_user(other_org, role="platform_admin", password="a long and fresh passphrase"),
        headers=_key(db, platform_admin),
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "platform_admin"


def test_org_admin_cannot_change_a_platform_admin_of_their_own_organisation(
    client: TestClient, db: Session, admin: User, org: Organisation
) -> None:
    operator = make_user(db, org, role=Role.PLATFORM_ADMIN)
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    for change in ({"active": False}, {"name": "Renamed"}, {"role": "reader"}):
        response = client.patch(f"/api/v1/users/{operator.id}", json=change, headers=headers)
        assert response.status_code == 403, (change, response.text)
    assert snapshot(db) == before


def test_org_admin_sees_only_the_users_of_their_organisation(
    client: TestClient,
    db: Session,
    admin: User,
    analyst: User,
    reader: User,
    outsider: User,
    platform_admin: User,
    other_org: Organisation,
) -> None:
    headers = _key(db, admin)
    listed = client.get("/api/v1/users", headers=headers).json()
    assert {u["email"] for u in listed["items"]} == {admin.email, analyst.email, reader.email}
    assert listed["total"] == 3
    elsewhere = client.get(
        "/api/v1/users", params={"organisation_id": str(other_org.id)}, headers=headers
    ).json()
    assert elsewhere["items"] == []
    assert elsewhere["total"] == 0
    for hidden in (outsider, platform_admin):
        one = client.get(f"/api/v1/users/{hidden.id}", headers=headers)
        assert one.status_code == 404, "not 403: that the user exists stays hidden"
        assert one.json()["error"]["code"] == "not_found"

    sign_in(client, db, admin)
    page = client.get("/users")
    assert reader.email in page.text
    assert outsider.email not in page.text
    assert platform_admin.email not in page.text
    assert client.get(f"/users/{reader.id}/edit").status_code == 200


def test_org_admin_cannot_change_users_they_cannot_see(
    client: TestClient, db: Session, admin: User, outsider: User
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    api = client.patch(f"/api/v1/users/{outsider.id}", json={"active": False}, headers=headers)
    assert api.status_code == 404
    assert snapshot(db) == before


def test_platform_admin_sees_and_manages_every_organisation(
    client: TestClient, db: Session, platform_admin: User, admin: User, outsider: User
) -> None:
    headers = _key(db, platform_admin)
    listed = client.get("/api/v1/users", params={"per_page": 500}, headers=headers).json()
    assert {admin.email, outsider.email, platform_admin.email} <= {
        u["email"] for u in listed["items"]
    }
    assert client.get(f"/api/v1/users/{outsider.id}", headers=headers).status_code == 200
    changed = client.patch(
        f"/api/v1/users/{outsider.id}", json={"role": "analyst"}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "analyst"
    [event] = audit_events(db, "accounts:user:updated")
    assert event.details == {"role": "reader -> analyst"}


@pytest.mark.parametrize("role", ["reader", "analyst"])
def test_readers_and_analysts_cannot_manage_users(
    client: TestClient,
    db: Session,
    request: pytest.FixtureRequest,
    role: str,
    org: Organisation,
) -> None:
    member: User = request.getfixturevalue(role)
    colleague = make_user(db, org, role=Role.READER)
    headers = _key(db, member)
    _warm(client, headers)
    before = snapshot(db)
    answers = [
        client.post("/api/v1/users", json=_new_user(org), headers=headers),
        client.patch(f"/api/v1/users/{colleague.id}", json={"role": "analyst"}, headers=headers),
        client.patch(f"/api/v1/users/{colleague.id}", json={"active": False}, headers=headers),
        client.patch(f"/api/v1/users/{colleague.id}", json={"name": "X"}, headers=headers),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert snapshot(db) == before


@pytest.mark.parametrize("role", ["admin", "platform_admin"])
def test_nobody_changes_their_own_role_or_deactivates_themselves(
    client: TestClient, db: Session, request: pytest.FixtureRequest, role: str
) -> None:
    me: User = request.getfixturevalue(role)
    headers = _key(db, me)
    _warm(client, headers)
    before = snapshot(db)
    demoted = client.patch(f"/api/v1/users/{me.id}", json={"role": "reader"}, headers=headers)
    gone = client.patch(f"/api/v1/users/{me.id}", json={"active": False}, headers=headers)
    assert demoted.status_code == 403
    assert demoted.json()["error"]["message"] == "you cannot change your own role"
    assert gone.status_code == 403
    assert gone.json()["error"]["message"] == "you cannot deactivate yourself"
    assert snapshot(db) == before


def test_everyone_may_change_their_own_name_and_time_zone(
    client: TestClient, db: Session, reader: User
) -> None:
    response = client.patch(
        f"/api/v1/users/{reader.id}",
        json={"name": "Reader Renamed", "timezone": "Asia/Jakarta"},
        headers=_key(db, reader),
    )
    assert response.status_code == 200
    db.refresh(reader)
    assert (reader.name, reader.timezone) == ("Reader Renamed", "Asia/Jakarta")
    sign_in(client, db, reader)
    saved = submit(
        client, "/account", "/account/profile", {"name": "Reader Again", "timezone": "UTC"}
    )
    assert saved.status_code == 303
    db.refresh(reader)
    assert (reader.name, reader.timezone) == ("Reader Again", "UTC")


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"email": "not-an-email"}, "body.email"),
        ({"timezone": "Mars/Olympus_Mons"}, "body.timezone"),
        ({"is_admin": True}, "body.is_admin"),
        ({"role": "superuser"}, "body.role"),
        ({"name": "   "}, "body.name"),
        ({"organisation_id": "not-a-uuid"}, "body.organisation_id"),
    ],
)
def test_bad_new_user_is_refused_with_the_field_named_and_nothing_written(
    client: TestClient,
    db: Session,
    admin: User,
    org: Organisation,
    changes: dict[str, object],
    loc: str,
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    response = client.post("/api/v1/users", json=_new_user(org, **changes), headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert problem_locs(response) == [loc]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"timezone": "Asia/Atlantis"}, "body.timezone"),
        ({"email": "new@thaicert.example"}, "body.email"),
        ({"active": "perhaps"}, "body.active"),
    ],
)
def test_bad_user_change_is_refused_with_the_field_named_and_nothing_written(
    client: TestClient,
    db: Session,
    admin: User,
    reader: User,
    changes: dict[str, object],
    loc: str,
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    response = client.patch(f"/api/v1/users/{reader.id}", json=changes, headers=headers)
    assert response.status_code == 422
    assert problem_locs(response) == [loc]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "not a valid email address"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "is not an IANA time zone"),
        ({"password": "short"}, "password", "must be at least 12 characters"),
    ],
)
def test_bad_new_user_on_the_page_is_shown_with_the_field_named_and_nothing_written(
    client: TestClient,
    db: Session,
    admin: User,
    org: Organisation,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    sign_in(client, db, admin)
    before = snapshot(db)
    response = submit(client, "/users/new", "/users/new", _form(org, **changes))
    assert response.status_code == 422
    assert f"<strong>{field}</strong>: " in response.text
    assert message in response.text
    assert snapshot(db) == before


def test_a_second_user_with_the_same_address_is_refused(
    client: TestClient, db: Session, admin: User, reader: User, org: Organisation
) -> None:
    headers = _key(db, admin)
    _warm(client, headers)
    before = snapshot(db)
    response = client.post(
        "/api/v1/users", json=_new_user(org, email=reader.email.upper()), headers=headers
    )
    assert response.status_code == 409
    assert snapshot(db) == before


@dataclass
class _People:
    admin: User
    reader: User
    analyst: User
    outsider: User
    colleague: User


Refusal = tuple[User, str, str, dict[str, str] | None, int]


def _org_of(user: User) -> str:
    return str(user.organisation_id)


def _refusals() -> dict[str, Callable[[_People], Refusal]]:
    return {
        "new-user-in-another-organisation": lambda p: (
            p.admin,
            "POST",
            "/users/new",
            _form(p.admin.organisation, organisation_id=_org_of(p.outsider)),
            403,
        ),
        "new-platform-admin": lambda p: (
            p.admin,
            "POST",
            "/users/new",
            _form(p.admin.organisation, role="platform_admin"),
            403,
        ),
        "promote-to-platform-admin": lambda p: (
            p.admin,
            "POST",
            f"/users/{p.reader.id}/edit",
            _edit_form(p.reader, role="platform_admin"),
            403,
        ),
        "edit-page-of-a-hidden-user": lambda p: (
            p.admin,
            "GET",
            f"/users/{p.outsider.id}/edit",
            None,
            404,
        ),
        "edit-a-hidden-user": lambda p: (
            p.admin,
            "POST",
            f"/users/{p.outsider.id}/edit",
            _edit_form(p.outsider),
            404,
        ),
        "reader-adds-a-user": lambda p: (
            p.reader,
            "POST",
            "/users/new",
            _form(p.reader.organisation),
            403,
        ),
        "analyst-changes-a-role": lambda p: (
            p.analyst,
            "POST",
            f"/users/{p.colleague.id}/edit",
            _edit_form(p.colleague, role="analyst"),
            403,
        ),
        "own-role": lambda p: (
            p.admin,
            "POST",
            f"/users/{p.admin.id}/edit",
            _edit_form(p.admin, role="reader"),
            403,
        ),
        "deactivate-oneself": lambda p: (
            p.admin,
            "POST",
            f"/users/{p.admin.id}/edit",
            _edit_form(p.admin, active=""),
            403,
        ),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_user_pages_refuse_with_an_error_page_and_write_nothing(
    app: FastAPI,
    db: Session,
    admin: User,
    reader: User,
    analyst: User,
    outsider: User,
    org: Organisation,
    case: str,
) -> None:
    people = _People(admin, reader, analyst, outsider, make_user(db, org, role=Role.READER))
    actor, method, path, form, status = _refusals()[case](people)
    with browser(app, raise_server_exceptions=False) as client:
        sign_in(client, db, actor)
        token = csrf_of(client.get("/account").text)
        before = snapshot(db)
        if form is None:
            response = client.request(method, path)
        else:
            response = client.request(method, path, data=form | {"csrf_token": token})
    assert response.status_code != 500, "rendering the error page failed"
    assert response.status_code == status
    assert ("Not allowed" if status == 403 else "Not found") in response.text
    assert snapshot(db) == before
