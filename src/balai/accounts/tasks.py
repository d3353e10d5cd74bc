"""Periodic jobs of accounts: forget expired sessions and old failure counts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from balai.accounts import auth
from balai.config import Settings


def purge_expired(session: Session, settings: Settings) -> int:
    """Delete expired sessions and day-old throttling records."""
    return auth.purge_expired(session)
