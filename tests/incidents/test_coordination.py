"""Coordination: invited parties and their status, silence, assistance, comments, files."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import OrgKind
from balai.errors import Conflict, Forbidden, ValidationFailed
from balai.incidents import coordination, service, views
from balai.incidents.models import (
    AssistanceStatus,
    EntryKind,
    IncidentParty,
    PartyStatus,
    TimelineEntry,
)
from balai.incidents.schemas import (
    AssistanceAnswer,
    AssistanceIn,
    CloseIn,
    CommentIn,
    InviteIn,
    PartyUpdate,
)
from tests.factories import actor_for, make_org
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, count


def _invite(
    db: Session, intel: Intel, settings: Settings, incident_id: uuid.UUID, *orgs: uuid.UUID
) -> list[IncidentParty]:
    parties = coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident_id,
        data=InviteIn(organisation_ids=list(orgs)),
    )
    db.commit()
    return parties


def test_invited_organisations_are_notified_with_a_time_to_answer(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    [party] = _invite(db, intel, settings, incident.id, intel.away.id)
    assert party.status == PartyStatus.NOTIFIED
    assert party.respond_by - party.invited_at == timedelta(
        hours=settings.incident_party_response_hours
    )
    again = _invite(db, intel, settings, incident.id, intel.away.id, intel.third.id)
    assert [p.organisation_id for p in again] == [intel.third.id]  # the first is a party already
    assert count(db, IncidentParty) == 2
    text = db.scalars(
        select(TimelineEntry.text)
        .where(TimelineEntry.kind == EntryKind.PARTY_INVITED)
        .order_by(TimelineEntry.id)
    ).all()
    assert text == ["Invited MyCERT.", "Invited SingCERT."]


def test_inviting_oneself_or_an_unknown_organisation_is_refused_and_changes_nothing(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    for ids, loc in (
        ([intel.away.id, uuid.uuid4()], "organisation_ids[1]"),
        ([intel.home.id], "organisation_ids[0]"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            _invite(db, intel, settings, incident.id, *ids)
        db.rollback()
        assert caught.value.problems[0].loc == loc
    assert count(db, IncidentParty) == 0


def test_only_the_reporter_invites(db: Session, intel: Intel, settings: Settings) -> None:
    incident = report_as(db, intel.analyst, settings)
    with pytest.raises(Forbidden):
        coordination.invite(
            db,
            actor=actor_for(intel.away_analyst),
            settings=settings,
            incident_id=incident.id,
            data=InviteIn(organisation_ids=[intel.third.id]),
        )


def test_the_national_certs_of_the_affected_countries_are_found(
    db: Session, intel: Intel, settings: Settings
) -> None:
    make_org(db, name="Malaysian bank", country="MY", kind=OrgKind.COMPANY)
    incident = report_as(db, intel.analyst, settings, countries=["TH", "MY"])
    found = coordination.national_certs(db, actor=actor_for(intel.analyst), incident=incident)
    assert [o.name for o in found] == ["MyCERT"]  # not the reporter, not the company


def test_a_party_answers_and_its_acknowledgement_time_counts(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    [party] = _invite(db, intel, settings, incident.id, intel.away.id)
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=incident.id,
        data=PartyUpdate(status=PartyStatus.INVESTIGATING, note="Two banks see the same note."),
    )
    db.commit()
    assert party.status == PartyStatus.INVESTIGATING
    assert party.acknowledged_at is not None
    first = party.acknowledged_at
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=incident.id,
        data=PartyUpdate(status=PartyStatus.RESOLVED),
    )
    assert party.acknowledged_at == first  # the first answer is the acknowledgement
    out = views.incident_out(db, actor=actor_for(intel.analyst), incident=incident)
    assert out.parties[0].status == PartyStatus.RESOLVED
    assert out.parties[0].acknowledgement_seconds is not None
    assert "MyCERT: investigating → resolved." in [e.text for e in out.timeline]
    board = views.dashboard(db, actor=actor_for(intel.analyst))
    [malaysia] = board.by_country
    assert (malaysia.country, malaysia.parties, malaysia.acknowledged) == ("MY", 1, 1)
    assert malaysia.median_acknowledgement_seconds is not None


def test_a_party_cannot_claim_silence_and_a_non_party_cannot_answer(
    db: Session, intel: Intel, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="a party answers"):
        PartyUpdate(status=PartyStatus.NO_RESPONSE)
    incident = report_as(db, intel.analyst, settings)
    with pytest.raises(Forbidden, match="not a party"):
        coordination.answer_as_party(
            db,
            actor=actor_for(intel.third_admin),
            incident_id=incident.id,
            data=PartyUpdate(status=PartyStatus.ACKNOWLEDGED),
        )


def test_silence_past_its_time_shows_as_no_response_never_as_not_affected(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    away, third = _invite(db, intel, settings, incident.id, intel.away.id, intel.third.id)
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=incident.id,
        data=PartyUpdate(status=PartyStatus.ACKNOWLEDGED),
    )
    assert coordination.mark_silent(db) == 0  # nobody is late yet
    later = utcnow() + timedelta(hours=settings.incident_party_response_hours, minutes=1)
    assert coordination.mark_silent(db, now=later) == 1
    db.commit()
    assert (away.status, third.status) == (PartyStatus.ACKNOWLEDGED, PartyStatus.NO_RESPONSE)
    entry = db.scalars(
        select(TimelineEntry).where(TimelineEntry.kind == EntryKind.PARTY_SILENT)
    ).one()
    assert (
        entry.text
        == f"No response from SingCERT within {settings.incident_party_response_hours} h."
    )
    assert coordination.mark_silent(db, now=later) == 0  # once
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.third_admin),
        incident_id=incident.id,
        data=PartyUpdate(status=PartyStatus.ACKNOWLEDGED),
    )
    assert third.status == PartyStatus.ACKNOWLEDGED  # a late answer still counts


def test_closed_incidents_do_not_mark_parties_silent(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    [party] = _invite(db, intel, settings, incident.id, intel.away.id)
    service.close(
        db, actor=actor_for(intel.analyst), incident_id=incident.id, data=CloseIn(resolution="x")
    )
    later = utcnow() + timedelta(hours=settings.incident_party_response_hours + 1)
    assert coordination.mark_silent(db, now=later) == 0
    assert party.status == PartyStatus.NOTIFIED


def test_assistance_is_asked_of_a_party_by_a_deadline_and_answered_by_it_only(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    deadline = utcnow() + timedelta(hours=12)
    with pytest.raises(ValidationFailed, match="invite the organisation"):
        coordination.request_assistance(
            db,
            actor=actor_for(intel.analyst),
            incident_id=incident.id,
            data=AssistanceIn(organisation_id=intel.away.id, text="Block C2", respond_by=deadline),
        )
    _invite(db, intel, settings, incident.id, intel.away.id, intel.third.id)
    request = coordination.request_assistance(
        db,
        actor=actor_for(intel.analyst),
        incident_id=incident.id,
        data=AssistanceIn(
            organisation_id=intel.away.id, text="Sinkhole 203.0.113.9", respond_by=deadline
        ),
    )
    db.commit()
    assert views.assistance_out(request, utcnow()).overdue is False
    assert views.assistance_out(request, deadline + timedelta(seconds=1)).overdue is True
    answer = AssistanceAnswer(status=AssistanceStatus.ACCEPTED, answer="Sinkholed at 09:00.")
    with pytest.raises(Forbidden, match="only the requested organisation"):
        coordination.answer_assistance(
            db,
            actor=actor_for(intel.third_admin),
            incident_id=incident.id,
            request_id=request.id,
            data=answer,
        )
    coordination.answer_assistance(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=incident.id,
        request_id=request.id,
        data=answer,
    )
    assert request.status == AssistanceStatus.ACCEPTED
    assert views.assistance_out(request, deadline + timedelta(days=1)).overdue is False


def test_a_deadline_in_the_past_is_refused() -> None:
    with pytest.raises(ValueError, match="in the future"):
        AssistanceIn(
            organisation_id=uuid.uuid4(), text="x", respond_by=utcnow() - timedelta(minutes=1)
        )


def test_comments_come_from_the_reporter_and_the_parties_not_from_every_reader(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)  # AMBER, the whole community reads it
    _invite(db, intel, settings, incident.id, intel.away.id)
    coordination.comment(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=incident.id,
        data=CommentIn(text="Seen here too."),
    )
    with pytest.raises(Forbidden):
        coordination.comment(
            db,
            actor=actor_for(intel.third_admin),
            incident_id=incident.id,
            data=CommentIn(text="x"),
        )
    comments = db.scalars(
        select(TimelineEntry).where(TimelineEntry.kind == EntryKind.COMMENT)
    ).all()
    assert [(c.text, c.actor_org_id) for c in comments] == [("Seen here too.", intel.away.id)]


def test_files_are_limited_hashed_and_their_downloads_audited(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    small = settings.model_copy(update={"incident_attachment_max_bytes": 1024})
    actor = actor_for(intel.analyst)
    for name, data, words in (
        ("note.txt", b"", "empty"),
        ("big.bin", b"x" * 1025, "at most 1,024"),
    ):
        with pytest.raises(ValidationFailed, match=words):
            coordination.attach(
                db,
                actor=actor,
                settings=small,
                incident_id=incident.id,
                filename=name,
                content_type="text/plain",
                data=data,
            )
    found = coordination.attach(
        db,
        actor=actor,
        settings=small,
        incident_id=incident.id,
        filename="C:\\evidence\\ransom-note.txt",
        content_type="text/plain",
        data=b"pay us",
    )
    db.commit()
    assert found.filename == "ransom-note.txt"
    assert found.sha256 == hashlib.sha256(b"pay us").hexdigest()
    got = coordination.attachment_file(
        db, actor=actor_for(intel.away_analyst), incident_id=incident.id, attachment_id=found.id
    )
    assert got.data == b"pay us"
    assert (
        db.scalar(select(AuditEvent).where(AuditEvent.action == "incidents:attachment:downloaded"))
        is not None
    )


def test_a_closed_incident_takes_no_new_party(
    db: Session, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    service.close(
        db, actor=actor_for(intel.analyst), incident_id=incident.id, data=CloseIn(resolution="x")
    )
    with pytest.raises(Conflict):
        _invite(db, intel, settings, incident.id, intel.away.id)
