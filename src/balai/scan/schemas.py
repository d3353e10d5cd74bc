"""API shapes for scanner sightings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SIGHTINGS = 10_000


class ScanSightingIn(BaseModel):
    """How often a scan saw one indicator and, if the user agreed to send them, when."""

    model_config = ConfigDict(extra="forbid")

    stix_id: str = Field(min_length=1, max_length=120)
    count: int = Field(ge=1, le=1_000_000_000)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> ScanSightingIn:
        for name in ("first_seen", "last_seen"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (for example Z for UTC)")
        return self


class ScanSightingsIn(BaseModel):
    """A scan's sightings, recorded all or none."""

    model_config = ConfigDict(extra="forbid")

    sightings: list[ScanSightingIn] = Field(min_length=1, max_length=MAX_SIGHTINGS)


class ScanSightingsOut(BaseModel):
    """What was recorded."""

    recorded: int
    stix_ids: list[str]
