"""The trust model's one decision: which rows an actor may see.

Every read of a shared object goes through visible(); a read path that does not is a
security bug. The answer is a SQL condition, so that counts, pages and searches all
see the same subset and no path can reveal that a hidden object exists.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from balai.access.actor import Actor, Via
from balai.access.permissions import Permission
from balai.accounts.models import ApiKey, User
from balai.alerts.models import Alert, AlertToken, Subscription
from balai.audit.models import AuditEvent
from balai.checks.models import CheckSchedule, CheckTarget, CommCheck
from balai.directory.models import Contact, Organisation
from balai.incidents.models import (
    AssistanceRequest,
    Attachment,
    Incident,
    IncidentLink,
    IncidentParty,
    StageReport,
    TimelineEntry,
)
from balai.intel.markings import Distribution
from balai.intel.models import (
    IntelImport,
    ObservableValue,
    SharingGroup,
    SharingGroupMember,
    StixObject,
)
from balai.outbox.models import OutboxMessage
from balai.taxii.models import TaxiiStatus

T = TypeVar("T")


def _is_member(actor: Actor | None) -> bool:
    """Signed-in, active members of the community (and the operator's tools)."""
    if actor is None:
        return False
    if actor.is_trusted:
        return True
    if actor.via == Via.RECIPIENT:
        return actor.recipient_org_id is not None
    return actor.user is not None and actor.user.active


def visible(actor: Actor | None, model: type[Any]) -> ColumnElement[bool]:
    """The SQL condition selecting the rows of `model` that `actor` may see."""
    if not _is_member(actor):
        return false()
    assert actor is not None  # _is_member is False for None
    if actor.is_trusted:
        return true()  # the operator's command line and the worker see everything
    org = actor.organisation_id
    if model in (Organisation, Contact):
        # The directory is open to every signed-in member, never to anonymous visitors.
        return true()
    if model is CommCheck:
        if actor.can(Permission.CHECK_READ_ANY):
            return true()
        return or_(
            CommCheck.organisation_id == org,
            exists().where(
                CheckTarget.check_id == CommCheck.id, CheckTarget.organisation_id == org
            ),
        )
    if model is CheckTarget:
        if actor.can(Permission.CHECK_READ_ANY):
            return true()
        return or_(
            CheckTarget.organisation_id == org,
            CheckTarget.check_id.in_(select(CommCheck.id).where(CommCheck.organisation_id == org)),
        )
    if model is CheckSchedule:
        if actor.can(Permission.CHECK_READ_ANY):
            return true()
        return CheckSchedule.organisation_id == org
    if model is User:
        if actor.can(Permission.USER_MANAGE_ANY):
            return true()
        return User.organisation_id == org
    if model is ApiKey:
        return ApiKey.user_id == actor.user_id
    if model is AuditEvent:
        own_org = or_(AuditEvent.actor_org_id == org, AuditEvent.object_org_id == org)
        if actor.can(Permission.AUDIT_READ_ANY):
            # Reads of shared intelligence name objects, and incidents' events name incidents:
            # like the objects themselves, those events reach only the organisations
            # involved, whatever the reader's role.
            return or_(
                and_(
                    ~AuditEvent.action.startswith("intel:object:"),
                    ~AuditEvent.action.startswith("incidents:"),
                    ~AuditEvent.action.startswith("alerts:alert:"),
                ),
                own_org,
            )
        if actor.can(Permission.AUDIT_READ_OWN_ORG):
            return own_org
        return false()
    if model is StixObject:
        return _intel_versions(org)
    if model is ObservableValue:
        return ObservableValue.object_pk.in_(select(StixObject.pk).where(_intel_audience(org)))
    if model is SharingGroup:
        return or_(
            SharingGroup.owner_org_id == org,
            SharingGroup.id.in_(_groups_of(org)),
        )
    if model is IntelImport:
        return IntelImport.owner_org_id == org
    if model is TaxiiStatus:
        return TaxiiStatus.owner_org_id == org
    if model is Incident:
        return _incident_audience(org)
    if model in _INCIDENT_PARTS:
        part: ColumnElement[bool] = model.incident_id.in_(
            select(Incident.id).where(_incident_audience(org))
        )
        return part
    if model is Subscription:
        return or_(
            and_(Subscription.user_id.is_not(None), Subscription.user_id == actor.user_id),
            and_(Subscription.user_id.is_(None), Subscription.owner_org_id == org),
        )
    if model is Alert:
        return and_(
            Alert.recipient_org_id == org,
            Alert.incident_id.in_(select(Incident.id).where(_incident_audience(org))),
        )
    if model is AlertToken:
        return false()  # tokens are credentials: only the acknowledgement path reads them
    if model is OutboxMessage:
        return true() if actor.can(Permission.OUTBOX_READ) else false()
    raise TypeError(f"no visibility rule for {model.__name__}: add one before reading it")


def _groups_of(org: object) -> Select[Any]:
    return select(SharingGroupMember.group_id).where(SharingGroupMember.organisation_id == org)


def _intel_audience(org: object, row: type[StixObject] = StixObject) -> ColumnElement[bool]:
    """Who receives shared intelligence. No role widens it: platform admins see what their
    organisation receives, like everybody else, so TLP:RED stays with its named recipients."""
    return or_(
        row.owner_org_id == org,
        and_(
            row.distribution == Distribution.SHARING_GROUP,
            or_(
                row.sharing_group_id.in_(_groups_of(org)),
                row.sharing_group_id.in_(
                    select(SharingGroup.id).where(SharingGroup.owner_org_id == org)
                ),
            ),
        ),
        row.distribution.in_([Distribution.COMMUNITY, Distribution.CONNECTED, Distribution.PUBLIC]),
    )


_INCIDENT_PARTS = (
    IncidentParty,
    StageReport,
    AssistanceRequest,
    TimelineEntry,
    IncidentLink,
    Attachment,
)


def _incident_audience(org: object) -> ColumnElement[bool]:
    """Incidents reach whom their marking names, as intelligence does, and also every
    invited party: inviting an organisation makes it a named recipient. No role widens it."""
    return or_(
        Incident.owner_org_id == org,
        Incident.id.in_(
            select(IncidentParty.incident_id).where(IncidentParty.organisation_id == org)
        ),
        and_(
            Incident.distribution == Distribution.SHARING_GROUP,
            or_(
                Incident.sharing_group_id.in_(_groups_of(org)),
                Incident.sharing_group_id.in_(
                    select(SharingGroup.id).where(SharingGroup.owner_org_id == org)
                ),
            ),
        ),
        Incident.distribution.in_(
            [Distribution.COMMUNITY, Distribution.CONNECTED, Distribution.PUBLIC]
        ),
    )


def _intel_versions(org: object, row: type[StixObject] = StixObject) -> ColumnElement[bool]:
    """A version is seen by those its marking reaches who also receive its holder's latest
    version. A holder that narrows an object's marking hides its older versions too (were
    they still shown, their reader would learn that a newer version exists), while one that
    widens it does not reveal them."""
    current = aliased(StixObject)
    return and_(
        _intel_audience(org, row),
        or_(
            row.is_latest.is_(True),
            exists().where(
                current.owner_org_id == row.owner_org_id,
                current.stix_id == row.stix_id,
                current.is_latest.is_(True),
                _intel_audience(org, current),
            ),
        ),
    )


def visible_stix(actor: Actor | None, row: type[StixObject]) -> ColumnElement[bool]:
    """visible() for STIX object rows under an alias, for queries that compare an object's
    rows with each other (TAXII's first and last versions): the same rule, another name."""
    if row is StixObject:
        return visible(actor, StixObject)
    if not _is_member(actor):
        return false()
    assert actor is not None  # _is_member is False for None
    if actor.is_trusted:
        return true()
    return _intel_versions(actor.organisation_id, row)


def select_visible(actor: Actor | None, model: type[T]) -> Select[T]:
    """SELECT model WHERE the actor may see it: the start of every read query."""
    return select(model).where(visible(actor, model))
