"""The demo region's incidents: a year of closed ones for the dashboard, and a live
cross-border ransomware incident whose notification is overdue, with parties and alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import User
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import Settings
from balai.directory.models import Organisation
from balai.incidents import coordination, service
from balai.incidents.models import Incident, PartyStatus, Stage, StageReport, TimelineEntry
from balai.incidents.schemas import CloseIn, IncidentIn, InviteIn, PartyUpdate, StageIn

# (months ago, class, type, severity, countries, sectors, title)
_PAST = (
    (11, "fraud", "phishing", "medium", ["TH"], ["banking"], "Phishing against bank customers"),
    (
        9,
        "availability",
        "ddos",
        "high",
        ["TH", "MY"],
        ["public_administration"],
        "DDoS on e-government portals",
    ),
    (
        7,
        "malicious-code",
        "infected-system",
        "high",
        ["TH"],
        ["health"],
        "Ransomware at a provincial hospital",
    ),
    (
        5,
        "information-content-security",
        "data-leak",
        "medium",
        ["TH", "SG"],
        ["ict_services"],
        "Customer data of a cloud provider offered for sale",
    ),
    (
        3,
        "intrusions",
        "system-compromise",
        "critical",
        ["TH", "VN"],
        ["telecommunications"],
        "Compromised core router at a telecommunications operator",
    ),
    (2, "fraud", "phishing", "low", ["TH"], ["education"], "Credential phishing at universities"),
    (
        1,
        "availability",
        "ddos",
        "medium",
        ["TH", "LA"],
        ["digital_infrastructure"],
        "DDoS on a DNS provider",
    ),
)


def _as(user: User) -> Actor:
    return Actor(via=Via.SESSION, user=user)


def _backdate(session: Session, incident: Incident, by: timedelta) -> None:
    """Move an incident and its history back in time, as if it had happened then."""
    for name in (
        "aware_at",
        "created_at",
        "updated_at",
        "early_warning_due_at",
        "early_warning_at",
        "notification_due_at",
        "notification_at",
        "final_report_due_at",
        "final_report_at",
        "triaged_at",
        "closed_at",
    ):
        value = getattr(incident, name)
        if value is not None:
            setattr(incident, name, value - by)
    for row in session.scalars(
        select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
    ):
        row.at -= by
    for report in session.scalars(
        select(StageReport).where(StageReport.incident_id == incident.id)
    ):
        report.filed_at -= by


def add_incidents(
    session: Session,
    *,
    settings: Settings,
    orgs: dict[tuple[str, str], Organisation],
    thai: User,
    malaysian: User,
    now: datetime,
) -> None:
    """ThaiCERT's incidents of the past year, and one that is live now."""
    subscribe(
        session,
        actor=_as(malaysian),
        settings=settings,
        data=SubscriptionIn.model_validate(
            {
                "name": "Energy and finance, medium or worse",
                "email": malaysian.email,
                "sectors": ["energy", "banking"],
                "min_severity": "medium",
            }
        ),
    )
    for months, rsit_class, rsit_type, severity, countries, sectors, title in _PAST:
        incident = service.report(
            session,
            actor=_as(thai),
            settings=settings,
            data=IncidentIn.model_validate(
                {
                    "title": title,
                    "description": f"{title}. Contained; see the final report.",
                    "rsit_class": rsit_class,
                    "rsit_type": rsit_type,
                    "severity": severity,
                    "countries": countries,
                    "sectors": sectors,
                    "tlp": "green",
                    "distribution": "community",
                }
            ),
        )
        service.file_stage(
            session,
            actor=_as(thai),
            incident_id=incident.id,
            data=StageIn(stage=Stage.NOTIFICATION, text="Initial assessment filed on time."),
        )
        service.close(
            session,
            actor=_as(thai),
            incident_id=incident.id,
            data=CloseIn(resolution="Contained and recovered; indicators shared."),
        )
        _backdate(session, incident, timedelta(days=30 * months) - (now - incident.created_at))

    live = service.report(
        session,
        actor=_as(thai),
        settings=settings,
        data=IncidentIn.model_validate(
            {
                "title": "Ransomware at a cross-border power interconnector",
                "description": "Operator consoles at the Thai end of an interconnector are "
                "encrypted; the ransom note names the grid operator. Malaysian and Singaporean "
                "utilities share the same vendor's SCADA software. We suspect a malicious act and "
                "expect cross-border impact.",
                "rsit_class": "malicious-code",
                "rsit_type": "infected-system",
                "severity": "critical",
                "countries": ["TH", "MY", "SG"],
                "sectors": ["energy"],
                "cross_border": True,
                "tlp": "amber",
                "distribution": "community",
                "aware_at": (now - timedelta(hours=80)).isoformat(),
            }
        ),
    )
    certs = [orgs[("MY", "cert")].id, orgs[("SG", "cert")].id]
    coordination.invite(
        session,
        actor=_as(thai),
        settings=settings,
        incident_id=live.id,
        data=InviteIn(organisation_ids=certs, note="Same SCADA vendor in your grids."),
    )
    coordination.answer_as_party(
        session,
        actor=_as(malaysian),
        incident_id=live.id,
        data=PartyUpdate(status=PartyStatus.INVESTIGATING, note="Checking our two utilities."),
    )
    session.flush()
