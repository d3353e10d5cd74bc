"""Who may change what: readers read, analysts keep their own contacts, org admins their
organisation, platform admins everything; nothing is written by a refused request."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import User
from balai.audit.events import AuditAction
from balai.audit.models import AuditEvent
from balai.db import utcnow
from balai.directory.models import Contact, Organisation
from tests.directory.helpers import (
    People,
    days_ago,
    directory_rows,
    error_page,
    field_error,
    fresh,
    post_form,
    sign_in,
    text_of,
)
from tests.factories import make_contact, make_org
from tests.test_api_resources import contact_payload, organisation_payload
from tests.web import csrf_of

# (user, whose contact) -> may the user change it?
CONTACT_RIGHTS = [
    ("reader", "home", False),
    ("analyst", "home", True),
    ("analyst", "away", False),
    ("org_admin", "home", True),
    ("org_admin", "away", False),
    ("platform_admin", "home", True),
    ("platform_admin", "away", True),
]

# (user, which organisation) -> may the user edit the organisation?
ORGANISATION_RIGHTS = [
    ("reader", "home", False),
    ("analyst", "home", False),
    ("org_admin", "home", True),
    ("org_admin", "away", False),
    ("platform_admin", "away", True),
]


def _user(people: People, role: str) -> User:
    user: User = getattr(people, role)
    return user


def _org(people: People, which: str) -> Organisation:
    org: Organisation = getattr(people, which)
    return org


def _ids(rights: list[tuple[str, str, bool]]) -> list[str]:
    return [f"{role}-on-{org}" for role, org, _ in rights]


@pytest.mark.parametrize(("role", "org", "allowed"), CONTACT_RIGHTS, ids=_ids(CONTACT_RIGHTS))
def test_contact_rights_in_the_api(
    client: TestClient, db: Session, people: People, role: str, org: str, allowed: bool
) -> None:
    owner = _org(people, org)
    contact = make_contact(db, owner, name="Pranee Kittisak", verified_at=days_ago(300))
    db.commit()
    headers = people.key(_user(people, role))
    before = directory_rows(db)

    created = client.post(
        f"/api/v1/organisations/{owner.id}/contacts", json=contact_payload(), headers=headers
    )
    updated = client.put(
        f"/api/v1/contacts/{contact.id}",
        json=contact_payload(name="Pranee Kittisak-Chai"),
        headers=headers,
    )
    confirmed = client.post(f"/api/v1/contacts/{contact.id}/confirm", headers=headers)

    if allowed:
        assert (created.status_code, updated.status_code, confirmed.status_code) == (201, 200, 200)
        stored = fresh(db, Contact, contact.id)
        assert stored.name == "Pranee Kittisak-Chai"
        assert confirmed.json()["stale"] is False
    else:
        assert (created.status_code, updated.status_code, confirmed.status_code) == (403, 403, 403)
        assert created.json()["error"]["code"] == "forbidden"
        assert directory_rows(db) == before
        stored = fresh(db, Contact, contact.id)
        assert stored.name == "Pranee Kittisak"
        assert stored.last_verified_at is not None
        assert stored.last_verified_at < days_ago(299)

    deleted = client.delete(f"/api/v1/contacts/{contact.id}", headers=headers)
    assert deleted.status_code == (204 if allowed else 403), deleted.text
    assert (fresh(db, Contact, contact.id) is None) == allowed


@pytest.mark.parametrize(("role", "org", "allowed"), CONTACT_RIGHTS, ids=_ids(CONTACT_RIGHTS))
def test_contact_rights_on_the_pages(
    client: TestClient, db: Session, people: People, role: str, org: str, allowed: bool
) -> None:
    owner = _org(people, org)
    contact = make_contact(db, owner, name="Pranee Kittisak", verified_at=days_ago(300))
    db.commit()
    sign_in(client, db, _user(people, role))
    token = csrf_of(client.get(f"/contacts/{contact.id}").text)
    before = directory_rows(db)
    form = {
        "csrf_token": token,
        "name": "Pranee Kittisak-Chai",
        "role": "technical",
        "emails": "pranee@thaicert.or.th",
        "office_days": ["mon"],
    }

    new_page = client.get(f"/organisations/{owner.id}/contacts/new")
    edit_page = client.get(f"/contacts/{contact.id}/edit")
    created = client.post(f"/organisations/{owner.id}/contacts/new", data=form)
    edited = client.post(f"/contacts/{contact.id}/edit", data=form)
    confirmed = client.post(f"/contacts/{contact.id}/confirm", data={"csrf_token": token})
    stored = fresh(db, Contact, contact.id)
    name, verified = stored.name, stored.last_verified_at
    deleted = client.post(f"/contacts/{contact.id}/delete", data={"csrf_token": token})

    if allowed:
        assert (new_page.status_code, edit_page.status_code) == (200, 200)
        assert (created.status_code, edited.status_code, confirmed.status_code) == (303, 303, 303)
        assert name == "Pranee Kittisak-Chai"
        assert verified > days_ago(1)
        assert deleted.status_code == 303
        assert fresh(db, Contact, contact.id) is None
        return
    # What matters most comes first: a refused request writes nothing.
    assert directory_rows(db) == before
    assert fresh(db, Contact, contact.id).name == "Pranee Kittisak"
    assert verified < days_ago(299)
    for response in (new_page, edit_page, created, edited, confirmed, deleted):
        assert "Not allowed" in error_page(response, 403)


@pytest.mark.parametrize(
    ("role", "org", "allowed"), ORGANISATION_RIGHTS, ids=_ids(ORGANISATION_RIGHTS)
)
def test_organisation_rights_in_the_api(
    client: TestClient, db: Session, people: People, role: str, org: str, allowed: bool
) -> None:
    target = _org(people, org)
    response = client.put(
        f"/api/v1/organisations/{target.id}",
        json=organisation_payload(f"{target.name} (renamed)", target.country),
        headers=people.key(_user(people, role)),
    )
    assert response.status_code == (200 if allowed else 403), response.text
    renamed = fresh(db, Organisation, target.id).name.endswith("(renamed)")
    assert renamed == allowed


@pytest.mark.parametrize(
    ("role", "org", "allowed"), ORGANISATION_RIGHTS, ids=_ids(ORGANISATION_RIGHTS)
)
def test_organisation_rights_on_the_pages(
    client: TestClient, db: Session, people: People, role: str, org: str, allowed: bool
) -> None:
    target = _org(people, org)
    sign_in(client, db, _user(people, role))
    token = csrf_of(client.get(f"/organisations/{target.id}").text)
    page = client.get(f"/organisations/{target.id}/edit")
    saved = client.post(
        f"/organisations/{target.id}/edit",
        data={
            "csrf_token": token,
            "name": f"{target.name} (renamed)",
            "kind": "national_cert",
            "country": target.country,
        },
    )
    renamed = fresh(db, Organisation, target.id).name.endswith("(renamed)")
    assert renamed == allowed
    if allowed:
        assert (page.status_code, saved.status_code) == (200, 303)
    else:
        error_page(page, 403)
        error_page(saved, 403)


def test_only_platform_admins_create_organisations(
    client: TestClient, db: Session, people: People
) -> None:
    form = {"name": "Brunei CERT", "kind": "national_cert", "country": "BN"}
    sign_in(client, db, people.platform_admin)
    created = post_form(client, "/organisations/new", "/organisations/new", form)
    assert created.status_code == 303, created.text
    org = db.query(Organisation).filter_by(name="Brunei CERT").one()
    assert created.headers["location"] == f"/organisations/{org.id}"
    refused = client.post(
        "/api/v1/organisations",
        json=organisation_payload("Lao CERT", "LA"),
        headers=people.key(people.org_admin),
    )
    assert refused.status_code == 403, refused.text
    assert db.query(Organisation).filter_by(name="Lao CERT").count() == 0


def test_org_admins_cannot_open_the_new_organisation_form(
    client: TestClient, db: Session, people: People
) -> None:
    sign_in(client, db, people.org_admin)
    error_page(client.get("/organisations/new"), 403)


def test_organisation_cannot_become_its_own_ancestor(
    client: TestClient, db: Session, people: People
) -> None:
    child = make_org(db, name="NCSA Bangkok Office", country="TH", parent=people.home)
    grandchild = make_org(db, name="NCSA Bangkok Night Shift", country="TH", parent=child)
    db.commit()
    sign_in(client, db, people.org_admin)
    edit = f"/organisations/{people.home.id}/edit"
    for parent in (people.home, child, grandchild):
        response = post_form(
            client,
            edit,
            edit,
            {
                "name": people.home.name,
                "kind": "national_cert",
                "country": "TH",
                "parent_id": str(parent.id),
            },
        )
        assert response.status_code == 422, response.text
        assert "cannot be its own ancestor" in field_error(response.text, "parent_id")
        assert fresh(db, Organisation, people.home.id).parent_id is None
    # The form does not offer the organisation as its own parent; the server refuses the rest.
    assert f'<option value="{people.home.id}"' not in client.get(edit).text


def test_a_parent_chain_without_a_cycle_is_accepted(
    client: TestClient, db: Session, people: People
) -> None:
    ministry = make_org(db, name="Ministry of Digital Economy and Society", country="TH")
    db.commit()
    response = client.put(
        f"/api/v1/organisations/{people.home.id}",
        json=organisation_payload(people.home.name, "TH", parent_id=str(ministry.id)),
        headers=people.key(people.org_admin),
    )
    assert response.status_code == 200, response.text
    assert fresh(db, Organisation, people.home.id).parent_id == ministry.id
    cycle = client.put(
        f"/api/v1/organisations/{ministry.id}",
        json=organisation_payload(ministry.name, "TH", parent_id=str(people.home.id)),
        headers=people.key(people.platform_admin),
    )
    assert cycle.status_code == 422, cycle.text
    assert cycle.json()["error"]["details"] == [
        {"loc": "parent_id", "msg": "an organisation cannot be its own ancestor"}
    ]
    assert fresh(db, Organisation, ministry.id).parent_id is None


def test_contact_page_offers_actions_only_to_those_who_may_take_them(
    client: TestClient, db: Session, people: People
) -> None:
    contact = make_contact(db, people.home)
    db.commit()
    for user, offered in [
        (people.reader, False),
        (people.away_analyst, False),
        (people.analyst, True),
        (people.platform_admin, True),
    ]:
        client.cookies.clear()
        sign_in(client, db, user)
        page = client.get(f"/contacts/{contact.id}").text
        assert (f'href="/contacts/{contact.id}/edit"' in page) == offered, user.role
        assert (f'action="/contacts/{contact.id}/delete"' in page) == offered, user.role
        assert ("Confirm details are current" in page) == offered, user.role


def test_confirm_button_marks_the_contact_verified_now(
    client: TestClient, db: Session, people: People
) -> None:
    contact = make_contact(db, people.home, name="Pranee Kittisak", verified_at=days_ago(500))
    db.commit()
    sign_in(client, db, people.analyst)
    page = f"/contacts/{contact.id}"
    assert "Stale: not verified for 500 days" in text_of(client.get(page).text)
    clicked = utcnow()
    response = post_form(client, page, f"{page}/confirm", {})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == page
    stored = fresh(db, Contact, contact.id)
    assert clicked <= stored.last_verified_at <= utcnow()
    shown = text_of(client.get(page).text)
    assert "Pranee Kittisak is marked as verified now." in shown
    assert "Stale:" not in shown
    assert "Current" in shown
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.CONTACT_VERIFIED.value)
    ).one()
    assert (event.object_id, event.actor_user_id) == (str(contact.id), people.analyst.id)
    assert event.details == {"how": "confirmed by organisation"}


def test_deleting_a_contact_clears_the_alternates_that_named_it(
    client: TestClient, db: Session, people: People
) -> None:
    desk = make_contact(db, people.home, name="Duty Desk Bangkok")
    first = make_contact(db, people.home, name="Somchai Wongsakul", alternate=desk)
    second = make_contact(db, people.home, name="Pranee Kittisak", alternate=desk)
    db.commit()
    sign_in(client, db, people.analyst)
    response = post_form(client, f"/contacts/{desk.id}", f"/contacts/{desk.id}/delete", {})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/organisations/{people.home.id}"
    assert fresh(db, Contact, desk.id) is None
    assert fresh(db, Contact, first.id).alternate_id is None
    assert fresh(db, Contact, second.id).alternate_id is None
    shown = text_of(client.get(f"/organisations/{people.home.id}").text)
    assert "Duty Desk Bangkok is removed." in shown
    assert "Duty Desk Bangkok" not in shown.replace("Duty Desk Bangkok is removed.", "")


def test_deleting_through_the_api_clears_alternates_too(
    client: TestClient, db: Session, people: People
) -> None:
    desk = make_contact(db, people.home, name="Duty Desk Bangkok")
    somchai = make_contact(db, people.home, name="Somchai Wongsakul", alternate=desk)
    db.commit()
    headers = people.key(people.analyst)
    assert client.delete(f"/api/v1/contacts/{desk.id}", headers=headers).status_code == 204
    body = client.get(f"/api/v1/contacts/{somchai.id}", headers=headers).json()
    assert body["alternate_id"] is None


ANONYMOUS_PAGES = [
    "/directory",
    "/directory?country=TH&role=technical",
    "/organisations",
    "/organisations/new",
    "/organisations/{org}",
    "/organisations/{org}/edit",
    "/organisations/{org}/contacts/new",
    "/contacts/{contact}",
    "/contacts/{contact}/edit",
    "/directory/export?format=json",
    "/directory/export?format=vcard",
    "/directory/import",
]


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_anonymous_visitors_are_sent_to_log_in_and_see_nothing(
    client: TestClient, db: Session, people: People, path: str
) -> None:
    contact = make_contact(db, people.home, name="Somchai Wongsakul")
    db.commit()
    url = path.format(org=people.home.id, contact=contact.id)
    response = client.get(url)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert unquote(location.removeprefix("/login?next=")) == url
    assert "Somchai" not in response.text
    assert people.home.name not in response.text


ANONYMOUS_API = [
    ("GET", "/api/v1/contacts"),
    ("GET", "/api/v1/contacts/{contact}"),
    ("GET", "/api/v1/organisations"),
    ("GET", "/api/v1/organisations/{org}"),
    ("GET", "/api/v1/directory/export"),
    ("GET", "/api/v1/directory/export?format=vcard"),
    ("POST", "/api/v1/directory/import"),
    ("POST", "/api/v1/contacts/{contact}/confirm"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS_API)
def test_anonymous_api_callers_get_401_and_nothing_else(
    client: TestClient, db: Session, people: People, method: str, path: str
) -> None:
    contact = make_contact(db, people.home, name="Somchai Wongsakul")
    db.commit()
    response = client.request(method, path.format(org=people.home.id, contact=contact.id))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "Somchai" not in response.text


def test_anonymous_forms_change_nothing(client: TestClient, db: Session, people: People) -> None:
    contact = make_contact(db, people.home, name="Somchai Wongsakul", verified_at=days_ago(300))
    db.commit()
    token = csrf_of(client.get("/login").text)  # a valid token of the anonymous visitor
    before = directory_rows(db)
    for action in ("edit", "confirm", "delete"):
        response = client.post(
            f"/contacts/{contact.id}/{action}",
            data={"csrf_token": token, "name": "Changed", "role": "policy", "emails": "x@y.org"},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")
    assert directory_rows(db) == before
    stored = fresh(db, Contact, contact.id)
    assert stored.name == "Somchai Wongsakul"
    assert stored.last_verified_at < days_ago(299)
