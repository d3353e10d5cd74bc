"""Sightings and feedback on indicators, and the decay score they drive.

The score follows MISP's polynomial decay model, base * (1 - (t / tau) ** (1 / delta)), where t
is the time since the indicator was last seen (or became valid), tau its lifetime (by kind of value:
addresses go stale fast, file hashes slowly) and delta the decay speed. The base is the STIX
confidence (50 when absent), halved for each organisation that reports a false positive;
an "expired" report later than the last sighting ends it (score 0).

Who reported a sighting is sensitive (it says who was hit), so other organisations see
sightings only as counts; each organisation sees its own reports in full.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.db import utcnow
from balai.errors import NotFound, ValidationFailed
from balai.intel.models import (
    Feedback,
    IndicatorScore,
    ObservableValue,
    Sighting,
    StixObject,
    ValueKind,
)
from balai.intel.service import get_object
from balai.intel.stix_validate import parse_timestamp

DECAY_SPEED = 0.3
DEFAULT_CONFIDENCE = 50.0
LIFETIME_DAYS: dict[ValueKind, float] = {
    ValueKind.IPV4: 30,
    ValueKind.IPV6: 30,
    ValueKind.CIDR: 60,
    ValueKind.URL: 60,
    ValueKind.DOMAIN: 90,
    ValueKind.EMAIL: 180,
    ValueKind.ASN: 180,
    ValueKind.MD5: 365,
    ValueKind.SHA1: 365,
    ValueKind.SHA256: 365,
}
DEFAULT_LIFETIME = 180.0
CLOCK_SKEW = timedelta(minutes=5)


def decay(base: float, age_days: float, lifetime_days: float) -> float:
    """MISP's polynomial decay, clipped to 0..base."""
    if age_days <= 0:
        return base
    if age_days >= lifetime_days:
        return 0.0
    remaining: float = 1 - (age_days / lifetime_days) ** (1 / DECAY_SPEED)
    return max(0.0, base * remaining)


def report(
    session: Session,
    *,
    actor: Actor,
    stix_id: str,
    kind: Feedback,
    count: int = 1,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    source: str = "page",
) -> Sighting:
    """Record the actor's organisation's report on an indicator it may see."""
    actor.require(Permission.INTEL_IMPORT)
    held = get_object(session, actor=actor, stix_id=stix_id)
    if held.row.type != "indicator":
        raise ValidationFailed.one("stix_id", "sightings are reported on indicators")
    now = utcnow()
    if not 1 <= count <= 1_000_000_000:
        raise ValidationFailed.one("count", "must be between 1 and 1,000,000,000")
    for name, moment in (("first_seen", first_seen), ("last_seen", last_seen)):
        if moment is not None and moment > now + CLOCK_SKEW:
            raise ValidationFailed.one(name, "is in the future")
    if first_seen and last_seen and first_seen > last_seen:
        raise ValidationFailed.one("last_seen", "is earlier than first_seen")
    if actor.organisation_id is None:
        raise ValidationFailed.one("actor", "sightings are reported by an organisation")
    sighting = Sighting(
        id=uuid.uuid4(),
        stix_id=stix_id,
        organisation_id=actor.organisation_id,
        created_by_id=actor.user_id,
        kind=kind,
        count=count,
        first_seen=first_seen
        or (last_seen if kind == Feedback.SEEN else None)
        or (now if kind == Feedback.SEEN else None),
        last_seen=last_seen or (now if kind == Feedback.SEEN else None),
        source=source,
    )
    session.add(sighting)
    session.flush()
    rescore(session, [stix_id], now=now)
    return sighting


@dataclass
class Summary:
    """Sightings of an indicator as one reader may see them."""

    seen: int = 0
    seen_by: int = 0
    false_positive_by: int = 0
    expired_by: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    own: list[Sighting] = field(default_factory=list)
    score: IndicatorScore | None = None


def summary(session: Session, *, actor: Actor, stix_id: str) -> Summary:
    """Counts from every organisation, and the reader's own organisation's reports in full."""
    get_object(session, actor=actor, stix_id=stix_id)  # 404 unless the indicator is visible
    rows = list(session.scalars(select(Sighting).where(Sighting.stix_id == stix_id)))
    result = Summary(score=session.get(IndicatorScore, stix_id))
    seen = [r for r in rows if r.kind == Feedback.SEEN]
    result.seen = sum(r.count for r in seen)
    result.seen_by = len({r.organisation_id for r in seen})
    result.false_positive_by = len(
        {r.organisation_id for r in rows if r.kind == Feedback.FALSE_POSITIVE}
    )
    result.expired_by = len({r.organisation_id for r in rows if r.kind == Feedback.EXPIRED})
    firsts = [r.first_seen for r in seen if r.first_seen]
    lasts = [r.last_seen for r in seen if r.last_seen]
    result.first_seen = min(firsts) if firsts else None
    result.last_seen = max(lasts) if lasts else None
    result.own = sorted(
        (r for r in rows if r.organisation_id == actor.organisation_id),
        key=lambda r: r.created_at,
        reverse=True,
    )
    return result


def rescore(session: Session, stix_ids: Iterable[str], *, now: datetime | None = None) -> int:
    """Recompute the decay scores of some indicators (all holders' copies share one score)."""
    now = now or utcnow()
    ids = sorted(set(stix_ids))
    done = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        done += _rescore_chunk(session, chunk, now)
    return done


def _rescore_chunk(session: Session, ids: list[str], now: datetime) -> int:
    indicators: dict[str, StixObject] = {}
    for row in session.scalars(
        select(StixObject).where(
            StixObject.stix_id.in_(ids),
            StixObject.is_latest.is_(True),
            StixObject.type == "indicator",
        )
    ):
        current = indicators.get(row.stix_id)
        if current is None or (row.modified or row.date_added) > (
            current.modified or current.date_added
        ):
            indicators[row.stix_id] = row
    kinds: dict[str, set[ValueKind]] = {}
    for stix_id, kind in session.execute(
        select(StixObject.stix_id, ObservableValue.kind)
        .join(ObservableValue, ObservableValue.object_pk == StixObject.pk)
        .where(StixObject.stix_id.in_(ids), StixObject.is_latest.is_(True))
    ):
        kinds.setdefault(stix_id, set()).add(kind)
    reports: dict[str, list[Sighting]] = {}
    for sighting in session.scalars(select(Sighting).where(Sighting.stix_id.in_(ids))):
        reports.setdefault(sighting.stix_id, []).append(sighting)
    existing = {
        s.stix_id: s
        for s in session.scalars(select(IndicatorScore).where(IndicatorScore.stix_id.in_(ids)))
    }
    for stix_id, row in indicators.items():
        base, anchor, lifetime, ended = _inputs(
            row, kinds.get(stix_id, set()), reports.get(stix_id, [])
        )
        age = (now - anchor).total_seconds() / 86400
        score = 0.0 if ended else decay(base, age, lifetime)
        record = existing.get(stix_id) or IndicatorScore(stix_id=stix_id)
        record.score = round(score, 2)
        record.base = round(base, 2)
        record.anchor = anchor
        record.lifetime_days = lifetime
        record.computed_at = now
        session.add(record)
    session.flush()
    return len(indicators)


def _inputs(
    row: StixObject, kinds: set[ValueKind], reports: list[Sighting]
) -> tuple[float, datetime, float, bool]:
    """Base score, anchor time, lifetime, and whether an expiry report ended it."""
    confidence = row.data.get("confidence")
    base = float(confidence) if isinstance(confidence, int | float) else DEFAULT_CONFIDENCE
    false_by = {r.organisation_id for r in reports if r.kind == Feedback.FALSE_POSITIVE}
    base *= 0.5 ** len(false_by)
    start = row.data.get("valid_from") or row.data.get("created")
    anchor = parse_timestamp(start) if isinstance(start, str) else row.date_added
    seen = [r.last_seen for r in reports if r.kind == Feedback.SEEN and r.last_seen]
    if seen:
        anchor = max(anchor, *seen)
    expiries = [r.created_at for r in reports if r.kind == Feedback.EXPIRED]
    ended = bool(expiries) and max(expiries) >= anchor
    lifetime = min((LIFETIME_DAYS[k] for k in kinds), default=DEFAULT_LIFETIME)
    return base, anchor, lifetime, ended


def rescore_stale(session: Session, *, older_than: timedelta, limit: int) -> int:
    """The periodic job: refresh the oldest scores, at most `limit` of them."""
    cutoff = utcnow() - older_than
    ids = list(
        session.scalars(
            select(IndicatorScore.stix_id)
            .where(IndicatorScore.computed_at < cutoff)
            .order_by(IndicatorScore.computed_at)
            .limit(limit)
        )
    )
    unscored = list(
        session.scalars(
            select(StixObject.stix_id)
            .where(
                StixObject.type == "indicator",
                StixObject.is_latest.is_(True),
                StixObject.stix_id.not_in(select(IndicatorScore.stix_id)),
            )
            .limit(max(0, limit - len(ids)))
        )
    )
    return rescore(session, ids + unscored)


def count_scored(session: Session) -> int:
    """How many indicators have a score."""
    return session.scalar(select(func.count()).select_from(IndicatorScore)) or 0


def from_stix(session: Session, *, actor: Actor, objects: list[dict[str, Any]]) -> list[str]:
    """Record newly imported STIX sightings of indicators as the importer's reports.

    A sighting's `x_balai_feedback` may say false_positive or expired; otherwise it is "seen".
    Returns, for the import report, the sightings that stay STIX objects only, and why.
    """
    skipped = []
    for obj in objects:
        ref = str(obj.get("sighting_of_ref", ""))
        where = f"Sighting {obj.get('id')}"
        if not ref.startswith("indicator--"):
            skipped.append(f"{where}: of a {ref.split('--')[0]}, not an indicator; kept as STIX")
            continue
        try:
            kind = Feedback(str(obj.get("x_balai_feedback", Feedback.SEEN.value)))
        except ValueError:
            skipped.append(f"{where}: unknown x_balai_feedback; kept as STIX")
            continue
        count = obj.get("count", 1)
        if not isinstance(count, int) or count < 1:
            skipped.append(f"{where}: a count of {count} reports nothing; kept as STIX")
            continue
        try:
            report(
                session,
                actor=actor,
                stix_id=ref,
                kind=kind,
                count=count,
                first_seen=_when(obj.get("first_seen")),
                last_seen=_when(obj.get("last_seen")),
                source="stix",
            )
        except NotFound:
            skipped.append(f"{where}: of {ref}, which is not held here for you; kept as STIX")
        except ValidationFailed as exc:
            skipped.append(f"{where}: {exc.message}; kept as STIX")
    return skipped


def _when(value: object) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) else None
