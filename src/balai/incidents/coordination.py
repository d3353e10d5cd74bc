"""Coordination on an incident: invited parties and their status, requests for
assistance, comments, links to intelligence and attached files."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM, Actor
from balai.access.permissions import Permission
from balai.access.policy import select_visible
from balai.alerts import fanout
from balai.alerts.models import Alert, Reason
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation, OrgKind
from balai.errors import Conflict, Forbidden, NotFound, ValidationFailed
from balai.incidents.models import (
    PARTY_ANSWERS,
    AssistanceRequest,
    AssistanceStatus,
    Attachment,
    EntryKind,
    Incident,
    IncidentLink,
    IncidentParty,
    IncidentStatus,
    PartyStatus,
)
from balai.incidents.schemas import (
    AssistanceAnswer,
    AssistanceIn,
    CommentIn,
    InviteIn,
    LinksIn,
    PartyUpdate,
)
from balai.incidents.service import get_incident, linkable, note, require_reporter


def parties(session: Session, *, actor: Actor, incident: Incident) -> list[IncidentParty]:
    """The incident's parties, by country and name."""
    return list(
        session.scalars(
            select_visible(actor, IncidentParty)
            .join(IncidentParty.organisation)
            .where(IncidentParty.incident_id == incident.id)
            .order_by(Organisation.country, Organisation.name)
        )
    )


def party_of(
    session: Session, *, incident: Incident, organisation_id: uuid.UUID | None
) -> IncidentParty | None:
    """The actor organisation's party row, if it was invited."""
    if organisation_id is None:
        return None
    return session.scalar(
        select(IncidentParty).where(
            IncidentParty.incident_id == incident.id,
            IncidentParty.organisation_id == organisation_id,
        )
    )


def invitable(session: Session, *, actor: Actor, incident: Incident) -> list[Organisation]:
    """Organisations the reporter may invite: the directory, less the reporter."""
    return list(
        session.scalars(
            select_visible(actor, Organisation)
            .where(Organisation.id != incident.owner_org_id)
            .order_by(Organisation.country, Organisation.name)
        )
    )


def national_certs(session: Session, *, actor: Actor, incident: Incident) -> list[Organisation]:
    """The national CERTs of the affected countries, less the reporter."""
    return list(
        session.scalars(
            select_visible(actor, Organisation).where(
                Organisation.kind == OrgKind.NATIONAL_CERT,
                Organisation.country.in_(incident.countries),
                Organisation.id != incident.owner_org_id,
            )
        )
    )


def _require_involved(session: Session, actor: Actor, incident: Incident) -> None:
    """The reporter and the invited parties coordinate; other readers only read."""
    actor.require(Permission.INCIDENT_RESPOND)
    if actor.organisation_id == incident.owner_org_id:
        return
    if party_of(session, incident=incident, organisation_id=actor.organisation_id) is None:
        raise Forbidden("only the reporting organisation and invited parties may do this")


def invite(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    incident_id: uuid.UUID,
    data: InviteIn,
) -> list[IncidentParty]:
    """Invite organisations; each becomes a named recipient with the status 'notified'."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("this incident is closed: reopen it first")
    organisations = {
        o.id: o
        for o in session.scalars(
            select_visible(actor, Organisation).where(Organisation.id.in_(data.organisation_ids))
        )
    }
    for index, org_id in enumerate(data.organisation_ids):
        if org_id not in organisations:
            raise ValidationFailed.one(
                f"organisation_ids[{index}]", f"no such organisation: {org_id}"
            )
        if org_id == incident.owner_org_id:
            raise ValidationFailed.one(
                f"organisation_ids[{index}]", "the reporting organisation is not invited to its own"
            )
    now = utcnow()
    invited = []
    for org_id in dict.fromkeys(data.organisation_ids):
        if party_of(session, incident=incident, organisation_id=org_id) is not None:
            continue
        party = IncidentParty(
            id=uuid.uuid4(),
            incident_id=incident.id,
            organisation_id=org_id,
            status=PartyStatus.NOTIFIED,
            invited_at=now,
            invited_by=actor.label,
            respond_by=now + timedelta(hours=settings.incident_party_response_hours),
            status_changed_at=now,
        )
        party.organisation = organisations[org_id]
        session.add(party)
        invited.append(party)
        note(
            session,
            incident,
            actor=actor,
            kind=EntryKind.PARTY_INVITED,
            text=f"Invited {organisations[org_id].name}" + (f": {data.note}" if data.note else "."),
            details={"organisation_id": str(org_id)},
            at=now,
        )
    if invited:
        fanout.on_invited(session, settings=settings, incident=incident, parties=invited)
        record(
            session,
            actor=actor,
            action=AuditAction.INCIDENT_PARTY_INVITED,
            object_type="incident",
            object_id=incident.id,
            object_org_id=incident.owner_org_id,
            details={"organisations": [str(p.organisation_id) for p in invited]},
        )
    session.flush()
    return invited


def set_party_status(
    session: Session,
    *,
    actor: Actor,
    incident: Incident,
    party: IncidentParty,
    status: PartyStatus,
    note_text: str | None = None,
    label: str | None = None,
    at: datetime | None = None,
) -> IncidentParty:
    """Record where a party stands, and when it first answered."""
    now = at or utcnow()
    before = party.status
    party.status = status
    party.status_changed_at = now
    if note_text:
        party.note = note_text
    if status in PARTY_ANSWERS and party.acknowledged_at is None:
        party.acknowledged_at = now
    text = f"{party.organisation.name}: {before.label.lower()} → {status.label.lower()}"
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.PARTY_STATUS,
        text=text + (f". {note_text}" if note_text else "."),
        details={"organisation_id": str(party.organisation_id), "status": status.value},
        at=now,
        label=label,
    )
    return party


def answer_as_party(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, data: PartyUpdate
) -> IncidentParty:
    """An invited organisation acknowledges, says it investigates, or that it resolved."""
    actor.require(Permission.INCIDENT_RESPOND)
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    party = party_of(session, incident=incident, organisation_id=actor.organisation_id)
    if party is None:
        raise Forbidden("your organisation is not a party to this incident")
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("this incident is closed")
    answered = set_party_status(
        session,
        actor=actor,
        incident=incident,
        party=party,
        status=data.status,
        note_text=data.note,
    )
    # An answer on the platform is an acknowledgement: the invitation's alert stops escalating.
    for alert in session.scalars(
        select(Alert).where(
            Alert.incident_id == incident.id,
            Alert.recipient_org_id == party.organisation_id,
            Alert.reason == Reason.INVITATION,
            Alert.acknowledged_at.is_(None),
        )
    ):
        alert.acknowledged_at = answered.status_changed_at
        alert.acknowledged_by = f"{actor.label} (answered on the platform)"
    return answered


def mark_silent(session: Session, *, now: datetime | None = None) -> int:
    """Parties that have not answered by their time show as 'no response' (the worker)."""
    now = now or utcnow()
    silent = session.scalars(
        select(IncidentParty)
        .join(Incident, Incident.id == IncidentParty.incident_id)
        .where(
            IncidentParty.status == PartyStatus.NOTIFIED,
            IncidentParty.respond_by <= now,
            Incident.status != IncidentStatus.CLOSED,
        )
        .with_for_update(skip_locked=True, of=IncidentParty)  # workers run this side by side
    ).all()
    for party in silent:
        incident = session.get(Incident, party.incident_id)
        assert incident is not None  # the join found it
        party.status = PartyStatus.NO_RESPONSE
        party.status_changed_at = now
        waited = round((party.respond_by - party.invited_at).total_seconds() / 3600)
        note(
            session,
            incident,
            actor=SYSTEM,
            kind=EntryKind.PARTY_SILENT,
            text=f"No response from {party.organisation.name} within {waited} h.",
            details={"organisation_id": str(party.organisation_id)},
            at=now,
            label="Balai",
        )
    return len(silent)


# Requests for assistance (UN GGE norm 13(h))


def request_assistance(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, data: AssistanceIn
) -> AssistanceRequest:
    """Ask a party for assistance, with a deadline for its answer."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    require_reporter(actor, incident)
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("this incident is closed: reopen it first")
    party = party_of(session, incident=incident, organisation_id=data.organisation_id)
    if party is None:
        raise ValidationFailed.one("organisation_id", "invite the organisation as a party first")
    now = utcnow()
    request = AssistanceRequest(
        id=uuid.uuid4(),
        incident_id=incident.id,
        to_org_id=party.organisation_id,
        text=data.text,
        requested_at=now,
        requested_by=actor.label,
        respond_by=data.respond_by,
        status=AssistanceStatus.OPEN,
    )
    request.to_org = party.organisation
    session.add(request)
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.ASSISTANCE_REQUESTED,
        text=f"Requested assistance from {party.organisation.name}: {data.text}",
        details={"request_id": str(request.id)},
        at=now,
    )
    return request


def assistance_requests(
    session: Session, *, actor: Actor, incident: Incident
) -> list[AssistanceRequest]:
    """The incident's requests for assistance, oldest first."""
    return list(
        session.scalars(
            select_visible(actor, AssistanceRequest)
            .where(AssistanceRequest.incident_id == incident.id)
            .order_by(AssistanceRequest.requested_at)
        )
    )


def answer_assistance(
    session: Session,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    request_id: uuid.UUID,
    data: AssistanceAnswer,
) -> AssistanceRequest:
    """The requested organisation accepts, declines or reports the work done."""
    actor.require(Permission.INCIDENT_RESPOND)
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    request = session.scalar(
        select_visible(actor, AssistanceRequest).where(
            AssistanceRequest.id == request_id, AssistanceRequest.incident_id == incident.id
        )
    )
    if request is None:
        raise NotFound("no such request for assistance")
    if request.to_org_id != actor.organisation_id:
        raise Forbidden("only the requested organisation answers")
    if request.status in (AssistanceStatus.DECLINED, AssistanceStatus.COMPLETED):
        raise Conflict(f"this request was {request.status.value} already")
    now = utcnow()
    request.status = data.status
    request.answer = data.answer
    request.answered_at = now
    request.answered_by = actor.label
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.ASSISTANCE_ANSWERED,
        text=f"{request.to_org.name} {data.status.value} the request for assistance: {data.answer}",
        details={"request_id": str(request.id), "status": data.status.value},
        at=now,
    )
    return request


# Comments, links, attachments


def comment(session: Session, *, actor: Actor, incident_id: uuid.UUID, data: CommentIn) -> None:
    """Add a comment to the timeline."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    _require_involved(session, actor, incident)
    note(session, incident, actor=actor, kind=EntryKind.COMMENT, text=data.text)


def link(session: Session, *, actor: Actor, incident_id: uuid.UUID, data: LinksIn) -> int:
    """Link reports or indicators the actor may see; return how many were new."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    _require_involved(session, actor, incident)
    try:
        linkable(session, actor, data.stix_ids)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [type(p)(p.loc.replace("link_ids", "stix_ids"), p.msg) for p in exc.problems]
        ) from None
    have = set(
        session.scalars(select(IncidentLink.stix_id).where(IncidentLink.incident_id == incident.id))
    )
    new = [s for s in data.stix_ids if s not in have]
    for stix_id in new:
        session.add(IncidentLink(incident_id=incident.id, stix_id=stix_id))
    if new:
        note(
            session,
            incident,
            actor=actor,
            kind=EntryKind.LINKED,
            text=f"Linked {len(new)} report(s) or indicator(s).",
            details={"stix_ids": new},
        )
    return len(new)


def attach(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    incident_id: uuid.UUID,
    filename: str,
    content_type: str | None,
    data: bytes,
) -> Attachment:
    """Attach a file; it is shared under the incident's marking."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    _require_involved(session, actor, incident)
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255]
    if not name:
        raise ValidationFailed.one("file", "choose a file to attach")
    if not data:
        raise ValidationFailed.one("file", f"{name} is empty")
    if len(data) > settings.incident_attachment_max_bytes:
        raise ValidationFailed.one(
            "file",
            f"{name} is {len(data):,} bytes; at most {settings.incident_attachment_max_bytes:,}",
        )
    attachment = Attachment(
        id=uuid.uuid4(),
        incident_id=incident.id,
        filename=name,
        content_type=(content_type or "application/octet-stream")[:120],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_at=utcnow(),
        uploaded_by=actor.label,
    )
    session.add(attachment)
    note(
        session,
        incident,
        actor=actor,
        kind=EntryKind.ATTACHED,
        text=f"Attached {name} ({len(data):,} bytes, SHA-256 {attachment.sha256[:16]}…).",
        details={"attachment_id": str(attachment.id)},
    )
    return attachment


def attachments(session: Session, *, actor: Actor, incident: Incident) -> list[Attachment]:
    """The incident's files, oldest first."""
    return list(
        session.scalars(
            select_visible(actor, Attachment)
            .where(Attachment.incident_id == incident.id)
            .order_by(Attachment.uploaded_at)
        )
    )


def attachment_file(
    session: Session, *, actor: Actor, incident_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment:
    """One attachment with its bytes, for download (audited like a restricted read)."""
    incident = get_incident(session, actor=actor, incident_id=incident_id)
    found = session.scalar(
        select_visible(actor, Attachment).where(
            Attachment.id == attachment_id, Attachment.incident_id == incident.id
        )
    )
    if found is None:
        raise NotFound("no such attachment")
    record(
        session,
        actor=actor,
        action=AuditAction.INCIDENT_ATTACHMENT_READ,
        object_type="incident",
        object_id=incident.id,
        object_org_id=incident.owner_org_id,
        details={"attachment": found.filename, "sha256": found.sha256},
    )
    return found
