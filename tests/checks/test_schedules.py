"""Repeating checks: saved on the page or over the API, run when due on the directory of then."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.checks import schedules
from balai.checks.models import CheckSchedule, CommCheck
from balai.checks.schemas import Selection
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import ChannelKind, ContactChannel, ContactRole
from balai.directory.service import delete_contact
from balai.outbox.delivery import SmtpTransport
from balai.outbox.models import OutboxMessage
from balai.worker import Worker
from tests.checks.helpers import (
    Region,
    count,
    hidden_fields,
    keys_for,
    login_as,
    problem_locs,
    session_factory,
)
from tests.factories import actor_for, make_contact
from tests.web import client_for, submit


def _schedule(db: Session) -> CheckSchedule:
    db.expire_all()
    return db.scalars(select(CheckSchedule)).one()


def _create(
    client: TestClient, headers: dict[str, str], first_run_at: datetime, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/check-schedules",
        json={
            "title": "Quarterly Thailand",
            "selection": {"countries": ["TH"], "roles": ["technical"]},
            "every_months": 3,
            "first_run_at": first_run_at.isoformat(),
            "escalate_after_minutes": 30,
            "close_after_minutes": 120,
            **extra,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _within_a_minute(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 60


def test_page_start_with_repeat_saves_a_schedule_three_months_ahead(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    preview = "/checks/new?country=TH&role=technical&preview=1"
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        started = submit(
            client,
            preview,
            "/checks",
            {
                "title": "Every quarter",
                "contact_ids": [str(region.niran.id)],  # Ploy unticked
                "escalate_after_minutes": "30",
                "close_after_minutes": "90",
                "repeat": "3",
                **hidden_fields(client.get(preview).text, "/checks"),
            },
        )
        assert started.status_code == 303, started.text
        listing = client.get("/checks")
        paused = submit(
            client,
            "/checks",
            f"/checks/schedules/{_schedule(db).id}/toggle",
            {"active": "false"},
        )
        after = client.get("/checks")
    check = db.scalars(select(CommCheck)).one()
    schedule = _schedule(db)
    assert check.schedule_id == schedule.id
    assert schedule.organisation_id == region.hub.id
    assert schedule.created_by_id == region.admin.id
    assert schedule.every_months == 3
    assert schedule.title == "Every quarter"
    assert (schedule.escalate_after_minutes, schedule.close_after_minutes) == (30, 90)
    assert Selection.model_validate(schedule.selection) == Selection(
        countries=["TH"], roles=[ContactRole.TECHNICAL], exclude_ids=[region.ploy.id]
    )
    assert _within_a_minute(schedule.next_run_at, check.started_at + relativedelta(months=3))
    assert schedule.last_run_at is None
    assert "Every quarter</td><td>3 months</td>" in listing.text
    assert "Active" in listing.text
    assert paused.status_code == 303
    assert not schedule.active
    assert "Paused" in after.text
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "check_schedule")
    )
    assert sorted(actions) == ["checks:schedule:created", "checks:schedule:updated"]


def test_due_schedule_starts_a_check_over_the_directory_as_it_is_now(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    first = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    with client_for(connection, settings) as client:
        created = _create(client, admin, first)
    assert created["next_run_at"].startswith(first.strftime("%Y-%m-%dT%H:%M:%S"))
    newcomer = make_contact(db, region.thai, name="Wichai Newcomer")
    db.commit()

    assert schedules.run_due(db, settings=settings, now=first - timedelta(minutes=1)) == []
    now = first + timedelta(hours=1)
    [check] = schedules.run_due(db, settings=settings, now=now)
    db.commit()
    assert check.schedule_id == uuid.UUID(created["id"])
    assert check.title == f"Quarterly Thailand ({now:%Y-%m-%d})"
    assert check.organisation_id == region.hub.id
    assert check.created_by_id is None
    assert (check.escalate_after_minutes, check.close_after_minutes) == (30, 120)
    assert sorted(t.contact_name for t in check.targets) == [
        "Niran Srisuk",
        "Ploy Chaiyaporn",
        "Wichai Newcomer",
    ]
    assert newcomer.email in {m.destination for m in db.scalars(select(OutboxMessage))}
    schedule = _schedule(db)
    assert schedule.next_run_at == first + relativedelta(months=3)
    assert schedule.last_run_at == now
    # Not due again until the next date.
    assert schedules.run_due(db, settings=settings, now=now + timedelta(days=1)) == []
    assert count(db, CommCheck) == 1


def test_overdue_schedule_runs_once_and_moves_past_now(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    first = utcnow() - relativedelta(months=7)
    with client_for(connection, settings) as client:
        _create(client, admin, first)
    now = utcnow()
    assert len(schedules.run_due(db, settings=settings, now=now)) == 1
    db.commit()
    assert _schedule(db).next_run_at == first + relativedelta(months=9)
    assert count(db, CommCheck) == 1


def test_paused_schedule_does_not_run_until_resumed(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    first = utcnow() + timedelta(days=1)
    with client_for(connection, settings) as client:
        created = _create(client, admin, first)
        url = f"/api/v1/check-schedules/{created['id']}"
        paused = client.patch(url, json={"active": False}, headers=admin)
        assert paused.status_code == 200, paused.text
        assert paused.json()["active"] is False
        later = first + timedelta(days=10)
        assert schedules.run_due(db, settings=settings, now=later) == []
        db.commit()
        assert _schedule(db).next_run_at == first
        resumed = client.patch(url, json={"active": True}, headers=admin)
    assert resumed.json()["active"] is True
    assert len(schedules.run_due(db, settings=settings, now=later)) == 1


def test_schedule_api_lists_and_refuses_bad_input(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    admin, analyst = keys_for(db, region.admin, region.analyst)
    first = utcnow() + timedelta(days=1)
    good: dict[str, Any] = {
        "title": "Monthly",
        "selection": {"countries": ["TH"]},
        "every_months": 1,
        "first_run_at": first.isoformat(),
    }
    bad: list[tuple[dict[str, Any], str]] = [
        ({"every_months": 5}, "body.every_months"),
        ({"first_run_at": "2030-01-01T09:00:00"}, "first_run_at"),
        ({"escalate_after_minutes": 60, "close_after_minutes": 30}, "close_after_minutes"),
        ({"selection": {}}, "selection"),
        ({"hourly": True}, "body.hourly"),
        ({"selection": {"contact_ids": [str(uuid.uuid4())]}}, "selection.contact_ids"),
    ]
    with client_for(connection, settings) as client:
        created = client.post("/api/v1/check-schedules", json=good, headers=admin)
        listed = client.get("/api/v1/check-schedules", headers=admin)
        refused = [
            client.post("/api/v1/check-schedules", json={**good, **change}, headers=admin)
            for change, _ in bad
        ]
        denied = client.post("/api/v1/check-schedules", json=good, headers=analyst)
        patch_by_analyst = client.patch(
            f"/api/v1/check-schedules/{created.json()['id']}",
            json={"active": False},
            headers=analyst,
        )
        patch_extra = client.patch(
            f"/api/v1/check-schedules/{created.json()['id']}",
            json={"active": False, "every_months": 2},
            headers=admin,
        )
    assert created.status_code == 201
    body = created.json()
    assert body["escalate_after_minutes"] == settings.check_escalate_minutes
    assert body["close_after_minutes"] == settings.check_close_minutes
    assert body["selection"]["countries"] == ["TH"]
    assert [s["id"] for s in listed.json()] == [body["id"]]
    for response, (_, loc) in zip(refused, bad, strict=True):
        assert response.status_code == 422, response.text
        assert loc in problem_locs(response.json())
    assert denied.status_code == 403
    assert patch_by_analyst.status_code == 403
    assert patch_extra.status_code == 422
    assert problem_locs(patch_extra.json()) == ["body.every_months"]
    assert count(db, CheckSchedule) == 1
    assert _schedule(db).active


def test_schedules_are_seen_only_by_their_organisation(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    admin, thai, outsider, platform = keys_for(
        db, region.admin, region.thai_admin, region.outsider_admin, region.platform
    )
    with client_for(connection, settings) as client:
        created = _create(client, admin, utcnow() + timedelta(days=1))
        url = f"/api/v1/check-schedules/{created['id']}"
        # ThaiCERT's contacts are in the selection, yet the schedule is the hub's alone.
        thai_list = client.get("/api/v1/check-schedules", headers=thai)
        thai_patch = client.patch(url, json={"active": False}, headers=thai)
        outsider_list = client.get("/api/v1/check-schedules", headers=outsider)
        outsider_patch = client.patch(url, json={"active": False}, headers=outsider)
        platform_list = client.get("/api/v1/check-schedules", headers=platform)
        login_as(client, region.thai_admin)
        thai_page = client.get("/checks")
    assert thai_list.json() == []
    assert outsider_list.json() == []
    for refused in (thai_patch, outsider_patch):
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == "no such schedule"
    assert _schedule(db).active
    assert [s["id"] for s in platform_list.json()] == [created["id"]]
    assert "Quarterly Thailand" not in thai_page.text
    assert "No repeating checks." in thai_page.text


def test_schedule_that_matches_no_one_is_skipped_and_others_still_run(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    first = utcnow() + timedelta(days=1)
    with client_for(connection, settings) as client:
        empty = _create(client, admin, first, title="Brunei", selection={"countries": ["BN"]})
        _create(client, admin, first + timedelta(minutes=1))
    now = first + timedelta(hours=1)
    [check] = schedules.run_due(db, settings=settings, now=now)
    db.commit()
    assert check.title.startswith("Quarterly Thailand")
    skipped = db.get(CheckSchedule, uuid.UUID(empty["id"]))
    assert skipped is not None
    assert skipped.next_run_at == first + relativedelta(months=3)
    assert skipped.last_run_at == now
    [event] = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == AuditAction.SCHEDULE_UPDATED.value,
            AuditEvent.object_id == empty["id"],
        )
    )
    assert event.details == {"skipped": "selection: no contact with an e-mail address matches"}
    assert count(db, CommCheck) == 1


def test_scheduled_run_leaves_out_contacts_removed_or_left_without_email(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    first = utcnow() + timedelta(days=1)
    named = {"contact_ids": [str(c.id) for c in region.checked]}
    with client_for(connection, settings) as client:
        _create(client, admin, first, title="Named contacts", selection=named)
    delete_contact(db, actor=actor_for(region.thai_admin), contact_id=region.somchai.id)
    db.execute(
        delete(ContactChannel).where(
            ContactChannel.contact_id == region.aisyah.id,
            ContactChannel.kind == ChannelKind.EMAIL,
        )
    )
    db.commit()
    schedule = _schedule(db)
    now = schedule.next_run_at + timedelta(minutes=1)
    [check] = schedules.run_due(db, settings=settings, now=now)
    assert [t.contact_name for t in check.targets] == ["Niran Srisuk"]
    assert schedule.next_run_at > now
    assert [a.email for t in check.targets for a in t.attempts] == ["niran@thaicert.example"]


def test_worker_starts_due_schedules(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    with client_for(connection, settings) as client:
        created = _create(client, admin, utcnow() - timedelta(minutes=5))
    worker = Worker(
        settings, factory=session_factory(connection), transport=SmtpTransport(settings)
    )
    assert worker.run_jobs()["checks.run_schedules"] == 1
    assert worker.run_jobs()["checks.run_schedules"] == 0
    check = db.scalars(select(CommCheck)).one()
    assert check.schedule_id == uuid.UUID(created["id"])
    assert len(check.targets) == 2


def test_page_repeat_rereads_the_filters_keeping_unticked_contacts_out(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    preview = "/checks/new?group=asean&role=technical&preview=1"
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        started = submit(
            client,
            preview,
            "/checks",
            {
                "title": "ASEAN technical",
                # Offered: Niran, Ploy and Aisyah; Ploy is unticked.
                "contact_ids": [str(region.niran.id), str(region.aisyah.id)],
                "repeat": "3",
                **hidden_fields(client.get(preview).text, "/checks"),
            },
        )
        assert started.status_code == 303, started.text
    first = db.scalars(select(CommCheck)).one()
    assert sorted(t.contact_name for t in first.targets) == ["Aisyah Rahman", "Niran Srisuk"]
    make_contact(db, region.malay, name="Farid Newcomer")
    db.commit()
    schedule = _schedule(db)
    [rerun] = schedules.run_due(
        db, settings=settings, now=schedule.next_run_at + timedelta(minutes=1)
    )
    assert sorted(t.contact_name for t in rerun.targets) == [
        "Aisyah Rahman",
        "Farid Newcomer",
        "Niran Srisuk",
    ]
