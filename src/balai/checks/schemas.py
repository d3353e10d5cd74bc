"""Input and output shapes of communication checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from balai.checks.models import AttemptRole, CheckStatus, Outcome
from balai.directory.models import ContactRole, OrgKind, Sector
from balai.validators import CountryCode, LongText, Name


class Selection(BaseModel):
    """Which contacts a check addresses: explicit ids, or filters over the directory."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)
    countries: list[CountryCode] = Field(default_factory=list)
    roles: list[ContactRole] = Field(default_factory=list)
    kinds: list[OrgKind] = Field(default_factory=list)
    sectors: list[Sector] = Field(default_factory=list)
    # Contacts the filters match but someone chose to leave out (unticked in the preview).
    exclude_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)

    @property
    def is_empty(self) -> bool:
        """No ids and no filters: refuse rather than check the whole world by accident."""
        return not (self.contact_ids or self.countries or self.roles or self.kinds or self.sectors)


class CheckStart(BaseModel):
    """A new communication check."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    message: LongText | None = None
    selection: Selection
    escalate_after_minutes: int | None = Field(None, ge=1, le=60 * 24 * 14)
    close_after_minutes: int | None = Field(None, ge=2, le=60 * 24 * 30)


class ScheduleIn(BaseModel):
    """A repeating communication check."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    selection: Selection
    every_months: Literal[1, 2, 3, 4, 6, 12] = 3
    first_run_at: datetime | None = None
    escalate_after_minutes: int | None = Field(None, ge=1, le=60 * 24 * 14)
    close_after_minutes: int | None = Field(None, ge=2, le=60 * 24 * 30)
    active: bool = True


class ScheduleOut(BaseModel):
    """A repeating check as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    title: str
    selection: Selection
    every_months: int
    next_run_at: datetime
    last_run_at: datetime | None
    escalate_after_minutes: int
    close_after_minutes: int
    active: bool


class AttemptOut(BaseModel):
    """One message of a check."""

    role: AttemptRole
    contact_name: str
    email: str
    created_at: datetime
    sent_at: datetime | None
    delivery_error: str | None
    used_at: datetime | None


class TargetOut(BaseModel):
    """One contact's result in a check."""

    id: uuid.UUID
    contact_id: uuid.UUID | None
    contact_name: str
    organisation_id: uuid.UUID | None
    organisation_name: str
    country: str
    role: ContactRole
    outcome: Outcome
    acknowledged_at: datetime | None
    response_seconds: float | None
    escalated_at: datetime | None
    escalation_note: str | None
    attempts: list[AttemptOut]


class CountrySummary(BaseModel):
    """Outcomes in one state."""

    country: str
    total: int
    reached: int
    reached_alternate: int
    not_reached: int
    pending: int
    median_response_seconds: float | None


class CheckOut(BaseModel):
    """A check with the results the actor may see."""

    id: uuid.UUID
    title: str
    message: str | None
    organisation_id: uuid.UUID
    organisation_name: str
    status: CheckStatus
    started_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    escalate_after_minutes: int
    schedule_id: uuid.UUID | None
    summary: CountrySummary
    countries: list[CountrySummary]
    targets: list[TargetOut]


class CheckListItem(BaseModel):
    """A check in a list."""

    id: uuid.UUID
    title: str
    organisation_name: str
    status: CheckStatus
    started_at: datetime
    closes_at: datetime
    summary: CountrySummary
