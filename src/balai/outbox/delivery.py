"""Deliver the outbox: claim a batch under a lease, send, record each outcome.

A worker that dies mid-batch loses nothing: its claims expire and another worker (or the
same one restarted) sends again with the same idempotency key: the Message-ID of an e-mail,
the webhook-id of a webhook. Neither SMTP nor HTTP can make the receiver's acceptance and our
commit one atomic step, so a message in flight at the moment of a crash may reach its
receiver twice, with the same key; everything else is sent exactly once.

One batch may hold both channels. Its e-mail goes out in order over one SMTP session, opened
only if there is e-mail, in a thread of its own; its webhooks go out beside it, a few at a
time (BALAI_WEBHOOK_CONCURRENCY), so that neither an SMTP outage nor a slow or dead receiver
holds the others back. Threads only send; the calling thread records every outcome as it
comes, so the database is used from one thread only, and a sending thread waits until its
outcome is recorded before it sends again, so a crash leaves at most one message per sending
thread delivered but not recorded.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from balai.config import Settings, SmtpSecurity
from balai.db import SessionFactory, transaction, utcnow
from balai.outbox.channels import DeliveryFailed, Envelope, Outcome, Sender, Transport
from balai.outbox.models import Channel, DeliveryAttempt, DeliveryStatus, OutboxMessage
from balai.outbox.webhooks import WebhookTransport

log = logging.getLogger(__name__)

# Payload fields that only the delivery needs: one-time links in an e-mail's text, a
# webhook's body and its sealed signing secret. Once delivered, nobody here needs them.
_DROPPED_WHEN_SENT = frozenset({"text", "body", "secret"})

Report = Callable[[Outcome], bool]  # False: stop sending, the batch is over


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
    final: bool = False,
) -> None:
    """Mark a message sent, or schedule its retry with exponential backoff, or give up.

    `final` gives up at once: the receiver asked to stop, or the destination is refused.
    """
    record_outcomes(
        factory,
        settings=settings,
        worker_id=worker_id,
        outcomes=[Outcome(envelope, error, final=final)],
    )


def record_outcomes(
    factory: SessionFactory, *, settings: Settings, worker_id: str, outcomes: Sequence[Outcome]
) -> None:
    """record_outcome for several messages, in one transaction (one commit for many)."""
    now = utcnow()
    with transaction(factory) as session:
        found = {
            m.id: m
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_([o.envelope.id for o in outcomes]))
            )
        }
        for outcome in outcomes:
            message = found.get(outcome.envelope.id)
            if message is None or message.claimed_by != worker_id:
                continue  # our lease expired and another worker took it over
            _apply(session, settings, worker_id, message, outcome, now)


def _apply(
    session: Session,
    settings: Settings,
    worker_id: str,
    message: OutboxMessage,
    outcome: Outcome,
    now: datetime,
) -> None:
    error = outcome.error
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
        message.payload = {
            key: value for key, value in message.payload.items() if key not in _DROPPED_WHEN_SENT
        }
    elif outcome.final or message.attempts >= settings.outbox_max_attempts:
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
    webhook_transport: Transport | None = None,
) -> int:
    """Claim and deliver one batch; return how many messages were attempted.

    `transport` carries e-mail (SMTP); `webhook_transport` webhooks (WebhookTransport unless
    a test gives another).
    """
    batch = claim_batch(factory, settings=settings, worker_id=worker_id)
    if not batch:
        return 0
    emails = [e for e in batch if e.channel == Channel.EMAIL]
    webhooks = [e for e in batch if e.channel == Channel.WEBHOOK]
    failed = [
        Outcome(e, f"no transport for {e.channel}", final=True)
        for e in batch
        if e.channel not in (Channel.EMAIL, Channel.WEBHOOK)
    ]
    with ExitStack() as connections:
        webhook_sender: Sender | None = None
        if webhooks:
            try:
                webhook_sender = connections.enter_context(
                    (webhook_transport or WebhookTransport(settings)).connect()
                )
            except Exception as exc:  # failing to open must fail these messages, not the worker
                log.exception("cannot open a webhook connection")
                failed += [
                    Outcome(e, f"cannot open a connection: {_describe(exc)}") for e in webhooks
                ]
        for outcome in failed:
            _record(factory, settings=settings, worker_id=worker_id, outcome=outcome)
        ledger = _Ledger()
        threads = (1 if emails else 0) + min(len(webhooks), settings.webhook_concurrency)
        with ThreadPoolExecutor(max(threads, 1), thread_name_prefix="balai-delivery") as pool:
            if emails:
                pool.submit(_send_emails, transport, emails, settings, ledger.report)
            if webhook_sender is not None:
                for envelope in webhooks:
                    pool.submit(_send_one, webhook_sender, envelope, ledger.report)
            try:
                left = len(batch) - len(failed)
                while left > 0:
                    # Whatever has come in by now is recorded in one transaction: one commit
                    # for several messages, while each sender still waits for its own.
                    taken = ledger.take_all()
                    try:
                        _record_all(
                            factory,
                            settings=settings,
                            worker_id=worker_id,
                            outcomes=[outcome for outcome, _ in taken],
                        )
                    finally:
                        for _, recorded in taken:
                            recorded.set()
                    left -= len(taken)
            finally:
                # Done, or outcomes can no longer be recorded (the database is gone): either
                # way nothing more is sent, so that little is sent again after the lease.
                ledger.close()
                pool.shutdown(wait=False, cancel_futures=True)
    return len(batch)


class _Ledger:
    """Carries outcomes from the sending threads to the calling thread, which records them.

    A sender waits until its outcome is recorded before it sends again, so a crash leaves at
    most one message per sending thread delivered but not recorded: that message, and only
    that one, goes out again after the lease, with the same idempotency key.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Outcome, threading.Event]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False

    def report(self, outcome: Outcome) -> bool:
        """Hand over an outcome and wait until it is recorded; False means send no more."""
        recorded = threading.Event()
        with self._lock:
            if self._closed:
                return False
            self._queue.put((outcome, recorded))
        recorded.wait()
        return not self._closed

    def take_all(self) -> list[tuple[Outcome, threading.Event]]:
        """The next outcome (waiting for it) and every other one already handed over."""
        taken = [self._queue.get()]
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken

    def close(self) -> None:
        """Take no more outcomes, and release the senders still waiting."""
        with self._lock:
            self._closed = True
        while True:
            try:
                _, recorded = self._queue.get_nowait()
            except queue.Empty:
                return
            recorded.set()


def _record(
    factory: SessionFactory, *, settings: Settings, worker_id: str, outcome: Outcome
) -> None:
    _record_all(factory, settings=settings, worker_id=worker_id, outcomes=[outcome])


def _record_all(
    factory: SessionFactory, *, settings: Settings, worker_id: str, outcomes: list[Outcome]
) -> None:
    for outcome in outcomes:
        envelope = outcome.envelope
        if outcome.error is not None:
            log.log(
                logging.WARNING if outcome.final else logging.INFO,
                "%s %s not delivered%s: %s",
                envelope.channel.value,
                envelope.idempotency_key,
                ", giving up" if outcome.final else ", will retry",
                outcome.error,
            )
    record_outcomes(factory, settings=settings, worker_id=worker_id, outcomes=outcomes)


def _send_one(sender: Sender, envelope: Envelope, report: Report) -> None:
    """Send one message and report how it went; never raises."""
    try:
        sender.send(envelope)
    except DeliveryFailed as exc:
        report(Outcome(envelope, exc.reason, final=exc.final))
    except Exception as exc:  # a bug must cost one retry, not the batch
        log.exception("sending %s failed unexpectedly", envelope.idempotency_key)
        report(Outcome(envelope, f"internal error: {_describe(exc)}"))
    else:
        report(Outcome(envelope))


def _send_emails(
    transport: Transport, batch: Sequence[Envelope], settings: Settings, report: Report
) -> None:
    """Send e-mail in order over one SMTP session, reporting each outcome; never raises."""
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
                if not report(Outcome(envelope, error)):
                    return
                remaining.pop(0)
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"SMTP server {settings.smtp_host}:{settings.smtp_port}: {_describe(exc)}"
        log.warning(
            "delivery interrupted, %d message(s) will be retried: %s", len(remaining), reason
        )
        _report_all(report, remaining, reason)
    except Exception as exc:  # a bug must cost one retry, not hang the batch
        log.exception("e-mail delivery failed unexpectedly")
        _report_all(report, remaining, f"internal error: {_describe(exc)}")


def _report_all(report: Report, batch: Sequence[Envelope], error: str) -> None:
    for envelope in batch:
        if not report(Outcome(envelope, error)):
            return


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text[:500]
