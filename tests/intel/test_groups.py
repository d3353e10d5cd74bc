"""Sharing groups through the API and the pages: owners manage them, nobody else does."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.audit.models import AuditEvent
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup
from tests.intel.helpers import (
    Intel,
    Json,
    body,
    count,
    import_as,
    malware,
    problems,
    sign_in,
    text_of,
)
from tests.web import csrf_of

API = "/api/v1/sharing-groups"


def _create(
    client: TestClient, intel: Intel, name: str = "Mekong partners", **extra: object
) -> Json:
    payload = {"name": name, "member_ids": [str(intel.away.id)], **extra}
    made = client.post(API, json=payload, headers=intel.key(intel.admin))
    assert made.status_code == 201, made.text
    answer: Json = made.json()
    return answer


def _events(db: Session, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _form(client: TestClient, page: str, action: str, data: dict[str, object]) -> httpx.Response:
    loaded = client.get(page)
    assert loaded.status_code == 200, loaded.text
    response: httpx.Response = client.post(
        action, data={**data, "csrf_token": csrf_of(loaded.text)}
    )
    return response


# API


def test_an_org_admin_creates_renames_and_changes_members(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel, description="Mekong sub-region CERTs")
    assert made["owner_org_id"] == str(intel.home.id)
    assert made["owner_name"] == "ThaiCERT"
    assert made["member_ids"] == [str(intel.away.id)]
    assert made["member_names"] == ["MyCERT"]
    [created] = _events(db, "intel:sharing_group:created")
    assert created.object_id == made["id"]
    assert created.actor_user_id == intel.admin.id
    assert created.details == {"name": "Mekong partners", "members": 1}

    item = f"{API}/{made['id']}"
    changed = client.put(
        item,
        json={
            "name": "Mekong and Straits partners",
            # The owner is always in its group; naming it changes nothing.
            "member_ids": [str(intel.away.id), str(intel.third.id), str(intel.home.id)],
        },
        headers=intel.key(intel.admin),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Mekong and Straits partners"
    assert changed.json()["member_names"] == ["MyCERT", "SingCERT"]
    assert changed.json()["description"] is None
    [updated] = _events(db, "intel:sharing_group:updated")
    assert updated.details == {"name": "Mekong and Straits partners", "members": 2}

    # Every member sees it now, in the list and by id.
    for user in (intel.away_analyst, intel.third_admin):
        listed = client.get(API, headers=intel.key(user)).json()
        assert [g["id"] for g in listed] == [made["id"]]
        assert client.get(item, headers=intel.key(user)).status_code == 200

    # Dropping a member: it no longer sees the group, nor what the group shares.
    shared_malware = malware()
    import_as(
        db,
        intel.analyst,
        body(shared_malware),
        tlp=Tlp.RED,
        distribution=Distribution.SHARING_GROUP,
        group=uuid.UUID(made["id"]),
    )
    seen = f"/api/v1/intel/objects/{shared_malware['id']}"
    assert client.get(seen, headers=intel.key(intel.third_admin)).status_code == 200
    dropped = client.put(
        item,
        json={"name": "Mekong partners", "member_ids": [str(intel.away.id)]},
        headers=intel.key(intel.admin),
    )
    assert dropped.status_code == 200, dropped.text
    assert client.get(item, headers=intel.key(intel.third_admin)).status_code == 404
    assert client.get(seen, headers=intel.key(intel.third_admin)).status_code == 404
    assert client.get(seen, headers=intel.key(intel.away_analyst)).status_code == 200


def test_non_owners_may_not_change_or_delete_a_group(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel, member_ids=[str(intel.away.id), str(intel.third.id)])
    item = f"{API}/{made['id']}"
    change = {"name": "Taken over", "member_ids": []}
    # Members, even a member's platform admin, see the group but do not manage it.
    for user in (intel.away_admin, intel.third_platform_admin, intel.analyst):
        assert client.get(item, headers=intel.key(user)).status_code == 200
        put = client.put(item, json=change, headers=intel.key(user))
        assert put.status_code == 403, (user.role, put.text)
        assert client.delete(item, headers=intel.key(user)).status_code == 403
    db.expire_all()
    group = db.get(SharingGroup, uuid.UUID(made["id"]))
    assert group is not None
    assert group.name == "Mekong partners"
    assert len(group.members) == 2
    assert _events(db, "intel:sharing_group:updated") == []


def test_outsiders_do_not_see_a_group_at_all(client: TestClient, db: Session, intel: Intel) -> None:
    made = _create(client, intel)  # MyCERT only; SingCERT is outside
    item = f"{API}/{made['id']}"
    for user in (intel.third_admin, intel.third_platform_admin):
        headers = intel.key(user)
        assert client.get(API, headers=headers).json() == []
        assert client.get(item, headers=headers).status_code == 404
        assert client.put(item, json={"name": "x"}, headers=headers).status_code == 404
        assert client.delete(item, headers=headers).status_code == 404
    assert client.get(f"{API}/{uuid.uuid4()}", headers=intel.key(intel.admin)).status_code == 404
    assert db.get(SharingGroup, uuid.UUID(made["id"])) is not None


@pytest.mark.parametrize("name", ["Mekong partners", "MEKONG PARTNERS"])
def test_a_duplicate_name_names_the_field(
    client: TestClient, db: Session, intel: Intel, name: str
) -> None:
    _create(client, intel)
    again = client.post(API, json={"name": name, "member_ids": []}, headers=intel.key(intel.admin))
    assert again.status_code == 422
    assert [p["loc"] for p in problems(again)] == ["name"]
    assert "already has a group named" in problems(again)[0]["msg"]
    assert count(db, SharingGroup) == 1
    # Another organisation may use the same name.
    theirs = client.post(API, json={"name": name}, headers=intel.key(intel.away_admin))
    assert theirs.status_code == 201, theirs.text


def test_a_rename_onto_another_groups_name_is_refused(client: TestClient, intel: Intel) -> None:
    _create(client, intel, name="Mekong partners")
    other = _create(client, intel, name="Straits partners")
    clash = client.put(
        f"{API}/{other['id']}",
        json={"name": "mekong partners"},
        headers=intel.key(intel.admin),
    )
    assert clash.status_code == 422
    assert [p["loc"] for p in problems(clash)] == ["name"]
    # Keeping its own name (in another case) is no clash.
    same = client.put(
        f"{API}/{other['id']}", json={"name": "STRAITS partners"}, headers=intel.key(intel.admin)
    )
    assert same.status_code == 200, same.text


def test_unknown_members_and_bad_input_are_refused(
    client: TestClient, db: Session, intel: Intel
) -> None:
    unknown = str(uuid.uuid4())
    refused = client.post(
        API,
        json={"name": "Ghosts", "member_ids": [str(intel.away.id), unknown]},
        headers=intel.key(intel.admin),
    )
    assert refused.status_code == 422
    assert problems(refused) == [{"loc": "member_ids", "msg": f"no such organisation: {unknown}"}]
    for payload, loc in (
        ({"name": "  "}, "name"),
        ({"name": "G" * 201}, "name"),
        ({"name": "Ghosts", "member_ids": ["not-a-uuid"]}, "member_ids[0]"),
        ({"name": "Ghosts", "colour": "red"}, "colour"),
    ):
        bad = client.post(API, json=payload, headers=intel.key(intel.admin))
        assert bad.status_code == 422, payload
        assert loc in [p["loc"].removeprefix("body.") for p in problems(bad)], problems(bad)
    assert count(db, SharingGroup) == 0


def test_a_group_still_sharing_objects_cannot_be_deleted(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel)
    item = f"{API}/{made['id']}"
    import_as(
        db,
        intel.analyst,
        body(malware()),
        tlp=Tlp.AMBER,
        distribution=Distribution.SHARING_GROUP,
        group=uuid.UUID(made["id"]),
    )
    refused = client.delete(item, headers=intel.key(intel.admin))
    assert refused.status_code == 409
    assert "1 object version(s) are shared with this group" in refused.json()["error"]["message"]
    assert client.get(item, headers=intel.key(intel.admin)).status_code == 200
    assert _events(db, "intel:sharing_group:deleted") == []

    unused = _create(client, intel, name="Unused")
    gone = client.delete(f"{API}/{unused['id']}", headers=intel.key(intel.admin))
    assert gone.status_code == 204
    assert client.get(f"{API}/{unused['id']}", headers=intel.key(intel.admin)).status_code == 404
    [deleted] = _events(db, "intel:sharing_group:deleted")
    assert deleted.object_id == unused["id"]
    assert deleted.details == {"name": "Unused", "members": 1}


def test_readers_and_analysts_cannot_create_groups(
    client: TestClient, db: Session, intel: Intel
) -> None:
    for user in (intel.reader, intel.analyst):
        refused = client.post(API, json={"name": "Mine"}, headers=intel.key(user))
        assert refused.status_code == 403
        assert "intel:sharing_group:manage_own" in refused.json()["error"]["message"]
    assert count(db, SharingGroup) == 0
    assert _events(db, "intel:sharing_group:created") == []


# Pages


def test_the_pages_create_show_change_and_delete_a_group(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.admin)
    page = client.get("/intel/sharing-groups")
    assert page.status_code == 200
    assert "No sharing groups yet." in text_of(page.text)
    assert f'value="{intel.away.id}"' in page.text  # other organisations to choose from
    assert f'value="{intel.home.id}"' not in page.text  # not its own

    made = _form(
        client,
        "/intel/sharing-groups",
        "/intel/sharing-groups",
        {"name": "Mekong partners", "description": "", "member_ids": [str(intel.away.id)]},
    )
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    group_id = location.rsplit("/", 1)[1]
    shown = client.get(location)
    assert shown.status_code == 200
    assert "Owned by ThaiCERT." in text_of(shown.text)
    assert "Change the group" in shown.text
    assert "MyCERT" in text_of(shown.text)

    listed = text_of(client.get("/intel/sharing-groups").text)
    assert "Mekong partners ThaiCERT MyCERT" in listed

    saved = _form(
        client,
        location,
        location,
        {"name": "Mekong partners (2026)", "member_ids": [str(intel.third.id)]},
    )
    assert saved.status_code == 303, saved.text
    db.expire_all()
    group = db.get(SharingGroup, uuid.UUID(group_id))
    assert group is not None
    assert group.name == "Mekong partners (2026)"
    assert {m.organisation_id for m in group.members} == {intel.third.id}

    deleted = _form(client, location, f"{location}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/intel/sharing-groups"
    db.expire_all()
    assert db.get(SharingGroup, uuid.UUID(group_id)) is None
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert [a for a in actions if a.startswith("intel:sharing_group")] == [
        "intel:sharing_group:created",
        "intel:sharing_group:updated",
        "intel:sharing_group:deleted",
    ]


def test_the_pages_show_errors_beside_the_field(
    client: TestClient, db: Session, intel: Intel
) -> None:
    _create(client, intel)
    sign_in(client, db, intel.admin)
    again = _form(
        client, "/intel/sharing-groups", "/intel/sharing-groups", {"name": "mekong partners"}
    )
    assert again.status_code == 422
    assert 'id="name-error"' in again.text
    assert "already has a group named" in text_of(again.text)
    assert 'value="mekong partners"' in again.text
    assert count(db, SharingGroup) == 1


def test_members_see_the_group_page_without_the_form_and_cannot_post(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel)
    location = f"/intel/sharing-groups/{made['id']}"
    sign_in(client, db, intel.away_admin)
    page = client.get(location)
    assert page.status_code == 200
    assert "Mekong partners" in page.text
    assert "Change the group" not in page.text
    token = csrf_of(client.get("/intel/sharing-groups").text)
    changed = client.post(location, data={"name": "Taken", "csrf_token": token})
    assert changed.status_code == 403
    deleted = client.post(f"{location}/delete", data={"csrf_token": token})
    assert deleted.status_code == 403
    db.expire_all()
    group = db.get(SharingGroup, uuid.UUID(made["id"]))
    assert group is not None
    assert group.name == "Mekong partners"


def test_outsiders_get_404_pages_and_readers_get_no_form(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel)
    location = f"/intel/sharing-groups/{made['id']}"
    sign_in(client, db, intel.third_platform_admin)
    assert client.get(location).status_code == 404
    assert "Mekong partners" not in client.get("/intel/sharing-groups").text
    client.cookies.clear()
    sign_in(client, db, intel.reader)
    listing = client.get("/intel/sharing-groups")
    assert "Mekong partners" in listing.text  # its organisation owns it
    assert "New sharing group" not in listing.text
    refused = client.post(
        "/intel/sharing-groups", data={"name": "Mine", "csrf_token": csrf_of(listing.text)}
    )
    assert refused.status_code == 403
    assert count(db, SharingGroup) == 1


def test_a_group_in_use_is_not_deleted_from_its_page(
    client: TestClient, db: Session, intel: Intel
) -> None:
    made = _create(client, intel)
    import_as(
        db,
        intel.analyst,
        body(malware()),
        tlp=Tlp.AMBER,
        distribution=Distribution.SHARING_GROUP,
        group=uuid.UUID(made["id"]),
    )
    sign_in(client, db, intel.admin)
    location = f"/intel/sharing-groups/{made['id']}"
    refused = _form(client, location, f"{location}/delete", {})
    assert refused.status_code == 409
    assert "shared with this group" in text_of(refused.text)
    assert db.get(SharingGroup, uuid.UUID(made["id"])) is not None
