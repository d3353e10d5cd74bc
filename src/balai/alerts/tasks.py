"""Periodic jobs of early warning: escalate unacknowledged alerts, send digests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from balai.alerts import ack
from balai.config import Settings


def escalate_alerts(session: Session, settings: Settings) -> int:
    """Send unacknowledged alerts on to the alternate contact, then the admins."""
    return ack.escalate_due(session, settings=settings)


def send_digests(session: Session, settings: Settings) -> int:
    """Send the digests that are due."""
    return ack.send_digests(session, settings=settings)
