"""Communication checks: start one, acknowledge it, read its results, schedule repeats."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM, Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible, visible
from balai.accounts.auth import failures_since, note_failure
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.checks.models import (
    AttemptRole,
    CheckAttempt,
    CheckSchedule,
    CheckStatus,
    CheckTarget,
    CommCheck,
    Outcome,
)
from balai.checks.schemas import (
    AttemptOut,
    CheckListItem,
    CheckOut,
    CheckStart,
    CountrySummary,
    Selection,
    TargetOut,
)
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Contact, Organisation
from balai.directory.schemas import ContactFilters
from balai.directory.service import contact_query, mark_verified
from balai.errors import Conflict, NotFound, ValidationFailed
from balai.mail import render_mail
from balai.outbox.models import OutboxMessage
from balai.outbox.service import enqueue_email
from balai.pagination import Page, paginate
from balai.tokens import hash_token, new_code, new_token, normalise_code

MAX_TARGETS = 5000


@dataclass(frozen=True)
class Preview:
    """The contacts a selection reaches, and those it cannot check (no e-mail)."""

    reachable: list[Contact]
    unreachable: list[Contact]


def preview(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    selection: Selection,
    missing_ok: bool = False,
) -> Preview:
    """Resolve a selection against the directory, for an actor who may start checks.

    Named contacts that no longer exist are refused, unless `missing_ok` leaves them out.
    """
    actor.require(Permission.CHECK_START)
    if selection.is_empty:
        raise ValidationFailed.one("selection", "choose contacts or at least one filter")
    if selection.contact_ids:
        filters = ContactFilters(organisation_id=[])
        query = contact_query(actor, filters, settings=settings).where(
            Contact.id.in_(selection.contact_ids)
        )
        contacts = list(session.scalars(query))
        missing = set(selection.contact_ids) - {c.id for c in contacts}
        if missing and not missing_ok:
            raise ValidationFailed.one(
                "selection.contact_ids",
                f"{len(missing)} contact(s) not found: {sorted(map(str, missing))[0]}",
            )
    else:
        filters = ContactFilters(
            country=selection.countries,
            role=selection.roles,
            kind=selection.kinds,
            sector=selection.sectors,
        )
        query = contact_query(actor, filters, settings=settings)
        if selection.exclude_ids:
            query = query.where(Contact.id.not_in(selection.exclude_ids))
        contacts = list(session.scalars(query))
    if len(contacts) > MAX_TARGETS:
        raise ValidationFailed.one(
            "selection", f"{len(contacts)} contacts selected; at most {MAX_TARGETS} per check"
        )
    return Preview(
        reachable=[c for c in contacts if c.email],
        unreachable=[c for c in contacts if not c.email],
    )


def start_check(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    data: CheckStart,
    organisation_id: uuid.UUID | None = None,
    schedule: CheckSchedule | None = None,
) -> CommCheck:
    """Start a check: one e-mail per contact, each with a one-time link and code."""
    actor.require(Permission.CHECK_START)
    org_id = organisation_id or actor.organisation_id
    if org_id is None:
        raise ValidationFailed.one("organisation_id", "a check belongs to an organisation")
    # A scheduled run re-reads a saved selection: contacts removed from the directory since,
    # or left without an address, drop out rather than stop every future run.
    rerun = schedule is not None
    found = preview(
        session, actor=actor, settings=settings, selection=data.selection, missing_ok=rerun
    )
    if data.selection.contact_ids and found.unreachable and not rerun:
        names = ", ".join(c.name for c in found.unreachable[:3])
        raise ValidationFailed.one(
            "selection.contact_ids", f"no e-mail address to check for: {names}"
        )
    if not found.reachable:
        raise ValidationFailed.one("selection", "no contact with an e-mail address matches")
    escalate = data.escalate_after_minutes or settings.check_escalate_minutes
    close = data.close_after_minutes or settings.check_close_minutes
    if close <= escalate:
        raise ValidationFailed.one(
            "close_after_minutes", "must be longer than the wait before trying the alternate"
        )
    now = utcnow()
    check = CommCheck(
        id=uuid.uuid4(),
        organisation_id=org_id,
        created_by_id=actor.user_id,
        schedule_id=schedule.id if schedule else None,
        title=data.title,
        message=data.message,
        selection=data.selection.model_dump(mode="json"),
        status=CheckStatus.RUNNING,
        started_at=now,
        escalate_after_minutes=escalate,
        close_after_minutes=close,
        closes_at=now + timedelta(minutes=close),
    )
    session.add(check)
    initiator = session.get(Organisation, org_id)
    assert initiator is not None  # org_id is the actor's own or a schedule's organisation
    check.organisation = initiator
    for contact in found.reachable:
        target = CheckTarget(
            id=uuid.uuid4(),
            contact_id=contact.id,
            organisation_id=contact.organisation_id,
            contact_name=contact.name,
            organisation_name=contact.organisation.name,
            country=contact.organisation.country,
            role=contact.role,
        )
        check.targets.append(target)
        _send_attempt(session, settings, check, target, contact, AttemptRole.PRIMARY)
    session.flush()
    record(
        session,
        actor=actor,
        action=AuditAction.CHECK_STARTED,
        object_type="check",
        object_id=check.id,
        object_org_id=org_id,
        details={"title": check.title, "contacts": len(found.reachable)},
    )
    return check


def _send_attempt(
    session: Session,
    settings: Settings,
    check: CommCheck,
    target: CheckTarget,
    contact: Contact,
    role: AttemptRole,
) -> CheckAttempt:
    token = new_token(32)
    code = new_code()
    assert contact.email is not None  # callers pass only contacts with an address
    attempt = CheckAttempt(
        id=uuid.uuid4(),
        role=role,
        contact_id=contact.id,
        contact_name=contact.name,
        email=contact.email,
        token_hash=hash_token(token),
        code_hash=hash_token(code),
        created_at=utcnow(),
    )
    target.attempts.append(attempt)
    subject, text = render_mail(
        "checks/mail/check.txt",
        settings=settings,
        check=check,
        target=target,
        contact=contact,
        alternate=role == AttemptRole.ALTERNATE,
        link=f"{settings.base_url}/ack/{token}",
        code=code,
        code_page=f"{settings.base_url}/ack",
    )
    message = enqueue_email(
        session,
        settings=settings,
        to=contact.email,
        subject=subject,
        text=text,
        subject_type="check_attempt",
        subject_id=attempt.id,
    )
    attempt.outbox_message_id = message.id
    return attempt


class AckStatus(StrEnum):
    """How an acknowledgement went."""

    OK = "ok"
    ALREADY = "already"
    LATE = "late"
    INVALID = "invalid"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class AckResult:
    """The outcome of an acknowledgement and the attempt it concerned."""

    status: AckStatus
    attempt: CheckAttempt | None = None


def find_attempt(session: Session, *, token: str) -> CheckAttempt | None:
    """The attempt a link token names (the token is the capability: no log-in needed)."""
    return session.scalar(select(CheckAttempt).where(CheckAttempt.token_hash == hash_token(token)))


def acknowledge(
    session: Session,
    *,
    settings: Settings,
    token: str | None = None,
    code: str | None = None,
    client_ip: str | None = None,
) -> AckResult:
    """Record that a contact answered, by link token or by typed code."""
    key = f"ack:{client_ip or 'unknown'}"
    window = utcnow() - timedelta(minutes=settings.login_window_minutes)
    if (
        code is not None
        and failures_since(session, key, window) >= settings.login_max_failures_per_ip
    ):
        return AckResult(AckStatus.THROTTLED)
    attempt = None
    if token:
        attempt = find_attempt(session, token=token)
    elif code:
        attempt = session.scalar(
            select(CheckAttempt).where(CheckAttempt.code_hash == hash_token(normalise_code(code)))
        )
    if attempt is None:
        note_failure(session, key)
        record(
            session,
            actor=Actor(via=SYSTEM.via, client_ip=client_ip),
            action=AuditAction.CHECK_ACK_FAILED,
            actor_label="check acknowledgement",
            details={"by": "code" if code else "link"},
        )
        return AckResult(AckStatus.INVALID)
    target = attempt.target
    check = target.check
    if target.acknowledged_at is not None or attempt.used_at is not None:
        return AckResult(AckStatus.ALREADY, attempt)
    now = utcnow()
    attempt.used_at = now
    ack_actor = Actor(via=SYSTEM.via, client_ip=client_ip)
    contact = session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    if contact is not None:
        mark_verified(
            session, actor=ack_actor, contact=contact, how=f"answered check {check.id}", at=now
        )
    if check.status == CheckStatus.CLOSED:
        return AckResult(AckStatus.LATE, attempt)
    target.acknowledged_at = now
    target.outcome = (
        Outcome.REACHED if attempt.role == AttemptRole.PRIMARY else Outcome.REACHED_ALTERNATE
    )
    target.response_seconds = max(0.0, (now - _first_sent(session, target, check)).total_seconds())
    record(
        session,
        actor=ack_actor,
        action=AuditAction.CHECK_ACKNOWLEDGED,
        actor_label=f"{attempt.contact_name} <{attempt.email}>",
        object_type="check",
        object_id=check.id,
        object_org_id=check.organisation_id,
        details={"target": str(target.id), "via": attempt.role.value},
    )
    return AckResult(AckStatus.OK, attempt)


def _first_sent(session: Session, target: CheckTarget, check: CommCheck) -> datetime:
    """When the first message to this target left: response times count from there."""
    primary = next((a for a in target.attempts if a.role == AttemptRole.PRIMARY), None)
    if primary is not None and primary.outbox_message_id is not None:
        message = session.get(OutboxMessage, primary.outbox_message_id)
        if message is not None and message.sent_at is not None:
            return message.sent_at
    return check.started_at


# Reading results


def list_checks(
    session: Session,
    *,
    actor: Actor,
    organisation_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[CommCheck]:
    """Checks the actor may see, newest first; optionally those involving one organisation."""
    query = select_visible(actor, CommCheck)
    if organisation_id is not None:
        # Only rows the actor may see can reveal that an organisation took part.
        involved = select(CheckTarget.check_id).where(
            CheckTarget.organisation_id == organisation_id, visible(actor, CheckTarget)
        )
        query = query.where(
            (CommCheck.organisation_id == organisation_id) | CommCheck.id.in_(involved)
        )
    query = query.order_by(CommCheck.started_at.desc())
    return paginate(session, query, page=page, per_page=per_page)


def get_check(session: Session, *, actor: Actor, check_id: uuid.UUID) -> CommCheck:
    """One check the actor may see."""
    check = session.scalar(select_visible(actor, CommCheck).where(CommCheck.id == check_id))
    if check is None:
        raise NotFound("no such check")
    return check


def visible_targets(session: Session, *, actor: Actor, check: CommCheck) -> list[CheckTarget]:
    """The rows of a check the actor may see: all for its initiator, own rows for others."""
    query = (
        select(CheckTarget)
        .where(CheckTarget.check_id == check.id, visible(actor, CheckTarget))
        .order_by(CheckTarget.country, CheckTarget.organisation_name, CheckTarget.contact_name)
    )
    return list(session.scalars(query))


def summarise(targets: Iterable[CheckTarget], country: str = "") -> CountrySummary:
    """Counts per outcome and the median response time."""
    rows = list(targets)
    times = [t.response_seconds for t in rows if t.response_seconds is not None]
    counts = dict.fromkeys(Outcome, 0)
    for t in rows:
        counts[t.outcome] += 1
    return CountrySummary(
        country=country,
        total=len(rows),
        reached=counts[Outcome.REACHED],
        reached_alternate=counts[Outcome.REACHED_ALTERNATE],
        not_reached=counts[Outcome.NOT_REACHED],
        pending=counts[Outcome.PENDING],
        median_response_seconds=statistics.median(times) if times else None,
    )


def by_country(targets: Iterable[CheckTarget]) -> list[CountrySummary]:
    """One summary per state, in country-code order."""
    groups: dict[str, list[CheckTarget]] = {}
    for t in targets:
        groups.setdefault(t.country, []).append(t)
    return [summarise(rows, country) for country, rows in sorted(groups.items())]


def check_out(session: Session, *, actor: Actor, check: CommCheck) -> CheckOut:
    """The API shape of a check, limited to the rows the actor may see."""
    targets = visible_targets(session, actor=actor, check=check)
    messages = {
        m.id: m
        for m in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.id.in_(
                    [
                        a.outbox_message_id
                        for t in targets
                        for a in t.attempts
                        if a.outbox_message_id
                    ]
                )
            )
        )
    }
    return CheckOut(
        id=check.id,
        title=check.title,
        message=check.message,
        organisation_id=check.organisation_id,
        organisation_name=check.organisation.name,
        status=check.status,
        started_at=check.started_at,
        closes_at=check.closes_at,
        closed_at=check.closed_at,
        escalate_after_minutes=check.escalate_after_minutes,
        schedule_id=check.schedule_id,
        summary=summarise(targets),
        countries=by_country(targets),
        targets=[
            TargetOut(
                id=t.id,
                contact_id=t.contact_id,
                contact_name=t.contact_name,
                organisation_id=t.organisation_id,
                organisation_name=t.organisation_name,
                country=t.country,
                role=t.role,
                outcome=t.outcome,
                acknowledged_at=t.acknowledged_at,
                response_seconds=t.response_seconds,
                escalated_at=t.escalated_at,
                escalation_note=t.escalation_note,
                attempts=[
                    AttemptOut(
                        role=a.role,
                        contact_name=a.contact_name,
                        email=a.email,
                        created_at=a.created_at,
                        sent_at=messages[a.outbox_message_id].sent_at
                        if a.outbox_message_id in messages
                        else None,
                        delivery_error=messages[a.outbox_message_id].last_error
                        if a.outbox_message_id in messages
                        else None,
                        used_at=a.used_at,
                    )
                    for a in t.attempts
                ],
            )
            for t in targets
        ],
    )


def list_item(session: Session, *, actor: Actor, check: CommCheck) -> CheckListItem:
    """A check's line in a list, summarised over the rows the actor may see."""
    return CheckListItem(
        id=check.id,
        title=check.title,
        organisation_name=check.organisation.name,
        status=check.status,
        started_at=check.started_at,
        closes_at=check.closes_at,
        summary=summarise(visible_targets(session, actor=actor, check=check)),
    )


# The worker's side: escalate, close, run schedules


def escalate_due(session: Session, *, settings: Settings, now: datetime | None = None) -> int:
    """Try the alternate of every contact that has not answered in time; return how many."""
    now = now or utcnow()
    query = (
        select(CheckTarget)
        .join(CheckTarget.check)
        .where(
            CommCheck.status == CheckStatus.RUNNING,
            CheckTarget.acknowledged_at.is_(None),
            CheckTarget.escalated_at.is_(None),
        )
    )
    count = 0
    for target in session.scalars(query):
        check = target.check
        if check.started_at + timedelta(minutes=check.escalate_after_minutes) > now:
            continue
        target.escalated_at = now
        contact = session.get(Contact, target.contact_id) if target.contact_id else None
        alternate = contact.alternate if contact is not None else None
        if alternate is None or not alternate.email:
            target.escalation_note = "no alternate with an e-mail address"
            continue
        _send_attempt(session, settings, check, target, alternate, AttemptRole.ALTERNATE)
        target.escalation_note = f"tried alternate {alternate.name}"
        record(
            session,
            actor=SYSTEM,
            action=AuditAction.CHECK_ESCALATED,
            object_type="check",
            object_id=check.id,
            object_org_id=check.organisation_id,
            details={"target": str(target.id), "alternate": alternate.name},
        )
        count += 1
    return count


def close_due(session: Session, *, now: datetime | None = None) -> int:
    """Close checks past their closing time; silence becomes 'not reached'."""
    now = now or utcnow()
    checks = session.scalars(
        select(CommCheck).where(CommCheck.status == CheckStatus.RUNNING, CommCheck.closes_at <= now)
    ).all()
    for check in checks:
        close_check(session, check=check, now=now)
    return len(checks)


def close_check(session: Session, *, check: CommCheck, now: datetime | None = None) -> None:
    """Close one check now."""
    now = now or utcnow()
    check.status = CheckStatus.CLOSED
    check.closed_at = now
    for target in check.targets:
        if target.outcome == Outcome.PENDING:
            target.outcome = Outcome.NOT_REACHED
    record(
        session,
        actor=SYSTEM,
        action=AuditAction.CHECK_CLOSED,
        object_type="check",
        object_id=check.id,
        object_org_id=check.organisation_id,
        details=summarise(check.targets).model_dump(exclude={"country"}),
    )


def close_now(session: Session, *, actor: Actor, check_id: uuid.UUID) -> CommCheck:
    """The initiating organisation ends its check early."""
    check = get_check(session, actor=actor, check_id=check_id)
    actor.require_for_org(Permission.CHECK_READ_ANY, Permission.CHECK_START, check.organisation_id)
    if check.status == CheckStatus.CLOSED:
        raise Conflict("this check is already closed")
    close_check(session, check=check)
    return check
