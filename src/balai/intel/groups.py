"""Sharing groups: named sets of organisations, managed by the organisation that owns them."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.directory.models import Organisation
from balai.errors import Conflict, Forbidden, NotFound, ValidationFailed
from balai.intel.models import SharingGroup, SharingGroupMember, StixObject
from balai.intel.schemas import SharingGroupIn, SharingGroupOut


def visible_groups(session: Session, *, actor: Actor) -> list[SharingGroup]:
    """Groups the actor's organisation owns or belongs to."""
    query = select_visible(actor, SharingGroup).order_by(SharingGroup.name)
    return list(session.scalars(query))


def get_group(session: Session, *, actor: Actor, group_id: uuid.UUID) -> SharingGroup:
    """One group the actor's organisation owns or belongs to."""
    group = session.scalar(select_visible(actor, SharingGroup).where(SharingGroup.id == group_id))
    if group is None:
        raise NotFound("no such sharing group")
    return group


def _require_owner(actor: Actor, group: SharingGroup) -> None:
    if not actor.can(Permission.SHARING_GROUP_MANAGE_OWN):
        raise Forbidden("managing sharing groups needs an organisation admin")
    if group.owner_org_id != actor.organisation_id and not actor.is_trusted:
        raise Forbidden("only the organisation that owns a sharing group manages it")


def _members(session: Session, data: SharingGroupIn, owner: uuid.UUID) -> list[SharingGroupMember]:
    wanted = set(data.member_ids) - {owner}
    found = set(session.scalars(select(Organisation.id).where(Organisation.id.in_(wanted))))
    missing = wanted - found
    if missing:
        raise ValidationFailed.one(
            "member_ids", f"no such organisation: {sorted(map(str, missing))[0]}"
        )
    return [SharingGroupMember(organisation_id=org_id) for org_id in sorted(wanted)]


def _unique_name(session: Session, owner: uuid.UUID, name: str, group_id: uuid.UUID | None) -> None:
    clash = session.scalar(
        select(SharingGroup.id).where(
            SharingGroup.owner_org_id == owner, func.lower(SharingGroup.name) == name.lower()
        )
    )
    if clash is not None and clash != group_id:
        raise ValidationFailed.one("name", f"your organisation already has a group named {name!r}")


def create_group(session: Session, *, actor: Actor, data: SharingGroupIn) -> SharingGroup:
    """A new group owned by the actor's organisation."""
    actor.require(Permission.SHARING_GROUP_MANAGE_OWN)
    owner = actor.organisation_id
    if owner is None:
        raise ValidationFailed.one("owner", "a sharing group belongs to an organisation")
    _unique_name(session, owner, data.name, None)
    group = SharingGroup(
        id=uuid.uuid4(),
        name=data.name,
        description=data.description,
        owner_org_id=owner,
        members=_members(session, data, owner),
    )
    session.add(group)
    session.flush()
    _audit(session, actor, group, AuditAction.SHARING_GROUP_CREATED)
    return group


def update_group(
    session: Session, *, actor: Actor, group_id: uuid.UUID, data: SharingGroupIn
) -> SharingGroup:
    """Rename a group or change its members; what it already shares follows the new members."""
    group = get_group(session, actor=actor, group_id=group_id)
    _require_owner(actor, group)
    _unique_name(session, group.owner_org_id, data.name, group.id)
    group.name = data.name
    group.description = data.description
    group.members = _members(session, data, group.owner_org_id)
    session.flush()
    _audit(session, actor, group, AuditAction.SHARING_GROUP_UPDATED)
    return group


def delete_group(session: Session, *, actor: Actor, group_id: uuid.UUID) -> None:
    """Delete a group that shares nothing any more."""
    group = get_group(session, actor=actor, group_id=group_id)
    _require_owner(actor, group)
    used = session.scalar(select(func.count()).where(StixObject.sharing_group_id == group.id))
    if used:
        raise Conflict(f"{used} object version(s) are shared with this group; it cannot go")
    _audit(session, actor, group, AuditAction.SHARING_GROUP_DELETED)
    session.delete(group)


def _audit(session: Session, actor: Actor, group: SharingGroup, action: AuditAction) -> None:
    record(
        session,
        actor=actor,
        action=action,
        object_type="sharing_group",
        object_id=group.id,
        object_org_id=group.owner_org_id,
        details={"name": group.name, "members": len(group.members)},
    )


def group_out(group: SharingGroup) -> SharingGroupOut:
    """The API shape of a group."""
    members = sorted(group.members, key=lambda m: m.organisation.name)
    return SharingGroupOut(
        id=group.id,
        name=group.name,
        description=group.description,
        owner_org_id=group.owner_org_id,
        owner_name=group.owner.name,
        member_ids=[m.organisation_id for m in members],
        member_names=[m.organisation.name for m in members],
    )


def check_marking_group(session: Session, *, actor: Actor, group_id: uuid.UUID | None) -> None:
    """An upload may name only a group the actor's organisation owns or belongs to.

    Membership is checked as well as visibility: the command line sees every group, yet
    imports as one user's organisation.
    """
    if group_id is None:
        return
    group = session.scalar(select_visible(actor, SharingGroup).where(SharingGroup.id == group_id))
    if group is None or actor.organisation_id not in group.member_ids:
        raise ValidationFailed.one("sharing_group_id", "no such sharing group")
