"""Output shape of outbox messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from balai.outbox.models import Channel, DeliveryStatus


class OutboxMessageOut(BaseModel):
    """A message's delivery state, without its body (nor a webhook's signing secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: Channel
    destination: str
    event: str | None
    idempotency_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    subject_type: str | None
    subject_id: str | None
