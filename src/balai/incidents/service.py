"""Incidents: report one, read those the actor may see, triage, file stages, close.

Coordination with other organisations (parties, assistance, comments) is in
coordination.py; both write every action to the incident's timeline.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.alerts import fanout
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation, Sector
from balai.errors import Conflict, Forbidden, NotFound, ValidationFailed
from balai.incidents.models import (
    EntryKind,
    Incident,
    IncidentCountry,
    IncidentLink,
    IncidentSector,
    IncidentStatus,
    Severity,
    Stage,
    StageReport,
    TimelineEntry,
)
from balai.incidents.schemas import CloseIn, IncidentIn, IncidentUpdate, MarkingIn, StageIn
from balai.intel.groups import check_marking_group
from balai.intel.markings import Tlp
from balai.intel.models import StixObject
from balai.pagination import Page, paginate

RESTRICTED = (Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference() -> str:
    """INC-7KQ2-M9XD: random, so that references reveal neither counts nor order."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"INC-{chars[:4]}-{chars[4:]}"


def note(
    session: Session,
    incident: Incident,
    *,
    actor: Actor,
    kind: EntryKind,
    text: str,
    details: dict[str, object] | None = None,
    at: datetime | None = None,
    label: str | None = None,
) -> TimelineEntry:
    """Append one entry to an incident's timeline."""
    entry = TimelineEntry(
        incident_id=incident.id,
        at=at or utcnow(),
        kind=kind,
        actor_label=label or actor.label,
        actor_org_id=actor.organisation_id,
        text=text,
        details=details or {},
    )
    session.add(entry)
    incident.updated_at = entry.at
    return entry


def require_reporter(actor: Actor, incident: Incident) -> None:
    """Only the reporting organisation coordinates its incident."""
    actor.require(Permission.INCIDENT_REPORT)
    if actor.organisation_id != incident.owner_org_id:
        raise Forbidden("only the reporting organisation may do this")


def _set_scope(
    incident: Incident,
    *,
    countries: list[str],
    sectors: list[Sector],
    cross_border: bool,
    reporter_country: str,
) -> None:
    """Affected countries and sectors; an incident touching a state other than the
    reporter's, or more than one state, is cross-border whatever the box says."""
    incident.country_rows = [IncidentCountry(country=c) for c in countries]
    incident.sector_rows = [IncidentSector(sector=s) for s in sectors]
    foreign = any(c != reporter_country for c in countries)
    incident.cross_border = cross_border or foreign or len(countries) > 1


def linkable(session: Session, actor: Actor, stix_ids: list[str]) -> list[str]:
    """STIX ids the actor may see, or a clear error naming the first that it may not."""
    if not stix_ids:
        return []
    seen = set(
        session.scalars(
            select_visible(actor, StixObject)
            .with_only_columns(StixObject.stix_id)
            .where(StixObject.stix_id.in_(stix_ids), StixObject.is_latest.is_(True))
        )
    )
    for index, stix_id in enumerate(stix_ids):
        if stix_id not in seen:
            raise ValidationFailed.one(f"link_ids[{index}]", f"no such object: {stix_id}")
    return stix_ids


def report(session: Session, *, actor: Actor, settings: Settings, data: IncidentIn) -> Incident:
    """Report an incident. The report is its early warning; the clocks start when the
    reporter became aware of it (now, unless it says otherwise)."""
    actor.require(Permission.INCIDENT_REPORT)
    if actor.organisation_id is None or actor.user is None:
        raise Forbidden("an incident is reported by a member of an organisation")
    check_marking_group(session, actor=actor, group_id=data.sharing_group_id)
    links = linkable(session, actor, data.link_ids)
    now = utcnow()
    aware = data.aware_at or now
    notification_due = aware + timedelta(hours=settings.incident_notification_hours)
    incident = Incident(
        id=uuid.uuid4(),
        reference=new_reference(),
        owner_org_id=actor.organisation_id,
        created_by_id=actor.user_id,
        title=data.title,
        description=data.description,
        rsit_class=data.rsit_class,
        rsit_type=data.rsit_type,
        severity=data.severity,
        status=IncidentStatus.NEW,
        tlp=data.tlp,
        distribution=data.distribution,
        sharing_group_id=data.sharing_group_id,
        aware_at=aware,
        created_at=now,
        updated_at=now,
        early_warning_due_at=aware + timedelta(hours=settings.incident_early_warning_hours),
        early_warning_at=now,
        notification_due_at=notification_due,
        final_report_due_at=notification_due + timedelta(days=settings.incident_final_report_days),
        final_report_days=settings.incident_final_report_days,
    )
    _set_scope(
        incident,
        countries=data.countries,
        sectors=data.sectors,
        cross_border=data.cross_border,
        reporter_country=actor.user.organisation.country,
    )
    session.add(incident)
    session.flush()
    session.add(
        StageReport(
            incident_id=incident.id,
            stage=Stage.EARLY_WARNING,
            text=data.description,
            filed_at=now,
            filed_by=actor.label,
        )
    )
    for stix_id in links:
        session.add(IncidentLink(incident_id=incident.id, stix_id=stix_id, linked_at=now))
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.REPORTED,
        text=f"Reported: {incident.title}. The report is filed as the early warning.",
        at=now,
    )
    fanout.on_reported(session, settings=settings, incident=incident)
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_REPORTED,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"reference": incident.reference, "tlp": incident.tlp.value},
    )
    return incident


# Reading


@dataclass(frozen=True)
class IncidentFilters:
    """What an incident list may be narrowed to."""

    status: list[IncidentStatus] = field(default_factory=list)
    severity_at_least: Severity | None = None
    rsit_class: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    cross_border: bool | None = None
    overdue: bool | None = None
    organisation_id: uuid.UUID | None = None
    q: str | None = None


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """Incidents with a stage past its due time and not filed."""
    return or_(
        and_(Incident.notification_at.is_(None), Incident.notification_due_at < now),
        and_(Incident.final_report_at.is_(None), Incident.final_report_due_at < now),
    )


def list_incidents(
    session: Session,
    *,
    actor: Actor,
    filters: IncidentFilters | None = None,
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> Page[Incident]:
    """Incidents the actor may see, newest first."""
    actor.require(Permission.INCIDENT_READ)
    f = filters or IncidentFilters()
    now = now or utcnow()
    query = select_visible(actor, Incident)
    if f.status:
        query = query.where(Incident.status.in_(f.status))
    if f.severity_at_least is not None:
        levels = [s for s in Severity if s.rank >= f.severity_at_least.rank]
        query = query.where(Incident.severity.in_(levels))
    if f.rsit_class:
        query = query.where(Incident.rsit_class.in_(f.rsit_class))
    if f.country:
        query = query.where(
            Incident.id.in_(
                select(IncidentCountry.incident_id).where(IncidentCountry.country.in_(f.country))
            )
        )
    if f.cross_border is not None:
        query = query.where(Incident.cross_border.is_(f.cross_border))
    if f.overdue is not None:
        condition = overdue_condition(now)
        query = query.where(condition if f.overdue else ~condition)
    if f.organisation_id is not None:
        query = query.where(Incident.owner_org_id == f.organisation_id)
    if f.q:
        pattern = f"%{f.q.lower()}%"
        query = query.where(
            or_(
                Incident.title.ilike(pattern),
                Incident.reference.ilike(pattern),
                Incident.description.ilike(pattern),
            )
        )
    query = query.order_by(Incident.created_at.desc(), Incident.id)
    return paginate(session, query, page=page, per_page=per_page)


def reporters(session: Session, *, actor: Actor) -> list[Organisation]:
    """The organisations that reported incidents the actor may see, by name."""
    actor.require(Permission.INCIDENT_READ)
    owners = select_visible(actor, Incident).with_only_columns(Incident.owner_org_id)
    return list(
        session.scalars(
            select_visible(actor, Organisation)
            .where(Organisation.id.in_(owners))
            .order_by(Organisation.name)
        )
    )


def get_incident(session: Session, *, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """One incident the actor may see; one it may not see does not exist."""
    actor.require(Permission.INCIDENT_READ)
    incident = session.scalar(select_visible(actor, Incident).where(Incident.id == incident_id))
    if incident is None:
        raise NotFound("no such incident")
    return incident


def note_read(session: Session, *, actor: Actor, incident: Incident, how: str) -> None:
    """Audit a read of an AMBER, AMBER+STRICT or RED incident, for its reporter's admins."""
    if incident.tlp in RESTRICTED and actor.organisation_id != incident.owner_org_id:
        record(
            session,
            actor=actor,
            action=AuditAction.INCIDENT_RESTRICTED_READ,
            object_type="incident",
            object_id=incident.id,
            object_org_id=incident.owner_org_id,
            details={"how": how, "tlp": incident.tlp.value},
        )


# The reporter's changes


def _open(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("this incident is closed: reopen it first")


def update(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, data: IncidentUpdate
) -> Incident:
    """Triage: confirm or correct the classification, severity and scope."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    _open(incident)
    assert actor.user is not None  # require_reporter needs an organisation, so a user
    before = {
        "class": f"{incident.rsit_class}/{incident.rsit_type}",
        "severity": incident.severity.value,
        "countries": incident.countries,
    }
    incident.title = data.title
    incident.description = data.description
    incident.rsit_class = data.rsit_class
    incident.rsit_type = data.rsit_type
    incident.severity = data.severity
    _set_scope(
        incident,
        countries=data.countries,
        sectors=data.sectors,
        cross_border=data.cross_border,
        reporter_country=actor.user.organisation.country,
    )
    now = utcnow()
    changes = []
    if before["class"] != f"{incident.rsit_class}/{incident.rsit_type}":
        changes.append(f"class {before['class']} → {incident.rsit_class}/{incident.rsit_type}")
    if before["severity"] != incident.severity.value:
        changes.append(f"severity {before['severity']} → {incident.severity.value}")
    if before["countries"] != incident.countries:
        changes.append(f"countries {', '.join(incident.countries)}")
    first = incident.status == IncidentStatus.NEW
    if first:
        incident.status = IncidentStatus.IN_PROGRESS
        incident.triaged_at = now
    text = "Triaged" if first else "Updated"
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.UPDATED,
        text=f"{text}: {'; '.join(changes)}." if changes else f"{text}.",
        at=now,
    )
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_UPDATED,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"reference": incident.reference, "triaged": first},
    )
    return incident


def change_marking(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, data: MarkingIn
) -> Incident:
    """Change who receives the incident. Invited parties keep it: they are named."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    check_marking_group(session, actor=actor, group_id=data.sharing_group_id)
    before = (incident.tlp, incident.distribution)
    incident.tlp = data.tlp
    incident.distribution = data.distribution
    incident.sharing_group_id = data.sharing_group_id
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.UPDATED,
        text=f"Marking changed from {before[0].label} ({before[1].label.lower()}) to "
        f"{data.tlp.label} ({data.distribution.label.lower()}).",
    )
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_MARKING_CHANGED,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"from": before[0].value, "to": data.tlp.value},
    )
    return incident


def file_stage(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, data: StageIn
) -> StageReport:
    """File the notification or the final report; each stage is filed once."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    if data.stage == Stage.EARLY_WARNING:
        raise ValidationFailed.one("stage", "the early warning is filed with the report")
    if data.stage == Stage.FINAL_REPORT and incident.notification_at is None:
        raise ValidationFailed.one("stage", "file the notification before the final report")
    existing = session.scalar(
        select(StageReport).where(
            StageReport.incident_id == incident.id, StageReport.stage == data.stage
        )
    )
    if existing is not None:
        raise Conflict(f"the {data.stage.label.lower()} was filed already")
    return _file(session, actor, incident, data.stage, data.text)


def _file(
    session: Session, actor: Actor, incident: Incident, stage: Stage, text: str
) -> StageReport:
    now = utcnow()
    filed = StageReport(
        incident_id=incident.id, stage=stage, text=text, filed_at=now, filed_by=actor.label
    )
    session.add(filed)
    if stage == Stage.NOTIFICATION:
        incident.notification_at = now
        # NIS2: the final report is due one month after the notification.
        incident.final_report_due_at = now + timedelta(days=incident.final_report_days)
    elif stage == Stage.FINAL_REPORT:
        incident.final_report_at = now
    due = incident.notification_due_at if stage == Stage.NOTIFICATION else None
    late = f" ({_late_by(now - due)} late)" if due is not None and now > due else ""
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.STAGE_FILED,
        text=f"{stage.label} filed{late}.",
        details={"stage": stage.value},
        at=now,
    )
    return filed


def _late_by(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{max(hours, 0)} h"


def close(session: Session, *, actor: Actor, incident_id: uuid.UUID, data: CloseIn) -> Incident:
    """Close the incident. Its resolution is the final report when none was filed."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    _open(incident)
    if incident.final_report_at is None and incident.notification_at is not None:
        _file(session, actor, incident, Stage.FINAL_REPORT, data.resolution)
    now = utcnow()
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = now
    incident.resolution = data.resolution
    note(session, incident, actor=actor, kind=EntryKind.CLOSED, text="Closed.", at=now)
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_CLOSED,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"reference": incident.reference},
    )
    return incident


def reopen(session: Session, *, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """Reopen a closed incident (new evidence, a relapse)."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    if incident.status != IncidentStatus.CLOSED:
        raise Conflict("this incident is not closed")
    incident.status = (
        IncidentStatus.IN_PROGRESS if incident.triaged_at is not None else IncidentStatus.NEW
    )
    incident.closed_at = None
    note(session, incident, actor=actor, kind=EntryKind.REOPENED, text="Reopened.")
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_REOPENED,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"reference": incident.reference},
    )
    return incident
