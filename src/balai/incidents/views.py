"""What readers get: an incident's shape for the page and the API, and the dashboard."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible, visible
from balai.db import utcnow
from balai.incidents import taxonomy
from balai.incidents.coordination import assistance_requests, attachments, parties
from balai.incidents.models import (
    AssistanceRequest,
    AssistanceStatus,
    Incident,
    IncidentLink,
    IncidentParty,
    IncidentStatus,
    PartyStatus,
    Stage,
    StageReport,
    TimelineEntry,
)
from balai.incidents.schemas import (
    AssistanceOut,
    AttachmentOut,
    ClassCount,
    CountryAcknowledgement,
    DashboardOut,
    EntryOut,
    IncidentOut,
    IncidentSummary,
    LinkOut,
    PartyOut,
    StageOut,
)
from balai.incidents.service import overdue_condition
from balai.intel.models import StixObject

DASHBOARD_OVERDUE_LIMIT = 50
CHART_DAYS = 365


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _dues(incident: Incident) -> list[tuple[Stage, datetime, datetime | None]]:
    return [
        (Stage.EARLY_WARNING, incident.early_warning_due_at, incident.early_warning_at),
        (Stage.NOTIFICATION, incident.notification_due_at, incident.notification_at),
        (Stage.FINAL_REPORT, incident.final_report_due_at, incident.final_report_at),
    ]


def overdue_stages(incident: Incident, now: datetime) -> list[Stage]:
    """Stages past their due time and not filed."""
    return [stage for stage, due, filed in _dues(incident) if filed is None and due < now]


def summary(incident: Incident, now: datetime) -> IncidentSummary:
    """An incident's line in a list."""
    return IncidentSummary(
        id=incident.id,
        reference=incident.reference,
        title=incident.title,
        organisation_id=incident.owner_org_id,
        organisation_name=incident.owner.name,
        rsit_class=incident.rsit_class,
        rsit_type=incident.rsit_type,
        classification=taxonomy.label(incident.rsit_class, incident.rsit_type),
        severity=incident.severity,
        status=incident.status,
        cross_border=incident.cross_border,
        countries=incident.countries,
        sectors=incident.sectors,
        tlp=incident.tlp,
        distribution=incident.distribution,
        created_at=incident.created_at,
        overdue_stages=overdue_stages(incident, now),
    )


def _links(session: Session, actor: Actor, incident: Incident) -> list[LinkOut]:
    """Linked objects the reader may see; the others are not mentioned."""
    ids = select(IncidentLink.stix_id).where(
        IncidentLink.incident_id == incident.id, visible(actor, IncidentLink)
    )
    rows = session.scalars(
        select_visible(actor, StixObject)
        .where(StixObject.stix_id.in_(ids), StixObject.is_latest.is_(True))
        .order_by(StixObject.type, StixObject.name)
    )
    seen: dict[str, LinkOut] = {}
    for row in rows:
        seen.setdefault(
            row.stix_id, LinkOut(stix_id=row.stix_id, type=row.type, name=row.name, tlp=row.tlp)
        )
    return list(seen.values())


def _party_out(party: IncidentParty) -> PartyOut:
    ack = party.acknowledged_at
    return PartyOut(
        organisation_id=party.organisation_id,
        organisation_name=party.organisation.name,
        country=party.organisation.country,
        status=party.status,
        invited_at=party.invited_at,
        respond_by=party.respond_by,
        acknowledged_at=ack,
        acknowledgement_seconds=(ack - party.invited_at).total_seconds() if ack else None,
        status_changed_at=party.status_changed_at,
        note=party.note,
    )


def assistance_out(request: AssistanceRequest, now: datetime) -> AssistanceOut:
    """A request for assistance as readers see it."""
    return AssistanceOut(
        id=request.id,
        organisation_id=request.to_org_id,
        organisation_name=request.to_org.name,
        text=request.text,
        requested_at=request.requested_at,
        respond_by=request.respond_by,
        overdue=request.status == AssistanceStatus.OPEN and request.respond_by < now,
        status=request.status,
        answer=request.answer,
        answered_at=request.answered_at,
    )


def incident_out(
    session: Session, *, actor: Actor, incident: Incident, now: datetime | None = None
) -> IncidentOut:
    """Everything the reader may see of an incident."""
    now = now or utcnow()
    reports = {
        r.stage: r
        for r in session.scalars(
            select_visible(actor, StageReport).where(StageReport.incident_id == incident.id)
        )
    }
    timeline = session.scalars(
        select_visible(actor, TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id)
        .order_by(TimelineEntry.at, TimelineEntry.id)
    )
    return IncidentOut(
        **summary(incident, now).model_dump(),
        description=incident.description,
        machinetag=taxonomy.machinetag(incident.rsit_class, incident.rsit_type),
        taxonomy_version=taxonomy.version(),
        sharing_group_id=incident.sharing_group_id,
        aware_at=incident.aware_at,
        updated_at=incident.updated_at,
        triaged_at=incident.triaged_at,
        closed_at=incident.closed_at,
        resolution=incident.resolution,
        stages=[
            StageOut(
                stage=stage,
                due_at=due,
                filed_at=filed,
                overdue=filed is None and due < now,
                late=filed is not None and filed > due,
                text=reports[stage].text if stage in reports else None,
            )
            for stage, due, filed in _dues(incident)
        ],
        parties=[_party_out(p) for p in parties(session, actor=actor, incident=incident)],
        assistance=[
            assistance_out(r, now)
            for r in assistance_requests(session, actor=actor, incident=incident)
        ],
        links=_links(session, actor, incident),
        attachments=[
            AttachmentOut(
                id=a.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                uploaded_at=a.uploaded_at,
                uploaded_by=a.uploaded_by,
            )
            for a in attachments(session, actor=actor, incident=incident)
        ],
        timeline=[
            EntryOut(
                at=e.at,
                kind=e.kind,
                actor=e.actor_label,
                organisation_name=e.actor_org.name if e.actor_org else None,
                text=e.text,
            )
            for e in timeline
        ],
    )


def _by_country(parties: Sequence[IncidentParty]) -> list[CountryAcknowledgement]:
    groups: dict[str, list[IncidentParty]] = {}
    for party in parties:
        groups.setdefault(party.organisation.country, []).append(party)
    out = []
    for country, rows in sorted(groups.items()):
        times = [
            (p.acknowledged_at - p.invited_at).total_seconds()
            for p in rows
            if p.acknowledged_at is not None
        ]
        out.append(
            CountryAcknowledgement(
                country=country,
                parties=len(rows),
                acknowledged=len(times),
                silent=sum(1 for p in rows if p.status == PartyStatus.NO_RESPONSE),
                median_acknowledgement_seconds=statistics.median(times) if times else None,
            )
        )
    return out


def dashboard(session: Session, *, actor: Actor, now: datetime | None = None) -> DashboardOut:
    """Open incidents, overdue stages, acknowledgement times and incidents per class and month."""
    actor.require(Permission.INCIDENT_READ)
    now = now or utcnow()
    seen = select_visible(actor, Incident)
    open_ = seen.where(Incident.status != IncidentStatus.CLOSED)

    overdue_query = seen.where(overdue_condition(now))
    overdue = session.scalars(
        overdue_query.order_by(
            (Incident.status == IncidentStatus.CLOSED), Incident.notification_due_at.desc()
        ).limit(DASHBOARD_OVERDUE_LIMIT)
    ).all()
    visible_ids = seen.with_only_columns(Incident.id)
    party_rows = session.scalars(
        select_visible(actor, IncidentParty).where(IncidentParty.incident_id.in_(visible_ids))
    ).all()
    times = [
        (p.acknowledged_at - p.invited_at).total_seconds()
        for p in party_rows
        if p.acknowledged_at is not None
    ]
    overdue_assistance = _count(
        session,
        select_visible(actor, AssistanceRequest).where(
            AssistanceRequest.incident_id.in_(visible_ids),
            AssistanceRequest.status == AssistanceStatus.OPEN,
            AssistanceRequest.respond_by < now,
        ),
    )
    months: dict[tuple[str, str], int] = {}
    since = (now - timedelta(days=CHART_DAYS)).replace(day=1, hour=0, minute=0, second=0)
    for created, rsit_class in session.execute(
        seen.with_only_columns(Incident.created_at, Incident.rsit_class).where(
            Incident.created_at >= since
        )
    ):
        key = (created.strftime("%Y-%m"), rsit_class)
        months[key] = months.get(key, 0) + 1
    return DashboardOut(
        open=_count(session, open_),
        new=_count(session, open_.where(Incident.status == IncidentStatus.NEW)),
        cross_border_open=_count(session, open_.where(Incident.cross_border.is_(True))),
        overdue_count=_count(session, overdue_query),
        overdue=[summary(i, now) for i in overdue],
        overdue_assistance=overdue_assistance,
        parties_waiting=sum(1 for p in party_rows if p.status == PartyStatus.NOTIFIED),
        median_acknowledgement_seconds=statistics.median(times) if times else None,
        acknowledged=len(times),
        silent=sum(1 for p in party_rows if p.status == PartyStatus.NO_RESPONSE),
        by_country=_by_country(party_rows),
        by_class=[
            ClassCount(month=month, rsit_class=rsit_class, count=n)
            for (month, rsit_class), n in sorted(months.items())
        ],
    )
