"""Stale contacts: expired, never verified, or verified longer ago than contact_stale_days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Contact
from tests.directory.helpers import (
    People,
    Sample,
    days_ago,
    post_form,
    sign_in,
    text_of,
    yesterday,
)
from tests.factories import make_contact
from tests.web import app_on


def _api_contact(client: TestClient, people: People, contact: Contact) -> dict[str, object]:
    response = client.get(f"/api/v1/contacts/{contact.id}", headers=people.key(people.reader))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_api_flags_each_kind_of_staleness_with_its_reason(
    client: TestClient, people: People, sample: Sample
) -> None:
    expected = {
        sample.niran: (False, None),
        sample.aminah: (True, "never verified"),
        sample.budi: (True, "not verified for 400 days"),
        sample.weiling: (True, f"expired on {yesterday().isoformat()}"),
    }
    for contact, (stale, reason) in expected.items():
        body = _api_contact(client, people, contact)
        assert (body["stale"], body["stale_reason"]) == (stale, reason), contact.name


def test_search_page_shows_why_a_contact_is_stale(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.reader)
    shown = text_of(client.get("/directory").text)
    assert "Aminah Rahman" in shown
    assert "Stale: never verified" in shown
    assert "Stale: not verified for 400 days" in shown
    assert f"Stale: expired on {yesterday().isoformat()}" in shown
    assert shown.count("Stale:") == 3
    assert shown.count("Current") >= 3


def test_contact_and_organisation_pages_show_staleness(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.reader)
    assert "Stale: not verified for 400 days" in text_of(
        client.get(f"/contacts/{sample.budi.id}").text
    )
    assert "Stale:" not in text_of(client.get(f"/contacts/{sample.niran.id}").text)
    org_page = text_of(client.get(f"/organisations/{sample.mycert.id}").text)
    assert "Stale: never verified" in org_page


def test_expiry_wins_over_a_fresh_verification_and_today_is_not_expired(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    today = make_contact(db, sample.singcert, name="Expires Today")
    today.expires_on = utcnow().date()
    tomorrow = make_contact(db, sample.singcert, name="Expires Tomorrow")
    tomorrow.expires_on = utcnow().date() + timedelta(days=1)
    db.commit()
    assert _api_contact(client, people, today)["stale"] is False
    assert _api_contact(client, people, tomorrow)["stale"] is False
    # Tan Wei Ling was verified just now, but her entry expired yesterday.
    assert _api_contact(client, people, sample.weiling)["stale_reason"] == (
        f"expired on {yesterday().isoformat()}"
    )


def test_the_default_threshold_is_180_days(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    inside = make_contact(db, sample.bank, name="Verified 179 Days Ago", verified_at=days_ago(179))
    outside = make_contact(db, sample.bank, name="Verified 181 Days Ago", verified_at=days_ago(181))
    db.commit()
    assert _api_contact(client, people, inside)["stale"] is False
    assert _api_contact(client, people, outside)["stale_reason"] == "not verified for 181 days"
    stale = client.get(
        "/api/v1/contacts",
        params={"country": "ID", "stale": "true"},
        headers=people.key(people.reader),
    ).json()
    assert {c["name"] for c in stale["items"]} == {"Budi Santoso", "Verified 181 Days Ago"}


@pytest.fixture
def strict_client(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """A client of an app that calls contacts stale after 30 days."""
    app = app_on(connection, settings.model_copy(update={"contact_stale_days": 30}))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


def test_contact_stale_days_setting_moves_the_threshold(
    client: TestClient,
    strict_client: TestClient,
    db: Session,
    people: People,
    sample: Sample,
) -> None:
    contact = make_contact(db, sample.bank, name="Verified 45 Days Ago", verified_at=days_ago(45))
    db.commit()
    headers = people.key(people.reader)
    relaxed = client.get(f"/api/v1/contacts/{contact.id}", headers=headers).json()
    strict = strict_client.get(f"/api/v1/contacts/{contact.id}", headers=headers).json()
    assert relaxed["stale"] is False
    assert strict["stale_reason"] == "not verified for 45 days"
    current = strict_client.get(
        "/api/v1/contacts", params={"country": "ID", "stale": "false"}, headers=headers
    ).json()
    assert [c["name"] for c in current["items"]] == []
    sign_in(strict_client, db, people.reader)
    page = text_of(strict_client.get("/directory", params={"country": "ID", "stale": "yes"}).text)
    assert "Verified 45 Days Ago" in page
    assert "Stale: not verified for 45 days" in page


def test_confirming_makes_a_stale_contact_current(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.platform_admin)
    before = utcnow()
    response = post_form(
        client, f"/contacts/{sample.budi.id}", f"/contacts/{sample.budi.id}/confirm", {}
    )
    assert response.status_code == 303, response.text
    body = _api_contact(client, people, sample.budi)
    assert body["stale"] is False
    assert body["stale_reason"] is None
    assert datetime.fromisoformat(str(body["last_verified_at"])) >= before
    listed = client.get(
        "/api/v1/contacts", params={"stale": "true"}, headers=people.key(people.reader)
    ).json()
    assert "Budi Santoso" not in {c["name"] for c in listed["items"]}
