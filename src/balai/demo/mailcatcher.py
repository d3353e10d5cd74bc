"""The demo's mail catcher: a real SMTP server on loopback that files mail in a Maildir."""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.box = mailbox.Maildir(directory, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=default)
        self.box.add(message)
        return "250 Message accepted for delivery"


class MailCatcher:
    """Runs aiosmtpd in a thread; every message lands in the Maildir the demo mailbox shows."""

    def __init__(self, directory: Path, *, port: int, host: str = "127.0.0.1") -> None:
        self.controller = Controller(_MaildirHandler(directory), hostname=host, port=port)

    def start(self) -> None:
        """Start listening."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()
