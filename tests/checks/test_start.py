"""Starting a check: choosing contacts on the page and over the API, who may, and bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from balai.accounts.models import User
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.checks.models import AttemptRole, CheckSchedule, CheckStatus, CommCheck
from balai.config import Settings
from balai.db import Base
from balai.outbox.models import OutboxMessage
from balai.tokens import hash_token
from tests.checks.helpers import (
    Region,
    count,
    hidden_fields,
    keys_for,
    link_and_code,
    login_as,
    message_of,
    problem_locs,
    row_counts,
    start,
)
from tests.factories import make_contact, make_org
from tests.web import client_for, submit


def test_page_preview_expands_the_asean_group_and_lists_contacts_without_email(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    japan = make_org(db, name="JPCERT/CC", country="JP")
    make_contact(db, japan, name="Kenji Sato")
    france = make_org(db, name="CERT-FR", country="FR")
    make_contact(db, france, name="Claire Martin")
    silent = make_contact(db, region.thai, name="Prasert Nomail", email=None)
    db.commit()
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        asean = client.get("/checks/new", params={"group": "asean", "preview": "1"})
        with_japan = client.get(
            "/checks/new", params={"group": "asean", "country": "JP", "preview": "1"}
        )
        japan_only = client.get("/checks/new", params={"country": "JP", "preview": "1"})
    assert asean.status_code == 200, asean.text
    for contact in (region.niran, region.ploy, region.somchai, region.aisyah):
        assert f'name="contact_ids" value="{contact.id}"' in asean.text
    assert "4 contacts will receive an e-mail" in asean.text
    assert "Kenji Sato" not in asean.text
    assert "Claire Martin" not in asean.text
    assert "Left out, no e-mail address: Prasert Nomail." in asean.text
    assert f'value="{silent.id}"' not in asean.text
    assert "Kenji Sato" in with_japan.text
    assert "Claire Martin" not in with_japan.text
    assert "Kenji Sato" in japan_only.text
    assert "Niran Srisuk" not in japan_only.text


def test_page_preview_without_any_filter_is_refused(
    connection: Connection, settings: Settings, region: Region
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        page = client.get("/checks/new", params={"preview": "1"})
    assert page.status_code == 422
    assert "<strong>selection</strong>: choose contacts or at least one filter" in page.text


def test_page_start_leaves_unticked_contacts_out(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    preview = "/checks/new?country=TH&role=technical&preview=1"
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        listed = client.get(preview)
        assert f'value="{region.niran.id}"' in listed.text
        assert f'value="{region.ploy.id}"' in listed.text
        started = submit(
            client,
            preview,
            "/checks",
            {
                "title": "Technical contacts, Thailand",
                "contact_ids": [str(region.niran.id)],  # Ploy unticked
                "escalate_after_minutes": "30",
                "close_after_minutes": "90",
                "repeat": "0",
                **hidden_fields(listed.text, "/checks"),
            },
        )
        assert started.status_code == 303, started.text
        result = client.get(started.headers["location"])
    assert count(db, CheckSchedule) == 0
    check = db.scalars(select(CommCheck)).one()
    assert started.headers["location"] == f"/checks/{check.id}"
    assert [t.contact_name for t in check.targets] == ["Niran Srisuk"]
    assert (check.escalate_after_minutes, check.close_after_minutes) == (30, 90)
    assert check.organisation_id == region.hub.id
    assert check.created_by_id == region.admin.id
    assert check.schedule_id is None
    assert [m.destination for m in db.scalars(select(OutboxMessage))] == ["niran@thaicert.example"]
    assert "Niran Srisuk" in result.text
    assert "Ploy Chaiyaporn" not in result.text
    assert "Waiting" in result.text
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.CHECK_STARTED.value)
    ).one()
    assert event.object_id == str(check.id)
    assert event.details == {"title": "Technical contacts, Thailand", "contacts": 1}


def test_api_preview_then_start(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    make_contact(db, region.thai, name="Prasert Nomail", email=None)
    [admin] = keys_for(db, region.admin)
    with client_for(connection, settings) as client:
        preview = client.post("/api/v1/checks/preview", json={"countries": ["TH"]}, headers=admin)
        assert preview.status_code == 200, preview.text
        found = preview.json()
        assert {c["name"] for c in found["reachable"]} == {
            "Niran Srisuk",
            "Ploy Chaiyaporn",
            "Somchai Wongsakul",
        }
        assert [c["name"] for c in found["unreachable"]] == ["Prasert Nomail"]
        assert count(db, CommCheck) == 0

        started = client.post(
            "/api/v1/checks",
            json={
                "title": "Thailand and Malaysia",
                "message": "Please answer within the hour.",
                "selection": {"countries": ["TH", "MY"]},
                "escalate_after_minutes": 15,
                "close_after_minutes": 45,
            },
            headers=admin,
        )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == CheckStatus.RUNNING.value
    assert body["organisation_id"] == str(region.hub.id)
    assert body["summary"]["total"] == body["summary"]["pending"] == 4
    assert {t["contact_name"] for t in body["targets"]} == {
        "Aisyah Rahman",
        "Niran Srisuk",
        "Ploy Chaiyaporn",
        "Somchai Wongsakul",
    }
    for target in body["targets"]:
        assert target["outcome"] == "pending"
        [attempt] = target["attempts"]
        assert attempt["role"] == "primary"
        assert attempt["sent_at"] is None
    check = db.get(CommCheck, uuid.UUID(body["id"]))
    assert check is not None
    assert (check.closes_at - check.started_at).total_seconds() == 45 * 60
    assert check.message == "Please answer within the hour."
    destinations = sorted(m.destination for m in db.scalars(select(OutboxMessage)))
    assert destinations == [
        "aisyah@mycert.example",
        "desk@thaicert.example",
        "niran@thaicert.example",
        "ploy@thaicert.example",
    ]


def _all_stored_text(db: Session, *, skip: set[str]) -> str:
    """Every value of every table (but those skipped), as one string to search in."""
    values: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name in skip:
            continue
        for row in db.execute(select(table)):
            values.extend(str(v) for v in row)
    return "\n".join(values)


def test_each_contact_gets_one_email_whose_link_and_code_are_stored_only_as_hashes(
    db: Session, settings: Settings, region: Region
) -> None:
    check = start(db, settings, region.admin, region.checked, title="Hash check")
    secrets = []
    links = set()
    for target in check.targets:
        [attempt] = target.attempts
        assert attempt.role == AttemptRole.PRIMARY
        message = message_of(db, attempt)
        [contact] = [c for c in region.checked if c.id == target.contact_id]
        assert message.destination == contact.email == attempt.email
        assert message.subject_type == "check_attempt"
        assert message.subject_id == str(attempt.id)
        subject, body = message.payload["subject"], message.payload["text"]
        assert subject == "[Balai communication check] Hash check"
        assert f"Dear {contact.name}," in body
        assert "ASEAN Coordination Centre is checking" in body
        path, code = link_and_code(body)
        token = path.removeprefix("/ack/")
        assert len(token) >= 43  # 32 random bytes
        assert f"enter this code at http://testserver/ack:\n\n    {code}" in body
        assert attempt.token_hash == hash_token(token)
        assert attempt.code_hash == hash_token(code)
        secrets += [token, code]
        links.add(path)
    assert len(links) == 3
    # The outbox must hold the text until it is sent; nothing else may hold a usable secret.
    stored = _all_stored_text(db, skip={"outbox_messages", "delivery_attempts"})
    for secret in secrets:
        assert secret not in stored
    raw = db.execute(text("SELECT token_hash, code_hash FROM check_attempts")).all()
    assert {len(h) for row in raw for h in row} == {64}


@pytest.mark.parametrize("role", ["analyst", "reader"])
def test_only_organisation_and_platform_admins_may_start_over_the_api(
    connection: Connection, db: Session, settings: Settings, region: Region, role: str
) -> None:
    user: User = getattr(region, role)
    denied, admin = keys_for(db, user, region.platform)
    body = {"title": "Not mine to start", "selection": {"countries": ["TH"]}}
    before = row_counts(db)
    with client_for(connection, settings) as client:
        api_start = client.post("/api/v1/checks", json=body, headers=denied)
        api_preview = client.post(
            "/api/v1/checks/preview", json={"countries": ["TH"]}, headers=denied
        )
        assert row_counts(db) == before
        allowed = client.post("/api/v1/checks", json=body, headers=admin)
    assert api_start.status_code == 403
    assert api_start.json()["error"]["code"] == "forbidden"
    assert api_preview.status_code == 403
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["organisation_id"] == str(region.platform.organisation_id)


@pytest.mark.parametrize("role", ["analyst", "reader"])
def test_only_organisation_and_platform_admins_may_start_on_the_page(
    connection: Connection, db: Session, settings: Settings, region: Region, role: str
) -> None:
    user: User = getattr(region, role)
    before = row_counts(db)
    with client_for(connection, settings) as client:
        login_as(client, user)
        checks = client.get("/checks")
        # The list offers no start form, but every page carries the log-out form's token.
        post = submit(
            client,
            "/checks",
            "/checks",
            {"title": "x", "contact_ids": [str(region.niran.id)], "repeat": "0"},
        )
        assert post.status_code == 403
        page = client.get("/checks/new")
        assert page.status_code == 403
    assert 'href="/checks/new"' not in checks.text
    assert row_counts(db) == before


def test_contact_without_email_is_refused_when_named(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    silent = make_contact(db, region.thai, name="Prasert Nomail", email=None)
    [admin] = keys_for(db, region.admin)
    before = row_counts(db)
    with client_for(connection, settings) as client:
        api = client.post(
            "/api/v1/checks",
            json={
                "title": "Named",
                "selection": {"contact_ids": [str(region.niran.id), str(silent.id)]},
            },
            headers=admin,
        )
        login_as(client, region.admin)
        page = submit(
            client,
            "/checks/new?country=TH&preview=1",
            "/checks",
            {"title": "Named", "contact_ids": [str(silent.id)], "repeat": "0"},
        )
    assert api.status_code == 422
    assert problem_locs(api.json()) == ["selection.contact_ids"]
    assert "no e-mail address to check for: Prasert Nomail" in api.json()["error"]["message"]
    assert page.status_code == 422
    assert "no e-mail address to check for: Prasert Nomail" in page.text
    assert row_counts(db) == before


VALID: dict[str, Any] = {"title": "Bad input", "selection": {"countries": ["TH"]}}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"selection": {}}, "selection"),
        ({"selection": {"contact_ids": []}}, "selection"),
        (
            {"selection": {"contact_ids": ["00000000-0000-4000-8000-000000000000"]}},
            "selection.contact_ids",
        ),
        ({"escalate_after_minutes": 60, "close_after_minutes": 60}, "close_after_minutes"),
        ({"escalate_after_minutes": 90, "close_after_minutes": 30}, "close_after_minutes"),
        # Only the wait is given: the default closing time (1440) is shorter than it.
        ({"escalate_after_minutes": 2000}, "close_after_minutes"),
        ({"escalate_after_minutes": 0}, "body.escalate_after_minutes"),
        ({"colour": "red"}, "body.colour"),
        ({"selection": {"countries": ["TH"], "everyone": True}}, "body.selection.everyone"),
        ({"selection": {"countries": ["XX"]}}, "body.selection.countries[0]"),
        ({"title": "   "}, "body.title"),
    ],
)
def test_api_bad_input_names_the_field_and_writes_nothing(
    connection: Connection,
    db: Session,
    settings: Settings,
    region: Region,
    change: dict[str, Any],
    loc: str,
) -> None:
    [admin] = keys_for(db, region.admin)
    before = row_counts(db)
    with client_for(connection, settings) as client:
        response = client.post("/api/v1/checks", json={**VALID, **change}, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert loc in problem_locs(response.json())
    assert row_counts(db) == before


def test_api_preview_refuses_extra_fields(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    [admin] = keys_for(db, region.admin)
    with client_for(connection, settings) as client:
        response = client.post(
            "/api/v1/checks/preview", json={"countries": ["TH"], "all": True}, headers=admin
        )
    assert response.status_code == 422
    assert problem_locs(response.json()) == ["body.all"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"contact_ids": []}, "selection"),
        ({"title": ""}, "title"),
        ({"escalate_after_minutes": "120", "close_after_minutes": "60"}, "close_after_minutes"),
        # A repeating check is saved before the check starts; the failure must undo it.
        (
            {"repeat": "3", "escalate_after_minutes": "120", "close_after_minutes": "60"},
            "close_after_minutes",
        ),
        ({"escalate_after_minutes": "soon"}, "escalate_after_minutes"),
    ],
)
def test_page_bad_input_is_shown_and_writes_nothing(
    connection: Connection,
    db: Session,
    settings: Settings,
    region: Region,
    change: dict[str, Any],
    loc: str,
) -> None:
    form: dict[str, Any] = {
        "title": "Bad input",
        "contact_ids": [str(region.niran.id)],
        "escalate_after_minutes": "30",
        "close_after_minutes": "90",
        "repeat": "0",
        **change,
    }
    before = {**row_counts(db), "schedules": count(db, CheckSchedule)}
    preview = "/checks/new?country=TH&preview=1"
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        hidden = hidden_fields(client.get(preview).text, "/checks")
        response = submit(client, preview, "/checks", {**form, **hidden})
    assert response.status_code == 422, response.text
    assert f"<strong>{loc}</strong>" in response.text
    # The form shown again still carries what a repeat would re-read.
    again = hidden_fields(response.text, "/checks")
    assert again["country"] == hidden["country"] == ["TH"]
    offered = {str(c.id) for c in (region.niran, region.ploy, region.somchai)}
    assert set(again["offered_ids"]) == set(hidden["offered_ids"]) == offered
    assert {**row_counts(db), "schedules": count(db, CheckSchedule)} == before
