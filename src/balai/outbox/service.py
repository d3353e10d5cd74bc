"""Queue messages in the caller's transaction, and read delivery state."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.config import Settings
from balai.db import utcnow
from balai.outbox.models import Channel, DeliveryStatus, OutboxMessage
from balai.outbox.wakeup import notify
from balai.outbox.webhooks import compact_json
from balai.pagination import Page, paginate


def message_id_domain(settings: Settings) -> str:
    """The right-hand side of Message-IDs: this instance's host name."""
    return urlsplit(settings.base_url).hostname or "localhost"


def enqueue_email(
    session: Session,
    *,
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    subject_type: str | None = None,
    subject_id: object | None = None,
) -> OutboxMessage:
    """Write an e-mail to the outbox; it leaves only if the caller's transaction commits."""
    key = f"<{uuid.uuid4()}@{message_id_domain(settings)}>"
    message = OutboxMessage(
        id=uuid.uuid4(),
        channel=Channel.EMAIL,
        destination=to,
        idempotency_key=key,
        payload={"subject": subject, "text": text},
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
    )
    session.add(message)
    notify(session)
    return message


def enqueue_webhook(
    session: Session,
    *,
    settings: Settings,
    url: str,
    event: str,
    body: dict[str, Any],
    secret_sealed: str,
    subject_type: str | None = None,
    subject_id: object | None = None,
    idempotency_key: str | None = None,
) -> OutboxMessage:
    """Write a signed webhook call to the outbox; it leaves only if the caller commits.

    The receiver gets `{"type": event, "timestamp": now, "data": body}`, signed with the
    secret in `secret_sealed` (from seal_webhook_secret); the idempotency key is the call's
    webhook-id, `msg_` and a random UUID unless given. The URL is checked when the call is
    made, not here, so that one refused subscriber cannot stop the caller's change.
    """
    key = idempotency_key or f"msg_{uuid.uuid4().hex}"
    if not 0 < len(key) <= 200 or not key.isprintable() or " " in key:
        raise ValueError("an idempotency key is 1 to 200 printable characters without spaces")
    if not event:
        raise ValueError("a webhook needs an event type")
    compact_json(body)  # a body that is not JSON fails here, in the caller's transaction
    message = OutboxMessage(
        id=uuid.uuid4(),
        channel=Channel.WEBHOOK,
        destination=url,
        idempotency_key=key,
        payload={
            "event": event,
            "timestamp": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "body": body,
            "secret": secret_sealed,
        },
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
    )
    session.add(message)
    notify(session)
    return message


def list_messages(
    session: Session,
    *,
    actor: Actor,
    status: DeliveryStatus | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[OutboxMessage]:
    """Messages in the outbox, newest first (platform admins only)."""
    actor.require(Permission.OUTBOX_READ)
    query = select_visible(actor, OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return paginate(
        session, query.order_by(OutboxMessage.created_at.desc()), page=page, per_page=per_page
    )


def payload_text(message: OutboxMessage, field: str) -> str:
    """A text field of a message's payload."""
    value: Any = message.payload.get(field, "")
    return str(value)
