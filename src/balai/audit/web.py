"""Page: the audit log, filterable."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from balai.audit.events import AuditAction
from balai.audit.service import AuditFilter, list_events
from balai.errors import ValidationFailed
from balai.web.deps import DB, PageActor
from balai.web.render import render

router = APIRouter()


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed.one(name, f"'{value}' is not a date (YYYY-MM-DD)") from None


@router.get("/audit")
def audit_page(
    request: Request,
    db: DB,
    actor: PageActor,
    action: str | None = None,
    who: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    """Audit events the actor may read, newest first, with filters."""
    filters = AuditFilter(
        action=action or None,
        actor=who or None,
        object_id=object_id or None,
        since=_day(since, "since"),
        until=_day(until, "until"),
    )
    result = list_events(db, actor=actor, filters=filters, page=page)
    query = request.url.query
    base = "/audit?" + "&".join(p for p in query.split("&") if p and not p.startswith("page="))
    scopes = sorted(
        {a.value.split(":")[0] + ":" for a in AuditAction} | {a.value for a in AuditAction}
    )
    return render(
        request,
        "audit/list.html",
        {
            "page": result,
            "f": {
                "action": action or "",
                "who": who or "",
                "object_id": object_id or "",
                "since": since or "",
                "until": until or "",
            },
            "actions": scopes,
            "base": base,
        },
    )
