"""A real SMTP server for tests: aiosmtpd on loopback, recording every message it accepts.

It honours the idempotency key the way design.md asks of a receiver: a message whose
Message-ID it has already stored is accepted again but stored once (`duplicates` counts
those), so tests can assert both "every message arrived" and "stored exactly once".
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One stored message."""

    message_id: str
    to: list[str]
    subject: str
    body: str
    message: EmailMessage


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        count = self.sink.record(message, list(envelope.rcpt_tos))
        if self.sink.stall_at is not None and count == self.sink.stall_at:
            # Hold this message's "250" back: the sender is now mid-delivery, for as long
            # as a test needs to kill it there.
            await asyncio.sleep(self.sink.stall_seconds)
        return "250 OK"


class SmtpSink:
    """aiosmtpd in a thread; messages stored by Message-ID."""

    def __init__(self) -> None:
        self.port = free_port()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._lock = threading.Lock()
        self.messages: dict[str, Received] = {}
        self.order: list[str] = []
        self.deliveries = 0
        self.duplicates = 0
        self.stall_at: int | None = None
        self.stall_seconds = 60.0

    def start(self) -> None:
        """Listen."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self.messages.clear()
            self.order.clear()
            self.deliveries = 0
            self.duplicates = 0
            self.stall_at = None

    def record(self, message: EmailMessage, rcpt: list[str]) -> int:
        """Store a message once per Message-ID; return how many deliveries came so far."""
        key = str(message["Message-ID"])
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        with self._lock:
            self.deliveries += 1
            if key in self.messages:
                self.duplicates += 1
            else:
                self.messages[key] = Received(key, rcpt, str(message["Subject"]), text, message)
                self.order.append(key)
            return self.deliveries

    def all(self) -> list[Received]:
        """Stored messages in arrival order."""
        with self._lock:
            return [self.messages[k] for k in self.order]

    def to(self, address: str) -> list[Received]:
        """Stored messages for one recipient."""
        return [m for m in self.all() if address in m.to]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until at least `count` messages are stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.order) >= count:
                return self.all()
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.order)} within {timeout}s")
