"""The contact forms: good input is saved; bad input is shown beside its field, nothing saved."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.directory.models import ChannelKind, Contact, ContactRole
from tests.directory.helpers import (
    People,
    directory_rows,
    field_error,
    fresh,
    post_form,
    sign_in,
    text_of,
)
from tests.factories import make_contact
from tests.test_api_resources import contact_payload

Form = dict[str, Any]


def good_form(**overrides: Any) -> Form:
    """A complete, valid contact form as a browser submits it."""
    return {
        "name": "Somchai Wongsakul",
        "role": "technical",
        "title": "Head of incident response",
        "emails": "Somchai@ThaiCERT.or.th\r\n\r\nir@thaicert.or.th\r\n",
        "phones": "+6621234567\r\n+66 81 234 5678",
        "messengers": "Signal: +66 81 234 5678\r\nThreema: ABCD1234",
        "pgp_fingerprint": "0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567",
        "languages": "th, en",
        "timezone": "Asia/Bangkok",
        "office_days": ["mon", "tue", "wed", "thu", "fri"],
        "office_start": "08:30",
        "office_end": "17:30",
        "alternate_id": "",
        "expires_on": "2030-12-31",
        "notes": "Prefers Signal after hours.",
        **overrides,
    }


def test_new_contact_form_saves_every_field(
    client: TestClient, db: Session, people: People
) -> None:
    alternate = make_contact(db, people.home, name="Duty Desk Bangkok", role=ContactRole.OPERATIONS)
    db.commit()
    sign_in(client, db, people.analyst)
    new = f"/organisations/{people.home.id}/contacts/new"
    response = post_form(client, new, new, good_form(alternate_id=str(alternate.id)))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/contacts/")
    contact = fresh(db, Contact, uuid.UUID(location.removeprefix("/contacts/")))
    assert contact.organisation_id == people.home.id
    assert contact.name == "Somchai Wongsakul"
    assert contact.role == ContactRole.TECHNICAL
    assert contact.title == "Head of incident response"
    assert contact.channel_values(ChannelKind.EMAIL) == [
        "somchai@thaicert.or.th",
        "ir@thaicert.or.th",
    ]
    assert contact.channel_values(ChannelKind.PHONE) == ["+66 2 123 4567", "+66 81 234 5678"]
    assert [(c.label, c.value) for c in contact.channels if c.kind == ChannelKind.MESSENGER] == [
        ("Signal", "+66 81 234 5678"),
        ("Threema", "ABCD1234"),
    ]
    assert contact.pgp_fingerprint == "0123456789ABCDEF0123456789ABCDEF01234567"
    assert contact.languages == ["en", "th"]
    assert contact.timezone == "Asia/Bangkok"
    assert contact.office_days == "mon,tue,wed,thu,fri"
    assert (contact.office_start, contact.office_end) == (time(8, 30), time(17, 30))
    assert contact.alternate_id == alternate.id
    assert contact.expires_on == date(2030, 12, 31)
    assert contact.notes == "Prefers Signal after hours."
    assert contact.last_verified_at is None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.CONTACT_CREATED.value)
    ).one()
    assert event.object_id == str(contact.id)
    assert event.actor_user_id == people.analyst.id
    shown = text_of(client.get(location).text)
    assert "Somchai Wongsakul is added." in shown
    assert "Duty Desk Bangkok" in shown


def test_edit_form_is_prefilled_and_saves_changes(
    client: TestClient, db: Session, people: People
) -> None:
    sign_in(client, db, people.analyst)
    new = f"/organisations/{people.home.id}/contacts/new"
    created = post_form(client, new, new, good_form())
    contact_id = uuid.UUID(created.headers["location"].removeprefix("/contacts/"))
    edit = f"/contacts/{contact_id}/edit"
    page = client.get(edit).text
    assert 'value="Somchai Wongsakul"' in page
    assert "somchai@thaicert.or.th\nir@thaicert.or.th" in page
    assert "Signal: +66 81 234 5678" in page
    assert 'value="08:30"' in page
    assert 'value="2030-12-31"' in page
    assert '<option value="technical" selected>' in page
    assert '<option value="Asia/Bangkok" selected>' in page
    assert 'value="sat" >' in page  # not ticked
    response = post_form(
        client,
        edit,
        edit,
        good_form(
            name="Somchai Wongsakul (acting)",
            role="operations",
            emails="duty@thaicert.or.th",
            phones="",
            messengers="",
            pgp_fingerprint="",
            languages="en",
            office_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            office_start="",
            office_end="",
            expires_on="",
            notes="",
        ),
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/contacts/{contact_id}"
    contact = fresh(db, Contact, contact_id)
    assert contact.name == "Somchai Wongsakul (acting)"
    assert contact.role == ContactRole.OPERATIONS
    assert [(c.kind, c.value) for c in contact.channels] == [
        (ChannelKind.EMAIL, "duty@thaicert.or.th")
    ]
    assert contact.pgp_fingerprint is None
    assert contact.languages == ["en"]
    assert contact.office_days == "mon,tue,wed,thu,fri,sat,sun"
    assert (contact.office_start, contact.office_end) == (None, None)
    assert contact.expires_on is None
    assert contact.notes is None
    assert "Any time (24/7)" in text_of(client.get(f"/contacts/{contact_id}").text)


@dataclass(frozen=True)
class BadField:
    """One bad form input: what to change, which field must show which message."""

    label: str
    field: str
    message: str
    spoil: Callable[[People], Form]


def _bad(label: str, field: str, message: str, **overrides: Any) -> BadField:
    return BadField(label, field, message, lambda _people: overrides)


def _foreign_alternate(people: People) -> Form:
    foreign = make_contact(people.db, people.away, name="Aminah Rahman")
    people.db.commit()
    return {"alternate_id": str(foreign.id)}


BAD_FIELDS = [
    _bad("email", "emails", "not a valid email address", emails="somchai at thaicert"),
    _bad("second-email", "emails", "emails[1]", emails="ok@thaicert.or.th\nnot-an-address"),
    _bad(
        "phone-without-country-code",
        "phones",
        "is not an international phone number (+ country code)",
        phones="02 123 4567",
    ),
    _bad(
        "pgp-fingerprint",
        "pgp_fingerprint",
        "40 hexadecimal digits",
        pgp_fingerprint="0123 4567 89AB",
    ),
    _bad("language", "languages", "'xx' is not an ISO 639-1 language code", languages="th, xx"),
    _bad(
        "time-zone",
        "timezone",
        "'Asia/Atlantis' is not an IANA time zone",
        timezone="Asia/Atlantis",
    ),
    _bad(
        "office-start-without-end",
        "office_end",
        "give both the start and the end of office hours",
        office_start="08:30",
        office_end="",
    ),
    _bad(
        "office-end-without-start",
        "office_start",
        "give both the start and the end of office hours",
        office_start="",
        office_end="17:30",
    ),
    _bad(
        "no-email-and-no-phone",
        "emails",
        "needs at least one e-mail address or phone",
        emails="",
        phones="",
    ),
    _bad("name", "name", "at least 1 character", name=""),
    _bad("valid-until", "expires_on", "valid date", expires_on="31/12/2030"),
    BadField(
        "alternate-of-another-organisation",
        "alternate_id",
        "the alternate must be another contact of the same organisation",
        _foreign_alternate,
    ),
]


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=[b.label for b in BAD_FIELDS])
def test_bad_input_on_the_new_form_is_shown_beside_its_field_and_nothing_is_saved(
    client: TestClient, db: Session, people: People, bad: BadField
) -> None:
    sign_in(client, db, people.analyst)
    new = f"/organisations/{people.home.id}/contacts/new"
    form = good_form(title="Shift lead", **bad.spoil(people))
    before = directory_rows(db)
    response = post_form(client, new, new, form)
    assert response.status_code == 422, response.text
    assert bad.message in field_error(response.text, bad.field), text_of(response.text)
    assert f'id="{bad.field}-error"' in response.text
    assert 'value="Shift lead"' in response.text  # what was typed is kept
    assert directory_rows(db) == before


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=[b.label for b in BAD_FIELDS])
def test_bad_input_on_the_edit_form_is_shown_beside_its_field_and_nothing_is_saved(
    client: TestClient, db: Session, people: People, bad: BadField
) -> None:
    contact = make_contact(db, people.home, name="Pranee Kittisak", email="pranee@thaicert.or.th")
    db.commit()
    sign_in(client, db, people.analyst)
    edit = f"/contacts/{contact.id}/edit"
    form = good_form(title="Shift lead", **bad.spoil(people))
    before = directory_rows(db)
    response = post_form(client, edit, edit, form)
    assert response.status_code == 422, response.text
    assert bad.message in field_error(response.text, bad.field), text_of(response.text)
    assert 'value="Shift lead"' in response.text
    assert directory_rows(db) == before
    unchanged = fresh(db, Contact, contact.id)
    assert unchanged.name == "Pranee Kittisak"
    assert unchanged.title is None
    assert unchanged.channel_values(ChannelKind.EMAIL) == ["pranee@thaicert.or.th"]


def test_a_contact_cannot_be_its_own_alternate(
    client: TestClient, db: Session, people: People
) -> None:
    contact = make_contact(db, people.home, name="Pranee Kittisak")
    db.commit()
    sign_in(client, db, people.analyst)
    edit = f"/contacts/{contact.id}/edit"
    assert f'<option value="{contact.id}"' not in client.get(edit).text  # not offered ...
    response = post_form(client, edit, edit, good_form(alternate_id=str(contact.id)))
    assert response.status_code == 422, response.text  # ... and refused when forced
    assert "cannot be its own alternate" in field_error(response.text, "alternate_id")
    unchanged = fresh(db, Contact, contact.id)
    assert unchanged.alternate_id is None
    assert unchanged.name == "Pranee Kittisak"


def test_the_alternate_choices_are_the_organisations_other_contacts(
    client: TestClient, db: Session, people: People
) -> None:
    own = make_contact(db, people.home, name="Duty Desk Bangkok")
    foreign = make_contact(db, people.away, name="Aminah Rahman")
    db.commit()
    sign_in(client, db, people.analyst)
    page = client.get(f"/organisations/{people.home.id}/contacts/new").text
    assert f'<option value="{own.id}"' in page
    assert f'<option value="{foreign.id}"' not in page


def test_office_days_are_stored_once_each_in_week_order(client: TestClient, people: People) -> None:
    response = client.post(
        f"/api/v1/organisations/{people.home.id}/contacts",
        json=contact_payload(office_days=["sun", "fri", "mon"] * 10),
        headers=people.key(people.analyst),
    )
    assert response.status_code == 201, response.text
    assert response.json()["office_days"] == ["mon", "fri", "sun"]
