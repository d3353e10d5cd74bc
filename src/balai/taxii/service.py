"""TAXII 2.1 over the intelligence store: pages of objects, manifests, versions, writes.

Pages are keyset cursors over (date_added, pk): stateless, and exact when many objects
share one date_added (a bundle's objects all do). Each STIX version appears once in a
collection even when several organisations hold it (the first row added stands for it),
and `first`/`last` are judged among the versions the caller can see in that collection,
so a hidden newer version neither shows nor hides an older one.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, true, tuple_
from sqlalchemy.orm import Session, aliased

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible, visible_stix
from balai.errors import Forbidden, NotFound, ValidationFailed
from balai.intel import service as intel
from balai.intel import stix_io
from balai.intel.models import ImportFormat, StixObject
from balai.intel.stix_validate import parse_timestamp
from balai.taxii.collections import Collection
from balai.taxii.media import STIX_21, timestamp
from balai.taxii.models import TaxiiStatus

KEYWORDS = {"first", "last", "all"}
SPEC_VERSIONS = {"2.1"}


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's date_added and key."""

    date_added: datetime
    pk: int

    def encode(self) -> str:
        raw = json.dumps([self.date_added.isoformat(), self.pk]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, pk = json.loads(raw)
            when = datetime.fromisoformat(moment)
            if not isinstance(pk, int) or when.tzinfo is None:
                raise ValueError(text)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise ValidationFailed.one("next", "not a cursor this server gave") from None
        return cls(when, pk)


@dataclass(frozen=True)
class Filters:
    """The filters of a TAXII request, parsed and checked."""

    limit: int
    added_after: datetime | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    keywords: frozenset[str] = frozenset({"last"})
    versions: tuple[str, ...] = ()
    spec_versions: frozenset[str] = frozenset(SPEC_VERSIONS)
    after: Cursor | None = None


def _listed(raw: list[str]) -> list[str]:
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def parse_filters(
    *,
    limit: str | None,
    page_max: int,
    added_after: str | None = None,
    ids: list[str] | None = None,
    types: list[str] | None = None,
    versions: list[str] | None = None,
    spec_versions: list[str] | None = None,
    after: str | None = None,
    default_version: str = "last",
) -> Filters:
    """Check every filter; a bad one is reported by its parameter name."""
    size = page_max
    if limit is not None:
        try:
            size = int(limit)
        except ValueError:
            raise ValidationFailed.one("limit", "must be a whole number") from None
        if size < 1:
            raise ValidationFailed.one("limit", "must be at least 1")
        size = min(size, page_max)
    since = None
    if added_after is not None:
        since = _moment("added_after", added_after)
    keywords: set[str] = set()
    stamps: list[str] = []
    for value in _listed(versions or []):
        if value in KEYWORDS:
            keywords.add(value)
        else:
            stamps.append(_moment("match[version]", value).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    if not keywords and not stamps:
        keywords = {default_version}
    return Filters(
        limit=size,
        added_after=since,
        ids=tuple(_listed(ids or [])),
        types=tuple(_listed(types or [])),
        keywords=frozenset(keywords),
        versions=tuple(stamps),
        spec_versions=frozenset(_listed(spec_versions or [])) or frozenset(SPEC_VERSIONS),
        after=Cursor.decode(after) if after else None,
    )


def _moment(name: str, text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ValidationFailed.one(name, f"not a timestamp: {text!r}") from None


@dataclass
class Found:
    """One page: its rows, whether more follow, and the cursor to them."""

    rows: list[StixObject]
    more: bool
    next: str | None = None
    hidden: set[str] = field(default_factory=set)


def _chosen(actor: Actor, collection: Collection, filters: Filters) -> ColumnElement[bool]:
    """Which versions a request selects, each once: the version filter, judged among the
    versions of the same object the caller can see in this collection."""
    rival = aliased(StixObject)
    same_object = [
        rival.stix_id == StixObject.stix_id,
        visible_stix(actor, rival),
        collection.scope(rival),
    ]
    duplicate = exists().where(
        *same_object, rival.version == StixObject.version, rival.pk < StixObject.pk
    )
    wanted: list[ColumnElement[bool]] = []
    if "all" in filters.keywords:
        wanted.append(true())
    if "last" in filters.keywords:
        wanted.append(~exists().where(*same_object, rival.version > StixObject.version))
    if "first" in filters.keywords:
        wanted.append(~exists().where(*same_object, rival.version < StixObject.version))
    if filters.versions:
        wanted.append(StixObject.version.in_(filters.versions))
    return and_(~duplicate, or_(*wanted))


def _query(
    actor: Actor, collection: Collection, filters: Filters, stix_id: str | None = None
) -> Select[StixObject]:
    query = select_visible(actor, StixObject).where(collection.scope(StixObject))
    if not filters.spec_versions & SPEC_VERSIONS:
        query = query.where(false())
    if stix_id is not None:
        query = query.where(StixObject.stix_id == stix_id)
    if filters.ids:
        query = query.where(StixObject.stix_id.in_(filters.ids))
    if filters.types:
        query = query.where(StixObject.type.in_(filters.types))
    if filters.added_after is not None:
        query = query.where(StixObject.date_added > filters.added_after)
    if filters.after is not None:
        # A row-value comparison, so that both databases start the index range at the cursor.
        moment, pk = filters.after.date_added, filters.after.pk
        query = query.where(tuple_(StixObject.date_added, StixObject.pk) > tuple_(moment, pk))
    return query.where(_chosen(actor, collection, filters)).order_by(
        StixObject.date_added, StixObject.pk
    )


def page(
    session: Session,
    *,
    actor: Actor,
    collection: Collection,
    filters: Filters,
    stix_id: str | None = None,
) -> Found:
    """A page of a collection's objects (or of one object's versions) for a caller."""
    rows = list(
        session.scalars(_query(actor, collection, filters, stix_id).limit(filters.limit + 1))
    )
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    cursor = Cursor(rows[-1].date_added, rows[-1].pk).encode() if more else None
    return Found(rows=rows, more=more, next=cursor)


def objects(
    session: Session,
    *,
    actor: Actor,
    collection: Collection,
    filters: Filters,
    stix_id: str | None = None,
) -> tuple[Found, list[dict[str, Any]]]:
    """A page of objects as the caller gets them: references it may not follow removed,
    and reads of restricted intelligence written to the holders' audit trail."""
    actor.require(Permission.INTEL_READ)
    found = page(session, actor=actor, collection=collection, filters=filters, stix_id=stix_id)
    if stix_id is not None and not found.rows and filters.after is None:
        _require_object(session, actor=actor, collection=collection, stix_id=stix_id)
    refs = {ref for row in found.rows for ref in intel.refs_of(row)}
    hidden = intel.hidden_refs(session, actor=actor, refs=refs)
    intel.note_restricted_read(session, actor=actor, rows=found.rows, how="taxii")
    return found, [stix_io.stix_view(row, hidden) for row in found.rows]


def _require_object(
    session: Session, *, actor: Actor, collection: Collection, stix_id: str
) -> None:
    held = session.scalar(
        select_visible(actor, StixObject)
        .where(collection.scope(StixObject), StixObject.stix_id == stix_id)
        .limit(1)
    )
    if held is None:
        raise NotFound("no such object in this collection")


def version_of(row: StixObject) -> str:
    """The version TAXII names: `modified`, or when the object has none, when it was added."""
    return timestamp(row.modified or row.date_added)


def manifest_record(row: StixObject) -> dict[str, Any]:
    """One manifest entry."""
    return {
        "id": row.stix_id,
        "date_added": timestamp(row.date_added),
        "version": version_of(row),
        "media_type": STIX_21,
    }


def manifest(session: Session, *, actor: Actor, collection: Collection, filters: Filters) -> Found:
    """A page of a collection's manifest."""
    actor.require(Permission.INTEL_READ)
    return page(session, actor=actor, collection=collection, filters=filters)


def versions(
    session: Session, *, actor: Actor, collection: Collection, filters: Filters, stix_id: str
) -> Found:
    """A page of one object's versions (every version, whatever match[version] says)."""
    actor.require(Permission.INTEL_READ)
    every = Filters(
        limit=filters.limit,
        added_after=filters.added_after,
        keywords=frozenset({"all"}),
        spec_versions=filters.spec_versions,
        after=filters.after,
    )
    found = page(session, actor=actor, collection=collection, filters=every, stix_id=stix_id)
    if not found.rows and filters.after is None:
        _require_object(session, actor=actor, collection=collection, stix_id=stix_id)
    return found


def add_objects(
    session: Session, *, actor: Actor, collection: Collection, envelope: Any
) -> TaxiiStatus:
    """Store the objects of an envelope in a collection, all or nothing, and keep a status.

    A bad object refuses the whole envelope, each problem named by its object id and path.
    """
    if not collection.can_write or collection.marking is None:
        raise Forbidden("you may read this collection but not add to it")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects", []), list):
        raise ValidationFailed.one("envelope", "expected an envelope with a list of objects")
    received = envelope.get("objects", [])
    owner = stix_io.check_upload(session, actor=actor, marking=collection.marking)
    stix_io.import_objects(
        session,
        actor=actor,
        owner=owner,
        objects=received,
        marking=collection.marking,
        fmt=ImportFormat.TAXII,
        filename=f"TAXII collection {collection.id}",
        unmarked=collection.marking.tlp,
    )
    successes = [
        {"id": obj["id"], "version": _version_text(obj), "message": "stored"} for obj in received
    ]
    status = TaxiiStatus(
        id=uuid.uuid4(),
        owner_org_id=owner,
        created_by_id=actor.user_id,
        collection_id=collection.id,
        status="complete",
        total_count=len(received),
        success_count=len(successes),
        failure_count=0,
        pending_count=0,
        successes=successes,
        failures=[],
    )
    session.add(status)
    session.flush()
    return status


def _version_text(obj: dict[str, Any]) -> str:
    for field_name in ("modified", "created"):
        value = obj.get(field_name)
        if isinstance(value, str):
            return timestamp(parse_timestamp(value))
    return timestamp(datetime.now().astimezone())


def get_status(session: Session, *, actor: Actor, status_id: str) -> TaxiiStatus:
    """A status resource of the caller's organisation."""
    try:
        key = uuid.UUID(status_id)
    except ValueError:
        raise NotFound("no such status") from None
    status = session.scalar(select_visible(actor, TaxiiStatus).where(TaxiiStatus.id == key))
    if status is None:
        raise NotFound("no such status")
    return status


def status_resource(status: TaxiiStatus) -> dict[str, Any]:
    """The TAXII status resource."""
    resource: dict[str, Any] = {
        "id": str(status.id),
        "status": status.status,
        "request_timestamp": timestamp(status.request_timestamp),
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
    }
    if status.successes:
        resource["successes"] = status.successes
    if status.failures:
        resource["failures"] = status.failures
    return resource


def delete_object(
    session: Session, *, actor: Actor, collection: Collection, stix_id: str, filters: Filters
) -> int:
    """Delete the versions of an object that the caller's organisation holds in a collection
    (those the version filters select); others' copies are theirs to delete."""
    if not collection.can_write:
        raise Forbidden("you may read this collection but not delete from it")
    query = select_visible(actor, StixObject).where(
        collection.scope(StixObject), StixObject.stix_id == stix_id
    )
    if not filters.spec_versions & SPEC_VERSIONS:
        query = query.where(false())
    rows = list(session.scalars(query))
    if not rows:
        raise NotFound("no such object in this collection")
    mine = [row for row in rows if row.owner_org_id == actor.organisation_id]
    if not mine:
        raise Forbidden("only the organisation that shared an object can delete it")
    selected = _select_versions(mine, filters)
    if not selected:
        raise NotFound("no version of this object matches match[version]")
    return stix_io.delete_held(session, actor=actor, rows=selected)


def _select_versions(rows: list[StixObject], filters: Filters) -> list[StixObject]:
    ordered = sorted(rows, key=lambda row: row.version)
    if "all" in filters.keywords:
        return ordered
    chosen = [row for row in ordered if row.version in filters.versions]
    if "first" in filters.keywords:
        chosen.append(ordered[0])
    if "last" in filters.keywords:
        chosen.append(ordered[-1])
    return list({row.pk: row for row in chosen}.values())
