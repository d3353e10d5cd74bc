"""Log-in and log-out through the form: cookies, where the user lands, generic failures."""

from __future__ import annotations

import html
import re

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from balai.accounts.models import User, WebSession
from balai.accounts.passwords import needs_rehash, verify_password
from balai.accounts.web import LOGIN_FAILED
from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.directory.models import Organisation
from balai.tokens import hash_token
from balai.web.middleware import SESSION_COOKIE
from tests.accounts.helpers import (
    audit_events,
    browser,
    count,
    post_login,
    session_cookie,
    session_row,
    sign_in,
    with_cookie,
)
from tests.factories import PASSWORD, make_user
from tests.web import app_on, login, submit

NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')


def _session_set_cookie(headers: list[str]) -> str:
    found = [h for h in headers if h.startswith(f"{SESSION_COOKIE}=")]
    assert len(found) == 1, headers
    return found[0]


def test_log_in_sets_an_http_only_session_cookie_and_lands_on_next(
    client: TestClient, db: Session, admin: User
) -> None:
    response = post_login(client, admin.email, next="/organisations?country=TH")

    assert response.status_code == 303
    assert response.headers["location"] == "/organisations?country=TH"
    cookie = _session_set_cookie(response.headers.get_list("set-cookie"))
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "path=/" in cookie.lower()
    token = session_cookie(client)
    row = session_row(db, token)
    assert row is not None, "the table stores the cookie's hash"
    assert row.user_id == admin.id
    assert not row.mfa_pending
    assert count(db, WebSession, WebSession.id == token) == 0, "never the cookie itself"
    account = client.get("/account")
    assert account.status_code == 200
    assert admin.email in account.text
    db.refresh(admin)
    assert admin.last_login_at is not None
    [event] = audit_events(db, "auth:session:login")
    assert event.actor_user_id == admin.id
    assert event.actor_org_id == admin.organisation_id


def test_session_cookie_is_secure_when_the_instance_is_served_over_https(
    connection: Connection, settings: Settings, admin: User
) -> None:
    https = settings.model_copy(update={"base_url": "https://testserver"})
    app = app_on(connection, https)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = post_login(client, admin.email)
    app.state.engine.dispose()
    assert response.status_code == 303
    assert "secure" in _session_set_cookie(response.headers.get_list("set-cookie")).lower()


OFF_SITE = [
    "//evil.example",
    "//evil.example/directory",
    "https://evil.example/",
    "/\\evil.example",
    "/\\/evil.example",
    "evil.example",
    "",
]


def test_log_in_never_sends_the_user_to_another_site(client: TestClient, admin: User) -> None:
    response = post_login(client, admin.email, next="//evil.example")
    assert response.status_code == 303
    assert response.headers["location"] == "/directory"


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_signed_in_visit_to_log_in_never_goes_to_another_site(
    client: TestClient, db: Session, admin: User, target: str
) -> None:
    sign_in(client, db, admin)
    already_in = client.get("/login", params={"next": target})
    assert already_in.status_code == 303
    assert already_in.headers["location"] == "/directory"


def test_log_in_page_keeps_only_same_site_targets_in_its_form(client: TestClient) -> None:
    page = client.get("/login", params={"next": "//evil.example"})
    assert NEXT_FIELD.findall(page.text) == ["/directory"]
    page = client.get("/login", params={"next": "/checks"})
    assert NEXT_FIELD.findall(page.text) == ["/checks"]


def test_log_in_returns_to_a_page_with_several_query_parameters(
    client: TestClient, admin: User
) -> None:
    target = "/directory?country=TH&role=technical"
    redirect = client.get(target)
    assert redirect.status_code == 303
    page = client.get(redirect.headers["location"])
    [next_value] = NEXT_FIELD.findall(page.text)
    response = post_login(client, admin.email, next=html.unescape(next_value))
    assert response.headers["location"] == target


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, db: Session, admin: User
) -> None:
    unknown = "nobody@thaicert.example"
    wrong = post_login(client, admin.email, "not the password at all")
    missing = post_login(client, unknown, PASSWORD)

    assert wrong.status_code == missing.status_code == 401
    assert LOGIN_FAILED in wrong.text
    assert wrong.text.replace(admin.email, "EMAIL") == missing.text.replace(unknown, "EMAIL")
    assert SESSION_COOKIE not in wrong.cookies
    assert SESSION_COOKIE not in missing.cookies
    assert count(db, WebSession) == 0
    failed = audit_events(db, "auth:session:login_failed")
    assert [e.details["email"] for e in failed] == [admin.email, unknown]
    assert failed[0].object_id == str(admin.id)
    assert failed[1].object_id is None
    assert client.get("/account").status_code == 303


def test_email_is_matched_without_regard_to_case_or_spaces(client: TestClient, admin: User) -> None:
    response = post_login(client, f"  {admin.email.upper()} ")
    assert response.status_code == 303
    assert client.get("/account").status_code == 200


def test_inactive_user_cannot_log_in(client: TestClient, db: Session, org: Organisation) -> None:
    gone = make_user(db, org, active=False)
    db.commit()
    response = post_login(client, gone.email)
    assert response.status_code == 401
    assert LOGIN_FAILED in response.text
    assert count(db, WebSession, WebSession.user_id == gone.id) == 0
    assert client.get("/account").status_code == 303


def test_user_without_a_password_cannot_log_in(
    client: TestClient, db: Session, org: Organisation
) -> None:
    invited = make_user(db, org)
    invited.password_hash = None
    db.commit()
    for attempt in (PASSWORD, "balai-no-such-account"):  # the latter is the dummy hash's
        assert post_login(client, invited.email, attempt).status_code == 401
    assert count(db, WebSession) == 0


def test_log_out_deletes_the_session_so_the_old_cookie_is_worthless(
    client: TestClient, app: FastAPI, db: Session, admin: User
) -> None:
    login(client, admin.email)
    token = session_cookie(client)
    assert session_row(db, token) is not None

    response = submit(client, "/account", "/logout", {})

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies
    assert session_row(db, token) is None
    with browser(app) as replay:
        stale = replay.get("/account", headers=with_cookie(token))
    assert stale.status_code == 303
    assert stale.headers["location"] == "/login?next=/account"
    [event] = audit_events(db, "auth:session:logout")
    assert event.actor_user_id == admin.id


def test_log_in_keeps_a_hash_made_with_current_parameters(
    client: TestClient, db: Session, admin: User
) -> None:
    before = admin.password_hash
    assert before is not None
    assert not needs_rehash(before)
    login(client, admin.email)
    db.refresh(admin)
    assert admin.password_hash == before


def test_log_in_upgrades_a_hash_made_with_weaker_parameters(
    client: TestClient, db: Session, admin: User
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    admin.password_hash = weak
    db.commit()
    login(client, admin.email)
    db.refresh(admin)
    assert admin.password_hash != weak
    assert not needs_rehash(admin.password_hash)
    assert verify_password(admin.password_hash, PASSWORD)


def test_sessions_are_independent_per_browser(app: FastAPI, db: Session, admin: User) -> None:
    with browser(app) as first, browser(app) as second:
        login(first, admin.email)
        login(second, admin.email)
        assert session_cookie(first) != session_cookie(second)
        submit(first, "/account", "/logout", {})
        assert second.get("/account").status_code == 200
    rows = db.scalars(select(WebSession).where(WebSession.user_id == admin.id)).all()
    assert [r.id for r in rows] == [hash_token(session_cookie(second))]
    assert count(db, AuditEvent, AuditEvent.action == "auth:session:login") == 2
