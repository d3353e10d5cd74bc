"""Periodic jobs of incidents: silence past its time shows as 'no response'."""

from __future__ import annotations

from sqlalchemy.orm import Session

from balai.config import Settings
from balai.incidents import coordination


def mark_silent_parties(session: Session, settings: Settings) -> int:
    """Parties that have not answered in time show as 'no response'."""
    return coordination.mark_silent(session)
