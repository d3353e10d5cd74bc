"""Peers this instance syncs with, and the record of each sync."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from balai.accounts.models import User
from balai.db import Base, UUIDPk, enum_column, utcnow
from balai.directory.models import Organisation
from balai.intel.markings import Distribution


class Peer(UUIDPk, Base):
    """Another Balai instance, or any TAXII 2.1 server, and how intelligence crosses to it.

    The peer stands here as an organisation of the directory, with a user of its own that
    cannot log in: what the peer may receive is what that organisation may see (the one
    visibility rule), and what it sends is held by that organisation.
    """

    __tablename__ = "federation_peers"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    api_root: Mapped[str] = mapped_column(String(500))
    username: Mapped[str | None] = mapped_column(String(320))
    secret: Mapped[str] = mapped_column(Text)  # encrypted with a key derived from secret_key
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # Pull: which remote collection, and how what arrives is shared here.
    pull_collection: Mapped[str | None] = mapped_column(String(100))
    pull_distribution: Mapped[Distribution] = mapped_column(
        enum_column(Distribution, "distribution")
    )
    pull_group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sharing_groups.id", ondelete="RESTRICT")
    )
    # Push: where this instance's connected-communities intelligence goes, and where
    # intelligence shared with the peer's organisation (a sharing group it is in) goes.
    push_collection: Mapped[str | None] = mapped_column(String(100))
    push_restricted_collection: Mapped[str | None] = mapped_column(String(100))
    interval_minutes: Mapped[int | None] = mapped_column(Integer)
    sync_requested: Mapped[bool] = mapped_column(default=False)
    # Where the last pull and push got to: they resume there after a crash.
    pull_added_after: Mapped[str | None] = mapped_column(String(40))
    pull_next: Mapped[str | None] = mapped_column(String(500))
    push_after_date: Mapped[datetime | None] = mapped_column()
    push_after_pk: Mapped[int | None] = mapped_column(BigInteger)
    lease_until: Mapped[datetime | None] = mapped_column()
    last_sync_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")


class SyncRun(Base):
    """One pull or push: when, how many objects crossed, and what went wrong."""

    __tablename__ = "federation_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    peer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(10))  # pull or push
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    objects: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
