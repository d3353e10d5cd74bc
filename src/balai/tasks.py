"""The periodic jobs of every domain, which the worker runs every few seconds."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from balai.accounts.tasks import purge_expired
from balai.alerts.tasks import escalate_alerts, send_digests
from balai.checks.tasks import close_checks, escalate_checks, run_schedules
from balai.config import Settings
from balai.federation.service import sync_due
from balai.incidents.tasks import mark_silent_parties
from balai.intel.tasks import refresh_scores

PERIODIC_JOBS: dict[str, Callable[[Session, Settings], int]] = {
    "checks.run_schedules": run_schedules,
    "checks.escalate": escalate_checks,
    "checks.close": close_checks,
    "accounts.purge_expired": purge_expired,
    "intel.refresh_scores": refresh_scores,
    "federation.sync_due": sync_due,
    "incidents.mark_silent_parties": mark_silent_parties,
    "alerts.escalate": escalate_alerts,
    "alerts.send_digests": send_digests,
}
