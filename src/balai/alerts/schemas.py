"""Input and output shapes of early warning: subscriptions and alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from balai.alerts.models import Event, Mode, Reason
from balai.directory.models import Sector
from balai.incidents import taxonomy
from balai.incidents.models import Severity
from balai.intel.markings import Tlp
from balai.intel.models import ValueKind
from balai.validators import CountryCode, Email, Name


def _unique(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=str)


def _keywords(values: list[str]) -> list[str]:
    words = sorted({v.strip().lower() for v in values if v.strip()})
    for word in words:
        if len(word) > 100:
            raise ValueError(f"'{word[:20]}…' is longer than 100 characters")
    return words


class Filters(BaseModel):
    """What a subscription matches. An empty filter matches everything."""

    countries: Annotated[list[CountryCode], AfterValidator(_unique)] = []
    sectors: Annotated[list[Sector], AfterValidator(_unique)] = []
    rsit_classes: Annotated[list[str], AfterValidator(_unique)] = []
    min_severity: Severity | None = None
    tlps: Annotated[list[Tlp], AfterValidator(_unique)] = []
    indicator_kinds: Annotated[list[ValueKind], AfterValidator(_unique)] = []
    keywords: Annotated[list[str], AfterValidator(_keywords)] = Field([], max_length=50)

    @field_validator("rsit_classes")
    @classmethod
    def _known_classes(cls, values: list[str]) -> list[str]:
        for value in values:
            if taxonomy.find_class(value) is None:
                raise ValueError(str(taxonomy.problem(value, "")))
        return values


class SubscriptionIn(Filters):
    """A subscription as its owner creates or edits it."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    for_organisation: bool = False
    mode: Mode = Mode.IMMEDIATE
    digest_hours: int = Field(24, ge=1, le=168)
    email: Email | None = None
    webhook_url: Annotated[str, Field(max_length=2000)] | None = None
    active: bool = True

    @model_validator(mode="after")
    def _a_channel(self) -> SubscriptionIn:
        if self.email is None and not self.webhook_url:
            raise ValueError("choose where alerts go: an e-mail address, a webhook URL or both")
        return self


class SubscriptionOut(BaseModel):
    """A subscription. `webhook_secret` is filled once, in the answer that makes the
    secret (creation, a new URL, a rotation), and is null on every read after."""

    id: uuid.UUID
    name: str
    organisation_id: uuid.UUID
    user_id: uuid.UUID | None
    for_organisation: bool
    active: bool
    mode: Mode
    digest_hours: int
    email: str | None
    webhook_url: str | None
    countries: list[str]
    sectors: list[str]
    rsit_classes: list[str]
    min_severity: str | None
    tlps: list[str]
    indicator_kinds: list[str]
    keywords: list[str]
    created_at: datetime
    last_digest_at: datetime | None
    webhook_secret: str | None = None


class AlertOut(BaseModel):
    """An alert one's organisation received."""

    id: uuid.UUID
    incident_id: uuid.UUID
    incident_reference: str
    incident_title: str
    event: Event
    reason: Reason
    subscription_id: uuid.UUID | None
    created_at: datetime
    email: str | None
    digest_pending: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalation_level: int
    escalated_at: datetime | None
    escalation_note: str | None


class AckIn(BaseModel):
    """An acknowledgement by the token of an alert's link."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=10, max_length=200)]
