"""A worker killed in the middle of a batch loses nothing and sends nothing twice.

Slow on purpose (about 10 s): it waits for a real lease to expire after a real SIGKILL.
"""

from __future__ import annotations

import signal
import time

from sqlalchemy import func, select

from balai.config import load_settings
from balai.outbox.models import DeliveryStatus, OutboxMessage
from balai.outbox.service import enqueue_email
from tests.conftest import SECRET
from tests.functional.conftest import Instance

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
