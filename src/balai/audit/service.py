"""Record and read audit events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.errors import Forbidden
from balai.pagination import Page, paginate


def record(
    session: Session,
    *,
    actor: Actor,
    action: AuditAction,
    object_type: str | None = None,
    object_id: object | None = None,
    object_org_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; it commits or rolls back with the change."""
    event = AuditEvent(
        action=action.value,
        actor_user_id=actor.user_id,
        actor_label=actor_label or actor.label,
        actor_org_id=actor.organisation_id,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        object_org_id=object_org_id,
        client_ip=actor.client_ip,
        details=details or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    """Filters on the audit log."""

    action: str | None = None
    actor: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(
    session: Session, *, actor: Actor, filters: AuditFilter, page: int = 1, per_page: int = 50
) -> Page[AuditEvent]:
    """The audit events the actor may read, newest first."""
    if not (actor.can(Permission.AUDIT_READ_ANY) or actor.can(Permission.AUDIT_READ_OWN_ORG)):
        raise Forbidden("reading the audit log needs an admin role")
    query = select_visible(actor, AuditEvent)
    # autoescape: "_" and "%" (common in e-mail addresses) are literal, not LIKE wildcards.
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.actor:
        query = query.where(
            func.lower(AuditEvent.actor_label).contains(filters.actor.lower(), autoescape=True)
        )
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    return paginate(session, query.order_by(AuditEvent.id.desc()), page=page, per_page=per_page)
