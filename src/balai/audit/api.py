"""REST API: the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from balai.api.deps import ApiActor, PageOut, PagingQuery, page_out
from balai.audit.schemas import AuditEventOut
from balai.audit.service import AuditFilter, list_events
from balai.web.deps import DB

router = APIRouter(tags=["audit"])


def _utc(value: datetime | None) -> datetime | None:
    """A time given without a zone is UTC, the zone the log is kept in."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/audit-events", response_model=PageOut[AuditEventOut])
def audit_events(
    request: Request,
    db: DB,
    actor: ApiActor,
    paging: PagingQuery,
    action: str | None = None,
    actor_label: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageOut[AuditEventOut]:
    """Audit events, newest first: all for platform admins, own organisation's for its admins.

    `action` matches a prefix (`auth:` gives every log-in event); `actor_label` a substring;
    `since` and `until` without a zone are UTC.
    """
    filters = AuditFilter(
        action=action,
        actor=actor_label,
        object_id=object_id,
        since=_utc(since),
        until=_utc(until),
    )
    page = list_events(db, actor=actor, filters=filters, page=paging.page, per_page=paging.per_page)
    return page_out(request, page, [AuditEventOut.model_validate(e) for e in page.items])
