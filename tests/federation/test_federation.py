"""Federation between real Balai instances: what crosses, how it is marked, and that nothing
is widened, lost or doubled."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import select

from balai.errors import ValidationFailed
from balai.federation.models import Peer, SyncRun
from balai.federation.service import sync_due
from balai.intel.markings import Distribution, Tlp
from balai.taxii.collections import COMMUNITY, CONNECTED, EVERYTHING, ORGANISATION
from tests.federation.conftest import Node, account_at, add_peer, group_at, peer_org, run


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def test_push_sends_connected_and_the_peers_groups_and_nothing_else(
    nodes: dict[str, Node],
) -> None:
    thai, hub = nodes["Thai"], nodes["Hub"]
    thai_at_hub, login, key = account_at(hub, _unique("Thailand instance"), "TH")
    partners = group_at(hub, _unique("Thailand partners"), hub.cert, thai_at_hub)
    hub_here = peer_org(thai, _unique("Regional hub"))
    with_hub = group_at(thai, _unique("With the hub"), thai.cert, hub_here)
    without_hub = group_at(thai, _unique("Without the hub"), thai.cert)
    name = _unique("hub")
    add_peer(
        thai,
        name=name,
        api_root=hub.api_root,
        username=login,
        secret=key,
        organisation_id=hub_here.id,
        push_collection=COMMUNITY,
        push_restricted_collection=str(partners),
    )
    sent = {
        "connected": thai.share(_unique("connected.example")),
        "public": thai.share(
            _unique("public.example"), tlp=Tlp.CLEAR, distribution=Distribution.PUBLIC
        ),
        "red for the hub": thai.share(
            _unique("red.example"),
            tlp=Tlp.RED,
            distribution=Distribution.SHARING_GROUP,
            group=with_hub,
        ),
    }
    kept = {
        "community": thai.share(_unique("community.example"), distribution=Distribution.COMMUNITY),
        "own": thai.share(
            _unique("own.example"), tlp=Tlp.AMBER, distribution=Distribution.ORGANISATION
        ),
        "other group": thai.share(
            _unique("other-group.example"),
            tlp=Tlp.AMBER,
            distribution=Distribution.SHARING_GROUP,
            group=without_hub,
        ),
    }

    moved, error = run(thai, name, "push")
    assert error is None
    assert moved == 3
    arrived = hub.held(thai_at_hub)
    assert arrived == {
        sent["connected"]: (Distribution.COMMUNITY, Tlp.GREEN),
        sent["public"]: (Distribution.COMMUNITY, Tlp.CLEAR),
        sent["red for the hub"]: (Distribution.SHARING_GROUP, Tlp.RED),
    }, "connected crosses one hop and becomes community; the group object keeps its RED"
    assert not set(kept.values()) & set(arrived)

    again, error = run(thai, name, "push")
    assert (again, error) == (0, None), "a push sends only what is new"
    later = thai.share(_unique("later.example"))
    assert run(thai, name, "push") == (1, None)
    assert later in hub.held(thai_at_hub)
    assert all(hub.versions(i) == 1 for i in sent.values()), "nothing arrives twice"


def test_pull_takes_connected_intelligence_as_community_and_is_idempotent(
    nodes: dict[str, Node],
) -> None:
    thai, hub = nodes["Thai"], nodes["Hub"]
    _, login, key = account_at(hub, _unique("Thailand instance"), "TH")
    hub_here = peer_org(thai, _unique("Regional hub"))
    name = _unique("hub-pull")
    add_peer(
        thai,
        name=name,
        api_root=hub.api_root,
        username=login,
        secret=key,
        organisation_id=hub_here.id,
        pull_collection=CONNECTED,
    )
    connected = hub.share(_unique("hub-connected.example"))
    community = hub.share(_unique("hub-community.example"), distribution=Distribution.COMMUNITY)

    moved, error = run(thai, name, "pull")
    assert error is None
    assert moved >= 1
    pulled = thai.held(hub_here)
    assert pulled[connected] == (Distribution.COMMUNITY, Tlp.GREEN)
    assert community not in pulled, "the hub's community-only intelligence stays at the hub"
    assert all(dist == Distribution.COMMUNITY for dist, _ in pulled.values())

    assert run(thai, name, "pull") == (0, None), "pulling again brings nothing twice"
    assert thai.versions(connected) == 1


def test_three_instances_in_a_chain_pass_intelligence_one_hop_only(
    nodes: dict[str, Node],
) -> None:
    thai, hub, malay = nodes["Thai"], nodes["Hub"], nodes["Malay"]
    # The hub pulls from Thailand; Malaysia pulls from the hub.
    _, hub_login, hub_key = account_at(thai, _unique("Hub instance"), "SG")
    thai_here = peer_org(hub, _unique("Thailand"))
    from_thai = _unique("thai")
    add_peer(
        hub,
        name=from_thai,
        api_root=thai.api_root,
        username=hub_login,
        secret=hub_key,
        organisation_id=thai_here.id,
        pull_collection=CONNECTED,
    )
    _, malay_login, malay_key = account_at(hub, _unique("Malaysia instance"), "MY")
    hub_here = peer_org(malay, _unique("Regional hub"))
    from_hub = _unique("hub")
    add_peer(
        malay,
        name=from_hub,
        api_root=hub.api_root,
        username=malay_login,
        secret=malay_key,
        organisation_id=hub_here.id,
        pull_collection=CONNECTED,
    )

    thai_news = thai.share(_unique("thai-news.example"))
    hub_news = hub.share(_unique("hub-news.example"))
    assert run(hub, from_thai, "pull")[1] is None
    assert hub.held(thai_here)[thai_news] == (Distribution.COMMUNITY, Tlp.GREEN)
    assert run(malay, from_hub, "pull")[1] is None
    reached = malay.held(hub_here)
    assert hub_news in reached
    assert thai_news not in reached, "what crossed one hop does not cross a second"


def test_a_pull_resumes_after_the_process_is_killed(nodes: dict[str, Node]) -> None:
    thai, hub = nodes["Thai"], nodes["Hub"]
    _, login, key = account_at(hub, _unique("Thailand instance"), "TH")
    hub_here = peer_org(thai, _unique("Regional hub"))
    name = _unique("hub-crash")
    add_peer(
        thai,
        name=name,
        api_root=hub.api_root,
        username=login,
        secret=key,
        organisation_id=hub_here.id,
        pull_collection=CONNECTED,
    )
    shared = {hub.share(_unique(f"many{n}.example")) for n in range(120)}

    command = [sys.executable, "-m", "balai", "federation", "pull", name, "--page-size", "2"]
    process = subprocess.Popen(
        command, env=thai.live.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with thai.session() as db:
            cursor = db.scalar(select(Peer.pull_next).where(Peer.name == name))
        if cursor is not None and len(set(thai.held(hub_here)) & shared) >= 4:
            break
        assert process.poll() is None, "the pull finished before it could be killed"
        time.sleep(0.02)
    process.kill()
    process.wait()
    partial = set(thai.held(hub_here))
    assert 4 <= len(partial & shared) < len(shared), "killed in the middle"

    finished = subprocess.run(
        command, env=thai.live.env(), capture_output=True, timeout=300, check=False
    )
    assert finished.returncode == 0, finished.stderr.decode()
    held = thai.held(hub_here)
    assert shared <= set(held), "nothing lost"
    assert all(thai.versions(i) == 1 for i in shared), "nothing twice"


def test_what_cannot_be_pulled_without_widening_is_refused(nodes: dict[str, Node]) -> None:
    thai = nodes["Thai"]
    hub_here = peer_org(thai, _unique("Regional hub"))
    common = {
        "api_root": "http://127.0.0.1:9/taxii2/api/",
        "secret": "balai_x_y",
        "organisation_id": hub_here.id,
    }
    refusals = [
        ({"pull_collection": COMMUNITY}, "connected-communities"),
        ({"pull_collection": EVERYTHING}, "connected-communities"),
        ({"pull_collection": CONNECTED, "pull_distribution": "connected"}, "one hop"),
        ({"pull_collection": ORGANISATION}, "sharing group"),
        ({"pull_collection": str(uuid.uuid4()), "pull_distribution": "community"}, "open feed"),
    ]
    for fields, reason in refusals:
        with pytest.raises(ValidationFailed, match=reason):
            add_peer(thai, name=_unique("refused"), **common, **fields)
    with thai.session() as db:
        assert not list(db.scalars(select(Peer).where(Peer.name.like("refused-%"))))
    add_peer(
        thai, name=_unique("feed"), **common, pull_collection=str(uuid.uuid4()), open_feed=True
    )


def test_the_credential_is_stored_encrypted_and_a_wrong_one_is_reported(
    nodes: dict[str, Node],
) -> None:
    thai, hub = nodes["Thai"], nodes["Hub"]
    hub_here = peer_org(thai, _unique("Regional hub"))
    name = _unique("wrong-key")
    secret = "balai_00000000_not-a-key-the-hub-knows"
    add_peer(
        thai,
        name=name,
        api_root=hub.api_root,
        secret=secret,
        organisation_id=hub_here.id,
        pull_collection=CONNECTED,
    )
    with thai.session() as db:
        stored = db.scalar(select(Peer.secret).where(Peer.name == name))
    assert stored is not None
    assert secret not in stored
    moved, error = run(thai, name, "pull")
    assert moved == 0
    assert error is not None
    assert "401" in error
    assert secret not in error
    with thai.session() as db:
        peer = db.scalar(select(Peer).where(Peer.name == name))
        assert peer is not None
        assert peer.last_error == error
        assert peer.last_success_at is None
        runs = list(db.scalars(select(SyncRun).where(SyncRun.peer_id == peer.id)))
        assert [r.error for r in runs] == [error]


def test_the_worker_syncs_peers_when_due(nodes: dict[str, Node]) -> None:
    thai, hub = nodes["Thai"], nodes["Hub"]
    _, login, key = account_at(hub, _unique("Thailand instance"), "TH")
    hub_here = peer_org(thai, _unique("Regional hub"))
    name = _unique("scheduled")
    add_peer(
        thai,
        name=name,
        api_root=hub.api_root,
        username=login,
        secret=key,
        organisation_id=hub_here.id,
        pull_collection=CONNECTED,
        interval_minutes=60,
    )
    news = hub.share(_unique("scheduled.example"))
    with thai.session() as db:
        synced = sync_due(db, thai.settings)
        db.commit()
    assert synced >= 1
    assert news in thai.held(hub_here)
    with thai.session() as db:
        peer = db.scalar(select(Peer).where(Peer.name == name))
        assert peer is not None
        assert peer.last_success_at is not None
        assert peer.lease_until is None
        before = len(list(db.scalars(select(SyncRun).where(SyncRun.peer_id == peer.id))))
        sync_due(db, thai.settings)
        db.commit()
        after = len(list(db.scalars(select(SyncRun).where(SyncRun.peer_id == peer.id))))
    assert after == before, "not due again within the hour"
