"""Input and output shapes of intelligence: markings, imports, objects, sharing groups."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from balai.intel.markings import Distribution, Tlp, check_pair
from balai.intel.models import Feedback, ImportFormat, ValueKind
from balai.validators import LongText, Name


class Marking(BaseModel):
    """The marking and audience an upload (or an object) gets."""

    model_config = ConfigDict(extra="forbid")

    tlp: Tlp
    distribution: Distribution
    sharing_group_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Marking:
        reason = check_pair(self.tlp, self.distribution)
        if reason:
            raise ValueError(reason)
        if (self.distribution == Distribution.SHARING_GROUP) != (self.sharing_group_id is not None):
            raise ValueError("choose a sharing group exactly when sharing with a sharing group")
        return self


class ImportCounts(BaseModel):
    """What one import did, per STIX type."""

    created: dict[str, int] = Field(default_factory=dict)
    new_versions: dict[str, int] = Field(default_factory=dict)
    already_present: dict[str, int] = Field(default_factory=dict)
    values_indexed: int = 0


class ImportReport(BaseModel):
    """The report an import shows: counts, and what was not carried over, and why."""

    id: uuid.UUID
    format: ImportFormat
    filename: str | None
    tlp: Tlp
    distribution: Distribution
    sharing_group_id: uuid.UUID | None
    created_at: datetime
    counts: ImportCounts
    not_mapped: list[str] = Field(default_factory=list)
    report_ids: list[str] = Field(default_factory=list)


class ObjectOut(BaseModel):
    """A STIX object as Balai holds it: the object and its marking."""

    stix: dict[str, Any]
    tlp: Tlp
    distribution: Distribution
    sharing_group_id: uuid.UUID | None
    owner_org_id: uuid.UUID
    owner_name: str
    date_added: datetime


class ValueOut(BaseModel):
    """A normalised observable value."""

    kind: ValueKind
    value: str


class SharingGroupIn(BaseModel):
    """A sharing group as created or edited by its owner."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: LongText | None = None
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class SharingGroupOut(BaseModel):
    """A sharing group and its members."""

    id: uuid.UUID
    name: str
    description: str | None
    owner_org_id: uuid.UUID
    owner_name: str
    member_ids: list[uuid.UUID]
    member_names: list[str]


class ObjectSummary(BaseModel):
    """An object in a list."""

    stix_id: str
    type: str
    name: str | None
    tlp: Tlp
    distribution: Distribution
    owner_name: str
    modified: datetime | None
    date_added: datetime
    score: float | None = None


class CorrelationOut(BaseModel):
    """One value of an object and the other organisations' objects that share it."""

    kind: ValueKind
    value: str
    total: int = Field(description="How many visible objects of other organisations share it.")
    common: bool = Field(description="Shared by more objects than the cap: counted, not listed.")
    warninglists: list[str] = Field(description="Warninglists it is on; it does not correlate.")
    objects: list[ObjectSummary]


class SightingIn(BaseModel):
    """A report on an indicator."""

    model_config = ConfigDict(extra="forbid")

    kind: Feedback
    count: int = Field(1, ge=1, le=1_000_000_000)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> SightingIn:
        for name in ("first_seen", "last_seen"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (for example Z for UTC)")
        return self


class SightingOut(BaseModel):
    """One of the caller's organisation's own reports."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: Feedback
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    source: str
    created_at: datetime


class SightingsOut(BaseModel):
    """Sightings of an indicator: counts from everyone, the caller's own reports in full."""

    seen: int
    seen_by: int
    false_positive_by: int
    expired_by: int
    first_seen: datetime | None
    last_seen: datetime | None
    score: float | None
    own: list[SightingOut]
