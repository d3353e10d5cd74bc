"""Acknowledging alerts, escalating those nobody acknowledges, and sending digests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM, Actor, Via
from balai.accounts.auth import failures_since, note_failure
from balai.accounts.models import Role, User
from balai.alerts import fanout
from balai.alerts.models import Alert, AlertToken, Mode, Reason, Subscription
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import ChannelKind, Contact
from balai.incidents.coordination import party_of, set_party_status
from balai.incidents.models import EntryKind, IncidentStatus, PartyStatus
from balai.incidents.service import note
from balai.mail import render_mail
from balai.outbox.service import enqueue_email, enqueue_webhook
from balai.tokens import hash_token

ALTERNATE, ADMINS = 1, 2


class AckStatus(StrEnum):
    """How an acknowledgement went."""

    OK = "ok"
    ALREADY = "already"
    INVALID = "invalid"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class AckResult:
    """The outcome of an acknowledgement, and the alert it concerned."""

    status: AckStatus
    alert: Alert | None = None


def find(session: Session, *, token: str) -> tuple[Alert, AlertToken] | None:
    """The alert a link's token names (the token is the credential: no log-in needed)."""
    row = session.get(AlertToken, hash_token(token))
    if row is None:
        return None
    alert = session.get(Alert, row.alert_id)
    return (alert, row) if alert is not None else None


def acknowledge(
    session: Session,
    *,
    settings: Settings,
    token: str,
    client_ip: str | None = None,
    by: str | None = None,
) -> AckResult:
    """Record that the recipient saw the alert. For an invitation, the organisation's party
    status becomes 'acknowledged' (unless it has already answered)."""
    key = f"alert-ack:{client_ip or 'unknown'}"
    window = utcnow() - timedelta(minutes=settings.login_window_minutes)
    if failures_since(session, key, window) >= settings.login_max_failures_per_ip:
        return AckResult(AckStatus.THROTTLED)
    found = find(session, token=token)
    anonymous = Actor(via=Via.SYSTEM, client_ip=client_ip)
    if found is None:
        note_failure(session, key)
        record(
            session,
            actor=anonymous,
            action=AuditAction.ALERT_ACK_FAILED,
            actor_label="alert acknowledgement",
        )
        return AckResult(AckStatus.INVALID)
    alert, row = found
    if alert.acknowledged_at is not None:
        return AckResult(AckStatus.ALREADY, alert)
    now = utcnow()
    row.used_at = now
    alert.acknowledged_at = now
    alert.acknowledged_by = by or row.sent_to
    label = f"{alert.acknowledged_by} ({alert.recipient.name})"
    if alert.reason == Reason.INVITATION:
        party = party_of(session, incident=alert.incident, organisation_id=alert.recipient_org_id)
        if party is not None and party.status in (PartyStatus.NOTIFIED, PartyStatus.NO_RESPONSE):
            set_party_status(
                session,
                actor=Actor.recipient(alert.recipient_org_id),
                incident=alert.incident,
                party=party,
                status=PartyStatus.ACKNOWLEDGED,
                note_text="Acknowledged the alert.",
                label=label,
                at=now,
            )
    record(
        session,
        actor=anonymous,
        action=AuditAction.ALERT_ACKNOWLEDGED,
        actor_label=label,
        object_type="incident",
        object_id=alert.incident_id,
        object_org_id=alert.recipient_org_id,
        details={"alert": str(alert.id), "level": row.level},
    )
    return AckResult(AckStatus.OK, alert)


def _admins(session: Session, alert: Alert) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(
                User.organisation_id == alert.recipient_org_id,
                User.role == Role.ORG_ADMIN,
                User.active.is_(True),
            )
            .order_by(User.email)
        )
    )


def escalate_due(session: Session, *, settings: Settings, now: datetime | None = None) -> int:
    """Send unacknowledged alerts on: to the alternate contact, then to the organisation's
    admins, each after BALAI_ALERT_ESCALATE_MINUTES. Returns how many were sent on."""
    now = now or utcnow()
    wait = timedelta(minutes=settings.alert_escalate_minutes)
    # Workers run this job side by side: on PostgreSQL each takes the rows it escalates and
    # skips those another holds, so no alert is escalated twice (SQLite runs one at a time).
    waiting = session.scalars(
        select(Alert)
        .where(
            Alert.acknowledged_at.is_(None),
            Alert.digest_pending.is_(False),
            Alert.escalation_level < ADMINS,
            Alert.created_at <= now - wait,
        )
        .with_for_update(skip_locked=True, of=Alert)
    ).all()
    count = 0
    for alert in waiting:
        if alert.incident.status == IncidentStatus.CLOSED:
            continue
        if alert.escalated_at is not None and alert.escalated_at > now - wait:
            continue
        if alert.subscription is not None and alert.subscription.mode == Mode.DIGEST:
            continue
        if not fanout.Audience(session, alert.incident).sees(alert.recipient_org_id):
            # The marking was narrowed since: the alert goes no further, to nobody.
            alert.escalation_level = ADMINS
            alert.escalation_note = "not sent on: the incident is no longer shared with you"
            continue
        count += _escalate(session, settings, alert, now)
    return count


def _escalate(session: Session, settings: Settings, alert: Alert, now: datetime) -> int:
    level = alert.escalation_level + 1
    alert.escalation_level = level
    alert.escalated_at = now
    sent: list[str] = []
    if level == ALTERNATE:
        contact = (
            session.get(Contact, alert.contact_id)
            if alert.contact_id
            else _by_address(session, alert)
        )
        alternate = contact.alternate if contact is not None else None
        if alternate is not None and alternate.email:
            fanout.send_email(
                session,
                settings=settings,
                alert=alert,
                to=alternate.email,
                level=level,
                name=alternate.name,
            )
            sent.append(alternate.email)
            alert.escalation_note = f"sent to the alternate contact, {alternate.name}"
        else:
            alert.escalation_note = "no alternate contact with an e-mail address"
    else:
        for admin in _admins(session, alert):
            fanout.send_email(
                session,
                settings=settings,
                alert=alert,
                to=admin.email,
                level=level,
                name=admin.name,
            )
            sent.append(admin.email)
        alert.escalation_note = (
            f"sent to {len(sent)} administrator(s) of {alert.recipient.name}"
            if sent
            else f"{alert.recipient.name} has no active administrator"
        )
    if alert.reason == Reason.INVITATION:
        whom = "its alternate contact" if level == ALTERNATE else "its administrators"
        note(
            session,
            alert.incident,
            actor=SYSTEM,
            kind=EntryKind.PARTY_SILENT,
            text=f"The alert to {alert.recipient.name} was not acknowledged: "
            + (f"sent on to {whom}." if sent else f"{alert.escalation_note}."),
            details={"organisation_id": str(alert.recipient_org_id), "level": level},
            at=now,
            label="Balai",
        )
    record(
        session,
        actor=SYSTEM,
        action=AuditAction.ALERT_ESCALATED,
        object_type="incident",
        object_id=alert.incident_id,
        object_org_id=alert.recipient_org_id,
        details={"alert": str(alert.id), "level": level, "recipients": len(sent)},
    )
    return 1


def _by_address(session: Session, alert: Alert) -> Contact | None:
    """The directory contact of the recipient organisation with the alert's address."""
    for contact in session.scalars(
        select(Contact).where(Contact.organisation_id == alert.recipient_org_id)
    ):
        if alert.email and alert.email.lower() in (
            e.lower() for e in contact.channel_values(ChannelKind.EMAIL)
        ):
            return contact
    return None


def send_digests(session: Session, *, settings: Settings, now: datetime | None = None) -> int:
    """Send each digest subscription's gathered alerts when its period is up; an incident
    its owner may no longer see is left out. Returns how many digests were sent."""
    now = now or utcnow()
    sent = 0
    for sub in session.scalars(
        select(Subscription)
        .where(Subscription.mode == Mode.DIGEST, Subscription.active.is_(True))
        .with_for_update(skip_locked=True, of=Subscription)  # one worker sends each digest
    ):
        if (
            sub.last_digest_at is not None
            and sub.last_digest_at + timedelta(hours=sub.digest_hours) > now
        ):
            continue
        pending = session.scalars(
            select(Alert)
            .where(Alert.subscription_id == sub.id, Alert.digest_pending.is_(True))
            .order_by(Alert.created_at)
        ).all()
        if not pending:
            continue
        kept = []
        for alert in pending:
            alert.digest_pending = False
            if fanout.Audience(session, alert.incident).sees(sub.owner_org_id):
                kept.append(alert)
            else:
                alert.escalation_note = "left out of the digest: no longer shared with you"
        sub.last_digest_at = now
        if not kept:
            continue
        _send_digest(session, settings, sub, kept)
        sent += 1
    return sent


def _send_digest(
    session: Session, settings: Settings, sub: Subscription, alerts: list[Alert]
) -> None:
    links = {}
    for alert in alerts:
        token = fanout.new_token_for(session, alert, 0, sub.email or sub.webhook_url or "")
        links[alert.id] = token
    if sub.email:
        subject, text = render_mail(
            "alerts/mail/digest.txt",
            settings=settings,
            sub=sub,
            alerts=alerts,
            links={k: f"{settings.base_url}/alerts/ack/{v}" for k, v in links.items()},
        )
        enqueue_email(
            session,
            settings=settings,
            to=sub.email,
            subject=subject,
            text=text,
            subject_type="alert_digest",
            subject_id=sub.id,
        )
    if sub.webhook_url and sub.webhook_secret_sealed:
        enqueue_webhook(
            session,
            settings=settings,
            url=sub.webhook_url,
            event="incident.digest",
            body={
                "subscription": sub.name,
                "alerts": [
                    fanout.alert_body(session, settings=settings, alert=a, token=links[a.id])
                    for a in alerts
                ],
            },
            secret_sealed=sub.webhook_secret_sealed,
            subject_type="alert_digest",
            subject_id=sub.id,
        )
