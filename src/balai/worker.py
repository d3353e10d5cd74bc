"""The delivery worker: sends the outbox and runs the periodic jobs of every domain."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from balai.config import Settings
from balai.db import SessionFactory, make_engine, make_sessionmaker, transaction
from balai.outbox.channels import Transport
from balai.outbox.delivery import SmtpTransport, deliver_batch
from balai.outbox.wakeup import Listener
from balai.outbox.webhooks import WebhookTransport
from balai.tasks import PERIODIC_JOBS

log = logging.getLogger(__name__)

JOB_INTERVAL_SECONDS = 5.0


def worker_id() -> str:
    """host:pid, unique among live workers."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Delivers the outbox in batches and runs periodic jobs between them."""

    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory | None = None,
        transport: Transport | None = None,
        webhook_transport: Transport | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory or make_sessionmaker(make_engine(settings.database_url))
        self.transport = transport or SmtpTransport(settings)
        self.webhook_transport = webhook_transport or WebhookTransport(settings)
        self.id = worker_id()
        self._last_jobs = 0.0
        self.listener = Listener(settings.database_url)

    def run_jobs(self) -> dict[str, int]:
        """Run each periodic job in its own transaction; one failing does not stop the others."""
        done = {}
        for name, job in PERIODIC_JOBS.items():
            try:
                with transaction(self.factory) as session:
                    done[name] = job(session, self.settings)
            except Exception:
                log.exception("periodic job %s failed; it will run again", name)
        return done

    def run_once(self) -> int:
        """One round: periodic jobs when due, then one outbox batch; returns messages tried."""
        now = time.monotonic()
        if now - self._last_jobs >= JOB_INTERVAL_SECONDS:
            self._last_jobs = now
            self.run_jobs()
        return deliver_batch(
            self.factory,
            settings=self.settings,
            transport=self.transport,
            webhook_transport=self.webhook_transport,
            worker_id=self.id,
        )

    def run(
        self, stop: threading.Event | None = None, on_idle: Callable[[], None] | None = None
    ) -> None:
        """Loop until stopped; sleep only when there was nothing to send."""
        stop = stop or threading.Event()
        log.info("worker %s started", self.id)
        try:
            while not stop.is_set():
                try:
                    sent = self.run_once()
                except Exception:
                    log.exception("worker round failed; retrying after a pause")
                    sent = 0
                if sent == 0:
                    if on_idle is not None:
                        on_idle()
                    # Woken at once by a commit that queued something (PostgreSQL), else
                    # after the poll interval; a stop is noticed within the interval.
                    self.listener.wait(self.settings.worker_poll_seconds, stop)
        finally:
            self.listener.close()
        log.info("worker %s stopped", self.id)
