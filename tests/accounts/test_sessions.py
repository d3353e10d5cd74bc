"""Log-in sessions end: when idle too long, at their maximum age, when the user is deactivated."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.accounts.models import User, WebSession
from balai.config import Settings
from balai.db import utcnow
from tests.accounts.helpers import (
    audit_events,
    browser,
    count,
    session_cookie,
    session_row,
    sign_in,
)
from tests.web import login, submit


def _logged_in_row(client: TestClient, db: Session, user: User) -> WebSession:
    login(client, user.email)
    row = session_row(db, session_cookie(client))
    assert row is not None
    return row


def _is_logged_out(client: TestClient) -> bool:
    response = client.get("/account")
    return bool(
        response.status_code == 303 and response.headers["location"] == "/login?next=/account"
    )


def test_a_new_session_lives_for_the_maximum_age(
    client: TestClient, db: Session, settings: Settings, reader: User
) -> None:
    row = _logged_in_row(client, db, reader)
    lifetime = row.expires_at - row.created_at
    assert lifetime == timedelta(hours=settings.session_max_age_hours)


def test_an_idle_session_ends(
    client: TestClient, db: Session, settings: Settings, reader: User
) -> None:
    row = _logged_in_row(client, db, reader)
    row.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes, seconds=1)
    db.commit()
    assert _is_logged_out(client)


def test_activity_keeps_a_session_alive(
    client: TestClient, db: Session, settings: Settings, reader: User
) -> None:
    row = _logged_in_row(client, db, reader)
    almost_idle = utcnow() - timedelta(minutes=settings.session_idle_minutes - 1)
    row.last_seen_at = almost_idle
    db.commit()
    assert client.get("/account").status_code == 200
    refreshed = session_row(db, session_cookie(client))
    assert refreshed is not None
    assert refreshed.last_seen_at > almost_idle + timedelta(minutes=1)


def test_a_session_ends_at_its_maximum_age_even_when_active(
    client: TestClient, db: Session, reader: User
) -> None:
    row = _logged_in_row(client, db, reader)
    row.expires_at = utcnow() - timedelta(seconds=1)
    row.last_seen_at = utcnow()
    db.commit()
    assert _is_logged_out(client)


def test_an_ended_session_is_forgotten_when_its_cookie_comes_back(
    client: TestClient, db: Session, reader: User
) -> None:
    row = _logged_in_row(client, db, reader)
    token = session_cookie(client)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    page = client.get("/login")
    assert page.status_code == 200, "the log-in form, not a redirect into the account"
    assert session_row(db, token) is None


def test_deactivating_a_user_ends_their_sessions(
    app: FastAPI, db: Session, admin: User, reader: User
) -> None:
    with browser(app) as theirs, browser(app) as mine:
        sign_in(theirs, db, reader)
        sign_in(mine, db, admin)
        assert theirs.get("/account").status_code == 200
        page = f"/users/{reader.id}/edit"
        saved = submit(mine, page, page, {"name": reader.name, "role": "reader", "timezone": "UTC"})
        assert saved.status_code == 303, saved.text
        assert count(db, WebSession, WebSession.user_id == reader.id) == 0
        assert _is_logged_out(theirs)
        assert mine.get("/account").status_code == 200
    db.refresh(reader)
    assert not reader.active
    [event] = audit_events(db, "accounts:user:deactivated")
    assert event.object_id == str(reader.id)
    assert event.actor_user_id == admin.id


def test_a_session_of_a_user_deactivated_behind_its_back_stops_working(
    client: TestClient, db: Session, reader: User
) -> None:
    _logged_in_row(client, db, reader)
    reader.active = False  # as a direct database change would, without ending sessions
    db.commit()
    assert _is_logged_out(client)
