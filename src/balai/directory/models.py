"""Organisations and their points of contact."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.db import Base, UUIDPk, enum_column, utcnow


class OrgKind(StrEnum):
    """What kind of body an organisation is."""

    MINISTRY = "ministry"
    NATIONAL_CERT = "national_cert"
    SECTOR_CERT = "sector_cert"
    COMPANY = "company"
    CIVIL_SOCIETY = "civil_society"
    ACADEMIA = "academia"
    INTERNATIONAL = "international_organisation"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return ORG_KIND_LABELS[self]


ORG_KIND_LABELS = {
    OrgKind.MINISTRY: "Ministry or agency",
    OrgKind.NATIONAL_CERT: "National CERT",
    OrgKind.SECTOR_CERT: "Sector CERT",
    OrgKind.COMPANY: "Company",
    OrgKind.CIVIL_SOCIETY: "Civil society",
    OrgKind.ACADEMIA: "Academia",
    OrgKind.INTERNATIONAL: "International organisation",
}


class Sector(StrEnum):
    """Sectors, following the NIS2 annexes plus the state functions CBMs concern."""

    ENERGY = "energy"
    TRANSPORT = "transport"
    BANKING = "banking"
    FINANCIAL_MARKETS = "financial_markets"
    HEALTH = "health"
    WATER = "water"
    DIGITAL_INFRASTRUCTURE = "digital_infrastructure"
    TELECOMMUNICATIONS = "telecommunications"
    ICT_SERVICES = "ict_services"
    PUBLIC_ADMINISTRATION = "public_administration"
    FOREIGN_AFFAIRS = "foreign_affairs"
    DEFENCE = "defence"
    SPACE = "space"
    MANUFACTURING = "manufacturing"
    FOOD = "food"
    EDUCATION = "education"
    RESEARCH = "research"
    MEDIA = "media"
    CIVIL_SOCIETY = "civil_society"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.replace("_", " ").capitalize().replace("Ict", "ICT")


class ContactRole(StrEnum):
    """The three kinds of point of contact the UN and ASEAN directories ask for."""

    POLICY = "policy"
    TECHNICAL = "technical"
    OPERATIONS = "operations"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return CONTACT_ROLE_LABELS[self]


CONTACT_ROLE_LABELS = {
    ContactRole.POLICY: "Diplomatic / policy",
    ContactRole.TECHNICAL: "Technical",
    ContactRole.OPERATIONS: "24/7 operations",
}


class ChannelKind(StrEnum):
    """How a contact can be reached."""

    EMAIL = "email"
    PHONE = "phone"
    MESSENGER = "messenger"


class Organisation(UUIDPk, Base):
    """A member of the community: ministry, CERT, company, civil society, academia."""

    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(60))
    kind: Mapped[OrgKind] = mapped_column(enum_column(OrgKind, "org_kind"))
    country: Mapped[str] = mapped_column(String(2), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    website: Mapped[str | None] = mapped_column(String(300))
    constituency: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[Organisation | None] = relationship(
        remote_side="Organisation.id", back_populates="children"
    )
    children: Mapped[list[Organisation]] = relationship(
        back_populates="parent", order_by="Organisation.name"
    )
    sector_rows: Mapped[list[OrganisationSector]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        order_by="(Contact.role, Contact.name)",
    )

    __table_args__ = (Index("ix_organisations_country_name", "country", "name", unique=True),)

    @property
    def sectors(self) -> list[Sector]:
        """The organisation's sectors, sorted."""
        return sorted(row.sector for row in self.sector_rows)


class OrganisationSector(Base):
    """One sector an organisation works in."""

    __tablename__ = "organisation_sectors"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    sector: Mapped[Sector] = mapped_column(enum_column(Sector, "sector"), primary_key=True)


class Contact(UUIDPk, Base):
    """A point of contact: a person or desk an organisation names for one role."""

    __tablename__ = "contacts"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[ContactRole] = mapped_column(enum_column(ContactRole, "contact_role"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    pgp_fingerprint: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    office_days: Mapped[str] = mapped_column(String(40), default="mon,tue,wed,thu,fri")
    office_start: Mapped[time | None] = mapped_column(Time)
    office_end: Mapped[time | None] = mapped_column(Time)
    notes: Mapped[str | None] = mapped_column(Text)
    alternate_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    last_verified_at: Mapped[datetime | None] = mapped_column()
    expires_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="contacts", lazy="joined")
    alternate: Mapped[Contact | None] = relationship(remote_side="Contact.id")
    channels: Mapped[list[ContactChannel]] = relationship(
        cascade="all, delete-orphan", order_by="ContactChannel.position", lazy="selectin"
    )
    language_rows: Mapped[list[ContactLanguage]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def languages(self) -> list[str]:
        """ISO 639-1 codes of the languages the contact works in, sorted."""
        return sorted(row.language for row in self.language_rows)

    def channel_values(self, kind: ChannelKind) -> list[str]:
        """The contact's channels of one kind, in preference order."""
        return [c.value for c in self.channels if c.kind == kind]

    @property
    def email(self) -> str | None:
        """The preferred e-mail address, which communication checks use."""
        emails = self.channel_values(ChannelKind.EMAIL)
        return emails[0] if emails else None


class ContactChannel(Base):
    """One way to reach a contact: an e-mail address, a phone number or a messenger handle."""

    __tablename__ = "contact_channels"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ChannelKind] = mapped_column(enum_column(ChannelKind, "channel_kind"))
    value: Mapped[str] = mapped_column(String(320))
    label: Mapped[str | None] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(default=0)


class ContactLanguage(Base):
    """One language a contact works in."""

    __tablename__ = "contact_languages"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)
