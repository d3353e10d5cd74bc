"""Password links by e-mail (resets and invitations) and changing one's own password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from balai.accounts.models import PasswordReset, User, WebSession
from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.db import utcnow
from balai.outbox.models import OutboxMessage
from balai.tokens import hash_token
from tests.accounts.helpers import (
    audit_actions,
    audit_events,
    browser,
    count,
    deliver,
    outbox_to,
    post_login,
    reset_path,
    sign_in,
)
from tests.factories import PASSWORD, make_user
from tests.smtp import SmtpSink
from tests.web import submit

NEW_PASSWORD = "a long and fresh passphrase"
SENT = "If that address belongs to an account, a link to choose a new password is on its way."


def _request_reset(client: TestClient, email: str) -> str:
    response = submit(client, "/password-reset", "/password-reset", {"email": email})
    assert response.status_code == 200, response.text
    return response.text


def _queued_link(db: Session, email: str) -> tuple[str, str]:
    """The path and token of the newest password link queued for an address."""
    messages = outbox_to(db, email)
    assert messages, f"no mail queued for {email}"
    return reset_path(str(messages[-1].payload["text"]))


def _choose(client: TestClient, path: str, password: str, again: str | None = None) -> int:
    data = {"password": password, "password_again": password if again is None else again}
    # The request page's form carries the same CSRF token, and is there when the link is dead.
    return submit(client, "/password-reset", path, data).status_code


def test_reset_link_arrives_by_mail_works_once_and_ends_every_session(
    app: FastAPI,
    connection: Connection,
    settings: Settings,
    db: Session,
    mail: SmtpSink,
    reader: User,
) -> None:
    with browser(app) as signed_in, browser(app) as client:
        sign_in(signed_in, db, reader)
        assert SENT in _request_reset(client, reader.email)
        [queued] = outbox_to(db, reader.email)
        assert queued.payload["subject"] == "Reset your Balai password"

        assert deliver(connection, settings) == 1
        [received] = mail.to(reader.email)
        assert received.subject == "Reset your Balai password"
        path, token = reset_path(received.body)
        reset = db.scalars(select(PasswordReset).where(PasswordReset.user_id == reader.id)).one()
        assert reset.token_hash == hash_token(token), "only the token's hash is stored"
        lifetime = reset.expires_at - reset.created_at
        assert abs(lifetime - timedelta(minutes=settings.password_reset_minutes)) < timedelta(
            seconds=5
        )
        form = client.get(path)
        assert form.status_code == 200
        assert form.headers["referrer-policy"] == "no-referrer", "the token must not leak on"

        assert _choose(client, path, NEW_PASSWORD) == 303

        assert count(db, WebSession, WebSession.user_id == reader.id) == 0
        assert signed_in.get("/account").status_code == 303
        db.refresh(reader)
        changed = reader.password_hash
        used = client.get(path)
        assert used.status_code == 404
        assert "invalid, has been used, or has expired" in used.text
        assert _choose(client, path, "yet another passphrase here") == 422
        db.refresh(reader)
        assert reader.password_hash == changed
        assert post_login(client, reader.email, PASSWORD).status_code == 401
        assert post_login(client, reader.email, NEW_PASSWORD).status_code == 303
    assert audit_actions(db, "auth:password:") == [
        "auth:password:reset_requested",
        "auth:password:reset",
    ]


def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(
    client: TestClient, db: Session, reader: User
) -> None:
    gone = make_user(db, reader.organisation, active=False)
    db.commit()
    known = _request_reset(client, reader.email)
    unknown = _request_reset(client, "nobody@thaicert.example")
    inactive = _request_reset(client, gone.email)
    assert known == unknown == inactive
    assert count(db, OutboxMessage) == 1
    assert [m.destination for m in outbox_to(db, reader.email)] == [reader.email]
    assert outbox_to(db, gone.email) == []
    assert audit_actions(db, "auth:password:") == ["auth:password:reset_requested"]


def test_reset_requests_for_one_address_are_limited(
    client: TestClient, db: Session, reader: User
) -> None:
    for _ in range(5):
        _request_reset(client, reader.email)
    assert len(outbox_to(db, reader.email)) == 3


def test_an_expired_link_does_not_work(client: TestClient, db: Session, reader: User) -> None:
    _request_reset(client, reader.email)
    path, token = _queued_link(db, reader.email)
    reset = db.scalars(
        select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
    ).one()
    reset.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    assert client.get(path).status_code == 404
    assert _choose(client, path, NEW_PASSWORD) == 422
    db.refresh(reader)
    assert reader.password_changed_at is None
    assert audit_actions(db, "auth:password:reset") == ["auth:password:reset_requested"]


def test_a_made_up_link_does_not_work(client: TestClient) -> None:
    path = "/password-reset/made-up-token-made-up-token-made-up-token-00"
    assert client.get(path).status_code == 404
    response = submit(
        client, "/password-reset", path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert "this link is invalid, used or expired" in response.text


def test_using_one_link_voids_the_others(client: TestClient, db: Session, reader: User) -> None:
    _request_reset(client, reader.email)
    first, _ = _queued_link(db, reader.email)
    _request_reset(client, reader.email)
    second, _ = _queued_link(db, reader.email)
    assert first != second
    assert _choose(client, second, NEW_PASSWORD) == 303
    assert client.get(first).status_code == 404
    assert _choose(client, first, "an attacker's passphrase") == 422


@pytest.mark.parametrize(
    ("password", "again", "field", "message"),
    [
        ("short one", None, "password", "must be at least 12 characters"),
        ("the reader is me, honestly", None, "password", "must not contain your e-mail address"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "password_again", "the two passwords differ"),
    ],
)
def test_reset_enforces_the_password_policy_with_a_clear_error(
    client: TestClient,
    db: Session,
    reader: User,
    password: str,
    again: str | None,
    field: str,
    message: str,
) -> None:
    _request_reset(client, reader.email)
    path, _ = _queued_link(db, reader.email)
    data = {"password": password, "password_again": password if again is None else again}
    response = submit(client, path, path, data)
    assert response.status_code == 422
    assert f'id="{field}-error">{message}</p>' in response.text
    db.refresh(reader)
    assert reader.password_changed_at is None
    assert client.get(path).status_code == 200, "a refused password leaves the link usable"
    assert audit_actions(db, "auth:password:reset") == ["auth:password:reset_requested"]


def test_creating_a_user_without_a_password_mails_an_invitation(
    app: FastAPI,
    connection: Connection,
    settings: Settings,
    db: Session,
    mail: SmtpSink,
    admin: User,
) -> None:
    email = "new.colleague@thaicert.example"
    with browser(app) as client:
        sign_in(client, db, admin)
        created = submit(
            client,
            "/users/new",
            "/users/new",
            {
                "email": email,
                "name": "New Colleague",
                "organisation_id": str(admin.organisation_id),
                "role": "analyst",
                "timezone": "Asia/Bangkok",
            },
        )
        assert created.status_code == 303, created.text
        invited = db.scalars(select(User).where(User.email == email)).one()
        assert invited.password_hash is None
        link = db.scalars(select(PasswordReset).where(PasswordReset.user_id == invited.id)).one()
        assert link.expires_at - link.created_at > timedelta(days=6)

        assert deliver(connection, settings) == 1
        [received] = mail.to(email)
        assert received.subject == "Your Balai account is ready"
        assert "ThaiCERT" in received.body
        path, _ = reset_path(received.body)
        client.cookies.clear()
        assert _choose(client, path, NEW_PASSWORD) == 303
        assert post_login(client, email, NEW_PASSWORD).status_code == 303
    [event] = audit_events(db, "accounts:user:created")
    assert event.object_id == str(invited.id)
    assert event.details == {"email": email, "role": "analyst"}


def test_creating_a_user_with_a_password_sends_no_invitation(
    client: TestClient, db: Session, admin: User
) -> None:
    email = "direct@thaicert.example"
    sign_in(client, db, admin)
    created = submit(
        client,
        "/users/new",
        "/users/new",
        {
            "email": email,
            "name": "Direct",
            "organisation_id": str(admin.organisation_id),
            "password": NEW_PASSWORD,
        },
    )
    assert created.status_code == 303, created.text
    assert outbox_to(db, email) == []
    assert count(db, PasswordReset) == 0


def test_changing_the_password_ends_every_session(app: FastAPI, db: Session, reader: User) -> None:
    with browser(app) as here, browser(app) as there:
        sign_in(here, db, reader)
        sign_in(there, db, reader)
        changed = submit(
            here,
            "/account",
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/login"
        assert here.get("/account").status_code == 303
        assert there.get("/account").status_code == 303
        assert post_login(here, reader.email, NEW_PASSWORD).status_code == 303
    assert audit_actions(db, "auth:password:") == ["auth:password:changed"]


@pytest.mark.parametrize(
    ("current", "new", "field", "message"),
    [
        ("not my password", NEW_PASSWORD, "current_password", "wrong password"),
        (PASSWORD, "too short", "new_password", "must be at least 12 characters"),
        (PASSWORD, "reader@thaicert rocks", "new_password", "must not contain your e-mail"),
    ],
)
def test_changing_the_password_needs_the_current_one_and_a_good_new_one(
    client: TestClient,
    db: Session,
    reader: User,
    current: str,
    new: str,
    field: str,
    message: str,
) -> None:
    before = reader.password_hash
    sign_in(client, db, reader)
    response = submit(
        client, "/account", "/account/password", {"current_password": current, "new_password": new}
    )
    assert response.status_code == 422
    assert f'id="{field}-error">{message}' in response.text
    db.refresh(reader)
    assert reader.password_hash == before
    assert client.get("/account").status_code == 200, "a refused change keeps the session"
    assert count(db, AuditEvent, AuditEvent.action == "auth:password:changed") == 0


def test_changing_the_password_voids_links_sent_before(
    client: TestClient, db: Session, reader: User
) -> None:
    _request_reset(client, reader.email)
    path, _ = _queued_link(db, reader.email)
    sign_in(client, db, reader)
    changed = submit(
        client,
        "/account",
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert client.get(path).status_code == 404


def test_a_link_stops_working_when_its_user_is_deactivated(
    client: TestClient, db: Session, reader: User
) -> None:
    _request_reset(client, reader.email)
    path, _ = _queued_link(db, reader.email)
    reader.active = False
    db.commit()
    assert _choose(client, path, NEW_PASSWORD) == 422
    db.refresh(reader)
    assert reader.password_changed_at is None
