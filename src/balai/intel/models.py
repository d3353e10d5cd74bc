"""Sharing groups, STIX objects (one row per version and holder), and the value index."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.db import Base, UUIDPk, enum_column, ordered_string, utcnow
from balai.directory.models import Organisation
from balai.intel.markings import Distribution, Tlp

BigId = BigInteger().with_variant(Integer, "sqlite")


class SharingGroup(UUIDPk, Base):
    """A named set of organisations that an owner organisation shares with."""

    __tablename__ = "sharing_groups"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[Organisation] = relationship(lazy="joined")
    members: Mapped[list[SharingGroupMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (Index("ix_sharing_groups_owner_name", "owner_org_id", "name", unique=True),)

    @property
    def member_ids(self) -> set[uuid.UUID]:
        """The organisations in the group, the owner included."""
        return {m.organisation_id for m in self.members} | {self.owner_org_id}


class SharingGroupMember(Base):
    """One organisation in a sharing group."""

    __tablename__ = "sharing_group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sharing_groups.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ImportFormat(StrEnum):
    """What an import read."""

    STIX = "stix"
    MISP = "misp"
    CSV = "csv"
    TEXT = "text"
    TAXII = "taxii"


class UploadFormat(StrEnum):
    """The formats a file upload may be in (TAXII arrives by its own protocol)."""

    STIX = "stix"
    MISP = "misp"
    CSV = "csv"
    TEXT = "text"

    @property
    def import_format(self) -> ImportFormat:
        """The matching import record format."""
        return ImportFormat(self.value)


class IntelImport(UUIDPk, Base):
    """One upload: who, what, under which marking, and its report."""

    __tablename__ = "intel_imports"

    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    filename: Mapped[str | None] = mapped_column(String(300))
    format: Mapped[ImportFormat] = mapped_column(enum_column(ImportFormat, "import_format"))
    tlp: Mapped[Tlp] = mapped_column(enum_column(Tlp, "tlp"))
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    sharing_group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sharing_groups.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StixObject(Base):
    """One version of a STIX object as one organisation holds it, with its marking.

    Two organisations may hold the same object under different markings; each row is
    judged on its own by the visibility filter.
    """

    __tablename__ = "stix_objects"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stix_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(60))
    version: Mapped[str] = mapped_column(String(40))
    modified: Mapped[datetime | None] = mapped_column()
    created: Mapped[datetime | None] = mapped_column()
    date_added: Mapped[datetime] = mapped_column(default=utcnow)
    is_latest: Mapped[bool] = mapped_column(default=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(500))
    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    tlp: Mapped[Tlp] = mapped_column(enum_column(Tlp, "tlp"))
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    sharing_group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sharing_groups.id", ondelete="RESTRICT"), index=True
    )
    import_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("intel_imports.id", ondelete="SET NULL"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    owner: Mapped[Organisation] = relationship(lazy="joined")
    sharing_group: Mapped[SharingGroup | None] = relationship(lazy="joined")

    __table_args__ = (
        # The id leads: every lookup knows the ids, and PostgreSQL's estimates for a table
        # filling up during a large import must not steer it to scanning a holder's rows.
        Index(
            "uq_stix_objects_id_holder_version", "stix_id", "owner_org_id", "version", unique=True
        ),
        Index("ix_stix_objects_stix_id", "stix_id", "is_latest"),
        Index("ix_stix_objects_type", "type", "is_latest"),
        Index("ix_stix_objects_date_added", "date_added", "pk"),
    )


class ValueKind(StrEnum):
    """Kinds of normalised observable value."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    ASN = "asn"


class ObservableValue(Base):
    """One normalised value an object's latest version carries: value to objects, not pairs."""

    __tablename__ = "observable_values"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("stix_objects.pk", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ValueKind] = mapped_column(enum_column(ValueKind, "value_kind"))
    value: Mapped[str] = mapped_column(String(2048))
    # IP addresses and networks as fixed-width hex bounds, so "inside a CIDR" is a range test.
    ip_first: Mapped[str | None] = mapped_column(ordered_string(32))
    ip_last: Mapped[str | None] = mapped_column(ordered_string(32))
    # Domains with their labels reversed (org.example.www), so "under a domain" is a range.
    rev: Mapped[str | None] = mapped_column(ordered_string(260))

    stix_object: Mapped[StixObject] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_observable_values_value", "value", "kind"),
        Index("ix_observable_values_ip", "ip_first", "ip_last"),
        Index("ix_observable_values_rev", "rev"),
    )


class NetworkLength(Base):
    """A prefix length that some indexed network uses, per IP version.

    CIDR blocks nest or are disjoint, so the networks that contain an address are among its
    supernets at the lengths in use: an exact index look-up of each finds them all, where a
    range test on the bounds would scan every network below the address. Lengths are never
    removed; one no longer in use costs a single wasted index probe.
    """

    __tablename__ = "network_lengths"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class Warninglist(Base):
    """A MISP warninglist: values known to be benign or too common to act on."""

    __tablename__ = "warninglists"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column()
    kinds: Mapped[list[str]] = mapped_column(JSON)
    entries: Mapped[int] = mapped_column(default=0)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class WarninglistEntry(Base):
    """One value (or one network, as hex bounds) of a warninglist."""

    __tablename__ = "warninglist_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("warninglists.id", ondelete="CASCADE"))
    value: Mapped[str | None] = mapped_column(String(2048), index=True)
    ip_first: Mapped[str | None] = mapped_column(ordered_string(32))
    ip_last: Mapped[str | None] = mapped_column(ordered_string(32))

    __table_args__ = (Index("ix_warninglist_entries_list", "list_id"),)


class Feedback(StrEnum):
    """What an organisation reports about an indicator."""

    SEEN = "seen"
    FALSE_POSITIVE = "false_positive"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return {"seen": "Seen", "false_positive": "False positive", "expired": "Expired"}[
            self.value
        ]


class Sighting(UUIDPk, Base):
    """An organisation's report on an indicator: seen (how often, when), false positive, expired."""

    __tablename__ = "sightings"

    stix_id: Mapped[str] = mapped_column(String(120), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[Feedback] = mapped_column(enum_column(Feedback, "feedback"))
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime | None] = mapped_column()
    last_seen: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(20), default="page")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class IndicatorScore(Base):
    """An indicator's decay score, kept current by sightings and a periodic job."""

    __tablename__ = "indicator_scores"

    stix_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    score: Mapped[float] = mapped_column(index=True)
    base: Mapped[float] = mapped_column()
    anchor: Mapped[datetime] = mapped_column()
    lifetime_days: Mapped[float] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
