"""Input and output shapes of incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from balai.directory.models import Sector
from balai.incidents import taxonomy
from balai.incidents.models import (
    AssistanceStatus,
    EntryKind,
    IncidentStatus,
    PartyStatus,
    Severity,
    Stage,
)
from balai.intel.markings import Distribution, Tlp
from balai.intel.schemas import Marking
from balai.validators import CountryCode, LongText, Name

StixId = Annotated[
    str,
    Field(pattern=r"^[a-z0-9-]+--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
Text = Annotated[str, Field(min_length=1, max_length=20000)]
EARLIEST_YEAR, LATEST_YEAR = 1990, 2999  # beyond these a date is a typing slip (and overflows)


def _unique(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=str)


class Classification(BaseModel):
    """An RSIT class and type, checked against the taxonomy pytaxonomies ships."""

    rsit_class: str
    rsit_type: str

    @field_validator("rsit_class")
    @classmethod
    def _known_class(cls, value: str) -> str:
        if taxonomy.find_class(value) is None:
            raise ValueError(str(taxonomy.problem(value, "")))
        return value

    @field_validator("rsit_type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        rsit_class = info.data.get("rsit_class")
        if rsit_class is not None:  # an unknown class is reported on its own
            reason = taxonomy.problem(rsit_class, value)
            if reason:
                raise ValueError(reason)
        return value


class IncidentIn(Marking, Classification):
    """A new incident report; reporting it files its early warning."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    description: Text
    severity: Severity
    countries: Annotated[list[CountryCode], AfterValidator(_unique)] = Field(min_length=1)
    sectors: Annotated[list[Sector], AfterValidator(_unique)] = []
    cross_border: bool = False
    aware_at: datetime | None = None
    link_ids: Annotated[list[StixId], AfterValidator(_unique)] = []

    @model_validator(mode="after")
    def _aware_not_in_future(self) -> IncidentIn:
        if self.aware_at is not None:
            if self.aware_at.tzinfo is None:
                raise ValueError("aware_at needs a time zone (for example 2026-11-23T08:00:00Z)")
            if self.aware_at > datetime.now(self.aware_at.tzinfo):
                raise ValueError("aware_at is in the future")
            if self.aware_at.year < EARLIEST_YEAR:
                raise ValueError(f"aware_at is before {EARLIEST_YEAR}")
        return self


class IncidentUpdate(Classification):
    """Triage: the reporter confirms or corrects what the incident is."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    description: Text
    severity: Severity
    countries: Annotated[list[CountryCode], AfterValidator(_unique)] = Field(min_length=1)
    sectors: Annotated[list[Sector], AfterValidator(_unique)] = []
    cross_border: bool = False


class MarkingIn(Marking):
    """A new marking for an incident."""

    model_config = ConfigDict(extra="forbid")


class StageIn(BaseModel):
    """A stage report: the notification's assessment, or the final report."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    text: Text


class InviteIn(BaseModel):
    """Organisations to invite as parties."""

    model_config = ConfigDict(extra="forbid")

    organisation_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)
    note: LongText | None = None


class PartyUpdate(BaseModel):
    """A party says where it stands."""

    model_config = ConfigDict(extra="forbid")

    status: PartyStatus
    note: LongText | None = None

    @model_validator(mode="after")
    def _an_answer(self) -> PartyUpdate:
        if self.status in (PartyStatus.NOTIFIED, PartyStatus.NO_RESPONSE):
            raise ValueError("a party answers: acknowledged, investigating or resolved")
        return self


class AssistanceIn(BaseModel):
    """A request for assistance to one organisation, with its deadline."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: uuid.UUID
    text: Text
    respond_by: datetime

    @model_validator(mode="after")
    def _deadline_ahead(self) -> AssistanceIn:
        if self.respond_by.tzinfo is None:
            raise ValueError("respond_by needs a time zone (for example 2026-11-24T08:00:00Z)")
        if self.respond_by <= datetime.now(self.respond_by.tzinfo):
            raise ValueError("respond_by must be in the future")
        if self.respond_by.year > LATEST_YEAR:
            raise ValueError(f"respond_by must be before {LATEST_YEAR + 1}")
        return self


class AssistanceAnswer(BaseModel):
    """The requested organisation's answer."""

    model_config = ConfigDict(extra="forbid")

    status: AssistanceStatus
    answer: Text

    @model_validator(mode="after")
    def _an_answer(self) -> AssistanceAnswer:
        if self.status == AssistanceStatus.OPEN:
            raise ValueError("answer accepted, declined or completed")
        return self


class CommentIn(BaseModel):
    """A comment on the timeline."""

    model_config = ConfigDict(extra="forbid")

    text: Text


class LinksIn(BaseModel):
    """Reports or indicators to link, by STIX id."""

    model_config = ConfigDict(extra="forbid")

    stix_ids: Annotated[list[StixId], AfterValidator(_unique)] = Field(min_length=1)


class CloseIn(BaseModel):
    """How the incident ended."""

    model_config = ConfigDict(extra="forbid")

    resolution: Text


class StageOut(BaseModel):
    """One reporting stage: when it is due, when it was filed, whether it is overdue."""

    stage: Stage
    due_at: datetime
    filed_at: datetime | None
    overdue: bool
    late: bool
    text: str | None


class PartyOut(BaseModel):
    """An invited organisation and where it stands."""

    organisation_id: uuid.UUID
    organisation_name: str
    country: str
    status: PartyStatus
    invited_at: datetime
    respond_by: datetime
    acknowledged_at: datetime | None
    acknowledgement_seconds: float | None
    status_changed_at: datetime
    note: str | None


class AssistanceOut(BaseModel):
    """A request for assistance and its answer."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    text: str
    requested_at: datetime
    respond_by: datetime
    overdue: bool
    status: AssistanceStatus
    answer: str | None
    answered_at: datetime | None


class EntryOut(BaseModel):
    """One timeline entry."""

    at: datetime
    kind: EntryKind
    actor: str
    organisation_name: str | None
    text: str


class LinkOut(BaseModel):
    """A linked report or indicator the reader may see."""

    stix_id: str
    type: str
    name: str | None
    tlp: Tlp


class AttachmentOut(BaseModel):
    """An attached file's description."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


class IncidentSummary(BaseModel):
    """An incident's line in a list."""

    id: uuid.UUID
    reference: str
    title: str
    organisation_id: uuid.UUID
    organisation_name: str
    rsit_class: str
    rsit_type: str
    classification: str
    severity: Severity
    status: IncidentStatus
    cross_border: bool
    countries: list[str]
    sectors: list[Sector]
    tlp: Tlp
    distribution: Distribution
    created_at: datetime
    overdue_stages: list[Stage]


class IncidentOut(IncidentSummary):
    """An incident with everything the reader may see of it."""

    description: str
    machinetag: str
    taxonomy_version: int
    sharing_group_id: uuid.UUID | None
    aware_at: datetime
    updated_at: datetime
    triaged_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    stages: list[StageOut]
    parties: list[PartyOut]
    assistance: list[AssistanceOut]
    links: list[LinkOut]
    attachments: list[AttachmentOut]
    timeline: list[EntryOut]


class ClassCount(BaseModel):
    """Incidents of one class in one month."""

    month: str
    rsit_class: str
    count: int


class CountryAcknowledgement(BaseModel):
    """How the parties of one state answered: the CBM question, do they pick up?"""

    country: str
    parties: int
    acknowledged: int
    silent: int
    median_acknowledgement_seconds: float | None


class DashboardOut(BaseModel):
    """The state of the incidents the reader may see."""

    open: int
    new: int
    cross_border_open: int
    overdue_count: int
    overdue: list[IncidentSummary]
    overdue_assistance: int
    parties_waiting: int
    median_acknowledgement_seconds: float | None
    acknowledged: int
    silent: int
    by_country: list[CountryAcknowledgement]
    by_class: list[ClassCount]
