"""Permissions, named scope:resource:action, and which roles hold them."""

from __future__ import annotations

from enum import StrEnum

from balai.accounts.models import Role


class Permission(StrEnum):
    """Something a role may do. Whether it applies to a given object is the service's check."""

    DIRECTORY_READ = "directory:directory:read"
    DIRECTORY_EXPORT = "directory:directory:export"
    DIRECTORY_IMPORT = "directory:directory:import"
    ORGANISATION_CREATE = "directory:organisation:create"
    ORGANISATION_EDIT_ANY = "directory:organisation:edit_any"
    ORGANISATION_EDIT_OWN = "directory:organisation:edit_own"
    CONTACT_EDIT_ANY = "directory:contact:edit_any"
    CONTACT_EDIT_OWN = "directory:contact:edit_own"
    CHECK_START = "checks:check:start"
    CHECK_READ_ANY = "checks:check:read_any"
    USER_MANAGE_ANY = "accounts:user:manage_any"
    USER_MANAGE_OWN_ORG = "accounts:user:manage_own_org"
    APIKEY_MANAGE_OWN = "accounts:apikey:manage_own"
    AUDIT_READ_ANY = "audit:event:read_any"
    AUDIT_READ_OWN_ORG = "audit:event:read_own_org"
    OUTBOX_READ = "outbox:message:read"
    INTEL_READ = "intel:object:read"
    INTEL_EXPORT = "intel:object:export"
    INTEL_IMPORT = "intel:object:import"
    SHARING_GROUP_MANAGE_OWN = "intel:sharing_group:manage_own"
    FEDERATION_MANAGE = "federation:peer:manage"
    INCIDENT_READ = "incidents:incident:read"
    INCIDENT_REPORT = "incidents:incident:report"
    INCIDENT_RESPOND = "incidents:incident:respond"
    ALERT_SUBSCRIBE = "alerts:subscription:manage_own"
    ALERT_MANAGE_ORG = "alerts:subscription:manage_org"


_MEMBER = {
    Permission.DIRECTORY_READ,
    Permission.DIRECTORY_EXPORT,
    Permission.APIKEY_MANAGE_OWN,
    Permission.INTEL_READ,
    Permission.INTEL_EXPORT,
    Permission.INCIDENT_READ,
    Permission.ALERT_SUBSCRIBE,
}
_ANALYST = _MEMBER | {
    Permission.CONTACT_EDIT_OWN,
    Permission.INTEL_IMPORT,
    Permission.INCIDENT_REPORT,
    Permission.INCIDENT_RESPOND,
}
_ORG_ADMIN = _ANALYST | {
    Permission.ORGANISATION_EDIT_OWN,
    Permission.CHECK_START,
    Permission.USER_MANAGE_OWN_ORG,
    Permission.AUDIT_READ_OWN_ORG,
    Permission.SHARING_GROUP_MANAGE_OWN,
    Permission.ALERT_MANAGE_ORG,
}
_PLATFORM_ADMIN = set(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset(_MEMBER),
    Role.ANALYST: frozenset(_ANALYST),
    Role.ORG_ADMIN: frozenset(_ORG_ADMIN),
    Role.PLATFORM_ADMIN: frozenset(_PLATFORM_ADMIN),
}

# What an organisation may read as the recipient of an alert: exactly what reading the
# alert's subject needs, nothing that writes.
RECIPIENT_PERMISSIONS = frozenset({Permission.INCIDENT_READ, Permission.INTEL_READ})
