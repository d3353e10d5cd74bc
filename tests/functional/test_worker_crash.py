"""A worker killed in the middle of a batch loses nothing and sends nothing twice.

Slow on purpose (about 10 s each): they wait for a real lease to expire after a real SIGKILL.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

from sqlalchemy import func, select

from balai.config import Settings, load_settings
from balai.outbox.models import DeliveryStatus, OutboxMessage
from balai.outbox.service import enqueue_email, enqueue_webhook
from balai.outbox.webhooks import new_webhook_secret, seal_webhook_secret
from tests.conftest import SECRET
from tests.functional.conftest import Instance
from tests.webhooks import WebhookReceiver

MESSAGES = 30
STALL_AT = 7  # the worker is killed while the 7th message waits for the server's "250"


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]  # a zero-argument callable
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_restarts_and_every_message_arrives_exactly_once(
    instance: Instance,
) -> None:
    settings = load_settings(database_url=instance.database_url, secret_key=SECRET)
    with instance.factory() as session:
        keys = {
            enqueue_email(
                session,
                settings=settings,
                to=f"poc{n}@example.org",
                subject=f"Check {n}",
                text=f"message {n}",
            ).idempotency_key
            for n in range(MESSAGES)
        }
        session.commit()
    sink = instance.sink
    sink.stall_at = STALL_AT

    worker = instance.worker(BALAI_OUTBOX_BATCH_SIZE="10")
    _wait(lambda: sink.deliveries >= STALL_AT, 30, "the worker to reach the stalled message")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    sink.stall_at = None

    with instance.factory() as session:
        sent_before = session.scalar(
            select(func.count()).where(OutboxMessage.status == DeliveryStatus.SENT)
        )
    assert sent_before == STALL_AT - 1  # the first six were recorded; the seventh is in doubt

    instance.worker(BALAI_OUTBOX_BATCH_SIZE="10")

    def all_sent() -> bool:
        with instance.factory() as session:
            pending = session.scalar(
                select(func.count()).where(OutboxMessage.status != DeliveryStatus.SENT)
            )
        return pending == 0

    _wait(all_sent, 60, "every message to be sent after the restart")

    stored = {m.message_id for m in sink.all()}
    assert stored == keys  # every message arrived
    assert len(sink.all()) == MESSAGES  # and is stored once, by its Message-ID
    # Only the message in flight at the kill reached the server twice; nothing else did.
    assert sink.duplicates == 1
    assert sink.deliveries == MESSAGES + 1
    with instance.factory() as session:
        retried = session.scalar(select(func.count()).where(OutboxMessage.attempts > 1))
    # The killed worker had claimed a batch of ten: the six it recorded as sent are never
    # retried; the rest of its batch was taken over once the lease expired.
    assert retried == 10 - (STALL_AT - 1)


PAIRS = 60  # webhooks and as many e-mails, alternating, so each batch of 20 holds ten of each
CONCURRENCY = 4
HELD_AT = 25  # the 25th webhook call and the 25th e-mail are in flight when the worker dies


def test_killed_worker_mid_fan_out_delivers_every_webhook_and_mail_exactly_once(
    instance: Instance,
) -> None:
    """Slow on purpose (about 10 s), like the test above: a real lease after a real SIGKILL."""
    settings = load_settings(database_url=instance.database_url, secret_key=SECRET)
    receiver = WebhookReceiver()
    receiver.start()
    try:
        _kill_mid_fan_out_and_restart(instance, settings, receiver)
    finally:
        receiver.stop()


def _kill_mid_fan_out_and_restart(
    instance: Instance, settings: Settings, receiver: WebhookReceiver
) -> None:
    hooks: set[str] = set()
    mails: set[str] = set()
    with instance.factory() as session:
        for n in range(PAIRS):
            hooks.add(
                enqueue_webhook(
                    session,
                    settings=settings,
                    url=receiver.url(f"/alerts/{n}"),
                    event="alert.created",
                    body={"n": n},
                    secret_sealed=seal_webhook_secret(settings, new_webhook_secret()),
                ).idempotency_key
            )
            session.flush()  # one created_at each, so batches alternate the two channels
            mails.add(
                enqueue_email(
                    session, settings=settings, to=f"poc{n}@example.org", subject="s", text="t"
                ).idempotency_key
            )
            session.flush()
        session.commit()
    sink = instance.sink
    sink.stall_at = HELD_AT
    receiver.hold_after = HELD_AT
    env = {
        "BALAI_OUTBOX_BATCH_SIZE": "20",
        "BALAI_WEBHOOK_CONCURRENCY": str(CONCURRENCY),
        "BALAI_WEBHOOK_ALLOW_HTTP": "true",
        "BALAI_WEBHOOK_ALLOW_PRIVATE": "true",
    }

    def sent() -> int:
        with instance.factory() as session:
            query = select(func.count()).where(OutboxMessage.status == DeliveryStatus.SENT)
            return session.scalar(query) or 0

    worker = instance.worker(**env)
    # The third batch: 24 calls and 24 e-mails answered and recorded; the 25th e-mail waits for
    # its "250" and four calls (one per sending thread) wait for their answer. Nothing moves.
    _wait(
        lambda: (
            sink.deliveries == HELD_AT
            and receiver.deliveries == HELD_AT - 1 + CONCURRENCY
            and sent() == 2 * (HELD_AT - 1)
        ),
        30,
        "the worker to stop mid fan-out",
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    in_flight = {c.id for c in receiver.calls[HELD_AT - 1 :]}
    assert len(in_flight) == CONCURRENCY
    with instance.factory() as session:
        recorded = set(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.status == DeliveryStatus.SENT
                )
            )
        )
    assert in_flight.isdisjoint(recorded)
    sink.stall_at = None
    receiver.release()

    instance.worker(**env)
    _wait(lambda: sent() == 2 * PAIRS, 60, "every message to be sent after the restart")

    assert set(receiver.stored) == hooks  # every call arrived, stored once by webhook-id
    assert {m.message_id for m in sink.all()} == mails  # every e-mail, once by Message-ID
    assert len(sink.all()) == PAIRS
    # On the wire, only what was in flight at the kill went twice: one call per sending
    # thread and the one e-mail; nothing that had been recorded as sent.
    accepted = Counter(c.id for c in receiver.calls if c.status == 200)
    assert {key for key, times in accepted.items() if times > 1} == in_flight
    assert receiver.duplicates == CONCURRENCY
    assert sink.duplicates == 1
    assert sink.deliveries == PAIRS + 1
    with instance.factory() as session:
        retried = session.scalar(select(func.count()).where(OutboxMessage.attempts > 1))
    # The killed worker's third batch (ten of each): what it had not recorded was taken over.
    assert retried == 20 - 2 * (HELD_AT - 1 - 20)
