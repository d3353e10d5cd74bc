"""A worker killed in the middle of an alert's fan-out: after a restart, every subscriber's
webhook receiver and the SMTP server each hold every alert exactly once (by webhook-id and
Message-ID), and every call is signed with its subscriber's own secret.

Slow on purpose (about 10 s): it waits for a real lease to expire after a real SIGKILL.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from balai.accounts.models import Role, User
from balai.alerts.models import Alert
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import load_settings
from balai.db import transaction
from balai.incidents.schemas import IncidentIn
from balai.incidents.service import report
from balai.outbox.models import DeliveryStatus, OutboxMessage
from tests.conftest import SECRET, Databases
from tests.factories import actor_for, make_org, make_user
from tests.functional.conftest import Instance, close_instance, new_instance, wait_until
from tests.incidents.helpers import RANSOMWARE
from tests.webhooks import WebhookReceiver

SUBSCRIBERS = 30  # each with an e-mail address and a webhook: 60 messages for one incident
HELD_AT = 12
LOOPBACK = {"BALAI_WEBHOOK_ALLOW_HTTP": "true", "BALAI_WEBHOOK_ALLOW_PRIVATE": "true"}


@pytest.fixture
def live(databases: Databases) -> Iterator[Instance]:
    """An instance of its own (the kill must not disturb other tests' processes)."""
    instance = new_instance(databases, "fanout")
    instance.settings.update(LOOPBACK)
    try:
        yield instance
    finally:
        close_instance(instance)


def test_a_killed_worker_mid_fan_out_delivers_every_alert_exactly_once(live: Instance) -> None:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        _run(live, receiver)
    finally:
        receiver.stop()


def _run(live: Instance, receiver: WebhookReceiver) -> None:
    settings = load_settings(
        database_url=live.database_url,
        secret_key=SECRET,
        webhook_allow_http=True,
        webhook_allow_private=True,
    )
    secrets: dict[str, str] = {}
    with transaction(live.factory) as db:
        reporter = make_user(db, make_org(db, name="ThaiCERT", country="TH"), role=Role.ANALYST)
        for n in range(SUBSCRIBERS):
            member = make_user(db, make_org(db, name=f"Member {n}", country="MY"))
            _, secret = subscribe(
                db,
                actor=actor_for(member),
                settings=settings,
                data=SubscriptionIn(
                    name="All incidents",
                    email=f"soc{n}@member.example",
                    webhook_url=receiver.url(f"/member/{n}"),
                ),
            )
            assert secret is not None
            secrets[f"/member/{n}"] = secret
        reporter_id = reporter.id
    with transaction(live.factory) as db:
        author = db.get(User, reporter_id)
        assert author is not None
        report(
            db,
            actor=actor_for(author),
            settings=settings,
            data=IncidentIn.model_validate(RANSOMWARE),
        )
    with live.factory() as db:
        keys = set(db.scalars(select(OutboxMessage.idempotency_key)))
        assert db.scalar(select(func.count()).select_from(Alert)) == SUBSCRIBERS
    assert len(keys) == 2 * SUBSCRIBERS

    live.sink.stall_at = HELD_AT
    receiver.hold_after = HELD_AT
    env = {**LOOPBACK, "BALAI_OUTBOX_BATCH_SIZE": "20", "BALAI_WEBHOOK_CONCURRENCY": "4"}
    worker = live.worker(**env)
    wait_until(
        lambda: live.sink.deliveries >= HELD_AT and receiver.deliveries >= HELD_AT,
        "the worker to be held mid fan-out",
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    with live.factory() as db:
        sent_at_kill = db.scalar(
            select(func.count()).where(OutboxMessage.status == DeliveryStatus.SENT)
        )
    assert 0 < (sent_at_kill or 0) < 2 * SUBSCRIBERS  # killed in the middle of the fan-out
    live.sink.stall_at = None
    receiver.release()

    live.worker(**env)

    def delivered() -> bool:
        with live.factory() as db:
            query = select(func.count()).where(OutboxMessage.status == DeliveryStatus.SENT)
            return db.scalar(query) == 2 * SUBSCRIBERS

    wait_until(delivered, "every alert to be delivered after the restart")

    mails = {m.message_id for m in live.sink.all()}
    calls = receiver.stored
    assert mails | set(calls) == keys  # every alert, on both channels
    assert len(live.sink.all()) == SUBSCRIBERS  # each e-mail stored once, by its Message-ID
    assert len(calls) == SUBSCRIBERS  # each call stored once, by its webhook-id
    for call in calls.values():
        envelope = Webhook(secrets[call.path]).verify(call.body, call.headers)
        assert envelope["type"] == "incident.reported"
        assert envelope["data"]["incident"]["title"] == RANSOMWARE["title"]
    # Only what was in flight at the kill may have gone twice on the wire.
    assert receiver.duplicates <= 4
    assert live.sink.duplicates <= 1
