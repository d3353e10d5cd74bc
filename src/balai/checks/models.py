"""Communication checks: does each point of contact answer, and how fast?"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.db import Base, UUIDPk, enum_column, utcnow
from balai.directory.models import ContactRole, Organisation


class CheckStatus(StrEnum):
    """A check runs until its closing time, then its silence counts as not reached."""

    RUNNING = "running"
    CLOSED = "closed"


class Outcome(StrEnum):
    """What a check found for one contact."""

    PENDING = "pending"
    REACHED = "reached"
    REACHED_ALTERNATE = "reached_alternate"
    NOT_REACHED = "not_reached"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return OUTCOME_LABELS[self]


OUTCOME_LABELS = {
    Outcome.PENDING: "Waiting",
    Outcome.REACHED: "Reached",
    Outcome.REACHED_ALTERNATE: "Reached through alternate",
    Outcome.NOT_REACHED: "Not reached",
}


class AttemptRole(StrEnum):
    """Whom an attempt addressed."""

    PRIMARY = "primary"
    ALTERNATE = "alternate"


class CheckSchedule(UUIDPk, Base):
    """A check that repeats, for example every three months, over a saved selection."""

    __tablename__ = "check_schedules"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    every_months: Mapped[int] = mapped_column()
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    escalate_after_minutes: Mapped[int] = mapped_column()
    close_after_minutes: Mapped[int] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column()

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class CommCheck(UUIDPk, Base):
    """One run of a communication check, started by an organisation."""

    __tablename__ = "comm_checks"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("check_schedules.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    selection: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[CheckStatus] = mapped_column(
        enum_column(CheckStatus, "check_status"), default=CheckStatus.RUNNING, index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    escalate_after_minutes: Mapped[int] = mapped_column()
    close_after_minutes: Mapped[int] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    targets: Mapped[list[CheckTarget]] = relationship(
        back_populates="check",
        cascade="all, delete-orphan",
        order_by="(CheckTarget.country, CheckTarget.organisation_name, CheckTarget.contact_name)",
    )


class CheckTarget(UUIDPk, Base):
    """One contact in a check, with a snapshot of who it was when the check ran."""

    __tablename__ = "check_targets"

    check_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comm_checks.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    contact_name: Mapped[str] = mapped_column(String(200))
    organisation_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    role: Mapped[ContactRole] = mapped_column(enum_column(ContactRole, "contact_role"))
    outcome: Mapped[Outcome] = mapped_column(
        enum_column(Outcome, "check_outcome"), default=Outcome.PENDING
    )
    escalated_at: Mapped[datetime | None] = mapped_column()
    escalation_note: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    response_seconds: Mapped[float | None] = mapped_column()

    check: Mapped[CommCheck] = relationship(back_populates="targets")
    attempts: Mapped[list[CheckAttempt]] = relationship(
        back_populates="target", cascade="all, delete-orphan", order_by="CheckAttempt.created_at"
    )


class CheckAttempt(UUIDPk, Base):
    """One message of a check to one address, with its one-time link token and code."""

    __tablename__ = "check_attempts"

    target_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("check_targets.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[AttemptRole] = mapped_column(enum_column(AttemptRole, "attempt_role"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    contact_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    outbox_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()

    target: Mapped[CheckTarget] = relationship(back_populates="attempts")

    __table_args__ = (Index("ix_check_attempts_target_role", "target_id", "role", unique=True),)
