"""Who sees an incident: its marking's audience and its invited parties, no one else, on
every read path (service, dashboard, API, pages, files, audit log)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.policy import select_visible
from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.db import utcnow
from balai.errors import NotFound
from balai.incidents import coordination, service, views
from balai.incidents.models import (
    AssistanceRequest,
    Attachment,
    IncidentParty,
    StageReport,
    TimelineEntry,
)
from balai.incidents.schemas import InviteIn
from balai.intel.models import SharingGroup, SharingGroupMember
from tests.factories import actor_for
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, sign_in


def _seen(db: Session, actor: Actor) -> set[uuid.UUID]:
    return {i.id for i in service.list_incidents(db, actor=actor, per_page=100).items}


def test_each_marking_reaches_its_audience(db: Session, intel: Intel, settings: Settings) -> None:
    group = SharingGroup(name="TH-MY", owner_org_id=intel.home.id)
    group.members = [SharingGroupMember(organisation_id=intel.away.id)]
    db.add(group)
    db.commit()
    community = report_as(db, intel.analyst, settings, tlp="amber", distribution="community")
    grouped = report_as(
        db,
        intel.analyst,
        settings,
        tlp="amber+strict",
        distribution="sharing_group",
        sharing_group_id=str(group.id),
    )
    own = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    assert _seen(db, actor_for(intel.reader)) == {community.id, grouped.id, own.id}
    assert _seen(db, actor_for(intel.away_analyst)) == {community.id, grouped.id}
    assert _seen(db, actor_for(intel.third_admin)) == {community.id}
    # No role widens it: a platform admin of another organisation sees what it receives.
    assert _seen(db, actor_for(intel.third_platform_admin)) == {community.id}


def test_an_invited_party_becomes_a_named_recipient_of_a_red_incident(
    db: Session, intel: Intel, settings: Settings
) -> None:
    red = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    assert red.id not in _seen(db, actor_for(intel.away_analyst))
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=red.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    db.commit()
    assert red.id in _seen(db, actor_for(intel.away_analyst))
    assert red.id not in _seen(db, actor_for(intel.third_admin))


@pytest.mark.parametrize(
    "model", [IncidentParty, StageReport, AssistanceRequest, TimelineEntry, Attachment]
)
def test_an_incidents_parts_are_hidden_with_it(
    db: Session, intel: Intel, settings: Settings, model: type
) -> None:
    red = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=red.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    coordination.attach(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=red.id,
        filename="n.txt",
        content_type=None,
        data=b"x",
    )
    db.add(
        AssistanceRequest(
            incident_id=red.id,
            to_org_id=intel.away.id,
            text="help",
            requested_by="x",
            respond_by=utcnow(),
        )
    )
    db.commit()
    for user, expected in ((intel.away_analyst, True), (intel.third_admin, False)):
        rows: list[object] = list(db.scalars(select_visible(actor_for(user), model)))
        assert bool(rows) is expected, (model.__name__, user.email)


def test_an_outsider_finds_nothing_by_service_dashboard_api_page_or_file(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    red = report_as(
        db,
        intel.analyst,
        settings,
        tlp="red",
        distribution="organisation",
        aware_at=(utcnow().replace(year=2026, month=1, day=1)).isoformat(),
    )
    found = coordination.attach(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=red.id,
        filename="n.txt",
        content_type=None,
        data=b"secret",
    )
    db.commit()
    outsider = actor_for(intel.third_admin)
    with pytest.raises(NotFound):
        service.get_incident(db, actor=outsider, incident_id=red.id)
    with pytest.raises(NotFound):
        coordination.attachment_file(db, actor=outsider, incident_id=red.id, attachment_id=found.id)
    board = views.dashboard(db, actor=outsider)
    assert (board.open, board.overdue, board.by_class) == (0, [], [])
    insider = views.dashboard(db, actor=actor_for(intel.analyst))
    assert insider.open == 1
    assert [i.id for i in insider.overdue] == [red.id]

    headers = intel.key(intel.third_admin)
    assert client.get(f"/api/v1/incidents/{red.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/incidents", headers=headers).json()["total"] == 0
    dash = client.get("/api/v1/incidents/dashboard", headers=headers).json()
    assert dash["open"] == 0
    assert dash["overdue"] == []
    download = client.get(f"/api/v1/incidents/{red.id}/attachments/{found.id}", headers=headers)
    assert download.status_code == 404
    assert b"secret" not in download.content

    sign_in(client, db, intel.third_admin)
    page = client.get(f"/incidents/{red.id}")
    assert page.status_code == 404
    assert red.title not in page.text
    listing = client.get("/incidents")
    assert listing.status_code == 200
    assert red.reference not in listing.text
    assert red.reference not in client.get("/incidents/dashboard").text


def test_incident_events_in_the_audit_log_stay_with_the_organisations_involved(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    red = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    admin = actor_for(intel.third_platform_admin)
    events = db.scalars(select_visible(admin, AuditEvent)).all()
    assert not [e for e in events if e.object_id == str(red.id)]
    own = db.scalars(select_visible(actor_for(intel.admin), AuditEvent)).all()
    assert [e.action for e in own if e.object_id == str(red.id)] == ["incidents:incident:reported"]


def test_reading_a_restricted_incident_is_audited_for_its_reporter(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    amber = report_as(db, intel.analyst, settings)
    response = client.get(f"/api/v1/incidents/{amber.id}", headers=intel.key(intel.away_analyst))
    assert response.status_code == 200
    db.expire_all()
    reads = db.scalars(
        select_visible(actor_for(intel.admin), AuditEvent).where(
            AuditEvent.action == "incidents:incident:restricted_read"
        )
    ).all()
    assert [(e.actor_org_id, e.object_id) for e in reads] == [(intel.away.id, str(amber.id))]


def test_links_to_objects_the_reader_may_not_see_are_not_mentioned(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.intel.markings import Distribution, Tlp
    from tests.intel.helpers import body, import_as, indicator

    hidden = indicator("[ipv4-addr:value = '198.51.100.9']")
    import_as(db, intel.analyst, body(hidden), tlp=Tlp.RED, distribution=Distribution.ORGANISATION)
    incident = report_as(db, intel.analyst, settings, link_ids=[hidden["id"]])
    mine = views.incident_out(db, actor=actor_for(intel.analyst), incident=incident)
    theirs = views.incident_out(db, actor=actor_for(intel.away_analyst), incident=incident)
    assert [link.stix_id for link in mine.links] == [hidden["id"]]
    assert theirs.links == []


def test_alert_events_and_alert_mail_subjects_stay_with_those_involved(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    from balai.directory.models import ContactRole
    from tests.factories import make_contact

    make_contact(db, intel.away, role=ContactRole.OPERATIONS, email="duty@my.example")
    red = report_as(  # AMBER kept to the reporter: its title would be in the subject
        db,
        intel.analyst,
        settings,
        tlp="amber",
        distribution="organisation",
        title="Secret ransomware case",
    )
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=red.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    db.commit()
    from balai.alerts import ack
    from tests.alerts.helpers import ack_link, messages

    ack.acknowledge(db, settings=settings, token=ack_link(str(messages(db)[0].payload["text"])))
    db.commit()
    admin = actor_for(intel.third_platform_admin)
    assert not [
        e
        for e in db.scalars(select_visible(admin, AuditEvent))
        if e.action.startswith("alerts:alert")
    ]
    sign_in(client, db, intel.third_platform_admin)
    outbox = client.get("/outbox")
    assert outbox.status_code == 200
    assert "Secret ransomware case" not in outbox.text
