"""Helpers for the identity and security tests: log-in steps, rows, mail, codes, snapshots."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import Session

import balai.models  # noqa: F401  # registers every table on Base.metadata for snapshot()
from balai.accounts.models import User, WebSession
from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.db import Base, utcnow
from balai.outbox.delivery import SmtpTransport, deliver_batch
from balai.outbox.models import OutboxMessage
from balai.tokens import hash_token, new_token
from balai.web.middleware import SESSION_COOKIE
from tests.conftest import session_on
from tests.factories import PASSWORD
from tests.web import submit

RESET_LINK = re.compile(r"http://testserver(/password-reset/([A-Za-z0-9_-]+))")
ACK_LINK = re.compile(r"http://testserver(/ack/([A-Za-z0-9_-]+))")
TOTP_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)</code>')
NEW_API_KEY = re.compile(r'id="new-api-key">([^<]+)</code>')


def browser(app: FastAPI, *, raise_server_exceptions: bool = True) -> TestClient:
    """A new browser (its own cookies) on the app; use it in a `with` block."""
    return TestClient(
        app,
        base_url="http://testserver",
        follow_redirects=False,
        raise_server_exceptions=raise_server_exceptions,
    )


def post_login(
    client: TestClient, email: str, password: str = PASSWORD, *, next: str | None = None
) -> httpx.Response:
    """Submit the log-in form (with its CSRF token) and return the answer, whatever it is."""
    data = {"email": email, "password": password}
    if next is not None:
        data["next"] = next
    return submit(client, "/login", "/login", data)


def sign_in(client: TestClient, db: Session, user: User) -> str:
    """Give the browser a fresh session of the user without the (slow) password step."""
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
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    return token


def session_cookie(client: TestClient) -> str:
    """The browser's session cookie; fails if it has none."""
    token = client.cookies.get(SESSION_COOKIE)
    assert isinstance(token, str), "the browser holds no session cookie"
    return token


def with_cookie(token: str) -> dict[str, str]:
    """Headers that present a session cookie, as a second browser holding a copy would."""
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def session_row(db: Session, token: str) -> WebSession | None:
    """The stored session a cookie names, read afresh."""
    return db.get(WebSession, hash_token(token), populate_existing=True)


def count(db: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    """Rows of a table, optionally filtered."""
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def snapshot(db: Session) -> dict[str, list[str]]:
    """Every row of every table, to prove that a refused request changed nothing."""
    return {
        table.name: sorted(repr(tuple(row)) for row in db.execute(table.select()))
        for table in Base.metadata.sorted_tables
    }


def columns_holding(db: Session, needle: str) -> list[str]:
    """Every table.column with a stored value that contains a string (JSON included)."""
    found: list[str] = []
    for table in Base.metadata.sorted_tables:
        for row in db.execute(table.select()).mappings():
            found += [
                f"{table.name}.{column}"
                for column, value in row.items()
                if value is not None and needle in str(value)
            ]
    return found


def audit_actions(db: Session, prefix: str = "") -> list[str]:
    """The recorded audit actions starting with a prefix, oldest first."""
    query = select(AuditEvent.action).where(AuditEvent.action.startswith(prefix))
    return list(db.scalars(query.order_by(AuditEvent.id)))


def audit_events(db: Session, action: str) -> list[AuditEvent]:
    """The recorded events of one action, oldest first."""
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.scalars(query))


def outbox_to(db: Session, address: str) -> list[OutboxMessage]:
    """The e-mails queued for an address, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.destination == address)
    return list(db.scalars(query.order_by(OutboxMessage.created_at)))


def reset_path(text: str) -> tuple[str, str]:
    """The password link's path and its token, from an e-mail's text."""
    found = RESET_LINK.search(text)
    assert found, text
    return found.group(1), found.group(2)


def deliver(connection: Connection, settings: Settings) -> int:
    """Send the outbox over real SMTP to the test server; return how many were tried."""
    return deliver_batch(
        lambda: session_on(connection),
        settings=settings,
        transport=SmtpTransport(settings),
        worker_id="tests:accounts",
    )


def start_totp(client: TestClient) -> str:
    """Begin enrolling a second factor on the account page; return the secret it shows."""
    page = submit(client, "/account", "/account/mfa/start", {})
    assert page.status_code == 200, page.text
    found = TOTP_SECRET.search(page.text)
    assert found, "no set-up key on the page"
    return found.group(1)


def enrol_totp(client: TestClient) -> str:
    """Turn the second factor on for the signed-in user; return its secret."""
    secret = start_totp(client)
    done = submit(client, "/account", "/account/mfa/confirm", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 303, done.text
    return secret


def later_code(secret: str) -> str:
    """The code of the next 30-second step: accepted (one step of drift) after `now()`'s."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def wrong_code(secret: str) -> str:
    """A six-digit code that no step within the accepted drift produces."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def bearer(key: str) -> dict[str, str]:
    """Headers for an API call with a key."""
    return {"Authorization": f"Bearer {key}"}


def problem_locs(response: httpx.Response) -> list[str]:
    """The locations a JSON error names."""
    body: dict[str, Any] = response.json()
    return [d["loc"] for d in body["error"]["details"]]
