"""What every delivery channel shares: the envelope it sends, its protocols, its failures."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from balai.outbox.models import Channel


@dataclass(frozen=True)
class Envelope:
    """What a transport needs to send one message, detached from the session."""

    id: uuid.UUID
    channel: Channel
    destination: str
    idempotency_key: str
    payload: dict[str, object]


class Sender(Protocol):
    """An open connection to a delivery backend."""

    def send(self, envelope: Envelope) -> None:
        """Deliver one message or raise."""


class Transport(Protocol):
    """A swappable delivery backend."""

    def connect(self) -> AbstractContextManager[Sender]:
        """Open a connection for a batch."""


class DeliveryFailed(Exception):
    """One message was not delivered: why, in words safe to store and show.

    `final` means that trying again cannot help (the receiver asked us to stop, or the
    destination is refused), so the message is dead at once instead of retried.
    """

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


@dataclass(frozen=True)
class Outcome:
    """How one try at one message ended: error None means delivered."""

    envelope: Envelope
    error: str | None = None
    final: bool = False
