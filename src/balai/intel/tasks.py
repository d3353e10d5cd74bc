"""Periodic jobs of intelligence: keep decay scores current."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from balai.config import Settings
from balai.intel import sightings

STALE_AFTER = timedelta(hours=6)
BATCH = 20_000


def refresh_scores(session: Session, settings: Settings) -> int:
    """Recompute the oldest decay scores (and score new indicators), a batch per run."""
    return sightings.rescore_stale(session, older_than=STALE_AFTER, limit=BATCH)
