"""Subscriptions (who wants which warnings, and where) and the alerts an organisation got."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.alerts.models import Alert, Mode, Subscription
from balai.alerts.schemas import AlertOut, SubscriptionIn, SubscriptionOut
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.errors import Forbidden, NotFound, ValidationFailed
from balai.outbox.models import Channel, DeliveryStatus, OutboxMessage
from balai.outbox.webhooks import check_webhook_url, new_webhook_secret, seal_webhook_secret
from balai.pagination import Page, paginate


def _may_manage(actor: Actor, sub: Subscription) -> None:
    if sub.user_id is None:
        actor.require(Permission.ALERT_MANAGE_ORG)
        if sub.owner_org_id != actor.organisation_id:
            raise Forbidden("only the organisation's admins manage its subscriptions")
    elif sub.user_id != actor.user_id:
        raise Forbidden("only its owner manages a personal subscription")


def _apply(sub: Subscription, data: SubscriptionIn) -> None:
    sub.name = data.name
    sub.active = data.active
    sub.mode = data.mode
    sub.digest_hours = data.digest_hours
    sub.email = str(data.email) if data.email else None
    sub.countries = list(data.countries)
    sub.sectors = [s.value for s in data.sectors]
    sub.rsit_classes = list(data.rsit_classes)
    sub.min_severity = data.min_severity.value if data.min_severity else None
    sub.tlps = [t.value for t in data.tlps]
    sub.indicator_kinds = [k.value for k in data.indicator_kinds]
    sub.keywords = list(data.keywords)


def _check_url(settings: Settings, url: str | None) -> None:
    if url:
        problem = check_webhook_url(url, settings)
        if problem:
            raise ValidationFailed.one("webhook_url", problem)


def create(
    session: Session, *, actor: Actor, settings: Settings, data: SubscriptionIn
) -> tuple[Subscription, str | None]:
    """Subscribe the actor (or, for its admins, the organisation); returns the subscription
    and, with a webhook, its signing secret, which is shown this once."""
    actor.require(Permission.ALERT_SUBSCRIBE)
    if actor.organisation_id is None or actor.user is None:
        raise Forbidden("a subscription belongs to a member of an organisation")
    if data.for_organisation:
        actor.require(Permission.ALERT_MANAGE_ORG)
    _check_url(settings, data.webhook_url)
    sub = Subscription(
        id=uuid.uuid4(),
        owner_org_id=actor.organisation_id,
        user_id=None if data.for_organisation else actor.user_id,
    )
    _apply(sub, data)
    secret = None
    if data.webhook_url:
        secret = new_webhook_secret()
        sub.webhook_url = data.webhook_url
        sub.webhook_secret_sealed = seal_webhook_secret(settings, secret)
    session.add(sub)
    session.flush()
    _audit(session, actor, sub, AuditAction.ALERT_SUBSCRIPTION_CREATED)
    return sub, secret


def get(session: Session, *, actor: Actor, subscription_id: uuid.UUID) -> Subscription:
    """One subscription the actor may see: its own, or its organisation's."""
    sub = session.scalar(
        select_visible(actor, Subscription).where(Subscription.id == subscription_id)
    )
    if sub is None:
        raise NotFound("no such subscription")
    return sub


def update(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    subscription_id: uuid.UUID,
    data: SubscriptionIn,
) -> tuple[Subscription, str | None]:
    """Change a subscription. A new webhook URL gets a new secret (returned this once)."""
    sub = get(session, actor=actor, subscription_id=subscription_id)
    _may_manage(actor, sub)
    if data.for_organisation != (sub.user_id is None):
        raise ValidationFailed.one("for_organisation", "a subscription keeps its owner")
    _check_url(settings, data.webhook_url)
    _apply(sub, data)
    if sub.mode != Mode.DIGEST or not sub.active:
        _drop_pending(session, sub, "not sent: the subscription changed before its digest")
    secret = None
    if data.webhook_url != sub.webhook_url:
        sub.webhook_url = data.webhook_url
        sub.webhook_secret_sealed = None
        if data.webhook_url:
            secret = new_webhook_secret()
            sub.webhook_secret_sealed = seal_webhook_secret(settings, secret)
    _audit(session, actor, sub, AuditAction.ALERT_SUBSCRIPTION_UPDATED)
    return sub, secret


def rotate_secret(
    session: Session, *, actor: Actor, settings: Settings, subscription_id: uuid.UUID
) -> str:
    """A new webhook signing secret; the old one stops signing at once."""
    sub = get(session, actor=actor, subscription_id=subscription_id)
    _may_manage(actor, sub)
    if not sub.webhook_url:
        raise ValidationFailed.one("webhook_url", "this subscription has no webhook")
    secret = new_webhook_secret()
    old, sub.webhook_secret_sealed = (
        sub.webhook_secret_sealed,
        seal_webhook_secret(settings, secret),
    )
    # Calls still queued were sealed with the old secret: they are signed with the new one.
    for message in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.channel == Channel.WEBHOOK,
            OutboxMessage.status == DeliveryStatus.PENDING,
            OutboxMessage.destination == sub.webhook_url,
        )
    ):
        if message.payload.get("secret") == old:
            message.payload = {**message.payload, "secret": sub.webhook_secret_sealed}
    _audit(session, actor, sub, AuditAction.ALERT_SECRET_ROTATED)
    return secret


def delete(session: Session, *, actor: Actor, subscription_id: uuid.UUID) -> None:
    """Remove a subscription; its past alerts stay."""
    sub = get(session, actor=actor, subscription_id=subscription_id)
    _may_manage(actor, sub)
    _audit(session, actor, sub, AuditAction.ALERT_SUBSCRIPTION_DELETED)
    _drop_pending(session, sub, "not sent: the subscription was removed before its digest")
    session.delete(sub)


def _drop_pending(session: Session, sub: Subscription, why: str) -> None:
    """Alerts waiting for a digest that will not come: say so, rather than wait forever."""
    for alert in session.scalars(
        select(Alert).where(Alert.subscription_id == sub.id, Alert.digest_pending.is_(True))
    ):
        alert.digest_pending = False
        alert.escalation_note = why


def _audit(session: Session, actor: Actor, sub: Subscription, action: AuditAction) -> None:
    record(
        session,
        actor=actor,
        action=action,
        object_type="alert_subscription",
        object_id=sub.id,
        object_org_id=sub.owner_org_id,
        details={"name": sub.name, "webhook": bool(sub.webhook_url)},
    )


def _ordered(actor: Actor) -> Select[Subscription]:
    return select_visible(actor, Subscription).order_by(
        Subscription.user_id.is_(None), Subscription.name, Subscription.id
    )


def visible_subscriptions(session: Session, *, actor: Actor) -> list[Subscription]:
    """The actor's own subscriptions and its organisation's: its own first, by name."""
    return list(session.scalars(_ordered(actor)))


def list_subscriptions(
    session: Session, *, actor: Actor, page: int = 1, per_page: int = 50
) -> Page[Subscription]:
    """visible_subscriptions, a page at a time."""
    return paginate(session, _ordered(actor), page=page, per_page=per_page)


def subscription_out(sub: Subscription) -> SubscriptionOut:
    """The API shape of a subscription (never its secret)."""
    return SubscriptionOut(
        id=sub.id,
        name=sub.name,
        organisation_id=sub.owner_org_id,
        user_id=sub.user_id,
        for_organisation=sub.user_id is None,
        active=sub.active,
        mode=sub.mode,
        digest_hours=sub.digest_hours,
        email=sub.email,
        webhook_url=sub.webhook_url,
        countries=sub.countries,
        sectors=sub.sectors,
        rsit_classes=sub.rsit_classes,
        min_severity=sub.min_severity,
        tlps=sub.tlps,
        indicator_kinds=sub.indicator_kinds,
        keywords=sub.keywords,
        created_at=sub.created_at,
        last_digest_at=sub.last_digest_at,
    )


def list_alerts(
    session: Session, *, actor: Actor, page: int = 1, per_page: int = 50
) -> Page[Alert]:
    """Alerts the actor's organisation received about incidents it may see, newest first."""
    query = select_visible(actor, Alert).order_by(Alert.created_at.desc(), Alert.id)
    return paginate(session, query, page=page, per_page=per_page)


def alert_out(alert: Alert) -> AlertOut:
    """The API shape of an alert."""
    return AlertOut(
        id=alert.id,
        incident_id=alert.incident_id,
        incident_reference=alert.incident.reference,
        incident_title=alert.incident.title,
        event=alert.event,
        reason=alert.reason,
        subscription_id=alert.subscription_id,
        created_at=alert.created_at,
        email=alert.email,
        digest_pending=alert.digest_pending,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        escalation_level=alert.escalation_level,
        escalated_at=alert.escalated_at,
        escalation_note=alert.escalation_note,
    )
