"""Secrets never reach the logs: passwords, API keys, one-time links, session cookies.

The server logs at DEBUG through a whole flow; the test client's own logger (httpx, which
logs every URL it requests) is held at WARNING, because it is the browser, not the server.
"""

from __future__ import annotations

import logging
import uuid

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.accounts.models import User
from balai.checks.schemas import CheckStart, Selection
from balai.checks.service import start_check
from balai.config import Settings
from balai.directory.models import Organisation
from tests.accounts.helpers import (
    ACK_LINK,
    NEW_API_KEY,
    bearer,
    outbox_to,
    post_login,
    reset_path,
    session_cookie,
    start_totp,
)
from tests.factories import PASSWORD, actor_for, make_contact
from tests.web import submit

NEW_PASSWORD = "another long passphrase for the logs test"
WRONG_PASSWORD = "a wrong but secret guess 4711"


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG from before the app is built; the browser's own log held back."""
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.WARNING, logger="httpcore")
    caplog.set_level(logging.DEBUG)  # last: set_level also sets the capturing handler's level
    return caplog


def _access_lines(log: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in log.records if r.name == "balai.access"]


def test_a_whole_identity_flow_logs_no_secret(
    server_log: pytest.LogCaptureFixture,
    client: TestClient,
    db: Session,
    settings: Settings,
    reader: User,
    admin: User,
    org: Organisation,
) -> None:
    secrets: dict[str, str] = {"password": PASSWORD, "wrong password": WRONG_PASSWORD}

    assert post_login(client, reader.email, WRONG_PASSWORD).status_code == 401
    assert post_login(client, reader.email).status_code == 303
    secrets["session cookie"] = session_cookie(client)

    page = submit(client, "/account", "/account/api-keys", {"name": "Logs test"})
    found = NEW_API_KEY.search(page.text)
    assert found
    secrets["page key"] = found.group(1)
    assert client.get("/api/v1/me", headers=bearer(secrets["page key"])).status_code == 200
    made = client.post(
        "/api/v1/api-keys", json={"name": "API made"}, headers=bearer(secrets["page key"])
    )
    assert made.status_code == 201
    secrets["api key"] = made.json()["key"]
    assert client.get("/api/v1/me", headers={"X-API-Key": secrets["api key"]}).status_code == 200
    refused = client.get("/api/v1/me", headers=bearer(secrets["api key"] + "x"))
    assert refused.status_code == 401

    secrets["totp secret"] = start_totp(client)
    confirm = {"code": pyotp.TOTP(secrets["totp secret"]).now()}
    assert submit(client, "/account", "/account/mfa/confirm", confirm).status_code == 303

    client.cookies.clear()
    submit(client, "/password-reset", "/password-reset", {"email": reader.email})
    path, secrets["reset token"] = reset_path(str(outbox_to(db, reader.email)[-1].payload["text"]))
    assert client.get(path).status_code == 200
    new = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    assert submit(client, path, path, new).status_code == 303
    secrets["new password"] = NEW_PASSWORD
    assert post_login(client, reader.email, NEW_PASSWORD).status_code == 303

    contact = make_contact(db, org, email="desk@thaicert.example")
    check = CheckStart(title="Logs test", selection=Selection(contact_ids=[contact.id]))
    start_check(db, actor=actor_for(admin), settings=settings, data=check)
    db.commit()
    ack = ACK_LINK.search(str(outbox_to(db, "desk@thaicert.example")[0].payload["text"]))
    assert ack
    ack_path, secrets["ack token"] = ack.group(1), ack.group(2)
    client.cookies.clear()
    assert client.get(ack_path).status_code == 200
    assert submit(client, ack_path, ack_path, {}).status_code == 200

    assert logging.getLogger("balai").isEnabledFor(logging.DEBUG)
    assert server_log.handler.level == logging.DEBUG
    text = server_log.text
    leaked = [name for name, value in secrets.items() if value in text]
    assert leaked == [], f"in the logs: {leaked}"
    for name in ("page key", "api key"):
        assert secrets[name].split("_", 2)[2] not in text, name
    access = _access_lines(server_log)
    assert any(line.startswith("POST /login 401 ") for line in access)
    assert any(line.startswith("GET /password-reset/{token} 200 ") for line in access)
    assert any(line.startswith("POST /password-reset/{token} 303 ") for line in access)
    assert any(line.startswith("GET /ack/{token} 200 ") for line in access)
    assert any(line.startswith("POST /ack/{token} 200 ") for line in access)


def test_the_access_log_names_route_templates_never_raw_paths(
    server_log: pytest.LogCaptureFixture, client: TestClient
) -> None:
    token = f"secret-{uuid.uuid4().hex}"
    client.get(f"/password-reset/{token}")
    client.get(f"/ack/{token}")
    client.get(f"/no-such-page/{token}")
    access = _access_lines(server_log)
    assert [line.rsplit(" ", 1)[0] for line in access] == [
        "GET /password-reset/{token} 404",
        "GET /ack/{token} 404",
        "GET (unmatched) 404",
    ]
    assert token not in server_log.text


def test_api_calls_are_logged_by_template_without_their_ids(
    server_log: pytest.LogCaptureFixture, client: TestClient
) -> None:
    user_id = str(uuid.uuid4())
    client.get(f"/api/v1/users/{user_id}")
    assert user_id not in server_log.text
    assert len(_access_lines(server_log)) == 1


def test_api_calls_are_logged_with_their_full_route_template(
    server_log: pytest.LogCaptureFixture, client: TestClient
) -> None:
    client.get("/api/v1/me")
    client.get(f"/api/v1/users/{uuid.uuid4()}")
    assert [line.rsplit(" ", 1)[0] for line in _access_lines(server_log)] == [
        "GET /api/v1/me 401",
        "GET /api/v1/users/{user_id} 401",
    ]
