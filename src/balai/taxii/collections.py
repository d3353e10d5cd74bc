"""TAXII collections as views of the trust model.

A collection never widens what a caller sees: its rows are those the visibility rule lets
the caller see (access/policy.py) that also fall in the collection's scope. Which
collections a caller is offered, and whether it may write to them, follows from its
organisation and role:

- everything: all the intelligence the caller receives, read-only;
- community: what is shared with this community (and beyond);
- connected: what may cross to connected communities (federation reads and writes here);
- organisation: the caller's own organisation only;
- one per sharing group the caller's organisation owns or belongs to.

Objects written without a TLP marking of their own are stored as TLP:AMBER: a client that
says nothing about a marking is not taken to allow wider sharing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.errors import NotFound
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup, StixObject
from balai.intel.schemas import Marking

NAMESPACE = uuid.UUID("5b8f5d0e-7c1a-4a53-9a55-0b6f1f3f0a21")
EVERYTHING = str(uuid.uuid5(NAMESPACE, "everything"))
COMMUNITY = str(uuid.uuid5(NAMESPACE, "community"))
CONNECTED = str(uuid.uuid5(NAMESPACE, "connected"))
ORGANISATION = str(uuid.uuid5(NAMESPACE, "organisation"))
UNMARKED = Tlp.AMBER

Scope = Callable[[type[StixObject]], ColumnElement[bool]]


@dataclass(frozen=True)
class Collection:
    """One collection as one caller sees it."""

    id: str
    title: str
    description: str
    scope: Scope
    marking: Marking | None  # how written objects are shared; None: read-only
    can_write: bool

    @property
    def can_read(self) -> bool:
        """Every collection offered can be read: the visibility rule does the filtering."""
        return True


def _everything(row: type[StixObject]) -> ColumnElement[bool]:
    return true()


def _community(row: type[StixObject]) -> ColumnElement[bool]:
    return row.distribution.in_(
        [Distribution.COMMUNITY, Distribution.CONNECTED, Distribution.PUBLIC]
    )


def _connected(row: type[StixObject]) -> ColumnElement[bool]:
    return row.distribution.in_([Distribution.CONNECTED, Distribution.PUBLIC])


def _own(org: uuid.UUID | None) -> Scope:
    def scope(row: type[StixObject]) -> ColumnElement[bool]:
        return (row.owner_org_id == org) & (row.distribution == Distribution.ORGANISATION)

    return scope


def _group(group_id: uuid.UUID) -> Scope:
    def scope(row: type[StixObject]) -> ColumnElement[bool]:
        return (row.distribution == Distribution.SHARING_GROUP) & (row.sharing_group_id == group_id)

    return scope


def collections_for(session: Session, actor: Actor) -> list[Collection]:
    """The collections offered to a caller, in a stable order."""
    writer = actor.can(Permission.INTEL_IMPORT) and actor.organisation_id is not None
    found = [
        Collection(
            EVERYTHING,
            "Everything shared with you",
            "All the intelligence your organisation receives, whatever its distribution.",
            _everything,
            None,
            False,
        ),
        Collection(
            COMMUNITY,
            "Community",
            "Shared with every member organisation of this community.",
            _community,
            Marking(tlp=UNMARKED, distribution=Distribution.COMMUNITY),
            writer,
        ),
        Collection(
            CONNECTED,
            "Connected communities",
            "Shared with this community and the communities it federates with.",
            _connected,
            Marking(tlp=UNMARKED, distribution=Distribution.CONNECTED),
            writer,
        ),
    ]
    if actor.organisation_id is not None:
        found.append(
            Collection(
                ORGANISATION,
                "Your organisation only",
                "Kept within your own organisation.",
                _own(actor.organisation_id),
                Marking(tlp=UNMARKED, distribution=Distribution.ORGANISATION),
                writer,
            )
        )
    groups = session.scalars(select_visible(actor, SharingGroup).order_by(SharingGroup.name))
    for group in groups:
        member = actor.organisation_id in group.member_ids
        found.append(
            Collection(
                str(group.id),
                f"Sharing group: {group.name}",
                group.description or "Shared with the member organisations of this group.",
                _group(group.id),
                Marking(
                    tlp=UNMARKED,
                    distribution=Distribution.SHARING_GROUP,
                    sharing_group_id=group.id,
                ),
                writer and member,
            )
        )
    return found


def collection_for(session: Session, actor: Actor, collection_id: str) -> Collection:
    """One collection offered to the caller; 404 for any other, existing or not."""
    for collection in collections_for(session, actor):
        if collection.id == collection_id:
            return collection
    raise NotFound("no such collection")
