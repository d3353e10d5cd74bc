"""Reading shared intelligence: lists, objects, reports, search; all through the filter."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible, visible
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.errors import NotFound
from balai.intel import networks
from balai.intel.markings import Tlp
from balai.intel.models import IndicatorScore, ObservableValue, StixObject, ValueKind
from balai.intel.observables import Value, classify, parents
from balai.pagination import Page, paginate

RESTRICTED = (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def latest(actor: Actor) -> Select[StixObject]:
    """The latest version of every object the actor may see."""
    actor.require(Permission.INTEL_READ)
    return select_visible(actor, StixObject).where(StixObject.is_latest.is_(True))


def list_objects(
    session: Session,
    *,
    actor: Actor,
    types: Iterable[str] = (),
    q: str | None = None,
    tlp: Iterable[Tlp] = (),
    min_score: float | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[StixObject]:
    """Objects the actor may see, newest first, by type, name, marking and decay score."""
    query = latest(actor)
    if min_score is not None:
        query = query.where(
            StixObject.stix_id.in_(
                select(IndicatorScore.stix_id).where(IndicatorScore.score >= min_score)
            )
        )
    wanted = list(types)
    if wanted:
        query = query.where(StixObject.type.in_(wanted))
    levels = list(tlp)
    if levels:
        query = query.where(StixObject.tlp.in_(levels))
    if q:
        query = query.where(
            func.lower(StixObject.name).like(f"%{_escape(q.strip().lower())}%", escape="\\")
        )
    query = query.order_by(StixObject.date_added.desc(), StixObject.pk.desc())
    return paginate(session, query, page=page, per_page=per_page)


@dataclass(frozen=True)
class Held:
    """An object as the actor sees it: the copy shown, and the other visible holders' copies."""

    row: StixObject
    others: list[StixObject]


def get_object(session: Session, *, actor: Actor, stix_id: str) -> Held:
    """The latest visible copy of an object: the actor's own first, else the newest."""
    rows = list(
        session.scalars(
            latest(actor)
            .where(StixObject.stix_id == stix_id)
            .order_by(StixObject.date_added.desc(), StixObject.pk.desc())
        )
    )
    if not rows:
        raise NotFound("no such object")
    own = [r for r in rows if r.owner_org_id == actor.organisation_id]
    chosen = own[0] if own else rows[0]
    return Held(chosen, [r for r in rows if r is not chosen])


def versions(session: Session, *, actor: Actor, stix_id: str) -> list[StixObject]:
    """Every visible version of an object, oldest first."""
    actor.require(Permission.INTEL_READ)
    query = (
        select_visible(actor, StixObject)
        .where(StixObject.stix_id == stix_id)
        .order_by(StixObject.modified, StixObject.date_added)
    )
    return list(session.scalars(query))


def scores(session: Session, stix_ids: Iterable[str]) -> dict[str, float]:
    """Decay scores of some indicators (read after the objects themselves were filtered)."""
    wanted = sorted(set(stix_ids))
    found: dict[str, float] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(IndicatorScore.stix_id, IndicatorScore.score).where(
                IndicatorScore.stix_id.in_(wanted[start : start + 500])
            )
        )
        found.update((stix_id, score) for stix_id, score in rows)
    return found


def refs_of(row: StixObject) -> list[str]:
    """Every id an object points to through its *_refs lists (markings aside)."""
    return [
        ref
        for field, value in row.data.items()
        if field.endswith("_refs") and field != "object_marking_refs" and isinstance(value, list)
        for ref in value
        if isinstance(ref, str)
    ]


def hidden_refs(session: Session, *, actor: Actor, refs: Iterable[str]) -> set[str]:
    """Of some referenced ids, those the actor may not see, so they are removed from what
    the reader gets.

    Ids that Balai does not hold at all are among them: were they kept, a reader could tell
    a hidden object from a missing one by which references survive.
    """
    wanted = set(refs)
    if not wanted:
        return set()
    seen = set(
        session.scalars(
            select(StixObject.stix_id).where(
                StixObject.stix_id.in_(wanted), visible(actor, StixObject)
            )
        )
    )
    return wanted - seen


def referenced(session: Session, *, actor: Actor, row: StixObject) -> list[StixObject]:
    """The visible latest objects a report, grouping or note points to, in its order."""
    refs = [r for r in row.data.get("object_refs", []) if isinstance(r, str)]
    if not refs:
        return []
    found: dict[str, StixObject] = {}
    for obj in session.scalars(latest(actor).where(StixObject.stix_id.in_(refs))):
        if obj.stix_id not in found or obj.owner_org_id == row.owner_org_id:
            found[obj.stix_id] = obj
    return [found[r] for r in refs if r in found]


def values_of(session: Session, *, row: StixObject) -> list[ObservableValue]:
    """The normalised values an object's copy carries (the row is already visible)."""
    return list(
        session.scalars(
            select(ObservableValue)
            .where(ObservableValue.object_pk == row.pk)
            .order_by(ObservableValue.kind, ObservableValue.value)
        )
    )


def search(
    session: Session, *, actor: Actor, q: str, page: int = 1, per_page: int = 50
) -> tuple[Value | None, Page[StixObject]]:
    """Objects matching a value (an IP also inside networks, a domain also under parents)
    or, when the text is no value, objects whose name contains it."""
    value = classify(q)
    query = latest(actor)
    if value is None:
        query = query.where(
            func.lower(StixObject.name).like(f"%{_escape(q.strip().lower())}%", escape="\\")
        )
    else:
        query = query.where(
            StixObject.pk.in_(
                select(ObservableValue.object_pk).where(matching(value, networks.lengths(session)))
            )
        )
    query = query.order_by(StixObject.date_added.desc(), StixObject.pk.desc())
    return value, paginate(session, query, page=page, per_page=per_page)


def matching(value: Value, known: networks.Lengths) -> ColumnElement[bool]:
    """SQL: index rows equal to a value, networks containing an address (exact look-ups of
    its supernets at the prefix lengths in use), parent domains."""
    exact = and_(ObservableValue.value == value.value, ObservableValue.kind == value.kind)
    if value.kind in (ValueKind.IPV4, ValueKind.IPV6):
        supernets = networks.containing(value, known)
        if not supernets:
            return exact
        return or_(
            exact,
            and_(ObservableValue.value.in_(supernets), ObservableValue.kind == ValueKind.CIDR),
        )
    if value.kind == ValueKind.DOMAIN:
        names = [value.value, *parents(value.value)]
        return and_(ObservableValue.kind == ValueKind.DOMAIN, ObservableValue.value.in_(names))
    return exact


def note_restricted_read(
    session: Session, *, actor: Actor, rows: Iterable[StixObject], how: str
) -> None:
    """Audit a read of AMBER, AMBER+STRICT or RED data: one event per holding organisation,
    so that the holder's admins see who read what it shared."""
    by_holder: dict[uuid.UUID, list[StixObject]] = {}
    for row in rows:
        if row.tlp in RESTRICTED:
            by_holder.setdefault(row.owner_org_id, []).append(row)
    for holder, restricted in by_holder.items():
        strictest = max((r.tlp for r in restricted), key=lambda level: level.rank)
        record(
            session,
            actor=actor,
            action=AuditAction.INTEL_RESTRICTED_READ,
            object_type="stix_object",
            object_id=restricted[0].stix_id if len(restricted) == 1 else None,
            object_org_id=holder,
            details={"how": how, "objects": len(restricted), "strictest": strictest.value},
        )


def owners(rows: Iterable[StixObject]) -> set[uuid.UUID]:
    """The holding organisations of some rows."""
    return {row.owner_org_id for row in rows}
