"""Who sees a check (house rule 4): the initiator every row, a checked organisation its own rows,
platform admins everything, and anyone else nothing at all, on every read path."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.checks import service
from balai.checks.models import CheckStatus, CommCheck
from balai.config import Settings
from tests.checks.helpers import (
    Region,
    keys_for,
    login_as,
    start,
    targets_by_name,
)
from tests.factories import make_user
from tests.web import client_for, submit

TITLE = "Confidential reachability check"
THAI_ONLY = ("Niran Srisuk", "Somchai Wongsakul", "niran@thaicert.example", "ThaiCERT")
MALAY_ONLY = ("Aisyah Rahman", "aisyah@mycert.example", "MyCERT")


@pytest.fixture
def check(db: Session, settings: Settings, region: Region) -> CommCheck:
    """The hub's check of two Thai contacts and one Malaysian, with Niran's alternate tried."""
    check = start(db, settings, region.admin, region.checked, title=TITLE)
    service.escalate_due(db, settings=settings, now=check.started_at + timedelta(hours=2))
    db.commit()
    assert len(targets_by_name(db, check.id)["Niran Srisuk"].attempts) == 2
    return check


def test_outsider_finds_nothing_over_the_api(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    [outsider] = keys_for(db, region.outsider_admin)
    with client_for(connection, settings) as client:
        detail = client.get(f"/api/v1/checks/{check.id}", headers=outsider)
        unknown = client.get(f"/api/v1/checks/{uuid.uuid4()}", headers=outsider)
        close = client.post(f"/api/v1/checks/{check.id}/close", headers=outsider)
        lists = [
            client.get("/api/v1/checks", headers=outsider),
            *(
                client.get(
                    "/api/v1/checks", params={"organisation_id": str(org.id)}, headers=outsider
                )
                for org in (region.hub, region.thai, region.malay)
            ),
        ]
    # Not 403: the answer is the same as for a check that does not exist.
    assert detail.status_code == 404
    assert detail.json() == unknown.json()
    assert close.status_code == 404
    assert close.json()["error"]["message"] == "no such check"
    for listed in lists:
        assert listed.status_code == 200
        assert listed.json()["items"] == []
        assert listed.json()["total"] == 0
    assert targets_by_name(db, check.id)["Niran Srisuk"].check.status == CheckStatus.RUNNING


def test_outsider_finds_nothing_on_list_and_organisation_pages(
    connection: Connection, settings: Settings, region: Region, check: CommCheck
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.outsider_admin)
        pages = [client.get("/checks")] + [
            client.get(f"/organisations/{org.id}")
            for org in (region.hub, region.thai, region.malay, region.outsider)
        ]
    for page in pages:
        assert page.status_code == 200
        assert TITLE not in page.text
        assert str(check.id) not in page.text
        assert "No checks yet." in page.text


def test_outsider_gets_not_found_on_the_check_page(
    connection: Connection, settings: Settings, region: Region, check: CommCheck
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.outsider_admin)
        page = client.get(f"/checks/{check.id}")
        assert page.status_code == 404
        assert TITLE not in page.text
        close = submit(client, "/checks", f"/checks/{check.id}/close", {})
        assert close.status_code == 404


def test_checked_organisation_sees_the_check_but_only_its_own_rows_over_the_api(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    thai_reader = make_user(db, region.thai, role=Role.READER)
    thai, malay = keys_for(db, thai_reader, region.malay_admin)
    with client_for(connection, settings) as client:
        as_thai = client.get(f"/api/v1/checks/{check.id}", headers=thai)
        as_malay = client.get(f"/api/v1/checks/{check.id}", headers=malay)
        thai_list = client.get("/api/v1/checks", headers=thai)
    assert as_thai.status_code == 200
    assert {t["contact_name"] for t in as_thai.json()["targets"]} == {
        "Niran Srisuk",
        "Somchai Wongsakul",
    }
    assert as_thai.json()["summary"]["total"] == 2
    assert [c["country"] for c in as_thai.json()["countries"]] == ["TH"]
    # Its own alternate's attempt is part of its own row.
    niran = next(t for t in as_thai.json()["targets"] if t["contact_name"] == "Niran Srisuk")
    assert [a["email"] for a in niran["attempts"]] == [
        "niran@thaicert.example",
        "ploy@thaicert.example",
    ]
    for hidden in MALAY_ONLY:
        assert hidden not in as_thai.text
    assert {t["contact_name"] for t in as_malay.json()["targets"]} == {"Aisyah Rahman"}
    assert [c["country"] for c in as_malay.json()["countries"]] == ["MY"]
    for hidden in (*THAI_ONLY, "Ploy Chaiyaporn", "ploy@thaicert.example"):
        assert hidden not in as_malay.text
    [item] = thai_list.json()["items"]
    assert item["id"] == str(check.id)
    assert item["summary"]["total"] == 2


def test_checked_organisation_sees_the_check_but_only_its_own_rows_on_pages(
    connection: Connection, settings: Settings, region: Region, check: CommCheck
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.malay_admin)
        page = client.get(f"/checks/{check.id}")
        checks = client.get("/checks")
    assert page.status_code == 200
    assert TITLE in page.text
    assert "Aisyah Rahman" in page.text
    assert "Malaysia: 0 reached, 0 through alternate, 0 not reached, 1 waiting." in page.text
    for hidden in (*THAI_ONLY, "Ploy Chaiyaporn", "Thailand"):
        assert hidden not in page.text
    assert f'action="/checks/{check.id}/close"' not in page.text
    assert TITLE in checks.text
    assert "of 1." in page.text


def test_checked_organisation_does_not_learn_who_else_was_checked(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    [thai] = keys_for(db, region.thai_admin)
    with client_for(connection, settings) as client:
        by_org = client.get(
            "/api/v1/checks", params={"organisation_id": str(region.malay.id)}, headers=thai
        )
        by_initiator = client.get(
            "/api/v1/checks", params={"organisation_id": str(region.hub.id)}, headers=thai
        )
        login_as(client, region.thai_admin)
        malay_page = client.get(f"/organisations/{region.malay.id}")
        hub_page = client.get(f"/organisations/{region.hub.id}")
    # MyCERT's part in the check is one of the rows ThaiCERT may not see.
    assert by_org.json()["items"] == []
    assert TITLE not in malay_page.text
    # The initiator's history may show it: ThaiCERT sees who started the check.
    assert [i["id"] for i in by_initiator.json()["items"]] == [str(check.id)]
    assert TITLE in hub_page.text


def test_platform_admin_sees_every_row(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    [platform] = keys_for(db, region.platform)
    with client_for(connection, settings) as client:
        detail = client.get(f"/api/v1/checks/{check.id}", headers=platform)
        listed = client.get("/api/v1/checks", headers=platform)
        login_as(client, region.platform)
        page = client.get(f"/checks/{check.id}")
    assert {t["contact_name"] for t in detail.json()["targets"]} == {
        "Niran Srisuk",
        "Somchai Wongsakul",
        "Aisyah Rahman",
    }
    assert [i["id"] for i in listed.json()["items"]] == [str(check.id)]
    for name in ("Niran Srisuk", "Somchai Wongsakul", "Aisyah Rahman", "Ploy Chaiyaporn"):
        assert name in page.text
    assert f'action="/checks/{check.id}/close"' in page.text


def test_initiator_sees_every_row_but_its_analysts_may_not_close(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    [analyst] = keys_for(db, region.analyst)
    with client_for(connection, settings) as client:
        detail = client.get(f"/api/v1/checks/{check.id}", headers=analyst)
        login_as(client, region.analyst)
        page = client.get(f"/checks/{check.id}")
    assert detail.json()["summary"]["total"] == 3
    assert all(name in page.text for name in ("Niran Srisuk", "Aisyah Rahman"))
    assert f'action="/checks/{check.id}/close"' not in page.text
