"""Delivering the outbox over real SMTP: success, retries with backoff, refusals, leases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from balai.config import Settings
from balai.db import utcnow
from balai.outbox.delivery import SmtpTransport, claim_batch, deliver_batch
from balai.outbox.models import DeliveryAttempt, DeliveryStatus, OutboxMessage
from balai.outbox.service import enqueue_email
from tests.conftest import session_on
from tests.smtp import SmtpSink, free_port


def _queue(db: Session, settings: Settings, *addresses: str) -> list[OutboxMessage]:
    messages = [
        enqueue_email(db, settings=settings, to=a, subject=f"Hello {a}", text=f"Body for {a}")
        for a in addresses
    ]
    db.commit()
    return messages


def _deliver(connection: Connection, settings: Settings) -> int:
    return deliver_batch(
        lambda: session_on(connection),
        settings=settings,
        transport=SmtpTransport(settings),
        worker_id="test-worker",
    )


def test_queued_mail_arrives_once_with_its_idempotency_key_as_message_id(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink
) -> None:
    queued = _queue(db, settings, "a@example.org", "b@example.org")
    assert _deliver(connection, settings) == 2
    received = mail.all()
    assert [m.to for m in received] == [["a@example.org"], ["b@example.org"]]
    assert {m.message_id for m in received} == {q.idempotency_key for q in queued}
    assert received[0].message["Auto-Submitted"] == "auto-generated"
    assert "Body for a@example.org" in received[0].body
    for message in queued:
        db.refresh(message)
        assert message.status == DeliveryStatus.SENT
        assert message.sent_at is not None
        assert message.claimed_by is None
        assert "text" not in message.payload  # one-time links do not outlive delivery
        assert message.payload["subject"].startswith("Hello")
    assert _deliver(connection, settings) == 0  # nothing is sent twice
    assert mail.deliveries == 2


def test_mail_of_a_rolled_back_change_never_leaves(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink
) -> None:
    nested = db.begin_nested()
    enqueue_email(db, settings=settings, to="ghost@example.org", subject="x", text="y")
    nested.rollback()
    assert _deliver(connection, settings) == 0
    assert mail.all() == []


def test_an_unreachable_server_means_retry_with_exponential_backoff_then_dead(
    connection: Connection, db: Session, settings: Settings
) -> None:
    down = settings.model_copy(update={"smtp_port": free_port(), "outbox_max_attempts": 3})
    (message,) = _queue(db, down, "a@example.org")
    delays = []
    for attempt in range(1, 4):
        before = utcnow()
        assert _deliver(connection, down) == 1
        db.refresh(message)
        assert message.attempts == attempt
        assert f"SMTP server 127.0.0.1:{down.smtp_port}" in (message.last_error or "")
        if attempt < 3:
            assert message.status == DeliveryStatus.PENDING
            delays.append((message.next_attempt_at - before).total_seconds())
            message.next_attempt_at = utcnow()  # skip the wait
            db.commit()
    assert message.status == DeliveryStatus.DEAD
    assert delays[1] >= 2 * delays[0] * 0.9  # doubles each time
    attempts = db.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.message_id == message.id)
    ).all()
    assert [a.ok for a in attempts] == [False, False, False]


def test_a_refused_recipient_fails_alone_and_the_rest_of_the_batch_is_sent(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink
) -> None:
    good, bad, other = _queue(db, settings, "a@example.org", "refuse@example.org", "c@example.org")
    assert _deliver(connection, settings) == 3
    for message in (good, bad, other):
        db.refresh(message)
    assert [m.to for m in mail.all()] == [["a@example.org"], ["c@example.org"]]
    assert good.status == other.status == DeliveryStatus.SENT
    assert bad.status == DeliveryStatus.PENDING
    assert "recipient refused" in (bad.last_error or "")


def test_a_claimed_message_is_not_taken_by_another_worker_until_its_lease_expires(
    connection: Connection, db: Session, settings: Settings
) -> None:
    (message,) = _queue(db, settings, "a@example.org")
    factory = lambda: session_on(connection)  # noqa: E731  # a one-line session factory
    first = claim_batch(factory, settings=settings, worker_id="one")
    assert [e.id for e in first] == [message.id]
    assert claim_batch(factory, settings=settings, worker_id="two") == []
    db.refresh(message)
    message.claimed_until = utcnow() - timedelta(seconds=1)  # the first worker died
    db.commit()
    second = claim_batch(factory, settings=settings, worker_id="two")
    assert [e.id for e in second] == [message.id]
    db.refresh(message)
    assert message.claimed_by == "two"
    assert message.attempts == 2
