"""The status resources of TAXII POST requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from balai.db import Base, UUIDPk, utcnow


class TaxiiStatus(UUIDPk, Base):
    """What became of the objects of one POST: kept for the client to read back."""

    __tablename__ = "taxii_statuses"

    owner_org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    collection_id: Mapped[str] = mapped_column(String(36))
    request_timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    total_count: Mapped[int] = mapped_column()
    success_count: Mapped[int] = mapped_column()
    failure_count: Mapped[int] = mapped_column()
    pending_count: Mapped[int] = mapped_column()
    successes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
