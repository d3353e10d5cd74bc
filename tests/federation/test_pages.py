"""The federation pages: each peer with its last syncs and errors, for platform admins only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.config import Settings
from balai.federation.models import Peer, SyncRun
from balai.federation.schemas import PeerIn
from balai.federation.service import add_peer, due
from balai.taxii.collections import CONNECTED
from tests.factories import actor_for, make_org, make_user
from tests.intel.helpers import Intel, sign_in, text_of
from tests.web import csrf_of


def _peer(db: Session, settings: Settings, intel: Intel) -> Peer:
    admin = make_user(db, intel.home, role=Role.PLATFORM_ADMIN)
    hub = make_org(db, name="Regional hub", country="SG")
    peer = add_peer(
        db,
        actor=actor_for(admin),
        settings=settings,
        data=PeerIn(
            name="Regional hub",
            api_root="https://hub.example/taxii2/api",
            secret=SecretStr("balai_00000000_secret-never-shown"),
            organisation_id=hub.id,
            pull_collection=CONNECTED,
        ),
    )
    peer.last_error = "GET https://hub.example/taxii2/api/collections/… answered 401"
    db.add(SyncRun(peer_id=peer.id, direction="pull", objects=3, pages=1, error=peer.last_error))
    db.commit()
    return peer


def test_a_platform_admin_sees_each_peer_its_runs_and_errors(
    client: TestClient, db: Session, settings: Settings, intel: Intel
) -> None:
    peer = _peer(db, settings, intel)
    sign_in(client, db, make_user(db, intel.home, role=Role.PLATFORM_ADMIN))
    listing = text_of(client.get("/federation").text)
    assert "Regional hub" in listing
    assert "answered 401" in listing
    detail = client.get(f"/federation/{peer.id}")
    assert detail.status_code == 200
    shown = text_of(detail.text)
    assert "https://hub.example/taxii2/api/" in shown
    assert "The last sync failed" in shown
    assert "pull" in shown
    assert "secret-never-shown" not in detail.text


def test_sync_now_makes_the_peer_due_for_the_worker(
    client: TestClient, db: Session, settings: Settings, intel: Intel
) -> None:
    peer = _peer(db, settings, intel)
    assert peer not in due(db), "a peer synced by hand is not due by itself"
    sign_in(client, db, make_user(db, intel.home, role=Role.PLATFORM_ADMIN))
    page = client.get(f"/federation/{peer.id}")
    done = client.post(f"/federation/{peer.id}/sync", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 303
    db.refresh(peer)
    assert peer.sync_requested
    assert peer in due(db)


def test_other_roles_may_not_see_peers(
    client: TestClient, db: Session, settings: Settings, intel: Intel
) -> None:
    peer = _peer(db, settings, intel)
    sign_in(client, db, intel.admin)
    assert client.get("/federation").status_code == 403
    assert client.get(f"/federation/{peer.id}").status_code == 403
    assert "Regional hub" not in client.get("/intel/objects").text
