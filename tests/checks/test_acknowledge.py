"""Delivering check mail over real SMTP and answering it: by link, by code, too late, too often."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.utils import parseaddr

import pytest
from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from balai.access.actor import SYSTEM
from balai.accounts.models import LoginFailure
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.checks import service
from balai.checks.models import CheckAttempt, CommCheck, Outcome
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Contact
from balai.outbox.models import DeliveryStatus, OutboxMessage
from tests.checks.helpers import (
    Region,
    link_and_code,
    mail_secrets,
    message_of,
    start,
    targets_by_name,
)
from tests.smtp import SmtpSink
from tests.web import client_for, submit

WRONG_CODE = "AAAAA-AAAAA"
ACK_KEY = "ack:testclient"  # TestClient's client address
# Ways people type a code such as K7QPM-2M9XA.
TYPINGS: dict[str, Callable[[str], str]] = {
    "lower case, no dash": lambda code: code.lower().replace("-", ""),
    "mixed case, spaces": lambda code: f" {code[:3].lower()} {code[3:5]}  {code[6:]} ",
}


def _events(db: Session, action: AuditAction) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action.value).order_by("id"))
    )


def _failures(db: Session) -> int:
    return db.scalar(select(func.count()).where(LoginFailure.key == ACK_KEY)) or 0


def _age_contacts(db: Session, days: int = 400) -> None:
    db.execute(update(Contact).values(last_verified_at=utcnow() - timedelta(days=days)))
    db.commit()


def test_mail_is_delivered_over_smtp_and_its_link_acknowledges_after_confirmation(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked, title="Link check")
    _age_contacts(db)
    secrets = mail_secrets(connection, settings, mail, 3)

    [received] = mail.to("niran@thaicert.example")
    assert received.subject == "[Balai communication check] Link check"
    assert parseaddr(str(received.message["From"]))[1] == settings.mail_from
    assert received.message["Auto-Submitted"] == "auto-generated"
    assert "Dear Niran Srisuk," in received.body
    db.expire_all()
    niran = targets_by_name(db, check.id)["Niran Srisuk"]
    [attempt] = niran.attempts
    sent = message_of(db, attempt)
    assert sent.status == DeliveryStatus.SENT
    assert received.message_id == sent.idempotency_key
    # Response times count from the moment the mail left, not from the start of the check.
    sent_at = utcnow() - timedelta(minutes=5)
    db.execute(update(OutboxMessage).where(OutboxMessage.id == sent.id).values(sent_at=sent_at))
    db.execute(
        update(CommCheck)
        .where(CommCheck.id == check.id)
        .values(started_at=utcnow() - timedelta(hours=1))
    )
    db.commit()

    path, _ = secrets["niran@thaicert.example"]
    with client_for(connection, settings) as client:
        confirm = client.get(path)
        assert confirm.status_code == 200
        assert "I received this message" in confirm.text
        assert "ASEAN Coordination Centre is checking that Niran Srisuk (ThaiCERT)" in confirm.text
        assert "Link check" in confirm.text
        # Following the link (as a mail scanner does) records nothing.
        target = targets_by_name(db, check.id)["Niran Srisuk"]
        assert target.outcome == Outcome.PENDING
        assert target.acknowledged_at is None
        assert target.attempts[0].used_at is None
        assert _events(db, AuditAction.CHECK_ACKNOWLEDGED) == []

        done = submit(client, path, path, {})
        again = submit(client, "/ack", path, {})  # the link page no longer has a form
        revisit = client.get(path)
    assert done.status_code == 200
    assert "Thank you: your answer is recorded." in done.text
    assert again.status_code == 200
    assert "This message was already acknowledged." in again.text
    assert "already acknowledged" in revisit.text
    assert "I received this message" not in revisit.text

    target = targets_by_name(db, check.id)["Niran Srisuk"]
    assert target.outcome == Outcome.REACHED
    assert target.acknowledged_at is not None
    assert target.attempts[0].used_at == target.acknowledged_at
    assert target.response_seconds is not None
    assert 300 <= target.response_seconds < 360
    contact = db.get(Contact, region.niran.id)
    assert contact is not None
    assert contact.last_verified_at == target.acknowledged_at
    [event] = _events(db, AuditAction.CHECK_ACKNOWLEDGED)
    assert event.object_id == str(check.id)
    assert event.object_org_id == region.hub.id
    assert event.actor_label == "Niran Srisuk <niran@thaicert.example>"
    assert event.details == {"target": str(target.id), "via": "primary"}
    [verified] = _events(db, AuditAction.CONTACT_VERIFIED)
    assert verified.object_id == str(region.niran.id)
    others = targets_by_name(db, check.id)
    assert others["Somchai Wongsakul"].outcome == Outcome.PENDING
    assert others["Aisyah Rahman"].outcome == Outcome.PENDING


@pytest.mark.parametrize("typing", TYPINGS)
def test_code_acknowledges_whatever_its_case_and_separators(
    connection: Connection,
    db: Session,
    settings: Settings,
    mail: SmtpSink,
    region: Region,
    typing: str,
) -> None:
    check = start(db, settings, region.admin, region.checked)
    _age_contacts(db)
    _, code = mail_secrets(connection, settings, mail, 3)["desk@thaicert.example"]
    entered = TYPINGS[typing](code)
    assert entered != code
    with client_for(connection, settings) as client:
        form = client.get("/ack")
        assert 'name="code"' in form.text
        done = submit(client, "/ack", "/ack", {"code": entered})
    assert done.status_code == 200, done.text
    assert "Thank you: your answer is recorded." in done.text
    assert "for Somchai Wongsakul" in done.text
    target = targets_by_name(db, check.id)["Somchai Wongsakul"]
    assert target.outcome == Outcome.REACHED
    contact = db.get(Contact, region.somchai.id)
    assert contact is not None
    assert contact.last_verified_at == target.acknowledged_at
    assert _failures(db) == 0


def test_api_acknowledges_by_code_and_by_token(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked, title="API answers")
    secrets = mail_secrets(connection, settings, mail, 3)
    _, code = secrets["aisyah@mycert.example"]
    path, _ = secrets["niran@thaicert.example"]
    token = path.removeprefix("/ack/")
    with client_for(connection, settings) as client:
        by_code = client.post("/api/v1/ack", json={"code": code.lower().replace("-", "")})
        by_token = client.post("/api/v1/ack", json={"token": token})
        repeated = client.post("/api/v1/ack", json={"token": token})
        both = client.post("/api/v1/ack", json={"token": token, "code": code})
        neither = client.post("/api/v1/ack", json={})
        extra = client.post("/api/v1/ack", json={"code": code, "contact": "me"})
        wrong = client.post("/api/v1/ack", json={"token": "not-a-token"})
    assert by_code.status_code == 200, by_code.text
    assert by_code.json() == {
        "status": "ok",
        "check_title": "API answers",
        "contact_name": "Aisyah Rahman",
    }
    assert by_token.json()["status"] == "ok"
    assert by_token.json()["contact_name"] == "Niran Srisuk"
    assert repeated.status_code == 200
    assert repeated.json()["status"] == "already"
    for bad in (both, neither):
        assert bad.status_code == 422
        assert bad.json()["error"]["details"] == [
            {"loc": "body", "msg": "send either token or code"}
        ]
    assert extra.status_code == 422
    assert [d["loc"] for d in extra.json()["error"]["details"]] == ["body.contact"]
    assert wrong.status_code == 404
    assert wrong.json()["error"]["code"] == "not_found"
    targets = targets_by_name(db, check.id)
    assert targets["Aisyah Rahman"].outcome == Outcome.REACHED
    assert targets["Niran Srisuk"].outcome == Outcome.REACHED
    assert targets["Somchai Wongsakul"].outcome == Outcome.PENDING
    assert len(_events(db, AuditAction.CHECK_ACKNOWLEDGED)) == 2


def test_wrong_codes_are_counted_and_then_throttled(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    settings = settings.model_copy(update={"login_max_failures_per_ip": 3})
    check = start(db, settings, region.admin, region.checked)
    _, code = mail_secrets(connection, settings, mail, 3)["aisyah@mycert.example"]
    with client_for(connection, settings) as client:
        first = submit(client, "/ack", "/ack", {"code": WRONG_CODE})
        second = submit(client, "/ack", "/ack", {"code": "bbbbb-bbbbb"})
        third = client.post("/api/v1/ack", json={"code": WRONG_CODE})
        # The requests failed, yet each failure was committed.
        assert _failures(db) == 3
        page = submit(client, "/ack", "/ack", {"code": code})
        api = client.post("/api/v1/ack", json={"code": code})
    for refused in (first, second):
        assert refused.status_code == 404
        assert "No check message matches this link or code." in refused.text
    assert third.status_code == 404
    assert third.json()["error"]["code"] == "not_found"
    assert page.status_code == 429
    assert "Too many wrong codes." in page.text
    assert api.status_code == 429
    assert api.json()["error"]["code"] == "too_many_attempts"
    assert targets_by_name(db, check.id)["Aisyah Rahman"].outcome == Outcome.PENDING
    failed = _events(db, AuditAction.CHECK_ACK_FAILED)
    assert len(failed) == 3
    assert {e.client_ip for e in failed} == {"testclient"}
    assert {e.details["by"] for e in failed} == {"code"}

    # Failures older than the window no longer count.
    db.execute(
        update(LoginFailure)
        .where(LoginFailure.key == ACK_KEY)
        .values(at=utcnow() - timedelta(minutes=settings.login_window_minutes + 1))
    )
    db.commit()
    with client_for(connection, settings) as client:
        later = client.post("/api/v1/ack", json={"code": code})
    assert later.status_code == 200, later.text
    assert targets_by_name(db, check.id)["Aisyah Rahman"].outcome == Outcome.REACHED


def test_unknown_link_shows_nothing_and_a_post_to_it_counts_as_a_failure(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    start(db, settings, region.admin, region.checked, title="Secret title")
    with client_for(connection, settings) as client:
        page = client.get("/ack/no-such-token")
        assert _failures(db) == 0
        posted = submit(client, "/ack", "/ack/no-such-token", {})
    assert page.status_code == 404
    assert "This link does not match any check message." in page.text
    assert "Secret title" not in page.text
    assert posted.status_code == 404
    assert "No check message matches" in posted.text
    assert _failures(db) == 1
    [failed] = _events(db, AuditAction.CHECK_ACK_FAILED)
    assert failed.details == {"by": "link"}


def test_answer_after_the_check_closed_is_late_but_verifies_the_contact(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked)
    _age_contacts(db)
    secrets = mail_secrets(connection, settings, mail, 3)
    assert service.close_due(db, now=utcnow() + timedelta(minutes=241)) == 1
    db.commit()
    path, _ = secrets["niran@thaicert.example"]
    _, code = secrets["aisyah@mycert.example"]
    with client_for(connection, settings) as client:
        by_link = submit(client, path, path, {})
        by_code = client.post("/api/v1/ack", json={"code": code})
    assert by_link.status_code == 200
    assert "This check has closed, so your answer came too late to count" in by_link.text
    assert by_code.json()["status"] == "late"
    targets = targets_by_name(db, check.id)
    for name, contact in (("Niran Srisuk", region.niran), ("Aisyah Rahman", region.aisyah)):
        target = targets[name]
        assert target.outcome == Outcome.NOT_REACHED
        assert target.acknowledged_at is None
        assert target.response_seconds is None
        assert target.attempts[0].used_at is not None
        fresh = db.get(Contact, contact.id)
        assert fresh is not None
        assert fresh.last_verified_at == target.attempts[0].used_at
    assert _events(db, AuditAction.CHECK_ACKNOWLEDGED) == []
    assert len(_events(db, AuditAction.CONTACT_VERIFIED)) == 2
    unanswered = db.get(Contact, region.somchai.id)
    assert unanswered is not None
    assert unanswered.last_verified_at is not None
    assert unanswered.last_verified_at < utcnow() - timedelta(days=399)


def test_attempts_show_when_their_mail_was_sent(
    connection: Connection, db: Session, settings: Settings, mail: SmtpSink, region: Region
) -> None:
    check = start(db, settings, region.admin, [region.niran])
    before = service.check_out(db, actor=SYSTEM, check=check)
    assert before.targets[0].attempts[0].sent_at is None
    secrets = mail_secrets(connection, settings, mail, 1)
    db.expire_all()
    after = service.check_out(db, actor=SYSTEM, check=check)
    [attempt] = after.targets[0].attempts
    assert attempt.sent_at is not None
    assert attempt.delivery_error is None
    assert attempt.email == "niran@thaicert.example"
    stored = db.scalars(select(CheckAttempt)).one()
    assert link_and_code(mail.all()[0].body) == secrets["niran@thaicert.example"]
    assert message_of(db, stored).sent_at == attempt.sent_at
