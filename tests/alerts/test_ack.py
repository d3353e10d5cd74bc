"""Acknowledging alerts, and escalating those nobody acknowledges."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.alerts import ack
from balai.alerts.models import Alert
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import ContactRole
from balai.incidents import coordination, service
from balai.incidents.models import EntryKind, IncidentParty, PartyStatus, TimelineEntry
from balai.incidents.schemas import CloseIn, InviteIn
from balai.outbox.models import Channel
from tests.alerts.helpers import ack_link, messages
from tests.factories import actor_for, make_contact, make_user
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, sign_in, text_of
from tests.web import submit


def _invited(db: Session, intel: Intel, settings: Settings) -> Alert:
    """An incident to which MyCERT is invited; its duty desk has an alternate."""
    alternate = make_contact(
        db, intel.away, name="Deputy", role=ContactRole.TECHNICAL, email="deputy@my.example"
    )
    make_contact(
        db,
        intel.away,
        name="Duty desk",
        role=ContactRole.OPERATIONS,
        email="duty@my.example",
        alternate=alternate,
    )
    incident = report_as(db, intel.analyst, settings)
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    db.commit()
    return db.scalars(select(Alert)).one()


def test_the_link_acknowledges_the_alert_and_the_party_once(
    db: Session, intel: Intel, settings: Settings
) -> None:
    alert = _invited(db, intel, settings)
    [mail] = messages(db, Channel.EMAIL)
    token = ack_link(str(mail.payload["text"]))
    result = ack.acknowledge(db, settings=settings, token=token, client_ip="192.0.2.1")
    db.commit()
    assert result.status == ack.AckStatus.OK
    assert alert.acknowledged_by == "duty@my.example"
    party = db.scalars(select(IncidentParty)).one()
    assert party.status == PartyStatus.ACKNOWLEDGED
    assert party.acknowledged_at == alert.acknowledged_at
    again = ack.acknowledge(db, settings=settings, token=token, client_ip="192.0.2.1")
    assert again.status == ack.AckStatus.ALREADY


def test_an_acknowledgement_does_not_undo_a_partys_own_answer(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.incidents.schemas import PartyUpdate

    alert = _invited(db, intel, settings)
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=alert.incident_id,
        data=PartyUpdate(status=PartyStatus.INVESTIGATING),
    )
    token = ack_link(str(messages(db, Channel.EMAIL)[0].payload["text"]))
    ack.acknowledge(db, settings=settings, token=token)
    assert db.scalars(select(IncidentParty)).one().status == PartyStatus.INVESTIGATING


def test_wrong_tokens_are_refused_and_throttled(
    db: Session, intel: Intel, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_per_ip):
        assert (
            ack.acknowledge(db, settings=settings, token="x" * 43, client_ip="192.0.2.9").status
            == ack.AckStatus.INVALID
        )
    assert (
        ack.acknowledge(db, settings=settings, token="y" * 43, client_ip="192.0.2.9").status
        == ack.AckStatus.THROTTLED
    )


def test_silence_escalates_to_the_alternate_then_to_the_admins(
    db: Session, intel: Intel, settings: Settings
) -> None:
    alert = _invited(db, intel, settings)
    wait = timedelta(minutes=settings.alert_escalate_minutes)
    assert ack.escalate_due(db, settings=settings) == 0  # not yet
    assert ack.escalate_due(db, settings=settings, now=utcnow() + wait) == 1
    db.commit()
    assert alert.escalation_level == 1
    assert alert.escalation_note == "sent to the alternate contact, Deputy"
    assert ack.escalate_due(db, settings=settings, now=utcnow() + wait) == 0  # once per wait
    assert (
        ack.escalate_due(db, settings=settings, now=utcnow() + 2 * wait + timedelta(seconds=1)) == 1
    )
    db.commit()
    assert alert.escalation_level == 2
    sent = [(m.destination, str(m.payload["subject"])) for m in messages(db, Channel.EMAIL)]
    assert [s[0] for s in sent] == ["duty@my.example", "deputy@my.example", intel.away_admin.email]
    assert sent[1][1].startswith("[Balai TLP:AMBER] Unacknowledged:")
    assert ack.escalate_due(db, settings=settings, now=utcnow() + 10 * wait) == 0  # the end
    timeline = db.scalars(
        select(TimelineEntry.text)
        .where(TimelineEntry.kind == EntryKind.PARTY_SILENT)
        .order_by(TimelineEntry.id)
    ).all()
    assert timeline == [
        "The alert to MyCERT was not acknowledged: sent on to its alternate contact.",
        "The alert to MyCERT was not acknowledged: sent on to its administrators.",
    ]
    # The admin's own link acknowledges, and says who did.
    token = ack_link(str(messages(db, Channel.EMAIL)[-1].payload["text"]))
    ack.acknowledge(db, settings=settings, token=token)
    assert alert.acknowledged_by == intel.away_admin.email


def test_no_alternate_is_said_and_an_acknowledged_or_closed_alert_stays_put(
    db: Session, intel: Intel, settings: Settings
) -> None:
    make_contact(
        db, intel.away, name="Only desk", role=ContactRole.OPERATIONS, email="only@my.example"
    )
    incident = report_as(db, intel.analyst, settings)
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident.id,
        data=InviteIn(organisation_ids=[intel.away.id, intel.third.id]),
    )
    db.commit()
    later = utcnow() + timedelta(minutes=settings.alert_escalate_minutes + 1)
    away, third = sorted(db.scalars(select(Alert)).all(), key=lambda a: a.recipient.name)
    assert third.escalation_note == "no point of contact with an e-mail address"
    ack.acknowledge(db, settings=settings, token=ack_link(str(messages(db)[0].payload["text"])))
    assert ack.escalate_due(db, settings=settings, now=later) == 1  # SingCERT only
    assert third.escalation_note == "no alternate contact with an e-mail address"
    assert away.escalation_level == 0
    service.close(
        db, actor=actor_for(intel.analyst), incident_id=incident.id, data=CloseIn(resolution="x")
    )
    assert ack.escalate_due(db, settings=settings, now=later + timedelta(days=1)) == 0


def test_acknowledging_on_the_page_and_over_the_api(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    make_user(db, intel.away, role=Role.ORG_ADMIN)
    _invited(db, intel, settings)
    token = ack_link(str(messages(db, Channel.EMAIL)[0].payload["text"]))
    page = client.get(f"/alerts/ack/{token}")
    assert page.status_code == 200
    assert "Acknowledge" in page.text
    done = submit(client, f"/alerts/ack/{token}", f"/alerts/ack/{token}", {})
    assert done.status_code == 200
    assert "the alert is acknowledged" in text_of(done.text)
    again = client.post("/api/v1/alerts/ack", json={"token": token})
    assert again.json()["status"] == "already"
    wrong = client.post("/api/v1/alerts/ack", json={"token": "z" * 43})
    assert wrong.status_code == 404
    assert client.get(f"/alerts/ack/{'z' * 43}").status_code == 404
    # The organisation sees its alert, acknowledged, on its alerts page.
    sign_in(client, db, intel.away_analyst)
    listing = text_of(client.get("/alerts").text)
    assert "Invited as a party" in listing
    assert "by duty@my.example" in listing


def test_an_answer_on_the_platform_stops_escalation(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.incidents.schemas import PartyUpdate

    alert = _invited(db, intel, settings)
    coordination.answer_as_party(
        db,
        actor=actor_for(intel.away_analyst),
        incident_id=alert.incident_id,
        data=PartyUpdate(status=PartyStatus.INVESTIGATING),
    )
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by == f"{intel.away_analyst.email} (answered on the platform)"
    later = utcnow() + timedelta(minutes=settings.alert_escalate_minutes + 1)
    assert ack.escalate_due(db, settings=settings, now=later) == 0


def test_an_incident_narrowed_after_its_alert_is_not_sent_on(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.intel.markings import Distribution, Tlp
    from tests.alerts.helpers import subscribe

    subscribe(db, intel.away_analyst, settings, email="soc@my.example")
    incident = report_as(db, intel.analyst, settings)
    make_contact(db, intel.away, email="soc@my.example", alternate=make_contact(db, intel.away))
    incident.tlp, incident.distribution = Tlp.RED, Distribution.ORGANISATION
    db.commit()
    later = utcnow() + timedelta(minutes=settings.alert_escalate_minutes + 1)
    before = len(messages(db))
    assert ack.escalate_due(db, settings=settings, now=later) == 0
    [alert] = db.scalars(select(Alert)).all()
    assert alert.escalation_note == "not sent on: the incident is no longer shared with you"
    assert len(messages(db)) == before
