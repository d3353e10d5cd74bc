"""Throttling repeated log-in failures, per account and per client address, and their audit."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.accounts.models import LoginFailure, User, WebSession
from balai.accounts.web import LOGIN_FAILED, THROTTLED
from balai.config import Settings
from balai.db import utcnow
from balai.web.middleware import SESSION_COOKIE
from tests.accounts.helpers import audit_actions, audit_events, count, post_login
from tests.factories import PASSWORD

TESTCLIENT_IP = "testclient"  # the client address Starlette's TestClient reports


def test_account_is_throttled_after_too_many_failures_even_with_the_right_password(
    client: TestClient, app: FastAPI, settings: Settings, db: Session, admin: User
) -> None:
    app.state.settings = settings.model_copy(update={"login_max_failures": 3})
    for _ in range(3):
        failed = post_login(client, admin.email, "guess")
        assert failed.status_code == 401
        assert LOGIN_FAILED in failed.text
    refused = post_login(client, admin.email, PASSWORD)

    assert refused.status_code == 429
    assert THROTTLED in refused.text
    assert SESSION_COOKIE not in refused.cookies
    assert count(db, WebSession) == 0
    # The failed requests committed their failure records although they answered 401.
    key = f"account:{admin.email}"
    assert count(db, LoginFailure, LoginFailure.key == key) == 3
    assert count(db, LoginFailure, LoginFailure.key == f"ip:{TESTCLIENT_IP}") == 3
    assert audit_actions(db, "auth:session:") == ["auth:session:login_failed"] * 3 + [
        "auth:session:throttled"
    ]
    [throttled] = audit_events(db, "auth:session:throttled")
    assert throttled.details == {"email": admin.email}
    assert throttled.client_ip == TESTCLIENT_IP


def test_throttling_one_account_leaves_others_alone(
    client: TestClient, app: FastAPI, settings: Settings, admin: User, reader: User
) -> None:
    app.state.settings = settings.model_copy(update={"login_max_failures": 2})
    for _ in range(2):
        assert post_login(client, admin.email, "guess").status_code == 401
    assert post_login(client, admin.email).status_code == 429
    assert post_login(client, reader.email).status_code == 303


def test_failures_outside_the_window_are_not_counted(
    client: TestClient, app: FastAPI, settings: Settings, db: Session, admin: User
) -> None:
    app.state.settings = settings.model_copy(
        update={"login_max_failures": 2, "login_window_minutes": 10}
    )
    old = utcnow() - timedelta(minutes=11)
    db.add_all(LoginFailure(key=f"account:{admin.email}", at=old) for _ in range(5))
    db.commit()
    assert post_login(client, admin.email).status_code == 303
    db.add(LoginFailure(key=f"account:{admin.email}", at=utcnow()))
    db.add(LoginFailure(key=f"account:{admin.email}", at=utcnow()))
    db.commit()
    client.cookies.clear()
    assert post_login(client, admin.email).status_code == 429


def test_one_client_address_is_throttled_across_accounts(
    client: TestClient, app: FastAPI, settings: Settings, db: Session, admin: User
) -> None:
    app.state.settings = settings.model_copy(
        update={"login_max_failures": 10, "login_max_failures_per_ip": 3}
    )
    for n in range(3):
        assert post_login(client, f"guess{n}@thaicert.example").status_code == 401
    refused = post_login(client, admin.email)

    assert refused.status_code == 429
    assert count(db, LoginFailure, LoginFailure.key == f"account:{admin.email}") == 0
    assert count(db, LoginFailure, LoginFailure.key == f"ip:{TESTCLIENT_IP}") == 3
    assert count(db, WebSession) == 0
    assert audit_actions(db, "auth:session:")[-1] == "auth:session:throttled"


def test_throttled_attempts_are_not_counted_as_new_failures(
    client: TestClient, app: FastAPI, settings: Settings, db: Session, admin: User
) -> None:
    app.state.settings = settings.model_copy(update={"login_max_failures": 2})
    for _ in range(5):
        post_login(client, admin.email, "guess")
    assert count(db, LoginFailure, LoginFailure.key == f"account:{admin.email}") == 2
    assert (
        audit_actions(db, "auth:session:")
        == ["auth:session:login_failed"] * 2 + ["auth:session:throttled"] * 3
    )
