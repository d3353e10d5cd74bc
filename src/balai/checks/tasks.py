"""Periodic jobs of communication checks: start scheduled checks, try alternates, close."""

from __future__ import annotations

from sqlalchemy.orm import Session

from balai.checks import schedules, service
from balai.config import Settings


def run_schedules(session: Session, settings: Settings) -> int:
    """Start every check whose schedule is due."""
    return len(schedules.run_due(session, settings=settings))


def escalate_checks(session: Session, settings: Settings) -> int:
    """Try the alternate of contacts that have not answered in time."""
    return service.escalate_due(session, settings=settings)


def close_checks(session: Session, settings: Settings) -> int:
    """Close checks past their closing time."""
    return service.close_due(session)
