"""Deliver the outbox: claim a batch under a lease, send, record each outcome.

A worker that dies mid-batch loses nothing: its claims expire and another worker (or the
same one restarted) sends again with the same idempotency key, which for e-mail is the
Message-ID. SMTP cannot make acceptance and our commit one atomic step, so the one message
in flight at the moment of a crash may reach the server twice, with the same Message-ID;
everything else is sent exactly once.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol

from sqlalchemy import or_, select, update

from balai.config import Settings, SmtpSecurity
from balai.db import SessionFactory, transaction, utcnow
from balai.outbox.models import Channel, DeliveryAttempt, DeliveryStatus, OutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """What a transport needs to send one message, detached from the session."""

    id: uuid.UUID
    channel: Channel
    destination: str
    idempotency_key: str
    payload: dict[str, object]


class Sender(Protocol):
    """An open connection to a delivery backend."""

    def send(self, envelope: Envelope) -> None:
        """Deliver one message or raise."""


class Transport(Protocol):
    """A swappable delivery backend."""

    def connect(self) -> AbstractContextManager[Sender]:
        """Open a connection for a batch."""


def build_email(envelope: Envelope, settings: Settings) -> EmailMessage:
    """Turn an outbox envelope into an RFC 5322 message."""
    message = EmailMessage()
    message["From"] = formataddr((settings.instance_name, settings.mail_from))
    message["To"] = envelope.destination
    message["Subject"] = str(envelope.payload.get("subject", ""))
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = envelope.idempotency_key
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(str(envelope.payload.get("text", "")))
    return message


class SmtpSender:
    """One SMTP session over which a batch is sent."""

    def __init__(self, client: smtplib.SMTP, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def send(self, envelope: Envelope) -> None:
        """Send one message; any refusal raises."""
        self._client.send_message(build_email(envelope, self._settings))


class SmtpTransport:
    """Delivers e-mail over SMTP, with STARTTLS or TLS and authentication when configured."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @contextmanager
    def connect(self) -> Iterator[SmtpSender]:
        """Open, authenticate and close an SMTP session."""
        s = self._settings
        client: smtplib.SMTP
        if s.smtp_security == SmtpSecurity.TLS:
            client = smtplib.SMTP_SSL(
                s.smtp_host,
                s.smtp_port,
                timeout=s.smtp_timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        try:
            if s.smtp_security == SmtpSecurity.STARTTLS:
                client.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password:
                client.login(s.smtp_username, s.smtp_password.get_secret_value())
            yield SmtpSender(client, s)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def claim_batch(factory: SessionFactory, *, settings: Settings, worker_id: str) -> list[Envelope]:
    """Claim due messages under a lease, in a transaction of its own."""
    now = utcnow()
    with transaction(factory) as session:
        due = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == DeliveryStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .order_by(OutboxMessage.created_at)
            .limit(settings.outbox_batch_size)
        )
        if not settings.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if not ids:
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                claimed_by=worker_id,
                claimed_until=now + timedelta(seconds=settings.outbox_lease_seconds),
                attempts=OutboxMessage.attempts + 1,
            )
        )
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.created_at)
        ).all()
        return [
            Envelope(r.id, r.channel, r.destination, r.idempotency_key, dict(r.payload))
            for r in rows
        ]


def record_outcome(
    factory: SessionFactory,
    *,
    settings: Settings,
    worker_id: str,
    envelope: Envelope,
    error: str | None,
) -> None:
    """Mark a message sent, or schedule its retry with exponential backoff, or give up."""
    now = utcnow()
    with transaction(factory) as session:
        message = session.get(OutboxMessage, envelope.id)
        if message is None or message.claimed_by != worker_id:
            return  # our lease expired and another worker took it over
        session.add(
            DeliveryAttempt(
                message_id=message.id,
                worker=worker_id,
                started_at=now,
                finished_at=now,
                ok=error is None,
                error=error,
            )
        )
        message.claimed_by = None
        message.claimed_until = None
        if error is None:
            message.status = DeliveryStatus.SENT
            message.sent_at = now
            message.last_error = None
            # The body carries one-time links and codes; once delivered, nobody here needs it.
            message.payload = {
                key: value for key, value in message.payload.items() if key != "text"
            }
        elif message.attempts >= settings.outbox_max_attempts:
            message.status = DeliveryStatus.DEAD
            message.last_error = error
        else:
            delay = settings.outbox_backoff_seconds * 2 ** (message.attempts - 1)
            message.next_attempt_at = now + timedelta(seconds=delay)
            message.last_error = error


def deliver_batch(
    factory: SessionFactory,
    *,
    settings: Settings,
    transport: Transport,
    worker_id: str,
) -> int:
    """Claim and deliver one batch; return how many messages were attempted."""
    batch = claim_batch(factory, settings=settings, worker_id=worker_id)
    if not batch:
        return 0
    _deliver(factory, settings=settings, transport=transport, worker_id=worker_id, batch=batch)
    return len(batch)


def _deliver(
    factory: SessionFactory,
    *,
    settings: Settings,
    transport: Transport,
    worker_id: str,
    batch: Sequence[Envelope],
) -> None:
    remaining = list(batch)
    try:
        with transport.connect() as sender:
            while remaining:
                envelope = remaining[0]
                try:
                    sender.send(envelope)
                except smtplib.SMTPRecipientsRefused as exc:
                    error: str | None = f"recipient refused: {_describe(exc)}"
                except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    error = f"message refused: {_describe(exc)}"
                else:
                    error = None
                record_outcome(
                    factory, settings=settings, worker_id=worker_id, envelope=envelope, error=error
                )
                remaining.pop(0)
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"SMTP server {settings.smtp_host}:{settings.smtp_port}: {_describe(exc)}"
        log.warning(
            "delivery interrupted, %d message(s) will be retried: %s", len(remaining), reason
        )
        for envelope in remaining:
            record_outcome(
                factory, settings=settings, worker_id=worker_id, envelope=envelope, error=reason
            )


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text[:500]
