"""One typed settings object, built once at start-up from BALAI_* environment variables.

Every field is documented in docs/operator/settings.md; a test fails when one is not.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "balai-demo-secret-key-not-for-production-use-000000"  # noqa: S105  # refused outside the demo


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Settings(BaseSettings):
    """Balai's configuration. Refuses unsafe defaults outside the demo."""

    model_config = SettingsConfigDict(env_prefix="BALAI_", extra="ignore", frozen=True)

    demo: bool = Field(False, description="Demo mode: allows the built-in secret key and http.")
    database_url: str = Field(
        "sqlite:///balai.sqlite3",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    secret_key: SecretStr | None = Field(
        None, description="At least 32 characters; signs CSRF tokens. Required outside the demo."
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of this instance, used in links sent by e-mail.",
    )
    community_name: str = Field("Balai", description="Name of the community shown on pages.")
    instance_name: str = Field(
        "Balai", description="Name of this instance, used as the e-mail sender name."
    )

    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    smtp_security: SmtpSecurity = Field(SmtpSecurity.NONE, description="none, starttls or tls.")
    smtp_username: str | None = Field(None, description="SMTP user name, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="SMTP connect and command timeout.")
    mail_from: str = Field("balai@localhost", description="Envelope and header From address.")

    session_max_age_hours: int = Field(12, ge=1, description="A log-in session ends after this.")
    session_idle_minutes: int = Field(120, ge=5, description="Idle sessions end after this.")
    cookie_secure: bool | None = Field(
        None, description="Send cookies only over HTTPS; defaults to true when base_url is https."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed log-ins per account within the window before it is throttled."
    )
    login_max_failures_per_ip: int = Field(
        20, ge=1, description="Failed log-ins per client address within the window."
    )
    login_window_minutes: int = Field(15, ge=1, description="Window for counting failures.")
    password_reset_minutes: int = Field(60, ge=5, description="A reset link is valid this long.")
    password_min_length: int = Field(12, ge=8, description="Shortest acceptable password.")

    contact_stale_days: int = Field(
        180, ge=1, description="A contact not verified for this many days is flagged as stale."
    )
    check_escalate_minutes: int = Field(
        60, ge=1, description="Default wait before a check tries a contact's alternate."
    )
    check_close_minutes: int = Field(
        1440, ge=2, description="Default time after which a check closes; silence is not reached."
    )

    correlation_cap: int = Field(
        50, ge=1, description="A value shared by more objects than this is counted, not listed."
    )

    taxii_page_max: int = Field(
        1000, ge=1, description="Most objects a TAXII page holds, whatever limit is asked."
    )
    taxii_max_content_length: int = Field(
        10_000_000, ge=1024, description="Largest TAXII POST body, advertised by the API root."
    )

    outbox_max_attempts: int = Field(
        8, ge=1, description="Delivery attempts before a message is marked dead."
    )
    outbox_backoff_seconds: float = Field(
        30.0, gt=0, description="First retry delay; doubles with each attempt."
    )
    outbox_lease_seconds: int = Field(
        120, ge=5, description="How long a worker holds a claimed message before others may retry."
    )
    outbox_batch_size: int = Field(50, ge=1, description="Messages a worker claims at once.")
    worker_poll_seconds: float = Field(
        0.5, gt=0, description="Worker wait between empty polls (woken sooner on PostgreSQL)."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest a webhook call may take: connect, send and answer."
    )
    webhook_concurrency: int = Field(
        8, ge=1, le=64, description="Webhook calls a worker makes at once within a batch."
    )
    webhook_allow_http: bool = Field(
        False, description="Allow http:// webhook URLs, not only https:// (always in the demo)."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks to loopback, private and other non-public addresses "
        "(always in the demo).",
    )

    max_upload_bytes: int = Field(
        10_000_000, ge=1024, description="Largest accepted upload (directory import)."
    )
    scan_upload_max_bytes: int = Field(
        50_000_000,
        ge=1024,
        description="Largest log a member may scan on the page (after decompression).",
    )
    incident_early_warning_hours: int = Field(
        24, ge=1, description="NIS2 early warning: due this many hours after becoming aware."
    )
    incident_notification_hours: int = Field(
        72, ge=1, description="NIS2 notification: due this many hours after becoming aware."
    )
    incident_final_report_days: int = Field(
        30, ge=1, description="NIS2 final report: due this many days after the notification."
    )
    incident_party_response_hours: int = Field(
        24, ge=1, description="An invited organisation silent this long shows as 'no response'."
    )
    alert_escalate_minutes: int = Field(
        60,
        ge=1,
        description="An unacknowledged alert goes to the alternate contact after this, "
        "and to the organisation's admins after as long again.",
    )
    incident_attachment_max_bytes: int = Field(
        10_000_000, ge=1024, description="Largest file attached to an incident."
    )
    demo_mailbox: Path | None = Field(
        None, description="Demo only: Maildir the built-in mail catcher writes to and pages show."
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.secret_key is None:
            if not self.demo:
                raise ValueError("BALAI_SECRET_KEY must be set (at least 32 characters)")
            object.__setattr__(self, "secret_key", SecretStr(DEMO_SECRET_KEY))
        elif not self.demo and self.secret_key.get_secret_value() == DEMO_SECRET_KEY:
            raise ValueError("BALAI_SECRET_KEY must not be the demo key outside the demo")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("BALAI_SECRET_KEY must be at least 32 characters")
        if self.incident_notification_hours < self.incident_early_warning_hours:
            raise ValueError(
                "BALAI_INCIDENT_NOTIFICATION_HOURS must not be shorter than the early warning's"
            )
        if self.check_close_minutes <= self.check_escalate_minutes:
            raise ValueError("BALAI_CHECK_CLOSE_MINUTES must be longer than the escalation wait")
        return self

    @property
    def secret(self) -> bytes:
        """The secret key as bytes."""
        assert self.secret_key is not None  # the validator always sets it
        return self.secret_key.get_secret_value().encode()

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite."""
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)
