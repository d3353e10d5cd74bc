"""API keys: created on the account page or by the API, shown once, stored hashed, audited."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts import service
from balai.accounts.models import ApiKey, User
from balai.db import utcnow
from tests.accounts.helpers import (
    NEW_API_KEY,
    audit_events,
    bearer,
    columns_holding,
    count,
    problem_locs,
    sign_in,
)
from tests.factories import api_key_for
from tests.web import submit

KEY_SHAPE = re.compile(r"^balai_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")
UNAUTHENTICATED = "invalid, expired or revoked API key"


def _key_row(db: Session, plain: str) -> ApiKey:
    return db.scalars(select(ApiKey).where(ApiKey.prefix == plain.split("_")[1])).one()


def _assert_only_the_hash_is_stored(db: Session, plain: str) -> None:
    secret_part = plain.split("_", 2)[2]
    assert columns_holding(db, plain) == []
    assert columns_holding(db, secret_part) == []
    assert _key_row(db, plain).key_hash == hashlib.sha256(plain.encode()).hexdigest()


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/me", headers=headers).status_code)


def test_key_made_on_the_account_page_is_shown_once_and_stored_hashed(
    client: TestClient, db: Session, analyst: User
) -> None:
    sign_in(client, db, analyst)
    page = submit(client, "/account", "/account/api-keys", {"name": "SIEM connector"})
    assert page.status_code == 200
    found = NEW_API_KEY.search(page.text)
    assert found, "the new key is on the page"
    plain = found.group(1)
    assert KEY_SHAPE.match(plain)

    later = client.get("/account")
    assert plain not in later.text
    assert plain.split("_", 2)[2] not in later.text
    assert "SIEM connector" in later.text
    assert plain.split("_")[1] in later.text, "the prefix identifies the key"
    _assert_only_the_hash_is_stored(db, plain)
    me = client.get("/api/v1/me", headers=bearer(plain))
    assert me.status_code == 200
    assert me.json()["email"] == analyst.email
    [event] = audit_events(db, "accounts:apikey:created")
    assert event.details == {"name": "SIEM connector", "prefix": plain.split("_")[1]}
    assert event.actor_user_id == analyst.id


def test_key_made_through_the_api_is_shown_once_and_stored_hashed(
    client: TestClient, db: Session, reader: User
) -> None:
    first = api_key_for(db, reader)
    db.commit()
    created = client.post(
        "/api/v1/api-keys", json={"name": "Feed", "expires_in_days": 30}, headers=bearer(first)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    plain = body["key"]
    assert KEY_SHAPE.match(plain)
    assert body["prefix"] == plain.split("_")[1]
    expires = _key_row(db, plain).expires_at
    assert expires is not None
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)

    listed = client.get("/api/v1/api-keys", headers=bearer(first))
    assert listed.status_code == 200
    assert sorted(k["name"] for k in listed.json()) == ["Feed", "tests"]
    assert all("key" not in k for k in listed.json())
    assert plain not in listed.text
    assert first not in listed.text
    _assert_only_the_hash_is_stored(db, plain)
    _assert_only_the_hash_is_stored(db, first)
    assert _me(client, {"X-API-Key": plain}) == 200


@pytest.mark.parametrize(
    "headers",
    [
        lambda key: {"Authorization": f"Bearer {key}"},
        lambda key: {"Authorization": f"bearer {key}"},
        lambda key: {"X-API-Key": key},
    ],
    ids=["bearer", "bearer-lower-case", "x-api-key"],
)
def test_bearer_and_x_api_key_both_carry_a_key(
    client: TestClient, db: Session, reader: User, headers: Callable[[str], dict[str, str]]
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    response = client.get("/api/v1/me", headers=headers(plain))
    assert response.status_code == 200
    assert response.json()["id"] == str(reader.id)


def test_a_call_without_a_key_is_refused_with_a_json_error(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == 'Bearer realm="balai"'


def test_a_secret_with_underscores_still_authenticates(
    client: TestClient, db: Session, reader: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # token_urlsafe() often puts "_" into the secret part; the prefix split must not break it.
    monkeypatch.setattr(service, "new_token", lambda nbytes=32: "under_score_" + "x" * 31)
    plain = api_key_for(db, reader)
    db.commit()
    assert plain.count("_") == 4
    assert _me(client, bearer(plain)) == 200


def _revoke(key: ApiKey, user: User) -> None:
    key.revoked_at = utcnow()


def _expire(key: ApiKey, user: User) -> None:
    key.expires_at = utcnow() - timedelta(seconds=1)


def _deactivate(key: ApiKey, user: User) -> None:
    user.active = False


@pytest.mark.parametrize(
    "spoil", [_revoke, _expire, _deactivate], ids=["revoked", "expired", "deactivated-user"]
)
def test_spoilt_keys_are_refused_with_a_json_error(
    client: TestClient, db: Session, reader: User, spoil: Callable[[ApiKey, User], None]
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    assert _me(client, bearer(plain)) == 200
    spoil(_key_row(db, plain), reader)
    db.commit()
    response = client.get("/api/v1/me", headers=bearer(plain))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "unauthenticated",
        "message": UNAUTHENTICATED,
        "details": [],
    }
    assert response.headers["www-authenticate"] == 'Bearer realm="balai"'


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
        lambda key: key.replace("balai_", "other_", 1),
        lambda key: key.rsplit("_", 1)[0],
        lambda key: "balai_00000000_" + key.split("_", 2)[2],
        lambda key: "",
    ],
    ids=["wrong-secret", "wrong-scheme", "no-secret", "unknown-prefix", "empty"],
)
def test_forged_keys_are_refused(
    client: TestClient, db: Session, reader: User, mangle: Callable[[str], str]
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    response = client.get("/api/v1/me", headers={"X-API-Key": mangle(plain)})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_revoking_a_key_on_the_account_page_stops_it(
    client: TestClient, db: Session, reader: User
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    key = _key_row(db, plain)
    sign_in(client, db, reader)
    done = submit(client, "/account", f"/account/api-keys/{key.id}/revoke", {})
    assert done.status_code == 303
    assert _me(client, bearer(plain)) == 401
    db.refresh(key)
    assert key.revoked_at is not None
    [event] = audit_events(db, "accounts:apikey:revoked")
    assert event.object_id == str(key.id)


def test_revoking_a_key_through_the_api_stops_it(
    client: TestClient, db: Session, reader: User
) -> None:
    keeper = api_key_for(db, reader)
    doomed = api_key_for(db, reader)
    db.commit()
    doomed_id = _key_row(db, doomed).id
    response = client.delete(f"/api/v1/api-keys/{doomed_id}", headers=bearer(keeper))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert _me(client, bearer(doomed)) == 401
    assert _me(client, bearer(keeper)) == 200


def test_nobody_can_revoke_or_list_another_users_keys(
    client: TestClient, db: Session, reader: User, admin: User, platform_admin: User
) -> None:
    theirs = api_key_for(db, reader)
    admin_key = api_key_for(db, admin)
    platform_key = api_key_for(db, platform_admin)
    db.commit()
    key_id = _key_row(db, theirs).id
    for caller in (admin_key, platform_key):
        assert (
            client.delete(f"/api/v1/api-keys/{key_id}", headers=bearer(caller)).status_code == 404
        )
        listed = client.get("/api/v1/api-keys", headers=bearer(caller)).json()
        assert str(key_id) not in [k["id"] for k in listed]
    assert _me(client, bearer(theirs)) == 200
    key = _key_row(db, theirs)
    db.refresh(key)
    assert key.revoked_at is None


def test_key_use_is_audited_at_most_once_an_hour(
    client: TestClient, db: Session, reader: User
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    for _ in range(3):
        assert _me(client, bearer(plain)) == 200
    [used] = audit_events(db, "accounts:apikey:used")
    key = _key_row(db, plain)
    assert used.object_id == str(key.id)
    assert used.actor_user_id == reader.id
    assert used.details == {"prefix": key.prefix}
    assert used.client_ip == "testclient"

    db.refresh(key)
    assert key.last_used_at is not None
    key.last_used_at = utcnow() - timedelta(minutes=61)
    db.commit()
    assert _me(client, bearer(plain)) == 200
    assert len(audit_events(db, "accounts:apikey:used")) == 2
    db.refresh(key)
    assert utcnow() - key.last_used_at < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x", "expires_in_days": 0}, "body.expires_in_days"),
        ({"name": ""}, "body.name"),
        ({"name": "x", "key": "balai_choose_mine"}, "body.key"),
    ],
)
def test_bad_key_requests_are_refused_and_create_nothing(
    client: TestClient, db: Session, reader: User, body: dict[str, object], loc: str
) -> None:
    plain = api_key_for(db, reader)
    db.commit()
    response = client.post("/api/v1/api-keys", json=body, headers=bearer(plain))
    assert response.status_code == 422
    assert loc in problem_locs(response)
    assert count(db, ApiKey) == 1


def test_bad_expiry_on_the_account_page_creates_nothing(
    client: TestClient, db: Session, reader: User
) -> None:
    sign_in(client, db, reader)
    page = submit(
        client, "/account", "/account/api-keys", {"name": "Feed", "expires_in_days": "9999"}
    )
    assert page.status_code == 422
    assert 'id="expires_in_days-error"' in page.text
    assert 'id="new-api-key"' not in page.text
    assert count(db, ApiKey) == 0
