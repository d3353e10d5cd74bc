"""Peers, and the pulls and pushes that carry intelligence between instances.

What crosses is decided by the trust model, never around it:

- A push sends what the peer's organisation may see here (the one visibility rule) and only
  of two kinds: intelligence marked for connected communities (or public), and intelligence
  shared with a sharing group the peer's organisation belongs to, each to the peer collection
  configured for it. Own-organisation, community-only and other groups' objects never leave;
  neither does anything a peer sent (so intelligence crosses one hop).
- A pull takes from one collection of the peer and holds what arrives as the peer's
  organisation, under a distribution no wider than that collection's: a Balai peer's
  connected-communities collection becomes this community; its community collection (and
  its collection of everything) may not be pulled at all, for they hold what the peer keeps
  within its own community; any other collection is taken as restricted (a sharing group
  here) unless the operator declares it an open feed.

Both resume where they stopped: each page is committed with the cursor that follows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.accounts.models import Role, User
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation
from balai.errors import Conflict, NotFound, ValidationFailed
from balai.federation import secrets
from balai.federation.client import PeerError, TaxiiClient
from balai.federation.models import Peer, SyncRun
from balai.federation.schemas import PeerIn
from balai.intel import service as intel
from balai.intel import stix_io
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import ImportFormat, SharingGroup, StixObject
from balai.intel.schemas import Marking
from balai.taxii.collections import COMMUNITY, CONNECTED, EVERYTHING
from balai.taxii.media import timestamp

Checkpoint = Callable[[], None]
PAGE = 1000
# Objects committed late with an earlier date_added (a long import that began first) would be
# skipped by a strict added_after; pulling again the last minutes costs little, as imports
# skip what is already held.
PULL_OVERLAP = timedelta(minutes=10)
LEASE = timedelta(minutes=30)


def _require(actor: Actor) -> None:
    actor.require(Permission.FEDERATION_MANAGE)


def check_pull(data: PeerIn) -> None:
    """Refuse a pull that would widen what the peer shared."""
    if data.pull_collection is None:
        return
    where = "pull_collection"
    if data.pull_collection in {COMMUNITY, EVERYTHING}:
        raise ValidationFailed.one(
            where,
            "a Balai peer's community collection (and its collection of everything) holds "
            "what it keeps within its own community: pull its connected-communities "
            f"collection, {CONNECTED}",
        )
    if data.pull_distribution in {Distribution.CONNECTED, Distribution.PUBLIC}:
        raise ValidationFailed.one(
            "pull_distribution",
            "intelligence from a peer crosses one hop: share it with this community at most",
        )
    if data.pull_distribution == Distribution.ORGANISATION:
        raise ValidationFailed.one(
            "pull_distribution",
            "the peer's organisation has no members here: share what arrives with this "
            "community or a sharing group",
        )
    open_ = data.pull_collection == CONNECTED or data.open_feed
    if not open_ and data.pull_distribution == Distribution.COMMUNITY:
        raise ValidationFailed.one(
            "pull_distribution",
            "this collection may hold intelligence restricted to this instance at the peer: "
            "share what arrives with a sharing group here, or declare the collection an open "
            "feed",
        )
    if (data.pull_distribution == Distribution.SHARING_GROUP) != (data.pull_group_id is not None):
        raise ValidationFailed.one(
            "pull_group_id", "give a sharing group exactly when sharing with a sharing group"
        )


def add_peer(session: Session, *, actor: Actor, settings: Settings, data: PeerIn) -> Peer:
    """Add a peer, with the user that acts for it here (it cannot log in)."""
    _require(actor)
    check_pull(data)
    if session.scalar(select(Peer.id).where(Peer.name == data.name)) is not None:
        raise Conflict(f"a peer named {data.name!r} exists already")
    org = session.get(Organisation, data.organisation_id)
    if org is None:
        raise ValidationFailed.one("organisation_id", "no such organisation")
    if data.pull_group_id is not None and session.get(SharingGroup, data.pull_group_id) is None:
        raise ValidationFailed.one("pull_group_id", "no such sharing group")
    if not (data.pull_collection or data.push_collection or data.push_restricted_collection):
        raise ValidationFailed.one("pull_collection", "give a collection to pull or to push")
    peer_id = uuid.uuid4()
    user = User(
        id=uuid.uuid4(),
        email=f"peer-{peer_id.hex[:12]}@federation.invalid",
        name=f"Federation peer {data.name}"[:200],
        organisation_id=org.id,
        role=Role.ANALYST,
        active=True,
    )
    session.add(user)
    session.flush()
    peer = Peer(
        id=peer_id,
        name=data.name,
        api_root=data.api_root,
        username=data.username,
        secret=secrets.seal(settings, data.secret.get_secret_value()),
        organisation_id=org.id,
        user_id=user.id,
        pull_collection=data.pull_collection,
        pull_distribution=data.pull_distribution,
        pull_group_id=data.pull_group_id,
        push_collection=data.push_collection,
        push_restricted_collection=data.push_restricted_collection,
        interval_minutes=data.interval_minutes,
    )
    session.add(peer)
    session.flush()
    record(
        session,
        actor=actor,
        action=AuditAction.PEER_ADDED,
        object_type="federation_peer",
        object_id=peer.id,
        details={"name": peer.name, "api_root": peer.api_root, "organisation": org.name},
    )
    return peer


def list_peers(session: Session, *, actor: Actor) -> list[Peer]:
    """Every peer, by name."""
    _require(actor)
    return list(session.scalars(select(Peer).order_by(Peer.name)))


def get_peer(session: Session, *, actor: Actor, key: str) -> Peer:
    """A peer by id or by name."""
    _require(actor)
    try:
        found = session.get(Peer, uuid.UUID(key))
    except ValueError:
        found = session.scalar(select(Peer).where(Peer.name == key))
    if found is None:
        raise NotFound(f"no peer {key!r}")
    return found


def runs_of(session: Session, *, actor: Actor, peer: Peer, limit: int = 50) -> list[SyncRun]:
    """The latest runs of a peer, newest first."""
    _require(actor)
    query = select(SyncRun).where(SyncRun.peer_id == peer.id)
    return list(session.scalars(query.order_by(SyncRun.id.desc()).limit(limit)))


def request_sync(session: Session, *, actor: Actor, key: str) -> Peer:
    """Make a peer due now: the worker syncs it at its next round, even one synced by hand."""
    peer = get_peer(session, actor=actor, key=key)
    peer.sync_requested = True
    return peer


def remove_peer(session: Session, *, actor: Actor, key: str) -> None:
    """Remove a peer; what it sent stays, held by its organisation; its user is deactivated."""
    peer = get_peer(session, actor=actor, key=key)
    peer.user.active = False
    record(
        session,
        actor=actor,
        action=AuditAction.PEER_REMOVED,
        object_type="federation_peer",
        object_id=peer.id,
        details={"name": peer.name},
    )
    session.delete(peer)
    session.flush()


def client_for(peer: Peer, settings: Settings) -> TaxiiClient:
    """A client of the peer's API root with its decrypted credential."""
    return TaxiiClient(
        peer.api_root, username=peer.username, secret=secrets.unseal(settings, peer.secret)
    )


def _finish(session: Session, peer: Peer, run: SyncRun, error: str | None) -> None:
    now = utcnow()
    run.finished_at = now
    run.error = error
    peer.last_sync_at = now
    peer.last_error = error
    if error is None:
        peer.last_success_at = now


def _fresh(session: Session, owner: uuid.UUID, objects: list[Any]) -> list[Any]:
    """The objects (and versions) the peer's organisation does not hold yet."""
    ids = [o["id"] for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)]
    held = stix_io.held_versions(session, owner, ids)
    fresh = []
    for obj in objects:
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            fresh.append(obj)  # let validation say what is wrong with it
            continue
        try:
            version = stix_io.version_of(obj)[0]
        except (KeyError, ValueError):
            fresh.append(obj)
            continue
        if version not in held.get(obj["id"], {}):
            fresh.append(obj)
    return fresh


def pull(
    session: Session,
    *,
    peer: Peer,
    settings: Settings,
    checkpoint: Checkpoint,
    client: TaxiiClient | None = None,
    page_size: int = PAGE,
    max_pages: int | None = None,
) -> SyncRun:
    """Pull what the peer added since the last pull, a committed page at a time."""
    if peer.pull_collection is None:
        raise ValidationFailed.one("pull_collection", f"peer {peer.name} has nothing to pull")
    run = SyncRun(peer_id=peer.id, direction="pull")
    session.add(run)
    session.flush()
    client = client or client_for(peer, settings)
    actor = Actor(via=Via.SYSTEM, user=peer.user)
    marking = Marking(
        tlp=Tlp.AMBER, distribution=peer.pull_distribution, sharing_group_id=peer.pull_group_id
    )
    newest: str | None = None
    error = None
    try:
        while True:
            params = {"limit": str(page_size), "match[version]": "all"}
            if peer.pull_added_after:
                params["added_after"] = peer.pull_added_after
            if peer.pull_next:
                params["next"] = peer.pull_next
            body, last = client.objects(peer.pull_collection, params)
            objects = body.get("objects", [])
            if not isinstance(objects, list):
                raise PeerError("the peer's envelope has no list of objects")
            fresh = _fresh(session, peer.organisation_id, objects)
            if fresh:
                stix_io.import_objects(
                    session,
                    actor=actor,
                    owner=peer.organisation_id,
                    objects=fresh,
                    marking=marking,
                    fmt=ImportFormat.TAXII,
                    filename=f"federation: pulled from {peer.name}",
                    unmarked=Tlp.AMBER,
                )
            run.objects += len(fresh)
            run.pages += 1
            newest = max(filter(None, [newest, last]), default=None)
            more = bool(body.get("more")) and isinstance(body.get("next"), str)
            peer.pull_next = body["next"] if more else None
            if not more and newest is not None:
                peer.pull_added_after = _overlap(newest)
            checkpoint()
            if not more or (max_pages is not None and run.pages >= max_pages):
                break
    except (PeerError, ValidationFailed) as exc:
        error = _describe(exc)
        if peer.pull_next is not None and isinstance(exc, PeerError):
            peer.pull_next = None  # a stale cursor: start again from added_after next time
    finally:
        client.close()
    _finish(session, peer, run, error)
    checkpoint()
    return run


def _overlap(added: str) -> str:
    """added_after for the next pull: the last date_added seen, minus the overlap."""
    moment = datetime.fromisoformat(added.replace("Z", "+00:00"))
    return timestamp(moment - PULL_OVERLAP)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed):
        shown = "; ".join(f"{p.loc}: {p.msg}" for p in exc.problems[:5])
        more = f" (and {len(exc.problems) - 5} more)" if len(exc.problems) > 5 else ""
        return f"the peer sent objects this instance refuses, so none were kept: {shown}{more}"
    return str(exc)


def _outgoing(peer: Peer) -> tuple[Actor, list[Distribution]]:
    kinds = []
    if peer.push_collection:
        kinds += [Distribution.CONNECTED, Distribution.PUBLIC]
    if peer.push_restricted_collection:
        kinds.append(Distribution.SHARING_GROUP)
    return Actor(via=Via.API_KEY, user=peer.user), kinds


def push(
    session: Session,
    *,
    peer: Peer,
    settings: Settings,
    checkpoint: Checkpoint,
    client: TaxiiClient | None = None,
    page_size: int = PAGE,
) -> SyncRun:
    """Push, a committed page at a time, what the peer may receive and has not yet."""
    reader, kinds = _outgoing(peer)
    if not kinds:
        raise ValidationFailed.one("push_collection", f"peer {peer.name} has nothing to push to")
    run = SyncRun(peer_id=peer.id, direction="push")
    session.add(run)
    session.flush()
    client = client or client_for(peer, settings)
    from_peers = select(Peer.organisation_id)
    error = None
    try:
        while True:
            query = select_visible(reader, StixObject).where(
                StixObject.distribution.in_(kinds),
                StixObject.owner_org_id.not_in(from_peers),
            )
            if peer.push_after_date is not None and peer.push_after_pk is not None:
                query = query.where(
                    tuple_(StixObject.date_added, StixObject.pk)
                    > tuple_(peer.push_after_date, peer.push_after_pk)
                )
            rows = list(
                session.scalars(
                    query.order_by(StixObject.date_added, StixObject.pk).limit(page_size)
                )
            )
            if not rows:
                break
            refs = {ref for row in rows for ref in intel.refs_of(row)}
            hidden = intel.hidden_refs(session, actor=reader, refs=refs)
            batches: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                target = (
                    peer.push_restricted_collection
                    if row.distribution == Distribution.SHARING_GROUP
                    else peer.push_collection
                )
                assert target is not None  # kinds hold only distributions with a target
                batches.setdefault(target, []).append(stix_io.stix_view(row, hidden))
            for target, objects in batches.items():
                client.add(target, objects)
            peer.push_after_date, peer.push_after_pk = rows[-1].date_added, rows[-1].pk
            run.objects += len(rows)
            run.pages += 1
            checkpoint()
    except PeerError as exc:
        error = str(exc)
    finally:
        client.close()
    _finish(session, peer, run, error)
    checkpoint()
    return run


def claim(session: Session, peer: Peer) -> bool:
    """Take the peer for one sync, unless another worker holds it."""
    now = utcnow()
    taken = session.execute(
        update(Peer)
        .where(Peer.id == peer.id, or_(Peer.lease_until.is_(None), Peer.lease_until < now))
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]  # a CursorResult


def release(session: Session, peer: Peer) -> None:
    """Let other workers sync the peer again."""
    session.execute(
        update(Peer)
        .where(Peer.id == peer.id)
        .values(lease_until=None)
        .execution_options(synchronize_session=False)
    )


def sync(
    session: Session,
    *,
    peer: Peer,
    settings: Settings,
    checkpoint: Checkpoint,
    client: Callable[[], TaxiiClient] | None = None,
) -> list[SyncRun]:
    """Pull, then push, whichever the peer is configured for."""
    runs = []
    if peer.pull_collection:
        runs.append(
            pull(
                session,
                peer=peer,
                settings=settings,
                checkpoint=checkpoint,
                client=client() if client else None,
            )
        )
    if peer.push_collection or peer.push_restricted_collection:
        runs.append(
            push(
                session,
                peer=peer,
                settings=settings,
                checkpoint=checkpoint,
                client=client() if client else None,
            )
        )
    return runs


def due(session: Session, now: datetime | None = None) -> list[Peer]:
    """Peers asked to sync now, and those whose interval has passed since their last sync."""
    now = now or utcnow()
    peers = session.scalars(
        select(Peer).where(or_(Peer.interval_minutes.is_not(None), Peer.sync_requested))
    )
    return [p for p in peers if p.sync_requested or _interval_passed(p, now)]


def _interval_passed(peer: Peer, now: datetime) -> bool:
    if peer.interval_minutes is None:
        return False
    return peer.last_sync_at is None or now - peer.last_sync_at >= timedelta(
        minutes=peer.interval_minutes
    )


def sync_due(session: Session, settings: Settings) -> int:
    """The worker's job: sync each peer that is due and not held by another worker."""
    done = 0
    for peer in due(session):
        if not claim(session, peer):
            continue
        peer.sync_requested = False
        session.commit()
        try:
            sync(session, peer=peer, settings=settings, checkpoint=session.commit)
        finally:
            release(session, peer)
            session.commit()
        done += 1
    return done
