"""Incidents: a report, its reporting clocks, the organisations coordinating on it, and
its timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.db import Base, UUIDPk, enum_column, utcnow
from balai.directory.models import Organisation, Sector
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup


class Severity(StrEnum):
    """How bad an incident is, on the scale documented in docs/user/incidents.md."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Higher is worse."""
        return list(Severity).index(self)

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.capitalize()


class IncidentStatus(StrEnum):
    """Where an incident is: new until its reporter triages it, then in progress, then closed."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return {"new": "New", "in_progress": "In progress", "closed": "Closed"}[self.value]


class Stage(StrEnum):
    """The reporting stages of the EU NIS2 directive (article 23)."""

    EARLY_WARNING = "early_warning"
    NOTIFICATION = "notification"
    FINAL_REPORT = "final_report"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.replace("_", " ").capitalize()


class PartyStatus(StrEnum):
    """Where an invited organisation stands. Silence stays silence: never 'not affected'."""

    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    NO_RESPONSE = "no_response"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.replace("_", " ").capitalize()


PARTY_ANSWERS = (PartyStatus.ACKNOWLEDGED, PartyStatus.INVESTIGATING, PartyStatus.RESOLVED)


class AssistanceStatus(StrEnum):
    """The answer to a request for assistance (UN GGE norm 13(h))."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return {"open": "Awaiting answer"}.get(self.value, self.value.capitalize())


class EntryKind(StrEnum):
    """What a timeline entry records."""

    REPORTED = "reported"
    UPDATED = "updated"
    STAGE_FILED = "stage_filed"
    PARTY_INVITED = "party_invited"
    PARTY_STATUS = "party_status"
    PARTY_SILENT = "party_silent"
    ASSISTANCE_REQUESTED = "assistance_requested"
    ASSISTANCE_ANSWERED = "assistance_answered"
    COMMENT = "comment"
    LINKED = "linked"
    ATTACHED = "attached"
    CLOSED = "closed"
    REOPENED = "reopened"


class Incident(UUIDPk, Base):
    """An incident reported by an organisation, shared under a marking like intelligence."""

    __tablename__ = "incidents"

    reference: Mapped[str] = mapped_column(String(30), unique=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    rsit_class: Mapped[str] = mapped_column(String(60), index=True)
    rsit_type: Mapped[str] = mapped_column(String(60))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "incident_severity"))
    cross_border: Mapped[bool] = mapped_column(default=False)
    status: Mapped[IncidentStatus] = mapped_column(
        enum_column(IncidentStatus, "incident_status"), default=IncidentStatus.NEW, index=True
    )
    tlp: Mapped[Tlp] = mapped_column(enum_column(Tlp, "tlp"))
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    sharing_group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sharing_groups.id", ondelete="RESTRICT"), index=True
    )
    aware_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    early_warning_due_at: Mapped[datetime] = mapped_column()
    early_warning_at: Mapped[datetime | None] = mapped_column()
    notification_due_at: Mapped[datetime] = mapped_column(index=True)
    notification_at: Mapped[datetime | None] = mapped_column()
    final_report_due_at: Mapped[datetime] = mapped_column(index=True)
    final_report_at: Mapped[datetime | None] = mapped_column()
    final_report_days: Mapped[int] = mapped_column()
    triaged_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(Text)

    owner: Mapped[Organisation] = relationship(lazy="joined")
    sharing_group: Mapped[SharingGroup | None] = relationship(lazy="joined")
    country_rows: Mapped[list[IncidentCountry]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    sector_rows: Mapped[list[IncidentSector]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def countries(self) -> list[str]:
        """Affected countries, sorted."""
        return sorted(row.country for row in self.country_rows)

    @property
    def sectors(self) -> list[Sector]:
        """Affected sectors, sorted."""
        return sorted(row.sector for row in self.sector_rows)


class IncidentCountry(Base):
    """One affected country."""

    __tablename__ = "incident_countries"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True, index=True)


class IncidentSector(Base):
    """One affected sector."""

    __tablename__ = "incident_sectors"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    sector: Mapped[Sector] = mapped_column(enum_column(Sector, "sector"), primary_key=True)


class StageReport(UUIDPk, Base):
    """What the reporter filed at one reporting stage."""

    __tablename__ = "incident_stage_reports"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "incident_stage"))
    text: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    filed_by: Mapped[str] = mapped_column(String(320))

    __table_args__ = (
        Index("ix_incident_stage_reports_stage", "incident_id", "stage", unique=True),
    )


class IncidentParty(UUIDPk, Base):
    """An organisation invited to coordinate on an incident: a named recipient of it."""

    __tablename__ = "incident_parties"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[PartyStatus] = mapped_column(
        enum_column(PartyStatus, "party_status"), default=PartyStatus.NOTIFIED
    )
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_by: Mapped[str] = mapped_column(String(320))
    respond_by: Mapped[datetime] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_incident_parties_pair", "incident_id", "organisation_id", unique=True),
    )


class AssistanceRequest(UUIDPk, Base):
    """A request for assistance to one party (UN GGE norm 13(h)), with a deadline."""

    __tablename__ = "incident_assistance_requests"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    to_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(320))
    respond_by: Mapped[datetime] = mapped_column()
    status: Mapped[AssistanceStatus] = mapped_column(
        enum_column(AssistanceStatus, "assistance_status"), default=AssistanceStatus.OPEN
    )
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by: Mapped[str | None] = mapped_column(String(320))

    to_org: Mapped[Organisation] = relationship(lazy="joined")


class TimelineEntry(Base):
    """One action or comment on an incident, in order."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind, "incident_entry_kind"))
    actor_label: Mapped[str] = mapped_column(String(320))
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor_org: Mapped[Organisation | None] = relationship(lazy="joined")


class IncidentLink(Base):
    """A report or indicator the incident concerns, by STIX id; shown only to its audience."""

    __tablename__ = "incident_links"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    stix_id: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(UUIDPk, Base):
    """A file attached to an incident (a log excerpt, a ransom note, a report)."""

    __tablename__ = "incident_attachments"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(320))
