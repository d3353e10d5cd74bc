"""Repeating communication checks: save a selection, run it every few months."""

from __future__ import annotations

import uuid
from datetime import datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM, Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.checks.models import CheckSchedule, CommCheck
from balai.checks.schemas import CheckStart, ScheduleIn, Selection
from balai.checks.service import preview, start_check
from balai.config import Settings
from balai.db import utcnow
from balai.errors import NotFound, ValidationFailed


def create(
    session: Session, *, actor: Actor, settings: Settings, data: ScheduleIn
) -> CheckSchedule:
    """Save a check that repeats every few months."""
    actor.require(Permission.CHECK_START)
    if actor.organisation_id is None:
        raise ValidationFailed.one("organisation_id", "a schedule belongs to an organisation")
    preview(session, actor=actor, settings=settings, selection=data.selection)
    escalate = data.escalate_after_minutes or settings.check_escalate_minutes
    close = data.close_after_minutes or settings.check_close_minutes
    if close <= escalate:
        raise ValidationFailed.one(
            "close_after_minutes", "must be longer than the wait before trying the alternate"
        )
    first = data.first_run_at or utcnow()
    if first.tzinfo is None:
        raise ValidationFailed.one("first_run_at", "give a time zone (for example Z for UTC)")
    schedule = CheckSchedule(
        id=uuid.uuid4(),
        organisation_id=actor.organisation_id,
        created_by_id=actor.user_id,
        title=data.title,
        selection=data.selection.model_dump(mode="json"),
        every_months=data.every_months,
        next_run_at=first,
        escalate_after_minutes=escalate,
        close_after_minutes=close,
        active=data.active,
    )
    session.add(schedule)
    record(
        session,
        actor=actor,
        action=AuditAction.SCHEDULE_CREATED,
        object_type="check_schedule",
        object_id=schedule.id,
        object_org_id=schedule.organisation_id,
        details={"title": schedule.title, "every_months": schedule.every_months},
    )
    return schedule


def visible_schedules(session: Session, *, actor: Actor) -> list[CheckSchedule]:
    """Schedules the actor may see."""
    query = select_visible(actor, CheckSchedule).order_by(CheckSchedule.next_run_at)
    return list(session.scalars(query))


def set_active(
    session: Session, *, actor: Actor, schedule_id: uuid.UUID, active: bool
) -> CheckSchedule:
    """Pause or resume a schedule."""
    schedule = session.scalar(
        select_visible(actor, CheckSchedule).where(CheckSchedule.id == schedule_id)
    )
    if schedule is None:
        raise NotFound("no such schedule")
    actor.require_for_org(
        Permission.CHECK_READ_ANY, Permission.CHECK_START, schedule.organisation_id
    )
    schedule.active = active
    record(
        session,
        actor=actor,
        action=AuditAction.SCHEDULE_UPDATED,
        object_type="check_schedule",
        object_id=schedule.id,
        object_org_id=schedule.organisation_id,
        details={"active": active},
    )
    return schedule


def run_due(
    session: Session, *, settings: Settings, now: datetime | None = None
) -> list[CommCheck]:
    """Start the checks whose schedules are due; each schedule moves to its next date."""
    now = now or utcnow()
    due = session.scalars(
        select(CheckSchedule).where(
            CheckSchedule.active.is_(True), CheckSchedule.next_run_at <= now
        )
    ).all()
    started = []
    for schedule in due:
        while schedule.next_run_at <= now:
            schedule.next_run_at += relativedelta(months=schedule.every_months)
        schedule.last_run_at = now
        data = CheckStart(
            title=f"{schedule.title} ({now:%Y-%m-%d})",
            selection=Selection.model_validate(schedule.selection),
            escalate_after_minutes=schedule.escalate_after_minutes,
            close_after_minutes=schedule.close_after_minutes,
        )
        try:
            with session.begin_nested():
                started.append(
                    start_check(
                        session,
                        actor=SYSTEM,
                        settings=settings,
                        data=data,
                        organisation_id=schedule.organisation_id,
                        schedule=schedule,
                    )
                )
        except ValidationFailed as exc:
            record(
                session,
                actor=SYSTEM,
                action=AuditAction.SCHEDULE_UPDATED,
                object_type="check_schedule",
                object_id=schedule.id,
                object_org_id=schedule.organisation_id,
                details={"skipped": exc.message},
            )
    return started
