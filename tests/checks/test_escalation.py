"""Trying the alternate of a silent contact, and closing checks: by the clock or by hand."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.checks import service
from balai.checks.models import AttemptRole, CheckStatus, CommCheck, Outcome
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Contact
from balai.outbox.delivery import SmtpTransport
from balai.outbox.models import OutboxMessage
from balai.worker import Worker
from tests.checks.helpers import (
    Region,
    count,
    keys_for,
    login_as,
    mail_secrets,
    session_factory,
    start,
    targets_by_name,
)
from tests.factories import make_contact
from tests.smtp import SmtpSink
from tests.web import client_for, submit


def _events(db: Session, action: AuditAction) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action.value)))


def test_silent_contact_is_tried_through_the_alternate_whose_answer_counts(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked, title="Escalation")
    started = check.started_at
    first = mail_secrets(connection, settings, mail, 3)
    with client_for(connection, settings) as client:
        answered = client.post("/api/v1/ack", json={"code": first["aisyah@mycert.example"][1]})
    assert answered.json()["status"] == "ok"

    assert service.escalate_due(db, settings=settings, now=started + timedelta(minutes=59)) == 0
    assert all(t.escalated_at is None for t in targets_by_name(db, check.id).values())
    due = started + timedelta(minutes=61)
    assert service.escalate_due(db, settings=settings, now=due) == 1
    db.commit()

    targets = targets_by_name(db, check.id)
    niran, somchai, aisyah = (
        targets["Niran Srisuk"],
        targets["Somchai Wongsakul"],
        targets["Aisyah Rahman"],
    )
    assert niran.escalated_at == due
    assert niran.escalation_note == "tried alternate Ploy Chaiyaporn"
    assert [(a.role, a.email) for a in niran.attempts] == [
        (AttemptRole.PRIMARY, "niran@thaicert.example"),
        (AttemptRole.ALTERNATE, "ploy@thaicert.example"),
    ]
    assert niran.attempts[1].contact_id == region.ploy.id
    assert somchai.escalated_at == due
    assert somchai.escalation_note == "no alternate with an e-mail address"
    assert len(somchai.attempts) == 1
    assert aisyah.escalated_at is None
    assert len(aisyah.attempts) == 1
    [escalated] = _events(db, AuditAction.CHECK_ESCALATED)
    assert escalated.details == {"target": str(niran.id), "alternate": "Ploy Chaiyaporn"}

    # Nothing is escalated twice.
    messages = count(db, OutboxMessage)
    assert service.escalate_due(db, settings=settings, now=due + timedelta(hours=2)) == 0
    assert count(db, OutboxMessage) == messages
    assert len(targets_by_name(db, check.id)["Niran Srisuk"].attempts) == 2

    mail.clear()
    second = mail_secrets(connection, settings, mail, 1)
    [to_alternate] = mail.to("ploy@thaicert.example")
    assert to_alternate.subject == "[Balai communication check] Escalation (for Niran Srisuk)"
    assert "Dear Ploy Chaiyaporn," in to_alternate.body
    assert "as the alternate of Niran Srisuk (ThaiCERT), who has not answered yet." in " ".join(
        to_alternate.body.split()
    )
    path, _ = second["ploy@thaicert.example"]
    db.execute(update(Contact).values(last_verified_at=utcnow() - timedelta(days=300)))
    db.commit()
    with client_for(connection, settings) as client:
        done = submit(client, path, path, {})
    assert "your answer is recorded" in done.text
    niran = targets_by_name(db, check.id)["Niran Srisuk"]
    assert niran.outcome == Outcome.REACHED_ALTERNATE
    assert niran.attempts[1].used_at == niran.acknowledged_at
    assert niran.attempts[0].used_at is None
    # The alternate answered, so the alternate's entry is the one confirmed current.
    ploy, primary = db.get(Contact, region.ploy.id), db.get(Contact, region.niran.id)
    assert ploy is not None
    assert primary is not None
    assert ploy.last_verified_at == niran.acknowledged_at
    assert primary.last_verified_at is not None
    assert primary.last_verified_at < utcnow() - timedelta(days=299)
    acknowledged = _events(db, AuditAction.CHECK_ACKNOWLEDGED)
    assert {e.details["via"] for e in acknowledged} == {"primary", "alternate"}

    # The primary's own link, answered now, changes nothing.
    with client_for(connection, settings) as client:
        late_primary = client.post(
            "/api/v1/ack", json={"token": first["niran@thaicert.example"][0].removeprefix("/ack/")}
        )
    assert late_primary.json()["status"] == "already"
    assert targets_by_name(db, check.id)["Niran Srisuk"].outcome == Outcome.REACHED_ALTERNATE

    closes = started + timedelta(minutes=241)
    assert service.close_due(db, now=closes - timedelta(minutes=2)) == 0
    assert service.close_due(db, now=closes) == 1
    db.commit()
    targets = targets_by_name(db, check.id)
    assert {name: t.outcome for name, t in targets.items()} == {
        "Niran Srisuk": Outcome.REACHED_ALTERNATE,
        "Somchai Wongsakul": Outcome.NOT_REACHED,
        "Aisyah Rahman": Outcome.REACHED,
    }
    closed = db.get(CommCheck, check.id)
    assert closed is not None
    assert closed.status == CheckStatus.CLOSED
    assert closed.closed_at == closes
    [event] = _events(db, AuditAction.CHECK_CLOSED)
    assert event.object_id == str(check.id)
    assert event.details["total"] == 3
    assert (event.details["reached"], event.details["reached_alternate"]) == (1, 1)
    assert (event.details["not_reached"], event.details["pending"]) == (1, 0)
    assert service.close_due(db, now=closes + timedelta(days=1)) == 0


def test_alternate_without_an_email_address_is_noted_not_mailed(
    db: Session, settings: Settings, region: Region
) -> None:
    phone_only = make_contact(db, region.thai, name="Arun Phoneonly", email=None)
    primary = make_contact(db, region.thai, name="Kanya Primary", alternate=phone_only)
    check = start(db, settings, region.admin, [primary])
    messages = count(db, OutboxMessage)
    now = check.started_at + timedelta(minutes=61)
    assert service.escalate_due(db, settings=settings, now=now) == 0
    target = targets_by_name(db, check.id)["Kanya Primary"]
    assert target.escalation_note == "no alternate with an e-mail address"
    assert target.escalated_at == now
    assert len(target.attempts) == 1
    assert count(db, OutboxMessage) == messages
    assert _events(db, AuditAction.CHECK_ESCALATED) == []


def test_closed_check_is_neither_escalated_nor_closed_again(
    db: Session, settings: Settings, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked)
    service.close_now(db, actor=SYSTEM, check_id=check.id)
    db.commit()
    later = check.started_at + timedelta(days=2)
    assert service.escalate_due(db, settings=settings, now=later) == 0
    assert service.close_due(db, now=later) == 0
    assert all(t.escalated_at is None for t in targets_by_name(db, check.id).values())
    assert len(_events(db, AuditAction.CHECK_CLOSED)) == 1


def test_close_early_on_the_page(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked)
    url = f"/checks/{check.id}"
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        running = client.get(url)
        assert f'action="/checks/{check.id}/close"' in running.text
        closed = submit(client, url, f"{url}/close", {})
        assert closed.status_code == 303
        assert closed.headers["location"] == url
        page = client.get(url)
    assert "<dt>State</dt><dd>Closed</dd>" in page.text
    assert page.text.count("Not reached</span>") == 3
    assert f'action="/checks/{check.id}/close"' not in page.text
    fresh = db.get(CommCheck, check.id)
    assert fresh is not None
    db.refresh(fresh)
    assert fresh.status == CheckStatus.CLOSED
    assert fresh.closed_at is not None
    assert fresh.closed_at < fresh.closes_at
    [event] = _events(db, AuditAction.CHECK_CLOSED)
    assert event.details["not_reached"] == 3


def test_close_early_over_the_api_only_by_the_initiator(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked)
    admin, analyst, checked_admin = keys_for(db, region.admin, region.analyst, region.thai_admin)
    url = f"/api/v1/checks/{check.id}/close"
    with client_for(connection, settings) as client:
        by_checked = client.post(url, headers=checked_admin)
        by_analyst = client.post(url, headers=analyst)
        assert targets_by_name(db, check.id)["Niran Srisuk"].outcome == Outcome.PENDING
        closed = client.post(url, headers=admin)
        again = client.post(url, headers=admin)
    assert by_checked.status_code == 403
    assert by_analyst.status_code == 403
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["status"] == "closed"
    assert body["closed_at"] is not None
    assert body["summary"]["not_reached"] == 3
    assert {t["outcome"] for t in body["targets"]} == {"not_reached"}
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert len(_events(db, AuditAction.CHECK_CLOSED)) == 1


def test_worker_jobs_escalate_and_close_on_their_own(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, [region.niran], escalate=30, close=90)
    worker = Worker(
        settings, factory=session_factory(connection), transport=SmtpTransport(settings)
    )
    assert worker.run_once() == 1  # nothing due yet; the first mail goes out
    assert targets_by_name(db, check.id)["Niran Srisuk"].escalated_at is None

    db.execute(
        update(CommCheck)
        .where(CommCheck.id == check.id)
        .values(started_at=utcnow() - timedelta(minutes=31))
    )
    db.commit()
    assert worker.run_jobs()["checks.escalate"] == 1
    assert worker.run_once() == 1  # the alternate's mail
    assert worker.run_jobs()["checks.escalate"] == 0
    assert [m.to for m in mail.all()] == [["niran@thaicert.example"], ["ploy@thaicert.example"]]

    db.execute(
        update(CommCheck)
        .where(CommCheck.id == check.id)
        .values(closes_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()
    assert worker.run_jobs()["checks.close"] == 1
    target = targets_by_name(db, check.id)["Niran Srisuk"]
    assert target.outcome == Outcome.NOT_REACHED
    assert target.escalation_note == "tried alternate Ploy Chaiyaporn"
    assert target.check.status == CheckStatus.CLOSED
