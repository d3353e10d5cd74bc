"""Organisations and points of contact: search, read, create, edit, verify."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible, visible
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    ContactLanguage,
    Organisation,
    OrganisationSector,
)
from balai.directory.schemas import (
    ContactFilters,
    ContactIn,
    ContactOut,
    Messenger,
    OrganisationFilters,
    OrganisationIn,
    Weekday,
)
from balai.errors import Conflict, NotFound, ValidationFailed
from balai.pagination import Page, paginate


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Organisations


def list_organisations(
    session: Session,
    *,
    actor: Actor,
    filters: OrganisationFilters,
    page: int = 1,
    per_page: int = 50,
) -> Page[Organisation]:
    """The organisations the actor may see, filtered, by country and name."""
    query = select_visible(actor, Organisation)
    if filters.q:
        pattern = _like(filters.q)
        query = query.where(
            or_(
                func.lower(Organisation.name).like(pattern, escape="\\"),
                func.lower(Organisation.short_name).like(pattern, escape="\\"),
            )
        )
    if filters.country:
        query = query.where(Organisation.country.in_(filters.country))
    if filters.kind:
        query = query.where(Organisation.kind.in_(filters.kind))
    if filters.sector:
        query = query.where(
            Organisation.id.in_(
                select(OrganisationSector.organisation_id).where(
                    OrganisationSector.sector.in_(filters.sector)
                )
            )
        )
    query = query.order_by(Organisation.country, Organisation.name)
    return paginate(session, query, page=page, per_page=per_page)


def get_organisation(session: Session, *, actor: Actor, organisation_id: uuid.UUID) -> Organisation:
    """One organisation the actor may see."""
    org = session.scalar(
        select_visible(actor, Organisation).where(Organisation.id == organisation_id)
    )
    if org is None:
        raise NotFound("no such organisation")
    return org


def _check_parent(
    session: Session, actor: Actor, data: OrganisationIn, org_id: uuid.UUID | None
) -> None:
    if data.parent_id is None:
        return
    parent = session.scalar(
        select_visible(actor, Organisation).where(Organisation.id == data.parent_id)
    )
    if parent is None:
        raise ValidationFailed.one("parent_id", "no such organisation")
    seen = {org_id}
    ancestor: Organisation | None = parent
    while ancestor is not None:
        if ancestor.id in seen:
            raise ValidationFailed.one("parent_id", "an organisation cannot be its own ancestor")
        seen.add(ancestor.id)
        ancestor = ancestor.parent


def _check_unique_name(session: Session, data: OrganisationIn, org_id: uuid.UUID | None) -> None:
    clash = session.scalar(
        select(Organisation.id).where(
            Organisation.country == data.country,
            func.lower(Organisation.name) == data.name.lower(),
        )
    )
    if clash is not None and clash != org_id:
        raise Conflict(f"an organisation named {data.name!r} already exists in {data.country}")


def _apply_organisation(org: Organisation, data: OrganisationIn) -> None:
    org.name = data.name
    org.short_name = data.short_name or None
    org.kind = data.kind
    org.country = data.country
    org.parent_id = data.parent_id
    org.website = str(data.website) if data.website else None
    org.constituency = data.constituency or None
    org.description = data.description or None
    wanted = set(data.sectors)
    org.sector_rows = [row for row in org.sector_rows if row.sector in wanted]
    have = {row.sector for row in org.sector_rows}
    org.sector_rows.extend(OrganisationSector(sector=s) for s in sorted(wanted - have))


def create_organisation(session: Session, *, actor: Actor, data: OrganisationIn) -> Organisation:
    """A new organisation (platform admins)."""
    actor.require(Permission.ORGANISATION_CREATE)
    _check_unique_name(session, data, None)
    org = Organisation(id=uuid.uuid4())
    _check_parent(session, actor, data, org.id)
    _apply_organisation(org, data)
    session.add(org)
    session.flush()
    record(
        session,
        actor=actor,
        action=AuditAction.ORGANISATION_CREATED,
        object_type="organisation",
        object_id=org.id,
        object_org_id=org.id,
        details={"name": org.name, "country": org.country},
    )
    return org


def update_organisation(
    session: Session, *, actor: Actor, organisation_id: uuid.UUID, data: OrganisationIn
) -> Organisation:
    """Edit an organisation (platform admins, or its own organisation admins)."""
    org = get_organisation(session, actor=actor, organisation_id=organisation_id)
    actor.require_for_org(
        Permission.ORGANISATION_EDIT_ANY, Permission.ORGANISATION_EDIT_OWN, org.id
    )
    if not actor.can(Permission.ORGANISATION_EDIT_ANY) and data.country != org.country:
        raise ValidationFailed.one("country", "only a platform admin may move an organisation")
    _check_unique_name(session, data, org.id)
    _check_parent(session, actor, data, org.id)
    _apply_organisation(org, data)
    record(
        session,
        actor=actor,
        action=AuditAction.ORGANISATION_UPDATED,
        object_type="organisation",
        object_id=org.id,
        object_org_id=org.id,
        details={"name": org.name},
    )
    return org


# Points of contact


def stale_condition(settings: Settings, now: datetime) -> ColumnElement[bool]:
    """SQL: the contact has expired or has not been verified recently enough."""
    cutoff = now - timedelta(days=settings.contact_stale_days)
    return or_(
        and_(Contact.expires_on.is_not(None), Contact.expires_on < now.date()),
        Contact.last_verified_at.is_(None),
        Contact.last_verified_at < cutoff,
    )


def stale_reason(contact: Contact, *, settings: Settings, now: datetime) -> str | None:
    """Why a contact is stale, or None when it is current."""
    if contact.expires_on is not None and contact.expires_on < now.date():
        return f"expired on {contact.expires_on.isoformat()}"
    if contact.last_verified_at is None:
        return "never verified"
    age = now - contact.last_verified_at
    if age > timedelta(days=settings.contact_stale_days):
        return f"not verified for {age.days} days"
    return None


def contact_query(actor: Actor, filters: ContactFilters, *, settings: Settings) -> Select[Contact]:
    """The visible contacts matching a search, joined to their organisations."""
    query = select_visible(actor, Contact).join(Contact.organisation)
    if filters.q:
        pattern = _like(filters.q)
        query = query.where(
            or_(
                func.lower(Contact.name).like(pattern, escape="\\"),
                func.lower(Contact.title).like(pattern, escape="\\"),
                func.lower(Organisation.name).like(pattern, escape="\\"),
                func.lower(Organisation.short_name).like(pattern, escape="\\"),
                Contact.id.in_(
                    select(ContactChannel.contact_id).where(
                        func.lower(ContactChannel.value).like(pattern, escape="\\")
                    )
                ),
            )
        )
    if filters.country:
        query = query.where(Organisation.country.in_(filters.country))
    if filters.role:
        query = query.where(Contact.role.in_(filters.role))
    if filters.kind:
        query = query.where(Organisation.kind.in_(filters.kind))
    if filters.organisation_id:
        query = query.where(Contact.organisation_id.in_(filters.organisation_id))
    if filters.sector:
        query = query.where(
            Contact.organisation_id.in_(
                select(OrganisationSector.organisation_id).where(
                    OrganisationSector.sector.in_(filters.sector)
                )
            )
        )
    if filters.language:
        query = query.where(
            Contact.id.in_(
                select(ContactLanguage.contact_id).where(
                    ContactLanguage.language.in_(filters.language)
                )
            )
        )
    if filters.stale is not None:
        condition = stale_condition(settings, utcnow())
        query = query.where(condition if filters.stale else ~condition)
    return query.order_by(Organisation.country, Organisation.name, Contact.role, Contact.name)


def search_contacts(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    filters: ContactFilters,
    page: int = 1,
    per_page: int = 50,
) -> Page[Contact]:
    """One page of the visible contacts matching a search."""
    query = contact_query(actor, filters, settings=settings)
    return paginate(session, query, page=page, per_page=per_page)


def get_contact(session: Session, *, actor: Actor, contact_id: uuid.UUID) -> Contact:
    """One contact the actor may see."""
    contact = session.scalar(select_visible(actor, Contact).where(Contact.id == contact_id))
    if contact is None:
        raise NotFound("no such contact")
    return contact


def _check_alternate(
    session: Session, actor: Actor, data: ContactIn, org_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    if data.alternate_id is None:
        return
    if data.alternate_id == contact_id:
        raise ValidationFailed.one("alternate_id", "a contact cannot be its own alternate")
    alternate = session.scalar(
        select_visible(actor, Contact).where(Contact.id == data.alternate_id)
    )
    if alternate is None or alternate.organisation_id != org_id:
        raise ValidationFailed.one(
            "alternate_id", "the alternate must be another contact of the same organisation"
        )


def _apply_contact(contact: Contact, data: ContactIn) -> None:
    contact.name = data.name
    contact.role = data.role
    contact.title = data.title or None
    contact.pgp_fingerprint = data.pgp_fingerprint
    contact.timezone = data.timezone
    contact.office_days = ",".join(d.value for d in data.office_days)
    contact.office_start = data.office_start
    contact.office_end = data.office_end
    contact.alternate_id = data.alternate_id
    contact.expires_on = data.expires_on
    contact.notes = data.notes or None
    channels = [ContactChannel(kind=ChannelKind.EMAIL, value=str(e)) for e in data.emails]
    channels += [ContactChannel(kind=ChannelKind.PHONE, value=p) for p in data.phones]
    channels += [
        ContactChannel(kind=ChannelKind.MESSENGER, value=m.handle, label=m.app)
        for m in data.messengers
    ]
    for position, channel in enumerate(channels):
        channel.position = position
    contact.channels = channels
    contact.language_rows = [ContactLanguage(language=code) for code in sorted(set(data.languages))]


def create_contact(
    session: Session, *, actor: Actor, organisation_id: uuid.UUID, data: ContactIn
) -> Contact:
    """A new point of contact for an organisation."""
    org = get_organisation(session, actor=actor, organisation_id=organisation_id)
    actor.require_for_org(Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, org.id)
    contact = Contact(id=uuid.uuid4(), organisation_id=org.id)
    _check_alternate(session, actor, data, org.id, contact.id)
    _apply_contact(contact, data)
    session.add(contact)
    session.flush()
    record(
        session,
        actor=actor,
        action=AuditAction.CONTACT_CREATED,
        object_type="contact",
        object_id=contact.id,
        object_org_id=org.id,
        details={"name": contact.name, "role": contact.role.value},
    )
    return contact


def update_contact(
    session: Session, *, actor: Actor, contact_id: uuid.UUID, data: ContactIn
) -> Contact:
    """Edit a point of contact."""
    contact = get_contact(session, actor=actor, contact_id=contact_id)
    actor.require_for_org(
        Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, contact.organisation_id
    )
    _check_alternate(session, actor, data, contact.organisation_id, contact.id)
    _apply_contact(contact, data)
    record(
        session,
        actor=actor,
        action=AuditAction.CONTACT_UPDATED,
        object_type="contact",
        object_id=contact.id,
        object_org_id=contact.organisation_id,
        details={"name": contact.name},
    )
    return contact


def delete_contact(session: Session, *, actor: Actor, contact_id: uuid.UUID) -> None:
    """Remove a point of contact; contacts that named it as alternate lose their alternate."""
    contact = get_contact(session, actor=actor, contact_id=contact_id)
    actor.require_for_org(
        Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, contact.organisation_id
    )
    for other in session.scalars(select(Contact).where(Contact.alternate_id == contact.id)):
        other.alternate_id = None
    record(
        session,
        actor=actor,
        action=AuditAction.CONTACT_DELETED,
        object_type="contact",
        object_id=contact.id,
        object_org_id=contact.organisation_id,
        details={"name": contact.name},
    )
    session.delete(contact)


def mark_verified(
    session: Session, *, actor: Actor, contact: Contact, how: str, at: datetime | None = None
) -> None:
    """Record that a contact was confirmed current (by a check answer or by its organisation)."""
    contact.last_verified_at = at or utcnow()
    record(
        session,
        actor=actor,
        action=AuditAction.CONTACT_VERIFIED,
        object_type="contact",
        object_id=contact.id,
        object_org_id=contact.organisation_id,
        details={"how": how},
    )


def confirm_contact(session: Session, *, actor: Actor, contact_id: uuid.UUID) -> Contact:
    """Its organisation confirms a contact's details are current."""
    contact = get_contact(session, actor=actor, contact_id=contact_id)
    actor.require_for_org(
        Permission.CONTACT_EDIT_ANY, Permission.CONTACT_EDIT_OWN, contact.organisation_id
    )
    mark_verified(session, actor=actor, contact=contact, how="confirmed by organisation")
    return contact


def _contact_fields(contact: Contact) -> dict[str, object]:
    return {
        "name": contact.name,
        "role": contact.role,
        "title": contact.title,
        "emails": contact.channel_values(ChannelKind.EMAIL),
        "phones": contact.channel_values(ChannelKind.PHONE),
        "messengers": [
            Messenger(app=c.label or "messenger", handle=c.value)
            for c in contact.channels
            if c.kind == ChannelKind.MESSENGER
        ],
        "pgp_fingerprint": contact.pgp_fingerprint,
        "languages": contact.languages,
        "timezone": contact.timezone,
        "office_days": [Weekday(d) for d in contact.office_days.split(",") if d],
        "office_start": contact.office_start,
        "office_end": contact.office_end,
        "alternate_id": contact.alternate_id,
        "expires_on": contact.expires_on,
        "notes": contact.notes,
    }


def contact_out(contact: Contact, *, settings: Settings, now: datetime) -> ContactOut:
    """The API shape of a contact, with its staleness."""
    reason = stale_reason(contact, settings=settings, now=now)
    return ContactOut.model_validate(
        _contact_fields(contact)
        | {
            "id": contact.id,
            "organisation_id": contact.organisation_id,
            "organisation_name": contact.organisation.name,
            "country": contact.organisation.country,
            "last_verified_at": contact.last_verified_at,
            "stale": reason is not None,
            "stale_reason": reason,
            "updated_at": contact.updated_at,
        }
    )


def contact_in(contact: Contact) -> ContactIn:
    """The editable fields of a contact, for pre-filling its form or exporting it."""
    return ContactIn.model_validate(_contact_fields(contact))


def facets(session: Session, *, actor: Actor) -> dict[str, list[str]]:
    """The countries and languages present in the visible directory, for filter choices."""
    countries = session.scalars(
        select(Organisation.country).where(visible(actor, Organisation)).distinct()
    ).all()
    languages = session.scalars(
        select(ContactLanguage.language)
        .join(Contact, Contact.id == ContactLanguage.contact_id)
        .where(visible(actor, Contact))
        .distinct()
    ).all()
    return {"countries": sorted(countries), "languages": sorted(languages)}
