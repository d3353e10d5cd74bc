"""Waking the worker when something is queued, instead of waiting for its next poll.

On PostgreSQL a queued message sends `NOTIFY balai_outbox` in the transaction that queues it:
PostgreSQL delivers a notification only when that transaction commits, and delivers one per
transaction however many messages it queued, so the worker wakes for exactly the changes that
happened. An idle worker LISTENs between polls. SQLite has no such channel: there the worker
polls every BALAI_WORKER_POLL_SECONDS. Polling stays on PostgreSQL too, as the safety net for
a lost connection and for retries that come due.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

CHANNEL = "balai_outbox"
STOP_CHECK_SECONDS = 1.0
log = logging.getLogger(__name__)


def notify(session: Session) -> None:
    """Ask for the worker to be woken when the caller's transaction commits (PostgreSQL)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    root = session.get_transaction()
    if root is not None and session.info.get("outbox_notified") is root:
        return  # one per transaction is enough: PostgreSQL folds them into one anyway
    session.execute(text(f"NOTIFY {CHANNEL}"))
    session.info["outbox_notified"] = root


class Listener:
    """An idle worker's wait: wakes on a notification, or after the poll interval."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    @property
    def available(self) -> bool:
        """Whether the database can wake the worker."""
        return self._url.startswith("postgresql")

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        url = make_url(self._url).set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Return on a notification, on `stop`, or after `seconds`."""
        if not self.available:
            stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # In slices, so that a stop is noticed within a second.
                for _ in self._conn.notifies(timeout=min(left, STOP_CHECK_SECONDS), stop_after=1):
                    return
        except psycopg.Error as exc:
            log.warning("cannot listen for queued messages (%s); polling instead", exc)
            self.close()
            stop.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Let go of the connection."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
