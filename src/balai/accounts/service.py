"""Users and API keys: create, change, list, revoke; authenticate API keys."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.accounts import auth
from balai.accounts.models import ApiKey, Role, User
from balai.accounts.passwords import check_password_policy, hash_password
from balai.accounts.schemas import ApiKeyCreate, UserCreate, UserUpdate
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation
from balai.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from balai.pagination import Page, paginate
from balai.tokens import hash_token, new_token, same_hash

API_KEY_PREFIX = "balai"
KEY_USE_AUDIT_INTERVAL = timedelta(hours=1)


def _require_manage(actor: Actor, organisation_id: uuid.UUID) -> None:
    actor.require_for_org(
        Permission.USER_MANAGE_ANY, Permission.USER_MANAGE_OWN_ORG, organisation_id
    )


def _check_role_grant(actor: Actor, role: Role) -> None:
    if role == Role.PLATFORM_ADMIN and not actor.is_platform_admin:
        raise Forbidden("only a platform admin may make or change a platform admin")


def create_user(session: Session, *, actor: Actor, settings: Settings, data: UserCreate) -> User:
    """Create a user; without a password, e-mail an invitation to choose one."""
    organisation = session.scalar(
        select_visible(actor, Organisation).where(Organisation.id == data.organisation_id)
    )
    if organisation is None:
        raise ValidationFailed.one("organisation_id", "no such organisation")
    _require_manage(actor, organisation.id)
    _check_role_grant(actor, data.role)
    if session.scalar(select(func.count()).where(User.email == data.email)):
        raise Conflict(f"a user with the e-mail address {data.email} already exists")
    user = User(
        id=uuid.uuid4(),
        email=data.email,
        name=data.name,
        organisation_id=organisation.id,
        role=data.role,
        timezone=data.timezone,
        active=True,
    )
    if data.password is not None:
        check_password_policy(
            data.password, email=data.email, min_length=settings.password_min_length, loc="password"
        )
        user.password_hash = hash_password(data.password)
        user.password_changed_at = utcnow()
    session.add(user)
    session.flush()
    if data.password is None:
        auth.issue_password_link(session, settings=settings, user=user, invitation=True)
    record(
        session,
        actor=actor,
        action=AuditAction.USER_CREATED,
        object_type="user",
        object_id=user.id,
        object_org_id=user.organisation_id,
        details={"email": user.email, "role": user.role.value},
    )
    return user


def get_user(session: Session, *, actor: Actor, user_id: uuid.UUID) -> User:
    """One user the actor may see."""
    user = session.scalar(select_visible(actor, User).where(User.id == user_id))
    if user is None:
        raise NotFound("no such user")
    return user


def list_users(
    session: Session,
    *,
    actor: Actor,
    organisation_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[User]:
    """The users the actor may see, by organisation and name."""
    query = select_visible(actor, User)
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    return paginate(session, query.order_by(User.name), page=page, per_page=per_page)


def update_user(session: Session, *, actor: Actor, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Change a user. Everyone may change their own name and zone; the rest needs rights."""
    user = get_user(session, actor=actor, user_id=user_id)
    is_self = user.id == actor.user_id
    if not is_self or data.role is not None or data.active is not None:
        _require_manage(actor, user.organisation_id)
        _check_role_grant(actor, user.role)  # an org admin may not touch a platform admin
    changes: dict[str, str] = {}
    if data.role is not None and data.role != user.role:
        if is_self:
            raise Forbidden("you cannot change your own role")
        _check_role_grant(actor, data.role)
        changes["role"] = f"{user.role.value} -> {data.role.value}"
        user.role = data.role
    if data.name is not None and data.name != user.name:
        changes["name"] = data.name
        user.name = data.name
    if data.timezone is not None and data.timezone != user.timezone:
        changes["timezone"] = data.timezone
        user.timezone = data.timezone
    action = AuditAction.USER_UPDATED
    if data.active is not None and data.active != user.active:
        if is_self:
            raise Forbidden("you cannot deactivate yourself")
        user.active = data.active
        changes["active"] = str(data.active).lower()
        if not data.active:
            action = AuditAction.USER_DEACTIVATED
            auth.end_all_sessions(session, user=user)
    if changes:
        record(
            session,
            actor=actor,
            action=action,
            object_type="user",
            object_id=user.id,
            object_org_id=user.organisation_id,
            details=changes,
        )
    return user


def create_api_key(session: Session, *, actor: Actor, data: ApiKeyCreate) -> tuple[str, ApiKey]:
    """A new key for the acting user; the plain key is returned once and never stored."""
    actor.require(Permission.APIKEY_MANAGE_OWN)
    if actor.user is None:
        raise Forbidden("API keys belong to users")
    prefix = secrets.token_hex(4)
    plain = f"{API_KEY_PREFIX}_{prefix}_{new_token(32)}"
    key = ApiKey(
        id=uuid.uuid4(),
        user_id=actor.user.id,
        name=data.name,
        prefix=prefix,
        key_hash=hash_token(plain),
        expires_at=utcnow() + timedelta(days=data.expires_in_days)
        if data.expires_in_days
        else None,
    )
    session.add(key)
    record(
        session,
        actor=actor,
        action=AuditAction.APIKEY_CREATED,
        object_type="api_key",
        object_id=key.id,
        object_org_id=actor.organisation_id,
        details={"name": data.name, "prefix": prefix},
    )
    return plain, key


def list_api_keys(session: Session, *, actor: Actor) -> list[ApiKey]:
    """The acting user's keys, newest first."""
    query = select_visible(actor, ApiKey)
    if actor.user_id is not None:
        query = query.where(ApiKey.user_id == actor.user_id)
    return list(session.scalars(query.order_by(ApiKey.created_at.desc())))


def revoke_api_key(session: Session, *, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Revoke one of the acting user's keys at once."""
    key = session.scalar(select_visible(actor, ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound("no such API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record(
            session,
            actor=actor,
            action=AuditAction.APIKEY_REVOKED,
            object_type="api_key",
            object_id=key.id,
            object_org_id=key.user.organisation_id,
            details={"prefix": key.prefix},
        )
    return key


def authenticate_api_key(session: Session, *, presented: str, client_ip: str | None) -> User:
    """The user a presented key acts for; records its use at most hourly per key."""
    parts = presented.split("_", 2)
    key = None
    if len(parts) == 3 and parts[0] == API_KEY_PREFIX:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    now = utcnow()
    if (
        key is None
        or not same_hash(presented, key.key_hash)
        or key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
        or not key.user.active
    ):
        raise Unauthenticated("invalid, expired or revoked API key")
    if key.last_used_at is None or now - key.last_used_at >= KEY_USE_AUDIT_INTERVAL:
        record(
            session,
            actor=Actor(via=Via.API_KEY, user=key.user, client_ip=client_ip),
            action=AuditAction.APIKEY_USED,
            object_type="api_key",
            object_id=key.id,
            object_org_id=key.user.organisation_id,
            details={"prefix": key.prefix},
        )
    key.last_used_at = now
    return key.user
