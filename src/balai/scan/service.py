"""What the scanner and the detection engines get from the platform, and what comes back.

Exports read indicators only through the visibility rule (``intel.service.latest``) and keep
what the requester may act on under the Permissible Actions Protocol (PAP): scanning logs
is a passive action any PAP allows; a Zeek feed watches the network (PAP:AMBER or lower);
blocking, as Suricata, RPZ and plain block lists do, is an active action (PAP:GREEN or lower).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.db import utcnow
from balai.errors import BalaiError, Problem, ValidationFailed
from balai.intel import sightings
from balai.intel.models import Feedback, IndicatorScore, ObservableValue, StixObject, ValueKind
from balai.intel.service import latest
from balai.intel.stix_validate import parse_timestamp
from balai.scan.exports import ExportItem

PAGE_LIMIT = 50_000


class Pap(StrEnum):
    """Permissible Actions Protocol levels, from most to least permissive."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        """Higher is more restrictive."""
        return list(Pap).index(self)


class Purpose(StrEnum):
    """What an export is for, which sets the most restrictive PAP it may carry."""

    SCAN = "scan"
    ZEEK = "zeek"
    SURICATA = "suricata"
    RPZ = "rpz"
    TEXT = "text"


ALLOWED_PAP = {
    Purpose.SCAN: Pap.RED,
    Purpose.ZEEK: Pap.AMBER,
    Purpose.SURICATA: Pap.GREEN,
    Purpose.RPZ: Pap.GREEN,
    Purpose.TEXT: Pap.GREEN,
}
_PAP_LABEL = re.compile(r"^pap:(clear|white|green|amber|red)$", re.I)


def pap_of(data: dict[str, Any]) -> Pap:
    """An object's PAP from its labels (MISP's PAP:RED tag and the like); none is CLEAR."""
    found = Pap.CLEAR
    for label in data.get("labels") or []:
        match = _PAP_LABEL.match(str(label).strip())
        if match:
            level = Pap.CLEAR if match.group(1).lower() == "white" else Pap(match.group(1).lower())
            found = level if level.rank > found.rank else found
    return found


@dataclass(frozen=True)
class Exported:
    """An exported value with its position for the next page, and its PAP."""

    position: int
    item: ExportItem
    pap: Pap
    valid_until: str | None


def indicator_values(actor: Actor) -> Select[tuple[Any, ...]]:
    """The values of the latest indicators the actor may see, not revoked, with their index
    row's id, STIX id, name, TLP, data and decay score: the one query behind every export and
    the scan page."""
    visible = (
        latest(actor)
        .where(StixObject.type == "indicator", StixObject.revoked.is_(False))
        .with_only_columns(StixObject.pk)
    )
    return (
        select(
            ObservableValue.id,
            ObservableValue.kind,
            ObservableValue.value,
            StixObject.stix_id,
            StixObject.name,
            StixObject.tlp,
            StixObject.data,
            IndicatorScore.score,
        )
        .join(StixObject, StixObject.pk == ObservableValue.object_pk)
        .outerjoin(IndicatorScore, IndicatorScore.stix_id == StixObject.stix_id)
        .where(ObservableValue.object_pk.in_(visible))
    )


def export_page(
    session: Session,
    *,
    actor: Actor,
    purpose: Purpose,
    after: int = 0,
    limit: int = PAGE_LIMIT,
    now: datetime | None = None,
) -> tuple[list[Exported], int | None]:
    """A page of the indicator values the actor may see and use for the purpose.

    Values come in the order of their index rows; the second result is where the next page
    starts, or None after the last.
    """
    moment = now or utcnow()
    query = (
        indicator_values(actor)
        .where(ObservableValue.id > after)
        .order_by(ObservableValue.id)
        .limit(limit)
    )
    ceiling = ALLOWED_PAP[purpose]
    found: list[Exported] = []
    last = after
    rows = session.execute(query).all()
    for position, kind, value, stix_id, name, tlp, data, score in rows:
        last = position
        if kind == ValueKind.ASN:
            continue
        pap = pap_of(data)
        valid_until = data.get("valid_until")
        if pap.rank > ceiling.rank or _expired(valid_until, moment):
            continue
        item = ExportItem(kind, value, stix_id, name, tlp.value, score)
        found.append(Exported(position, item, pap, valid_until))
    held_in = reports_of(session, actor=actor, stix_ids={e.item.stix_id for e in found})
    found = [
        Exported(
            e.position,
            replace(e.item, reports=tuple(held_in.get(e.item.stix_id, ()))),
            e.pap,
            e.valid_until,
        )
        for e in found
    ]
    return found, (last if len(rows) == limit else None)


def reports_of(session: Session, *, actor: Actor, stix_ids: set[str]) -> dict[str, list[str]]:
    """Names of the reports and groupings the actor may see that hold some indicators."""
    found: dict[str, list[str]] = {}
    if not stix_ids:
        return found
    holders = latest(actor).where(StixObject.type.in_(("report", "grouping")))
    for name, data in session.execute(holders.with_only_columns(StixObject.name, StixObject.data)):
        for ref in data.get("object_refs") or []:
            if ref in stix_ids and name:
                found.setdefault(ref, []).append(name)
    return {stix_id: sorted(set(names)) for stix_id, names in found.items()}


def _expired(valid_until: Any, moment: datetime) -> bool:
    if not isinstance(valid_until, str):
        return False
    try:
        return parse_timestamp(valid_until) < moment
    except (ValueError, TypeError):
        return False


def export_all(session: Session, *, actor: Actor, purpose: Purpose) -> Iterator[ExportItem]:
    """Every value for the purpose, page after page."""
    after: int | None = 0
    while after is not None:
        page, after = export_page(session, actor=actor, purpose=purpose, after=after)
        for exported in page:
            yield exported.item


@dataclass(frozen=True)
class ScanSighting:
    """A scanner's report of one indicator: how often, and (if sent) when."""

    stix_id: str
    count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def report_sightings(session: Session, *, actor: Actor, reports: list[ScanSighting]) -> list[str]:
    """Record a scan's sightings, all or none; answers the indicator ids recorded."""
    problems: list[Problem] = []
    for index, entry in enumerate(reports):
        try:
            with session.begin_nested():
                sightings.report(
                    session,
                    actor=actor,
                    stix_id=entry.stix_id,
                    kind=Feedback.SEEN,
                    count=entry.count,
                    first_seen=entry.first_seen,
                    last_seen=entry.last_seen,
                    source="scanner",
                )
        except ValidationFailed as exc:
            problems.extend(Problem(f"sightings[{index}].{p.loc}", p.msg) for p in exc.problems)
        except BalaiError as exc:
            if exc.status_code in (401, 403):
                raise
            problems.append(Problem(f"sightings[{index}].stix_id", exc.message))
    if problems:
        raise ValidationFailed(problems)
    return [entry.stix_id for entry in reports]
