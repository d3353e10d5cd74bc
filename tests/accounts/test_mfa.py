"""The TOTP second factor: enrolment, log-in with a code, wrong codes, replay, turning it off."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.accounts.models import LoginFailure, User, WebSession
from balai.accounts.web import THROTTLED
from balai.config import Settings
from balai.db import utcnow
from tests.accounts.helpers import (
    audit_actions,
    audit_events,
    browser,
    count,
    enrol_totp,
    later_code,
    post_login,
    session_cookie,
    session_row,
    sign_in,
    start_totp,
    wrong_code,
)
from tests.factories import PASSWORD
from tests.web import submit


@pytest.fixture
def secret(client: TestClient, db: Session, admin: User) -> str:
    """The admin's second factor, enrolled through the account page; the browser is signed out."""
    sign_in(client, db, admin)
    enrolled = enrol_totp(client)
    client.cookies.clear()
    return enrolled


def _password_step(client: TestClient, user: User, next: str | None = None) -> str:
    """Pass the password step; return where it sends the browser."""
    response = post_login(client, user.email, next=next)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    assert location.startswith("/login/mfa?")
    return location


def _code_step(client: TestClient, code: str, next: str = "/directory") -> int:
    response = submit(client, "/login/mfa", "/login/mfa", {"code": code, "next": next})
    return response.status_code


def test_enrolment_shows_a_secret_and_turns_on_only_with_a_right_code(
    client: TestClient, db: Session, admin: User
) -> None:
    sign_in(client, db, admin)
    secret = start_totp(client)
    db.refresh(admin)
    assert admin.totp_pending_secret == secret
    assert admin.totp_secret is None

    refused = submit(client, "/account", "/account/mfa/confirm", {"code": wrong_code(secret)})
    assert refused.status_code == 422
    assert "this code does not match" in refused.text
    db.refresh(admin)
    assert admin.totp_secret is None

    confirmed = submit(
        client, "/account", "/account/mfa/confirm", {"code": pyotp.TOTP(secret).now()}
    )
    assert confirmed.status_code == 303
    db.refresh(admin)
    assert admin.totp_secret == secret
    assert admin.totp_pending_secret is None
    [event] = audit_events(db, "auth:mfa:enabled")
    assert event.actor_user_id == admin.id
    assert event.object_id == str(admin.id)
    assert "On: log-in asks for a code" in client.get("/account").text


def test_set_up_page_shows_the_key_as_a_qr_code(
    client: TestClient, db: Session, admin: User
) -> None:
    sign_in(client, db, admin)
    page = submit(client, "/account", "/account/mfa/start", {})
    assert page.status_code == 200
    assert "<svg" in page.text
    assert 'id="totp-secret"' in page.text


def test_log_in_with_a_second_factor_needs_the_code(
    client: TestClient, db: Session, admin: User, secret: str
) -> None:
    location = _password_step(client, admin)
    pending = session_row(db, session_cookie(client))
    assert pending is not None
    assert pending.mfa_pending
    assert pending.expires_at - pending.created_at == timedelta(minutes=5)
    assert client.get("/account").status_code == 303, "half-way is not logged in"
    assert audit_actions(db, "auth:session:login") == []
    assert client.get(location).status_code == 200

    assert _code_step(client, later_code(secret)) == 303

    assert client.get("/account").status_code == 200
    assert session_row(db, session_cookie(client)) is not None
    assert count(db, WebSession, WebSession.mfa_pending.is_(True)) == 0
    [login] = audit_events(db, "auth:session:login")
    assert login.actor_user_id == admin.id


def test_a_wrong_code_is_refused_and_counted(
    client: TestClient, db: Session, admin: User, secret: str
) -> None:
    _password_step(client, admin)
    response = submit(client, "/login/mfa", "/login/mfa", {"code": wrong_code(secret)})
    assert response.status_code == 401
    assert "That code is not right" in response.text
    assert client.get("/account").status_code == 303
    assert audit_actions(db, "auth:mfa:failed") == ["auth:mfa:failed"]
    assert count(db, LoginFailure, LoginFailure.key == f"account:{admin.email}") == 1


def test_a_code_cannot_be_used_twice(app: FastAPI, db: Session, admin: User, secret: str) -> None:
    code = later_code(secret)
    with browser(app) as first, browser(app) as second:
        _password_step(first, admin)
        assert _code_step(first, code) == 303
        _password_step(second, admin)
        assert _code_step(second, code) == 401, "a replayed code must be refused"
        assert second.get("/account").status_code == 303
    assert audit_actions(db, "auth:mfa:failed") == ["auth:mfa:failed"]


def test_wrong_codes_throttle_the_account(
    client: TestClient, app: FastAPI, settings: Settings, db: Session, admin: User, secret: str
) -> None:
    app.state.settings = settings.model_copy(update={"login_max_failures": 2})
    _password_step(client, admin)
    assert _code_step(client, wrong_code(secret)) == 401
    assert _code_step(client, wrong_code(secret)) == 401
    refused = submit(client, "/login/mfa", "/login/mfa", {"code": later_code(secret)})
    assert refused.status_code == 429
    assert THROTTLED in refused.text
    assert client.get("/account").status_code == 303
    assert post_login(client, admin.email).status_code == 429
    code_step, password_step = audit_events(db, "auth:session:throttled")
    assert code_step.actor_user_id == admin.id, "the code step knows who is throttled"
    assert password_step.details == {"email": admin.email}


def test_the_code_step_keeps_a_target_with_several_query_parameters(
    client: TestClient, admin: User, secret: str
) -> None:
    target = "/directory?country=TH&role=technical"
    location = _password_step(client, admin, next=target)
    assert parse_qs(urlsplit(location).query) == {"next": [target]}
    response = submit(client, location, "/login/mfa", {"code": later_code(secret), "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == target


def test_a_pending_session_expires(
    client: TestClient, db: Session, admin: User, secret: str
) -> None:
    _password_step(client, admin)
    pending = session_row(db, session_cookie(client))
    assert pending is not None
    pending.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    page = client.get("/login/mfa")
    assert page.status_code == 303
    assert page.headers["location"] == "/login"


def test_code_page_without_a_password_step_sends_to_log_in(client: TestClient) -> None:
    page = client.get("/login/mfa")
    assert page.status_code == 303
    assert page.headers["location"] == "/login"


def test_turning_the_second_factor_off_needs_the_password(
    client: TestClient, db: Session, admin: User, secret: str
) -> None:
    sign_in(client, db, admin)
    refused = submit(client, "/account", "/account/mfa/disable", {"password": "not it"})
    assert refused.status_code == 422
    assert "wrong password" in refused.text
    db.refresh(admin)
    assert admin.totp_secret == secret
    assert audit_actions(db, "auth:mfa:disabled") == []

    done = submit(client, "/account", "/account/mfa/disable", {"password": PASSWORD})
    assert done.status_code == 303
    db.refresh(admin)
    assert admin.totp_secret is None
    assert admin.totp_last_step is None
    [event] = audit_events(db, "auth:mfa:disabled")
    assert event.actor_user_id == admin.id
    client.cookies.clear()
    assert post_login(client, admin.email).headers["location"] == "/directory"


def test_the_second_factor_cannot_be_replaced_without_the_password(
    client: TestClient, db: Session, admin: User, secret: str
) -> None:
    sign_in(client, db, admin)
    response = submit(client, "/account", "/account/mfa/start", {})
    assert response.status_code == 422
    assert 'id="totp-secret"' not in response.text
    db.refresh(admin)
    assert admin.totp_secret == secret
    assert admin.totp_pending_secret is None
