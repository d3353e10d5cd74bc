"""Early warning: subscriptions that route incident alerts, and the alerts themselves."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.db import Base, UUIDPk, enum_column, utcnow
from balai.directory.models import Organisation
from balai.incidents.models import Incident


class Mode(StrEnum):
    """When a subscription's alerts leave: at once, or gathered in a digest."""

    IMMEDIATE = "immediate"
    DIGEST = "digest"


class Reason(StrEnum):
    """Why an organisation got an alert."""

    SUBSCRIPTION = "subscription"
    INVITATION = "invitation"


class Event(StrEnum):
    """What happened to the incident."""

    REPORTED = "incident.reported"
    INVITED = "incident.party_invited"


class Subscription(UUIDPk, Base):
    """What a user or an organisation wants to be warned about, and how."""

    __tablename__ = "alert_subscriptions"

    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    mode: Mapped[Mode] = mapped_column(enum_column(Mode, "alert_mode"), default=Mode.IMMEDIATE)
    digest_hours: Mapped[int] = mapped_column(default=24)
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret_sealed: Mapped[str | None] = mapped_column(String(500))
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    rsit_classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_severity: Mapped[str | None] = mapped_column(String(20))
    tlps: Mapped[list[str]] = mapped_column(JSON, default=list)
    indicator_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_digest_at: Mapped[datetime | None] = mapped_column()

    owner: Mapped[Organisation] = relationship(lazy="joined")


class Alert(UUIDPk, Base):
    """One warning to one organisation about one incident event, with its acknowledgement
    and escalation state. Its messages are in the outbox."""

    __tablename__ = "alerts"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_subscriptions.id", ondelete="SET NULL"), index=True
    )
    recipient_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[Reason] = mapped_column(enum_column(Reason, "alert_reason"))
    event: Mapped[Event] = mapped_column(enum_column(Event, "alert_event"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    digest_pending: Mapped[bool] = mapped_column(default=False, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None] = mapped_column()
    escalation_note: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(lazy="joined")
    recipient: Mapped[Organisation] = relationship(lazy="joined")
    subscription: Mapped[Subscription | None] = relationship(lazy="joined")
    tokens: Mapped[list[AlertToken]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_alerts_waiting", "acknowledged_at", "escalation_level", "created_at"),
    )


class AlertToken(Base):
    """One acknowledgement link of an alert, as sent to one address at one level: any of
    them acknowledges the alert, and says who did."""

    __tablename__ = "alert_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[int] = mapped_column(default=0)
    sent_to: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()
