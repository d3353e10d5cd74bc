"""On PostgreSQL a commit that queues a message wakes an idle worker at once; without the
notification it would sleep until its next poll, ten minutes away here."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import text

from balai.config import load_settings
from balai.outbox.service import enqueue_email
from balai.outbox.wakeup import CHANNEL
from tests.conftest import SECRET
from tests.functional.conftest import Instance

pytestmark = pytest.mark.skipif(
    os.environ.get("BALAI_TEST_DB", "sqlite") != "postgresql",
    reason="SQLite has no notification channel: its worker polls",
)


def test_a_commit_wakes_an_idle_worker(instance: Instance) -> None:
    worker = instance.worker(BALAI_WORKER_POLL_SECONDS="600")
    settings = load_settings(database_url=instance.database_url, secret_key=SECRET)
    # Idle: the worker has made its first round and is listening.
    query = text("SELECT count(*) FROM pg_stat_activity WHERE query = :q")
    deadline = time.monotonic() + 30
    while True:
        with instance.engine.connect() as conn:  # a new snapshot of the statistics each time
            if conn.execute(query, {"q": f"LISTEN {CHANNEL}"}).scalar():
                break
        assert time.monotonic() < deadline, "the worker never listened"
        time.sleep(0.1)
    with instance.factory() as session:
        enqueue_email(session, settings=settings, to="duty@example.org", subject="s", text="t")
        session.commit()
    # Well inside the ten-minute poll: only the notification can have woken it.
    [message] = instance.sink.wait_for(1, timeout=30)
    assert message.to == ["duty@example.org"]
    assert worker.poll() is None
