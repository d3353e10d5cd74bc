"""Input and output shapes of organisations and points of contact."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from balai.directory.models import ContactRole, OrgKind, Sector
from balai.validators import (
    CountryCode,
    Email,
    LanguageCode,
    LongText,
    Name,
    PgpFingerprint,
    PhoneNumber,
    ShortText,
    TimeZoneName,
)


class Weekday(StrEnum):
    """Days of the week, for office hours."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


def _week_order(days: list[Weekday]) -> list[Weekday]:
    wanted = set(days)
    return [day for day in Weekday if day in wanted]


# The limits of the columns these are stored in.
OrgShortName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
Website = Annotated[HttpUrl, UrlConstraints(max_length=300)]
OfficeDays = Annotated[list[Weekday], AfterValidator(_week_order)]


class Messenger(BaseModel):
    """A secure-messenger handle: the app and the handle in it."""

    model_config = ConfigDict(extra="forbid")

    app: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    handle: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrganisationIn(BaseModel):
    """An organisation as created or edited."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    short_name: OrgShortName | None = None
    kind: OrgKind
    country: CountryCode
    parent_id: uuid.UUID | None = None
    sectors: list[Sector] = Field(default_factory=list)
    website: Website | None = None
    constituency: LongText | None = None
    description: LongText | None = None


class OrganisationOut(BaseModel):
    """An organisation as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    short_name: str | None
    kind: OrgKind
    country: str
    parent_id: uuid.UUID | None
    sectors: list[Sector]
    website: str | None
    constituency: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime


class ContactIn(BaseModel):
    """A point of contact as created or edited."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    role: ContactRole
    title: ShortText | None = None
    emails: list[Email] = Field(default_factory=list, max_length=10)
    phones: list[PhoneNumber] = Field(default_factory=list, max_length=10)
    messengers: list[Messenger] = Field(default_factory=list, max_length=10)
    pgp_fingerprint: PgpFingerprint | None = None
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    timezone: TimeZoneName = "UTC"
    office_days: OfficeDays = Field(
        default_factory=lambda: [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
    )
    office_start: time | None = None
    office_end: time | None = None
    alternate_id: uuid.UUID | None = None
    expires_on: date | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _reachable_and_coherent(self) -> ContactIn:
        # Each problem names a field, so that forms show it beside the input to correct.
        problems: list[tuple[str, str]] = []
        if not self.emails and not self.phones:
            problems.append(
                ("emails", "a point of contact needs at least one e-mail address or phone")
            )
        if (self.office_start is None) != (self.office_end is None):
            missing = "office_end" if self.office_end is None else "office_start"
            problems.append(
                (missing, "give both the start and the end of office hours, or neither")
            )
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", message), loc=(field,), input=None
                    )
                    for field, message in problems
                ],
            )
        return self


class ContactOut(BaseModel):
    """A point of contact as the API shows it, with its staleness."""

    id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    country: str
    name: str
    role: ContactRole
    title: str | None
    emails: list[str]
    phones: list[str]
    messengers: list[Messenger]
    pgp_fingerprint: str | None
    languages: list[str]
    timezone: str
    office_days: list[Weekday]
    office_start: time | None
    office_end: time | None
    alternate_id: uuid.UUID | None
    last_verified_at: datetime | None
    expires_on: date | None
    stale: bool
    stale_reason: str | None
    notes: str | None
    updated_at: datetime


class ContactFilters(BaseModel):
    """Search and filters over points of contact."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=200)
    country: list[CountryCode] = Field(default_factory=list)
    role: list[ContactRole] = Field(default_factory=list)
    kind: list[OrgKind] = Field(default_factory=list)
    sector: list[Sector] = Field(default_factory=list)
    language: list[LanguageCode] = Field(default_factory=list)
    organisation_id: list[uuid.UUID] = Field(default_factory=list)
    stale: bool | None = None


class OrganisationFilters(BaseModel):
    """Search and filters over organisations."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=200)
    country: list[CountryCode] = Field(default_factory=list)
    kind: list[OrgKind] = Field(default_factory=list)
    sector: list[Sector] = Field(default_factory=list)


class TeamContact(ContactIn):
    """A contact inside a team-directory record; `alternate` names another of its contacts."""

    alternate: Name | None = None
    last_verified_at: AwareDatetime | None = None


class TeamRecord(BaseModel):
    """One team in a team-directory file (Trusted-Introducer-style)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    short_name: OrgShortName | None = None
    country: CountryCode
    kind: OrgKind = OrgKind.NATIONAL_CERT
    parent: Name | None = Field(None, description="Name of the parent organisation, same country.")
    sectors: list[Sector] = Field(default_factory=list)
    website: Website | None = None
    constituency: LongText | None = None
    description: LongText | None = None
    emails: list[Email] = Field(default_factory=list, max_length=10)
    phones: list[PhoneNumber] = Field(default_factory=list, max_length=10)
    pgp_keys: list[PgpFingerprint] = Field(default_factory=list, max_length=10)
    timezone: TimeZoneName = "UTC"
    contacts: list[TeamContact] = Field(default_factory=list)


class TeamDirectory(BaseModel):
    """A team-directory file: the import and JSON export format."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field("balai-team-directory", pattern="^balai-team-directory$")
    version: int = Field(1, ge=1, le=1)
    generated_at: datetime | None = None
    teams: list[TeamRecord]


class ImportReport(BaseModel):
    """What an import changed."""

    organisations_created: int = 0
    organisations_updated: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
