"""One inherited test suite for every REST API resource (house rule 9).

A resource's test class subclasses ResourceSuite, names its URLs, model and roles in
class attributes, and supplies small factory hooks (a valid payload, an update, an item
owned by an organisation) and a table of invalid payloads. Every test below then runs
against it: create, read, update, delete, paging, the wrong organisation, anonymous
callers and bad input.

Each test builds a small world: three organisations (home, away, and the hub of the
platform admin) and, in home and away, a user with the resource's editor role.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.config import Settings
from balai.directory.models import Organisation
from tests.factories import api_key_for, make_org, make_user
from tests.web import client_for

Json = dict[str, Any]


@dataclass
class World:
    """The organisations and users one resource test acts with."""

    db: Session
    home: Organisation
    away: Organisation
    hub: Organisation
    admin: User
    owner: User
    outsider: User
    keys: dict[uuid.UUID, str]

    def auth(self, user: User) -> dict[str, str]:
        """Headers that authenticate as the user (a fresh API key, made once per user)."""
        if user.id not in self.keys:
            self.keys[user.id] = api_key_for(self.db, user)
            self.db.commit()
        return {"Authorization": f"Bearer {self.keys[user.id]}"}

    def user_in(self, org: Organisation, role: Role) -> User:
        """Another user of an organisation."""
        user = make_user(self.db, org, role=role)
        self.db.commit()
        return user


@dataclass(frozen=True)
class BadInput:
    """One row of a resource's bad-input table: how to spoil a valid payload, and where."""

    label: str
    field: str
    spoil: Callable[[World, Json, uuid.UUID | None], Json]
    """(world, valid payload, id of the item updated or None on create) -> invalid payload"""


def replaced(label: str, field: str, **values: Any) -> BadInput:
    """A bad input that sets some keys of the valid payload."""
    return BadInput(label, field, lambda _world, payload, _item: {**payload, **values})


def dropped(label: str, field: str, *keys: str) -> BadInput:
    """A bad input that leaves keys out of the valid payload."""
    return BadInput(
        label,
        field,
        lambda _world, payload, _item: {k: v for k, v in payload.items() if k not in keys},
    )


def names_field(details: Sequence[Json], field: str) -> bool:
    """Whether one of an error's details is located at the field (or inside it)."""
    for detail in details:
        loc = str(detail["loc"]).removeprefix("body.")
        if loc == field or loc.startswith((f"{field}.", f"{field}[")):
            return True
    return False


def rows(db: Session, model: type[Any]) -> int:
    """How many rows a table holds."""
    return db.scalar(select(func.count()).select_from(model)) or 0


class ResourceSuite:
    """The tests every REST API resource passes; subclass and fill in the hooks."""

    collection: ClassVar[str]
    """The list URL, for example /api/v1/contacts."""
    model: ClassVar[type[Any]]
    """The table the resource is stored in, for counting rows."""
    org_column: ClassVar[str]
    """The model's attribute naming the organisation an item belongs to."""
    editor_role: ClassVar[Role]
    """The least role that edits its own organisation's items."""
    unprivileged_role: ClassVar[Role]
    """A role of the home organisation that may not create items."""
    admin_creates: ClassVar[bool] = False
    """Only platform admins create items."""
    update_method: ClassVar[str] = "PUT"
    deletable: ClassVar[bool] = False
    scoped_to_org: ClassVar[bool] = False
    own_org_only: ClassVar[bool] = False
    """Items always belong to their maker's organisation (incidents, subscriptions): another
    organisation's POST makes one of its own, never one of this organisation's."""
    """Members of other organisations cannot see the items at all (404, absent from lists)."""
    bad_inputs: ClassVar[Sequence[BadInput]] = ()
    """Invalid variations of payload(); each must give 422 naming the field."""
    bad_updates: ClassVar[Sequence[BadInput] | None] = None
    """Invalid variations of changes(); None applies bad_inputs to the update too."""

    # Hooks

    def create_url(self, world: World) -> str:
        """Where to POST a new item of the home organisation."""
        return self.collection

    def item_url(self, item_id: uuid.UUID | str) -> str:
        """One item's URL."""
        return f"{self.collection}/{item_id}"

    def payload(self, world: World) -> Json:
        """A valid new item of the home organisation."""
        raise NotImplementedError

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        """A valid update of an item of the home organisation."""
        raise NotImplementedError

    def owned_item(self, world: World) -> uuid.UUID:
        """An existing item of the home organisation that the owner may edit."""
        raise NotImplementedError

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        """Further items that the owner sees, for paging."""
        raise NotImplementedError

    def echoed(self, sent: Json) -> Json:
        """The part of a response that must equal what was sent."""
        return sent

    def duplicate(self, world: World) -> Json | None:
        """A payload that clashes with an existing item (409), if the resource has a key."""
        return None

    # Fixtures

    @pytest.fixture
    def world(self, db: Session) -> World:
        """Three organisations, a platform admin, and an editor in home and in away."""
        hub = make_org(db, name="Regional Coordination Centre", country="SG")
        home = make_org(db, name="ThaiCERT", country="TH")
        away = make_org(db, name="MyCERT", country="MY")
        world = World(
            db=db,
            home=home,
            away=away,
            hub=hub,
            admin=make_user(db, hub, role=Role.PLATFORM_ADMIN),
            owner=make_user(db, home, role=self.editor_role),
            outsider=make_user(db, away, role=self.editor_role),
            keys={},
        )
        db.commit()
        return world

    @pytest.fixture
    def api(self, connection: Connection, settings: Settings) -> Iterator[TestClient]:
        """A client of the app on the test's transaction."""
        with client_for(connection, settings) as client:
            yield client

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per row of the bad-input tables, and per operation for anonymous calls."""
        if "bad" in metafunc.fixturenames:
            table = list(self.bad_inputs)
            metafunc.parametrize("bad", table, ids=[b.label for b in table])
        if "operation" in metafunc.fixturenames:
            methods = ["list", "read", "create", "update"] + (["delete"] if self.deletable else [])
            metafunc.parametrize("operation", methods)
        if "bad_update" in metafunc.fixturenames:
            table = list(self.bad_inputs if self.bad_updates is None else self.bad_updates)
            metafunc.parametrize("bad_update", table, ids=[b.label for b in table])

    # Helpers

    def creator(self, world: World) -> User:
        """Who creates items in the tests."""
        return world.admin if self.admin_creates else world.owner

    def send(
        self, api: TestClient, world: World, user: User | None, method: str, url: str, **kw: Any
    ) -> httpx.Response:
        """A request as the user (None: without credentials)."""
        headers = world.auth(user) if user is not None else {}
        response: httpx.Response = api.request(method, url, headers=headers, **kw)
        return response

    def read(self, api: TestClient, world: World, item_id: uuid.UUID | str) -> Json:
        """An item as the owner reads it; asserts it is there."""
        response = self.send(api, world, world.owner, "GET", self.item_url(item_id))
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    def count(self, world: World) -> int:
        """Rows of the resource's table."""
        return rows(world.db, self.model)

    def expected_write_refusal(self) -> int:
        """403 for an item the caller sees; 404 when the caller may not even see it."""
        return 404 if self.scoped_to_org else 403

    def list_all(self, api: TestClient, world: World, user: User) -> Json:
        """The whole list as the user sees it."""
        response = self.send(api, world, user, "GET", self.collection, params={"per_page": 500})
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    # Create and read

    def test_create_answers_201_and_echoes_the_input(self, api: TestClient, world: World) -> None:
        sent = self.payload(world)
        before = self.count(world)
        response = self.send(
            api, world, self.creator(world), "POST", self.create_url(world), json=sent
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert {k: body[k] for k in self.echoed(sent)} == self.echoed(sent)
        assert self.count(world) == before + 1
        stored = self.read(api, world, body["id"])
        assert stored == body

    def test_create_needs_the_permission(self, api: TestClient, world: World) -> None:
        weak = world.user_in(world.home, self.unprivileged_role)
        sent = self.payload(world)
        before = self.count(world)
        response = self.send(api, world, weak, "POST", self.create_url(world), json=sent)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert self.count(world) == before

    def test_create_of_a_duplicate_conflicts(self, api: TestClient, world: World) -> None:
        clash = self.duplicate(world)
        if clash is None:
            pytest.skip("the resource has no unique key, so nothing to clash with")
        before = self.count(world)
        response = self.send(
            api, world, self.creator(world), "POST", self.create_url(world), json=clash
        )
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "conflict"
        assert self.count(world) == before

    def test_read_answers_200(self, api: TestClient, world: World) -> None:
        item_id = self.owned_item(world)
        assert self.read(api, world, item_id)["id"] == str(item_id)

    def test_read_of_an_unknown_id_is_404(self, api: TestClient, world: World) -> None:
        response = self.send(api, world, world.owner, "GET", self.item_url(uuid.uuid4()))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"

    def test_read_of_a_malformed_id_is_422(self, api: TestClient, world: World) -> None:
        response = self.send(api, world, world.owner, "GET", self.item_url("not-a-uuid"))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["loc"].startswith("path.")

    # Update

    def test_update_answers_200_and_the_change_is_visible(
        self, api: TestClient, world: World
    ) -> None:
        item_id = self.owned_item(world)
        sent = self.changes(world, item_id)
        response = self.send(
            api, world, world.owner, self.update_method, self.item_url(item_id), json=sent
        )
        assert response.status_code == 200, response.text
        assert {k: response.json()[k] for k in self.echoed(sent)} == self.echoed(sent)
        stored = self.read(api, world, item_id)
        assert {k: stored[k] for k in self.echoed(sent)} == self.echoed(sent)

    def test_update_of_an_unknown_id_is_404(self, api: TestClient, world: World) -> None:
        item_id = self.owned_item(world)
        response = self.send(
            api,
            world,
            world.owner,
            self.update_method,
            self.item_url(uuid.uuid4()),
            json=self.changes(world, item_id),
        )
        assert response.status_code == 404, response.text

    # Delete

    def test_delete_answers_204_then_the_item_is_gone(self, api: TestClient, world: World) -> None:
        item_id = self.owned_item(world)
        before = self.count(world)
        response = self.send(api, world, world.owner, "DELETE", self.item_url(item_id))
        if not self.deletable:
            assert response.status_code == 405, response.text
            assert self.read(api, world, item_id)["id"] == str(item_id)
            return
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert self.count(world) == before - 1
        gone = self.send(api, world, world.owner, "GET", self.item_url(item_id))
        assert gone.status_code == 404, gone.text
        again = self.send(api, world, world.owner, "DELETE", self.item_url(item_id))
        assert again.status_code == 404, again.text

    # Paging

    def test_list_pages_with_total_pages_and_next(self, api: TestClient, world: World) -> None:
        made = self.more_items(world, 4)
        everything = self.list_all(api, world, world.owner)
        all_ids = [item["id"] for item in everything["items"]]
        assert {str(i) for i in made} <= set(all_ids)
        assert everything["total"] == len(all_ids)
        assert everything["next"] is None
        total = everything["total"]
        per_page = 2
        seen: list[str] = []
        url: str | None = f"{self.collection}?per_page={per_page}"
        page_number = 0
        while url is not None:
            page_number += 1
            response = self.send(api, world, world.owner, "GET", url)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["total"] == total
            assert body["pages"] == math.ceil(total / per_page)
            assert body["page"] == page_number
            assert body["per_page"] == per_page
            assert len(body["items"]) == min(per_page, total - len(seen))
            seen += [item["id"] for item in body["items"]]
            url = body["next"]
            assert page_number <= body["pages"]
        assert page_number == math.ceil(total / per_page)
        assert seen == all_ids  # each item once, in the same order as the whole list

    def test_list_total_counts_what_the_caller_may_see(self, api: TestClient, world: World) -> None:
        self.more_items(world, 2)
        query = select(func.count()).select_from(self.model)
        if self.scoped_to_org:
            query = query.where(getattr(self.model, self.org_column) == world.home.id)
        assert self.list_all(api, world, world.owner)["total"] == world.db.scalar(query)

    def test_page_past_the_end_is_empty(self, api: TestClient, world: World) -> None:
        self.more_items(world, 1)
        total = self.list_all(api, world, world.owner)["total"]
        response = self.send(
            api,
            world,
            world.owner,
            "GET",
            self.collection,
            params={"per_page": 1, "page": total + 1},
        )
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        assert response.json()["next"] is None

    @pytest.mark.parametrize(
        ("params", "name"),
        [
            ({"page": 0}, "page"),
            ({"page": -1}, "page"),
            ({"per_page": 501}, "per_page"),
            ({"per_page": 0}, "per_page"),
            ({"per_page": "many"}, "per_page"),
        ],
    )
    def test_paging_out_of_range_is_422_naming_the_parameter(
        self, api: TestClient, world: World, params: Json, name: str
    ) -> None:
        response = self.send(api, world, world.owner, "GET", self.collection, params=params)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert [d["loc"] for d in error["details"]] == [f"query.{name}"]

    # The wrong organisation

    def test_other_organisation_cannot_update(self, api: TestClient, world: World) -> None:
        item_id = self.owned_item(world)
        before = self.read(api, world, item_id)
        response = self.send(
            api,
            world,
            world.outsider,
            self.update_method,
            self.item_url(item_id),
            json=self.changes(world, item_id),
        )
        assert response.status_code == self.expected_write_refusal(), response.text
        assert self.read(api, world, item_id) == before

    def test_other_organisation_cannot_delete(self, api: TestClient, world: World) -> None:
        item_id = self.owned_item(world)
        before = self.count(world)
        response = self.send(api, world, world.outsider, "DELETE", self.item_url(item_id))
        refusal = self.expected_write_refusal() if self.deletable else 405
        assert response.status_code == refusal, response.text
        assert self.count(world) == before
        assert self.read(api, world, item_id)["id"] == str(item_id)

    def test_other_organisation_cannot_create_for_this_one(
        self, api: TestClient, world: World
    ) -> None:
        sent = self.payload(world)
        before = self.count(world)
        response = self.send(api, world, world.outsider, "POST", self.create_url(world), json=sent)
        if self.own_org_only:
            assert response.status_code == 201, response.text
            assert response.json()["organisation_id"] == str(world.away.id)
            return
        assert response.status_code == 403, response.text
        assert self.count(world) == before

    def test_other_organisation_reads_only_what_is_shared(
        self, api: TestClient, world: World
    ) -> None:
        item_id = self.owned_item(world)
        response = self.send(api, world, world.outsider, "GET", self.item_url(item_id))
        listed = [item["id"] for item in self.list_all(api, world, world.outsider)["items"]]
        if self.scoped_to_org:
            assert response.status_code == 404, response.text
            assert str(item_id) not in listed
        else:
            # The directory is open to every signed-in member of the community.
            assert response.status_code == 200, response.text
            assert str(item_id) in listed

    # Anonymous callers

    def test_anonymous_caller_gets_401_json(
        self, api: TestClient, world: World, operation: str
    ) -> None:
        item_id = self.owned_item(world)
        verb, url, body = {
            "list": ("GET", self.collection, None),
            "read": ("GET", self.item_url(item_id), None),
            "create": ("POST", self.create_url(world), self.payload(world)),
            "update": (self.update_method, self.item_url(item_id), self.changes(world, item_id)),
            "delete": ("DELETE", self.item_url(item_id), None),
        }[operation]
        before = self.count(world)
        for headers in ({}, {"Authorization": "Bearer balai_deadbeef_not-a-real-key"}):
            response = api.request(verb, url, json=body, headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthenticated"
        assert self.count(world) == before

    # Bad input

    def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self, api: TestClient, world: World, bad: BadInput
    ) -> None:
        sent = bad.spoil(world, self.payload(world), None)
        before = self.count(world)
        response = self.send(
            api, world, self.creator(world), "POST", self.create_url(world), json=sent
        )
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert names_field(error["details"], bad.field), error["details"]
        assert self.count(world) == before

    def test_bad_update_is_422_naming_the_field_and_changes_nothing(
        self, api: TestClient, world: World, bad_update: BadInput
    ) -> None:
        item_id = self.owned_item(world)
        before = self.read(api, world, item_id)
        sent = bad_update.spoil(world, self.changes(world, item_id), item_id)
        response = self.send(
            api, world, world.owner, self.update_method, self.item_url(item_id), json=sent
        )
        assert response.status_code == 422, response.text
        assert names_field(response.json()["error"]["details"], bad_update.field), response.text
        assert self.read(api, world, item_id) == before
