"""The organisation page: its contacts, its place in the hierarchy, its check history."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.checks.schemas import CheckStart, Selection
from balai.checks.service import start_check
from balai.config import Settings
from balai.directory.models import ContactRole
from tests.directory.helpers import (
    People,
    Sample,
    error_page,
    sign_in,
    text_of,
)
from tests.factories import actor_for, make_contact, make_org, make_user


def test_page_lists_the_organisations_contacts_with_their_details(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.reader)
    response = client.get(f"/organisations/{sample.thaicert.id}")
    assert response.status_code == 200, response.text
    page = response.text
    shown = text_of(page)
    assert "ThaiCERT Coordination Centre" in shown
    assert "National CERT" in shown
    assert "Thailand (TH)" in shown
    assert "Digital infrastructure" in shown
    assert f'<a href="/contacts/{sample.niran.id}">Niran Srisuk</a>' in page
    assert f'<a href="/contacts/{sample.desk.id}">Duty Desk Bangkok</a>' in page
    assert "niran.s@thaicert.or.th" in shown
    assert "24/7 operations" in shown
    assert "Technical" in shown
    # Contacts of other organisations are not on this page.
    assert "Malee Chaiyaporn" not in shown
    assert "Aminah Rahman" not in shown


def test_page_of_an_organisation_without_contacts_says_so(
    client: TestClient, db: Session, people: People
) -> None:
    empty = make_org(db, name="Lao CERT", country="LA")
    db.commit()
    sign_in(client, db, people.reader)
    shown = text_of(client.get(f"/organisations/{empty.id}").text)
    assert "No points of contact yet." in shown
    assert "No checks yet." in shown


def test_page_shows_alternates_and_office_hours(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sample.niran.alternate_id = sample.desk.id
    db.commit()
    sign_in(client, db, people.reader)
    page = client.get(f"/organisations/{sample.thaicert.id}").text
    assert f'<a href="/contacts/{sample.desk.id}">Duty Desk Bangkok</a>' in page
    assert page.count(f'href="/contacts/{sample.desk.id}"') == 2  # its row and as alternate
    assert "Any time" in text_of(page)


def test_page_links_parent_and_children(client: TestClient, db: Session, people: People) -> None:
    ministry = make_org(db, name="Ministry of Digital Economy and Society", country="TH")
    agency = make_org(db, name="National Cyber Security Agency TH", country="TH", parent=ministry)
    cert = make_org(db, name="ThaiCERT", country="TH", parent=agency)
    sibling = make_org(db, name="Thailand Telecom CERT", country="TH", parent=agency)
    db.commit()
    sign_in(client, db, people.reader)
    page = client.get(f"/organisations/{agency.id}").text
    shown = text_of(page)
    assert (
        f'<a href="/organisations/{ministry.id}">Ministry of Digital Economy and Society</a>'
        in page
    )
    assert "Part of Ministry of Digital Economy and Society" in shown
    assert f'<a href="/organisations/{cert.id}">ThaiCERT</a>' in page
    assert f'<a href="/organisations/{sibling.id}">Thailand Telecom CERT</a>' in page
    assert "Includes ThaiCERT, Thailand Telecom CERT" in shown
    top = text_of(client.get(f"/organisations/{ministry.id}").text)
    assert "Part of" not in top
    assert "Includes National Cyber Security Agency TH" in top
    leaf = text_of(client.get(f"/organisations/{cert.id}").text)
    assert "Includes" not in leaf
    assert "Part of National Cyber Security Agency TH" in leaf


def test_page_shows_the_checks_the_organisation_took_part_in(
    client: TestClient, db: Session, settings: Settings, people: People, sample: Sample
) -> None:
    check = start_check(
        db,
        actor=actor_for(people.org_admin),
        settings=settings,
        data=CheckStart(
            title="Quarterly ASEAN reachability check",
            selection=Selection(contact_ids=[sample.niran.id, sample.aminah.id]),
        ),
    )
    db.commit()
    sign_in(client, db, people.org_admin)
    page = client.get(f"/organisations/{sample.thaicert.id}").text
    shown = text_of(page)
    assert f'<a href="/checks/{check.id}">Quarterly ASEAN reachability check</a>' in page
    assert people.home.name in shown  # who started it
    assert "No checks yet." not in shown
    # An organisation that was not addressed has no history of it.
    untouched = text_of(client.get(f"/organisations/{sample.bank.id}").text)
    assert "Quarterly ASEAN reachability check" not in untouched
    assert "No checks yet." in untouched


def test_check_history_shows_only_checks_the_viewer_may_see(
    client: TestClient, db: Session, settings: Settings, people: People, sample: Sample
) -> None:
    start_check(
        db,
        actor=actor_for(people.org_admin),
        settings=settings,
        data=CheckStart(
            title="Confidential bilateral check", selection=Selection(contact_ids=[sample.niran.id])
        ),
    )
    outsider = make_user(db, sample.bank, role=Role.ORG_ADMIN)
    db.commit()
    sign_in(client, db, outsider)
    shown = text_of(client.get(f"/organisations/{sample.thaicert.id}").text)
    assert "Niran Srisuk" in shown  # the directory is shared ...
    assert "Confidential bilateral check" not in shown  # ... the checks of others are not
    assert "No checks yet." in shown


def test_edit_links_follow_the_viewers_rights(
    client: TestClient, db: Session, people: People
) -> None:
    make_contact(db, people.home, role=ContactRole.POLICY)
    db.commit()
    add = f'href="/organisations/{people.home.id}/contacts/new"'
    edit = f'href="/organisations/{people.home.id}/edit"'
    expectations = [
        (people.reader, False, False),
        (people.analyst, True, False),
        (people.org_admin, True, True),
        (people.away_admin, False, False),
        (people.platform_admin, True, True),
    ]
    for user, may_add, may_edit in expectations:
        client.cookies.clear()
        sign_in(client, db, user)
        page = client.get(f"/organisations/{people.home.id}").text
        assert (add in page, edit in page) == (may_add, may_edit), user.role


def test_organisations_list_filters_by_country_and_kind(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.reader)
    thai = text_of(client.get("/organisations", params={"country": "TH"}).text)
    assert "ThaiCERT Coordination Centre" in thai
    assert "Ministry of Foreign Affairs of Thailand" in thai
    assert "MyCERT" not in thai
    ministries = text_of(client.get("/organisations", params={"kind": "ministry"}).text)
    assert "Ministry of Foreign Affairs of Thailand" in ministries
    assert "ThaiCERT Coordination Centre" not in ministries
    banks = text_of(client.get("/organisations", params={"sector": "banking"}).text)
    assert "Bank Indonesia CSIRT" in banks
    assert "SingCERT" not in banks


def test_page_of_an_unknown_organisation_is_404(
    client: TestClient, db: Session, people: People
) -> None:
    sign_in(client, db, people.reader)
    page = error_page(client.get(f"/organisations/{uuid.uuid4()}"), 404)
    assert "no such organisation" in page
