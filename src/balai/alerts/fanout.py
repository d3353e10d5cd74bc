"""Turn an incident event into alerts: find who should hear of it, check that each may see
it, and write every message to the outbox in the caller's transaction.

Who hears of it: the subscriptions that match (reported incidents), or the invited
organisation (invitations): its 24/7 contact by e-mail and its own subscriptions' channels.
Every recipient is judged by the one visibility rule, as the organisation it belongs to,
and every body is built from what that organisation may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.policy import select_visible, visible
from balai.accounts.models import User
from balai.alerts.models import Alert, AlertToken, Event, Mode, Reason, Subscription
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Contact, ContactRole, Organisation
from balai.incidents import taxonomy
from balai.incidents.models import Incident, IncidentLink, IncidentParty, Severity
from balai.intel.markings import Tlp
from balai.intel.models import ObservableValue, StixObject
from balai.mail import render_mail
from balai.outbox.service import enqueue_email, enqueue_webhook
from balai.tokens import hash_token, new_token


class Audience:
    """Which organisations may see one incident, asked once per organisation."""

    def __init__(self, session: Session, incident: Incident) -> None:
        self.session = session
        self.incident = incident
        self._seen: dict[uuid.UUID, bool] = {}

    def sees(self, org_id: uuid.UUID) -> bool:
        """Whether the organisation may see the incident, by the one visibility rule."""
        if org_id not in self._seen:
            found = self.session.scalar(
                select(Incident.id).where(
                    Incident.id == self.incident.id,
                    visible(Actor.recipient(org_id), Incident),
                )
            )
            self._seen[org_id] = found is not None
        return self._seen[org_id]


def linked_kinds(session: Session, *, incident: Incident, org_id: uuid.UUID) -> set[str]:
    """The kinds of indicator values linked to the incident that the organisation may see."""
    recipient = Actor.recipient(org_id)
    linked = select(IncidentLink.stix_id).where(IncidentLink.incident_id == incident.id)
    rows = session.scalars(
        select(ObservableValue.kind)
        .join(StixObject, StixObject.pk == ObservableValue.object_pk)
        .where(StixObject.stix_id.in_(linked), visible(recipient, StixObject))
        .distinct()
    )
    return {kind.value for kind in rows}


def matches(sub: Subscription, incident: Incident, kinds: set[str] | None = None) -> bool:
    """Whether a subscription's filters take the incident (an empty filter takes all)."""
    if sub.countries and not set(sub.countries) & set(incident.countries):
        return False
    if sub.sectors and not set(sub.sectors) & {s.value for s in incident.sectors}:
        return False
    if sub.rsit_classes and incident.rsit_class not in sub.rsit_classes:
        return False
    if sub.min_severity and incident.severity.rank < Severity(sub.min_severity).rank:
        return False
    if sub.tlps and incident.tlp.value not in sub.tlps:
        return False
    if sub.indicator_kinds and kinds is not None and not kinds & set(sub.indicator_kinds):
        return False
    if sub.keywords:
        text = f"{incident.title}\n{incident.description}".lower()
        if not any(word in text for word in sub.keywords):
            return False
    return True


def new_token_for(session: Session, alert: Alert, level: int, sent_to: str) -> str:
    """A new acknowledgement token of the alert, as sent to one address at one level."""
    token = new_token(32)
    alert.tokens.append(
        AlertToken(token_hash=hash_token(token), level=level, sent_to=sent_to[:2000])
    )
    return token


def _visible_links(session: Session, incident: Incident, org_id: uuid.UUID) -> list[StixObject]:
    linked = list(
        session.scalars(select(IncidentLink.stix_id).where(IncidentLink.incident_id == incident.id))
    )
    if not linked:
        return []
    return list(
        session.scalars(
            select_visible(Actor.recipient(org_id), StixObject).where(
                StixObject.stix_id.in_(linked), StixObject.is_latest.is_(True)
            )
        )
    )


def alert_body(
    session: Session,
    *,
    settings: Settings,
    alert: Alert,
    token: str | None,
    links: list[StixObject] | None = None,
) -> dict[str, object]:
    """The alert as a webhook carries it: what the recipient organisation may see (`links`,
    when given, are the linked objects it may see, found once for many alerts)."""
    incident = alert.incident
    if links is None:
        links = _visible_links(session, incident, alert.recipient_org_id)
    body: dict[str, object] = {
        "alert_id": str(alert.id),
        "event": alert.event.value,
        "reason": alert.reason.value,
        "recipient": alert.recipient.name,
        "incident": {
            "id": str(incident.id),
            "reference": incident.reference,
            "title": incident.title,
            "description": incident.description,
            "rsit_class": incident.rsit_class,
            "rsit_type": incident.rsit_type,
            "classification": taxonomy.label(incident.rsit_class, incident.rsit_type),
            "machinetag": taxonomy.machinetag(incident.rsit_class, incident.rsit_type),
            "severity": incident.severity.value,
            "countries": incident.countries,
            "sectors": [s.value for s in incident.sectors],
            "cross_border": incident.cross_border,
            "tlp": incident.tlp.value,
            "reporter": incident.owner.name,
            "aware_at": incident.aware_at.isoformat(),
            "reported_at": incident.created_at.isoformat(),
            "notification_due_at": incident.notification_due_at.isoformat(),
            "links": [
                {"stix_id": stix_id, "name": name}
                for stix_id, name in sorted({(o.stix_id, o.name or "") for o in links})
            ],
            "url": f"{settings.base_url}/incidents/{incident.id}",
        },
    }
    if token is not None:
        body["acknowledge"] = {
            "url": f"{settings.base_url}/alerts/ack/{token}",
            "api": f"{settings.base_url}/api/v1/alerts/ack",
            "token": token,
        }
    return body


def send_email(
    session: Session,
    *,
    settings: Settings,
    alert: Alert,
    to: str,
    level: int = 0,
    name: str | None = None,
) -> None:
    """One alert e-mail (first or escalated) with its own acknowledgement link."""
    token = new_token_for(session, alert, level, to)
    subject, text = render_mail(
        "alerts/mail/alert.txt",
        settings=settings,
        alert=alert,
        incident=alert.incident,
        classification=taxonomy.label(alert.incident.rsit_class, alert.incident.rsit_type),
        level=level,
        name=name,
        link=f"{settings.base_url}/alerts/ack/{token}",
        page=f"{settings.base_url}/incidents/{alert.incident_id}",
        escalate_minutes=settings.alert_escalate_minutes,
        red=alert.incident.tlp == Tlp.RED,
    )
    enqueue_email(
        session,
        settings=settings,
        to=to,
        subject=subject,
        text=text,
        subject_type="alert",
        subject_id=alert.id,
    )


def send_webhook(
    session: Session,
    *,
    settings: Settings,
    alert: Alert,
    sub: Subscription,
    links: list[StixObject] | None = None,
) -> None:
    """The alert to a subscription's webhook, signed with its secret."""
    assert sub.webhook_url  # callers check
    assert sub.webhook_secret_sealed  # made with the URL
    token = new_token_for(session, alert, 0, sub.webhook_url)
    enqueue_webhook(
        session,
        settings=settings,
        url=sub.webhook_url,
        event=alert.event.value,
        body=alert_body(session, settings=settings, alert=alert, token=token, links=links),
        secret_sealed=sub.webhook_secret_sealed,
        subject_type="alert",
        subject_id=alert.id,
        idempotency_key=f"msg_{alert.id.hex}_{sub.id.hex[:12]}",
    )


def _new_alert(
    session: Session, incident: Incident, org: Organisation, reason: Reason, event: Event
) -> Alert:
    alert = Alert(
        id=uuid.uuid4(),
        incident_id=incident.id,
        recipient_org_id=org.id,
        reason=reason,
        event=event,
        created_at=utcnow(),
        details={},
        tokens=[],
    )
    alert.incident = incident
    alert.recipient = org
    session.add(alert)
    return alert


def _active_subscriptions(session: Session) -> Iterable[Subscription]:
    """Active subscriptions whose owner (an active user, or the organisation) still exists."""
    return session.scalars(
        select(Subscription)
        .outerjoin(User, User.id == Subscription.user_id)
        .where(
            Subscription.active.is_(True),
            (Subscription.user_id.is_(None)) | (User.active.is_(True)),
        )
    ).all()


def on_reported(session: Session, *, settings: Settings, incident: Incident) -> list[Alert]:
    """Alerts for a new incident to every matching subscription that may see it."""
    session.flush()
    audience = Audience(session, incident)
    kinds: dict[uuid.UUID, set[str]] = {}
    links: dict[uuid.UUID, list[StixObject]] = {}
    alerts = []
    with session.no_autoflush:  # the alerts written so far change no answer read here
        for sub in _active_subscriptions(session):
            org_id = sub.owner_org_id
            if org_id == incident.owner_org_id or not matches(sub, incident):
                continue  # the reporter knows; the filters say no (cheap, asked first)
            if not audience.sees(org_id):
                continue  # outside the audience, one hears nothing
            if sub.indicator_kinds:
                if org_id not in kinds:
                    kinds[org_id] = linked_kinds(session, incident=incident, org_id=org_id)
                if not matches(sub, incident, kinds[org_id]):
                    continue
            alert = _new_alert(session, incident, sub.owner, Reason.SUBSCRIPTION, Event.REPORTED)
            alert.subscription_id = sub.id
            alert.subscription = sub
            alert.email = sub.email
            if sub.mode == Mode.DIGEST:
                alert.digest_pending = True
            else:
                if sub.email:
                    send_email(session, settings=settings, alert=alert, to=sub.email)
                if sub.webhook_url and sub.webhook_secret_sealed:
                    if org_id not in links:
                        links[org_id] = _visible_links(session, incident, org_id)
                    send_webhook(
                        session, settings=settings, alert=alert, sub=sub, links=links[org_id]
                    )
            alerts.append(alert)
    return alerts


def duty_contact(session: Session, org_id: uuid.UUID) -> Contact | None:
    """Whom an invitation goes to: the 24/7 contact, else the technical, else the policy one."""
    order = {ContactRole.OPERATIONS: 0, ContactRole.TECHNICAL: 1, ContactRole.POLICY: 2}
    contacts = [
        c
        for c in session.scalars(select(Contact).where(Contact.organisation_id == org_id))
        if c.email
    ]
    contacts.sort(key=lambda c: (order[c.role], c.name))
    return contacts[0] if contacts else None


def on_invited(
    session: Session, *, settings: Settings, incident: Incident, parties: list[IncidentParty]
) -> list[Alert]:
    """An alert to each invited organisation: its duty contact by e-mail, and the webhooks
    of its active subscriptions (an invitation concerns it whatever their filters)."""
    session.flush()
    alerts = []
    for party in parties:
        org = party.organisation
        alert = _new_alert(session, incident, org, Reason.INVITATION, Event.INVITED)
        contact = duty_contact(session, org.id)
        if contact is not None and contact.email:
            alert.email = contact.email
            alert.contact_id = contact.id
            send_email(session, settings=settings, alert=alert, to=contact.email, name=contact.name)
        else:
            alert.escalation_note = "no point of contact with an e-mail address"
        for sub in _active_subscriptions(session):
            if (
                sub.owner_org_id == org.id
                and sub.user_id is None  # the organisation's own, not a member's personal one
                and sub.webhook_url
                and sub.webhook_secret_sealed
            ):
                send_webhook(session, settings=settings, alert=alert, sub=sub)
        alerts.append(alert)
    return alerts
