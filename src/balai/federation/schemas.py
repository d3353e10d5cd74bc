"""What a new peer is made of."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from balai.intel.markings import Distribution


class PeerIn(BaseModel):
    """A peer to add: where it is, how to authenticate, and what crosses in each direction."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    api_root: str = Field(max_length=500, description="The peer's TAXII 2.1 API root URL.")
    username: str | None = Field(None, max_length=320)
    secret: SecretStr = Field(description="API key (or password) of this instance at the peer.")
    organisation_id: uuid.UUID = Field(description="The organisation that stands for the peer.")
    pull_collection: str | None = Field(None, max_length=100)
    pull_distribution: Distribution = Distribution.COMMUNITY
    pull_group_id: uuid.UUID | None = None
    open_feed: bool = Field(
        False, description="The pulled collection is a feed meant for wide sharing."
    )
    push_collection: str | None = Field(None, max_length=100)
    push_restricted_collection: str | None = Field(None, max_length=100)
    interval_minutes: int | None = Field(None, ge=5, le=10_080)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return value.strip()

    @field_validator("api_root")
    @classmethod
    def _api_root(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http or https URL")
        return value.strip() if value.strip().endswith("/") else value.strip() + "/"

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value
