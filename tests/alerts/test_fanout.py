"""Fan-out: which subscriptions hear of a new incident, what they are told, and that an
organisation outside the audience hears nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.alerts.models import Alert, Reason
from balai.config import Settings
from balai.intel.markings import Distribution, Tlp
from balai.outbox.models import Channel, OutboxMessage
from tests.alerts.helpers import loopback, messages, subscribe
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, body, count, import_as, indicator

HOOK = "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("filters", "hit"),
    [
        ({}, True),
        ({"countries": ["MY"]}, True),
        ({"countries": ["VN"]}, False),
        ({"sectors": ["energy"]}, True),
        ({"sectors": ["health"]}, False),
        ({"rsit_classes": ["malicious-code"]}, True),
        ({"rsit_classes": ["fraud"]}, False),
        ({"min_severity": "high"}, True),
        ({"min_severity": "critical"}, False),
        ({"tlps": ["amber"]}, True),
        ({"tlps": ["green"]}, False),
        ({"keywords": ["SCADA"]}, True),
        ({"keywords": ["phishing"]}, False),
        ({"countries": ["MY"], "min_severity": "critical"}, False),
    ],
)
def test_a_subscription_hears_of_what_its_filters_take(
    db: Session, intel: Intel, settings: Settings, filters: dict[str, object], hit: bool
) -> None:
    subscribe(db, intel.away_analyst, settings, email="soc@mycert.example", **filters)
    report_as(db, intel.analyst, settings)
    assert count(db, Alert) == (1 if hit else 0)
    assert len(messages(db, Channel.EMAIL)) == (1 if hit else 0)


def test_indicator_types_match_the_linked_indicators_the_recipient_may_see(
    db: Session, intel: Intel, settings: Settings
) -> None:
    shared = indicator("[domain-name:value = 'evil.example']")
    import_as(db, intel.analyst, body(shared))
    subscribe(db, intel.away_analyst, settings, email="a@my.example", indicator_kinds=["domain"])
    subscribe(db, intel.away_analyst, settings, email="b@my.example", indicator_kinds=["sha256"])
    report_as(db, intel.analyst, settings, link_ids=[shared["id"]])
    assert [m.destination for m in messages(db)] == ["a@my.example"]


def test_an_organisation_outside_the_audience_hears_nothing(
    db: Session, intel: Intel, settings: Settings
) -> None:
    settings = loopback(settings)
    subscribe(db, intel.away_analyst, settings, email="soc@mycert.example")
    subscribe(db, intel.third_admin, settings, email="soc@singcert.example", webhook_url=HOOK)
    report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    assert count(db, Alert) == 0
    assert messages(db) == []


def test_the_reporter_is_not_alerted_about_its_own_report(
    db: Session, intel: Intel, settings: Settings
) -> None:
    subscribe(db, intel.admin, settings, email="soc@thaicert.example")
    report_as(db, intel.analyst, settings)
    assert messages(db) == []


def test_email_and_webhook_carry_what_the_recipient_may_see_and_an_ack_link(
    db: Session, intel: Intel, settings: Settings
) -> None:
    settings = loopback(settings)
    visible_ioc = indicator("[ipv4-addr:value = '198.51.100.1']", name="Shared C2")
    hidden_ioc = indicator("[ipv4-addr:value = '198.51.100.2']", name="Our own sensor")
    import_as(db, intel.analyst, body(visible_ioc))
    import_as(
        db, intel.analyst, body(hidden_ioc), tlp=Tlp.RED, distribution=Distribution.ORGANISATION
    )
    _, secret = subscribe(
        db, intel.away_analyst, settings, email="soc@mycert.example", webhook_url=HOOK
    )
    assert secret is not None
    assert secret.startswith("whsec_")
    incident = report_as(
        db, intel.analyst, settings, link_ids=[visible_ioc["id"], hidden_ioc["id"]]
    )
    [mail] = messages(db, Channel.EMAIL)
    [hook] = messages(db, Channel.WEBHOOK)
    text = str(mail.payload["text"])
    assert incident.reference in text
    assert "TLP:AMBER" in str(mail.payload["subject"])
    assert "/alerts/ack/" in text
    data = hook.payload["body"]
    assert data["incident"]["reference"] == incident.reference
    assert [link["name"] for link in data["incident"]["links"]] == ["Shared C2"]
    assert "Our own sensor" not in str(hook.payload)
    assert data["acknowledge"]["url"].startswith("http://testserver/alerts/ack/")
    assert hook.idempotency_key.startswith("msg_")
    assert secret not in str(hook.payload)  # sealed, never stored in the clear


def test_alerts_are_written_in_the_incidents_transaction(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.incidents import service
    from balai.incidents.schemas import IncidentIn
    from tests.factories import actor_for
    from tests.incidents.helpers import RANSOMWARE

    subscribe(db, intel.away_analyst, settings, email="soc@mycert.example")
    service.report(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        data=IncidentIn.model_validate(RANSOMWARE),
    )
    db.flush()
    assert count(db, OutboxMessage) >= 1
    db.rollback()  # the report fails to commit: no alert leaves
    assert count(db, Alert) == 0
    assert messages(db) == []


def test_a_digest_subscription_gathers_its_alerts_and_sends_one_message(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.alerts import ack

    sub, _ = subscribe(
        db, intel.away_analyst, settings, email="digest@mycert.example", mode="digest"
    )
    first = report_as(db, intel.analyst, settings, title="First incident")
    report_as(db, intel.analyst, settings, title="Second incident")
    assert messages(db) == []
    assert db.scalars(select(Alert.digest_pending)).all() == [True, True]
    # The first is narrowed to the reporter before the digest leaves: it is left out.
    first.tlp, first.distribution = Tlp.RED, Distribution.ORGANISATION
    db.commit()
    assert ack.send_digests(db, settings=settings) == 1
    [digest] = messages(db)
    assert "Second incident" in str(digest.payload["text"])
    assert "First incident" not in str(digest.payload["text"])
    assert ack.send_digests(db, settings=settings) == 0  # not before its period is up
    assert sub.last_digest_at is not None


def test_invitations_reach_the_duty_contact_and_the_organisations_webhooks(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.directory.models import ContactRole
    from balai.incidents import coordination
    from balai.incidents.schemas import InviteIn
    from tests.factories import actor_for, make_contact

    settings = loopback(settings)
    make_contact(
        db, intel.away, name="Policy desk", role=ContactRole.POLICY, email="policy@my.example"
    )
    make_contact(
        db, intel.away, name="24/7 desk", role=ContactRole.OPERATIONS, email="duty@my.example"
    )
    subscribe(
        db,
        intel.away_admin,
        settings,
        for_organisation=True,
        webhook_url=HOOK,
        countries=["VN"],  # filters do not hold back an invitation
    )
    incident = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    assert messages(db) == []
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    db.commit()
    [alert] = db.scalars(select(Alert)).all()
    assert alert.reason == Reason.INVITATION
    assert sorted((m.channel.value, m.destination) for m in messages(db)) == [
        ("email", "duty@my.example"),
        ("webhook", HOOK),
    ]


def test_a_red_incidents_email_names_it_but_keeps_its_words_on_the_platform(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.incidents import coordination
    from balai.incidents.schemas import InviteIn
    from tests.factories import actor_for, make_contact

    settings = loopback(settings)
    make_contact(db, intel.away, email="duty@my.example")
    subscribe(db, intel.away_admin, settings, for_organisation=True, webhook_url=HOOK)
    incident = report_as(
        db,
        intel.analyst,
        settings,
        tlp="red",
        distribution="organisation",
        title="Ransomware at Bank Negara's clearing house",
    )
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    [mail] = messages(db, Channel.EMAIL)
    [hook] = messages(db, Channel.WEBHOOK)
    text = f"{mail.payload['subject']}\n{mail.payload['text']}"
    assert incident.reference in text
    assert "Bank Negara" not in text
    assert "SCADA" not in text  # the description
    assert "/alerts/ack/" in text
    # The signed call to the organisation's own system carries it whole.
    assert hook.payload["body"]["incident"]["title"] == incident.title


def test_an_amber_incident_for_a_sharing_group_alerts_its_members_only(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.intel.models import SharingGroup, SharingGroupMember

    group = SharingGroup(name="TH-MY energy", owner_org_id=intel.home.id)
    group.members = [SharingGroupMember(organisation_id=intel.away.id)]
    db.add(group)
    db.commit()
    subscribe(db, intel.away_analyst, settings, email="soc@mycert.example")
    subscribe(db, intel.third_admin, settings, email="soc@singcert.example")
    report_as(
        db,
        intel.analyst,
        settings,
        tlp="amber",
        distribution="sharing_group",
        sharing_group_id=str(group.id),
    )
    assert [m.destination for m in messages(db)] == ["soc@mycert.example"]
    assert db.scalars(select(Alert.recipient_org_id)).all() == [intel.away.id]


def test_invitations_skip_members_personal_webhooks(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.incidents import coordination
    from balai.incidents.schemas import InviteIn
    from tests.factories import actor_for

    settings = loopback(settings)
    subscribe(db, intel.away_analyst, settings, webhook_url=HOOK + "/personal")
    incident = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    coordination.invite(
        db,
        actor=actor_for(intel.analyst),
        settings=settings,
        incident_id=incident.id,
        data=InviteIn(organisation_ids=[intel.away.id]),
    )
    assert messages(db, Channel.WEBHOOK) == []


def test_a_digest_subscription_changed_to_at_once_does_not_strand_its_alerts(
    db: Session, intel: Intel, settings: Settings
) -> None:
    from balai.alerts import service
    from balai.alerts.schemas import SubscriptionIn
    from tests.factories import actor_for

    sub, _ = subscribe(db, intel.away_analyst, settings, email="d@my.example", mode="digest")
    report_as(db, intel.analyst, settings)
    service.update(
        db,
        actor=actor_for(intel.away_analyst),
        settings=settings,
        subscription_id=sub.id,
        data=SubscriptionIn(name="Watch", email="d@my.example"),
    )
    [alert] = db.scalars(select(Alert)).all()
    assert alert.digest_pending is False
    assert alert.escalation_note == "not sent: the subscription changed before its digest"
