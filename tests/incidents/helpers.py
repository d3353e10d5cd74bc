"""Helpers of the incident tests: a report in a few words, and the time machine."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from balai.accounts.models import User
from balai.config import Settings
from balai.db import utcnow
from balai.incidents import service
from balai.incidents.models import Incident
from balai.incidents.schemas import IncidentIn
from tests.factories import actor_for

RANSOMWARE: dict[str, Any] = {
    "title": "Ransomware at a regional power utility",
    "description": "Files encrypted on billing and SCADA historian servers since 02:10 UTC.",
    "rsit_class": "malicious-code",
    "rsit_type": "infected-system",
    "severity": "high",
    "countries": ["TH", "MY"],
    "sectors": ["energy"],
    "tlp": "amber",
    "distribution": "community",
}


def report_as(db: Session, user: User, settings: Settings, **changes: Any) -> Incident:
    """Report an incident as a user (committed)."""
    incident = service.report(
        db,
        actor=actor_for(user),
        settings=settings,
        data=IncidentIn.model_validate({**RANSOMWARE, **changes}),
    )
    db.commit()
    return incident


def hours_ago(hours: float) -> datetime:
    """A moment some hours back, in UTC."""
    return utcnow() - timedelta(hours=hours)
