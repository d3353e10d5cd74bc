"""Who is acting: a signed-in user, an API key, the command line or the worker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from balai.access.permissions import RECIPIENT_PERMISSIONS, ROLE_PERMISSIONS, Permission
from balai.accounts.models import Role, User
from balai.errors import Forbidden


class Via(StrEnum):
    """How the actor reached the platform."""

    SESSION = "session"
    API_KEY = "api_key"
    CLI = "cli"
    SYSTEM = "system"
    RECIPIENT = "recipient"


@dataclass(frozen=True)
class Actor:
    """The acting party that services take as a keyword argument."""

    via: Via
    user: User | None = None
    client_ip: str | None = None
    recipient_org_id: uuid.UUID | None = None

    @classmethod
    def recipient(cls, organisation_id: uuid.UUID) -> Actor:
        """An organisation as the recipient of an alert: it sees what its members see, and
        may do nothing else."""
        return cls(via=Via.RECIPIENT, recipient_org_id=organisation_id)

    @property
    def user_id(self) -> uuid.UUID | None:
        """The acting user's id, if a user acts."""
        return self.user.id if self.user else None

    @property
    def organisation_id(self) -> uuid.UUID | None:
        """The acting user's organisation (or the recipient organisation)."""
        if self.via == Via.RECIPIENT:
            return self.recipient_org_id
        return self.user.organisation_id if self.user else None

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        if self.user is not None:
            return self.user.email
        return self.via.value

    @property
    def is_trusted(self) -> bool:
        """The command line and the worker run with the operator's authority."""
        return self.via in {Via.CLI, Via.SYSTEM}

    @property
    def is_platform_admin(self) -> bool:
        """Whether the actor holds every permission."""
        return self.is_trusted or (self.user is not None and self.user.role == Role.PLATFORM_ADMIN)

    def can(self, permission: Permission) -> bool:
        """Whether the actor's role grants the permission."""
        if self.is_trusted:
            return True
        if self.via == Via.RECIPIENT:
            return permission in RECIPIENT_PERMISSIONS
        if self.user is None or not self.user.active:
            return False
        return permission in ROLE_PERMISSIONS[self.user.role]

    def require(self, permission: Permission) -> None:
        """Raise Forbidden unless the actor holds the permission."""
        if not self.can(permission):
            raise Forbidden(f"you lack the permission {permission.value}")

    def can_for_org(self, any_: Permission, own: Permission, org_id: uuid.UUID | None) -> bool:
        """Whether the actor may act on an object of the given organisation."""
        if self.can(any_):
            return True
        return self.can(own) and org_id is not None and org_id == self.organisation_id

    def require_for_org(self, any_: Permission, own: Permission, org_id: uuid.UUID | None) -> None:
        """Raise Forbidden unless can_for_org."""
        if not self.can_for_org(any_, own, org_id):
            raise Forbidden(f"you lack the permission {own.value} for this organisation")


SYSTEM = Actor(via=Via.SYSTEM)
CLI = Actor(via=Via.CLI)
