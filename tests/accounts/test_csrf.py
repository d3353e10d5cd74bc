"""CSRF: every page form that changes something needs the token of this browser and session."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import ApiKey, User
from balai.directory.models import Organisation
from balai.intel.models import SharingGroup
from balai.web import routes as web_routes
from tests.accounts.helpers import browser, outbox_to, reset_path, sign_in, snapshot
from tests.factories import api_key_for, make_contact
from tests.intel.helpers import body, import_as, indicator
from tests.web import csrf_of, submit

PARAM = re.compile(r"\{(\w+)\}")
# Plausible values for every field the page forms read: accepted, most would change something.
FORM = {
    "email": "changed@thaicert.example",
    "password": "a long and fresh passphrase",
    "password_again": "a long and fresh passphrase",
    "current_password": "correct horse battery staple",
    "new_password": "a long and fresh passphrase",
    "name": "Changed by a forged form",
    "role": "reader",
    "timezone": "UTC",
    "code": "123456",
    "title": "Forged check",
    "contact_ids": "",
    "next": "/directory",
}


def _page_posts() -> list[str]:
    """Every POST route of the pages, from each domain router that web/routes.py gathers."""
    domains = [
        router
        for router in vars(web_routes).values()
        if isinstance(router, APIRouter) and router is not web_routes.web_router
    ]
    return sorted(
        route.path
        for router in domains
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or set())
    )


@pytest.fixture
def targets(
    client: TestClient, db: Session, org: Organisation, reader: User, platform_admin: User
) -> dict[str, str]:
    """A real object for each path parameter the page forms use."""
    key = api_key_for(db, platform_admin)
    contact = make_contact(db, org)
    group = SharingGroup(
        id=uuid.uuid4(), name="Forgery targets", owner_org_id=platform_admin.organisation_id
    )
    db.add(group)
    db.commit()
    seen = indicator("[ipv4-addr:value = '203.0.113.9']")
    import_as(db, platform_admin, body(seen))
    submit(client, "/password-reset", "/password-reset", {"email": reader.email})
    _, token = reset_path(str(outbox_to(db, reader.email)[0].payload["text"]))
    key_id = db.scalars(select(ApiKey.id).where(ApiKey.prefix == key.split("_")[1])).one()
    return {
        "user_id": str(reader.id),
        "key_id": str(key_id),
        "token": token,
        "organisation_id": str(org.id),
        "contact_id": str(contact.id),
        "check_id": str(uuid.uuid4()),
        "schedule_id": str(uuid.uuid4()),
        "incident_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "subscription_id": str(uuid.uuid4()),
        "group_id": str(group.id),
        "stix_id": seen["id"],
        "key": str(uuid.uuid4()),
    }


def test_every_page_form_refuses_a_missing_or_foreign_token_and_changes_nothing(
    client: TestClient,
    app: FastAPI,
    db: Session,
    platform_admin: User,
    admin: User,
    targets: dict[str, str],
) -> None:
    routes = _page_posts()
    assert len(routes) >= 20
    assert "/login" in routes
    assert "/users/{user_id}/edit" in routes
    sign_in(client, db, platform_admin)
    with browser(app) as other_browser:
        sign_in(other_browser, db, admin)
        foreign = csrf_of(other_browser.get("/account").text)
    before = snapshot(db)

    for route in routes:
        unknown = set(PARAM.findall(route)) - targets.keys()
        assert not unknown, f"give {route} a target for {unknown}"
        path = PARAM.sub(lambda m: targets[m.group(1)], route)
        missing = client.post(path, data=FORM)
        forged = client.post(path, data=FORM | {"csrf_token": foreign})
        empty = client.post(path, data=FORM | {"csrf_token": ""})
        for response in (missing, forged, empty):
            assert response.status_code == 403, (route, response.status_code)
            assert "security token" in response.text, route

    assert snapshot(db) == before
    assert client.get("/account").status_code == 200, "the forged log-out did not log out"


def test_the_right_token_is_accepted_so_the_refusals_are_about_the_token(
    client: TestClient, db: Session, reader: User
) -> None:
    sign_in(client, db, reader)
    token = csrf_of(client.get("/account").text)
    saved = client.post(
        "/account/profile", data={"name": "Renamed", "timezone": "UTC", "csrf_token": token}
    )
    assert saved.status_code == 303
    db.refresh(reader)
    assert reader.name == "Renamed"


def test_a_token_from_before_log_in_is_refused_after_it(
    client: TestClient, db: Session, reader: User
) -> None:
    anonymous_token = csrf_of(client.get("/login").text)
    sign_in(client, db, reader)
    refused = client.post(
        "/account/profile",
        data={"name": "Renamed", "timezone": "UTC", "csrf_token": anonymous_token},
    )
    assert refused.status_code == 403
    db.refresh(reader)
    assert reader.name != "Renamed"


def test_a_browser_without_the_csrf_cookie_cannot_post(client: TestClient, reader: User) -> None:
    token = csrf_of(client.get("/login").text)
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"email": reader.email, "password": FORM["current_password"], "csrf_token": token},
    )
    assert response.status_code == 403
    assert "balai_session" not in response.cookies
