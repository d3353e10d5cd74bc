"""Small factories for test data, one per domain object."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from functools import cache

from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User
from balai.accounts.passwords import hash_password
from balai.accounts.schemas import ApiKeyCreate
from balai.accounts.service import create_api_key
from balai.db import utcnow
from balai.directory.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    ContactLanguage,
    ContactRole,
    Organisation,
    OrganisationSector,
    OrgKind,
    Sector,
)

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@cache
def _password_hash() -> str:
    # argon2 is slow on purpose; hash the shared test password once per run.
    return hash_password(PASSWORD)


def make_org(
    db: Session,
    *,
    name: str | None = None,
    country: str = "TH",
    kind: OrgKind = OrgKind.NATIONAL_CERT,
    sectors: tuple[Sector, ...] = (),
    parent: Organisation | None = None,
) -> Organisation:
    """An organisation."""
    n = next(_counter)
    org = Organisation(
        id=uuid.uuid4(),
        name=name or f"Organisation {n}",
        short_name=f"ORG{n}",
        kind=kind,
        country=country,
        parent_id=parent.id if parent else None,
        sector_rows=[OrganisationSector(sector=s) for s in sectors],
    )
    db.add(org)
    db.flush()
    return org


def make_user(
    db: Session,
    org: Organisation,
    *,
    role: Role = Role.ANALYST,
    email: str | None = None,
    active: bool = True,
) -> User:
    """A user whose password is PASSWORD."""
    n = next(_counter)
    user = User(
        id=uuid.uuid4(),
        email=email or f"user{n}@example.org",
        name=f"User {n}",
        organisation_id=org.id,
        role=role,
        password_hash=_password_hash(),
        active=active,
        timezone="Asia/Bangkok",
    )
    db.add(user)
    db.flush()
    return user


def make_contact(
    db: Session,
    org: Organisation,
    *,
    name: str | None = None,
    role: ContactRole = ContactRole.TECHNICAL,
    email: str | None = "",
    phone: str | None = "+66 2 123 4567",
    languages: tuple[str, ...] = ("th", "en"),
    verified_at: datetime | None = None,
    alternate: Contact | None = None,
) -> Contact:
    """A point of contact; email="" makes up an address, None leaves it without one."""
    n = next(_counter)
    channels = []
    if email is not None:
        channels.append(
            ContactChannel(kind=ChannelKind.EMAIL, value=email or f"contact{n}@example.org")
        )
    if phone is not None:
        channels.append(ContactChannel(kind=ChannelKind.PHONE, value=phone, position=1))
    contact = Contact(
        id=uuid.uuid4(),
        organisation_id=org.id,
        name=name or f"Contact {n}",
        role=role,
        timezone="Asia/Bangkok",
        channels=channels,
        language_rows=[ContactLanguage(language=code) for code in languages],
        last_verified_at=verified_at if verified_at is not None else utcnow(),
        alternate_id=alternate.id if alternate else None,
    )
    db.add(contact)
    db.flush()
    db.refresh(contact)
    return contact


def actor_for(user: User) -> Actor:
    """The user acting through the web."""
    return Actor(via=Via.SESSION, user=user, client_ip="127.0.0.1")


def api_key_for(db: Session, user: User) -> str:
    """A fresh API key of the user."""
    plain, _ = create_api_key(db, actor=actor_for(user), data=ApiKeyCreate(name="tests"))
    db.flush()
    return plain
