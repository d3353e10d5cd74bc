"""Helpers of the alert tests: subscriptions in a few words, and the outbox's messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import User
from balai.alerts import service
from balai.alerts.models import Subscription
from balai.alerts.schemas import SubscriptionIn
from balai.config import Settings
from balai.outbox.models import Channel, OutboxMessage
from tests.factories import actor_for


def loopback(settings: Settings) -> Settings:
    """Settings that let webhooks reach a receiver on this machine over http."""
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_allow_http": True})


def subscribe(
    db: Session, user: User, settings: Settings, **fields: Any
) -> tuple[Subscription, str | None]:
    """A subscription of the user (committed)."""
    data = SubscriptionIn.model_validate({"name": "Watch", **fields})
    sub, secret = service.create(db, actor=actor_for(user), settings=settings, data=data)
    db.commit()
    return sub, secret


def messages(db: Session, channel: Channel | None = None) -> list[OutboxMessage]:
    """The outbox's messages about alerts, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.subject_type.in_(["alert", "alert_digest"]))
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    return list(db.scalars(query.order_by(OutboxMessage.created_at)))


def ack_link(text: str) -> str:
    """The acknowledgement token in an alert e-mail."""
    marker = "/alerts/ack/"
    start = text.index(marker) + len(marker)
    return text[start:].split()[0]
