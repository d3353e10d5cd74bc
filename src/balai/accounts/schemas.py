"""Input and output shapes of users and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from balai.accounts.models import Role
from balai.validators import Email, Name, TimeZoneName


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    organisation_id: uuid.UUID
    role: Role = Role.READER
    password: str | None = Field(
        None, description="Leave empty to send the user a link to choose one."
    )
    timezone: TimeZoneName = "UTC"


class UserUpdate(BaseModel):
    """Changes to a user; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    timezone: TimeZoneName | None = None


class UserOut(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    organisation_id: uuid.UUID
    role: Role
    active: bool
    timezone: str
    has_totp: bool
    created_at: datetime
    last_login_at: datetime | None


class ApiKeyCreate(BaseModel):
    """A new API key for the acting user."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiKeyOut(BaseModel):
    """An API key without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key; `key` is shown this once and never again."""

    key: str
