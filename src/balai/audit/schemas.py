"""Output shape of audit events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    """One audit event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    action: str
    actor_user_id: uuid.UUID | None
    actor_label: str
    actor_org_id: uuid.UUID | None
    object_type: str | None
    object_id: str | None
    object_org_id: uuid.UUID | None
    client_ip: str | None
    details: dict[str, Any]
