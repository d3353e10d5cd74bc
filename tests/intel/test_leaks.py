"""No read path returns, counts or reveals an object the reader may not see (property test).

Hypothesis builds small worlds: two to four organisations with one user each (any role),
sharing groups, and STIX objects held by one or two organisations under random markings,
some in a later version under another marking, reports pointing at other objects and at an
object nobody holds. The world goes in through the real STIX import, so that the value index
is filled the real way. Then one of its users, drawn by Hypothesis, reads it through every
read path, API, TAXII and pages, and each answer is compared with an oracle computed in plain Python
from the world's definition; every user also lists and counts the objects.

The API's object and search routes are read from its OpenAPI schema, so that an export
added later is checked too: a hidden id is a 404 like an id that exists nowhere, and a
visible one's export names no hidden object and no holder whose copy the reader may not see.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User, WebSession
from balai.config import Settings
from balai.db import utcnow
from balai.directory.models import Organisation
from balai.intel.markings import ALLOWED, Distribution, Tlp
from balai.intel.models import SharingGroup, SharingGroupMember
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from balai.taxii.collections import EVERYTHING
from balai.taxii.media import TAXII_21
from balai.tokens import hash_token, new_token
from balai.web.middleware import SESSION_COOKIE
from tests.factories import api_key_for, make_org, make_user
from tests.web import app_on

ORG_NAMES = ("Org Alder", "Org Birch", "Org Cedar", "Org Damson")
GROUP_NAMES = ("Circle Amaranth", "Circle Begonia", "Circle Clematis")
KINDS = ("indicator", "report", "threat-actor")
WORDS = ("Kestrel", "Osprey", "Heron")
# A small namespace, so that one search hits several objects: an address inside a network,
# a domain under a parent domain.
VALUES = (
    "198.51.100.2",
    "198.51.100.9",
    "198.51.100.0/30",
    "evil1.test",
    "c2.evil1.test",
    "evil2.test",
)
SEARCHES = (*VALUES, "198.51.100.3", "www.c2.evil1.test", "203.0.113.7", *WORDS)
PAIRS = [(tlp, dist) for tlp in Tlp for dist in sorted(ALLOWED[tlp])]
RECEIVED_BY_ALL = {Distribution.COMMUNITY, Distribution.CONNECTED, Distribution.PUBLIC}
CREATED = "2026-01-10T08:00:00.000Z"
MODIFIED = ("2026-01-10T08:00:00.000Z", "2026-02-01T08:00:00.000Z")
PHANTOM = -1  # a report may point at an object nobody holds
NAMESPACE = uuid.UUID("6f1c2a44-5b0e-4d7e-9a53-0c8a1d2e3f40")
NOWHERE = f"report--{uuid.uuid5(NAMESPACE, 'nowhere')}"
NOWHERE_UUID = uuid.uuid5(NAMESPACE, "no such group or import")
LINK = re.compile(r'href="/intel/objects/([a-z-]+--[0-9a-f-]{36})"')
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')

Json = dict[str, Any]


# The world, as Hypothesis draws it


@dataclass(frozen=True)
class Group:
    """A sharing group: its owner and member organisations (indices)."""

    owner: int
    members: frozenset[int]

    def includes(self, org: int) -> bool:
        """Whether the organisation owns or belongs to the group."""
        return org == self.owner or org in self.members


@dataclass(frozen=True)
class Mark:
    """A row's marking: TLP, distribution and, for a group, which one."""

    tlp: Tlp
    distribution: Distribution
    group: int | None


@dataclass(frozen=True)
class Row:
    """One version of one object as one organisation holds it."""

    obj: int
    holder: int
    version: int  # an index into MODIFIED
    mark: Mark
    name: str
    value: str | None  # what an indicator's pattern compares
    refs: tuple[int, ...]  # what a report points to: objects, or PHANTOM


@dataclass(frozen=True)
class World:
    """Organisations (one user each, by role), groups, objects, and who reads it all."""

    roles: tuple[Role, ...]
    groups: tuple[Group, ...]
    kinds: tuple[str, ...]
    rows: tuple[Row, ...]
    reader: int
    queries: tuple[str, ...]

    def stix_id(self, obj: int) -> str:
        """The STIX id of an object (or of the one nobody holds)."""
        kind = "indicator" if obj == PHANTOM else self.kinds[obj]
        return f"{kind}--{uuid.uuid5(NAMESPACE, str(obj))}"

    def current(self, row: Row) -> Row:
        """The holder's latest version of the row's object."""
        return max(
            (r for r in self.rows if (r.obj, r.holder) == (row.obj, row.holder)),
            key=lambda r: r.version,
        )


@st.composite
def marks(draw: st.DrawFn, holder: int, groups: tuple[Group, ...]) -> Mark:
    """A valid marking; a group only among those the holder owns or belongs to."""
    usable = [i for i, g in enumerate(groups) if g.includes(holder)]
    pairs = [p for p in PAIRS if usable or p[1] != Distribution.SHARING_GROUP]
    tlp, dist = draw(st.sampled_from(pairs))
    group = draw(st.sampled_from(usable)) if dist == Distribution.SHARING_GROUP else None
    return Mark(tlp, dist, group)


@st.composite
def rows_of(
    draw: st.DrawFn, obj: int, kinds: tuple[str, ...], n_orgs: int, groups: tuple[Group, ...]
) -> list[Row]:
    """An object's rows: one or two holders, each with one or two versions."""
    kind = kinds[obj]
    targets = [o for o in range(len(kinds)) if o != obj] + [PHANTOM]
    holders = draw(st.lists(st.integers(0, n_orgs - 1), min_size=1, max_size=2, unique=True))
    return [
        Row(
            obj=obj,
            holder=holder,
            version=version,
            mark=draw(marks(holder, groups)),
            name=f"{draw(st.sampled_from(WORDS))} {kind}",
            value=draw(st.sampled_from(VALUES)) if kind == "indicator" else None,
            refs=tuple(
                draw(st.lists(st.sampled_from(targets), min_size=1, max_size=4, unique=True))
            )
            if kind == "report"
            else (),
        )
        for holder in holders
        for version in range(draw(st.integers(1, len(MODIFIED))))
    ]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """A small world of organisations, groups and objects under random markings."""
    n_orgs = draw(st.integers(2, 4))
    roles = tuple(draw(st.lists(st.sampled_from(Role), min_size=n_orgs, max_size=n_orgs)))
    groups: list[Group] = []
    for _ in range(draw(st.integers(0, len(GROUP_NAMES)))):
        owner = draw(st.integers(0, n_orgs - 1))
        others = [o for o in range(n_orgs) if o != owner]
        groups.append(Group(owner, draw(st.frozensets(st.sampled_from(others)))))
    n_objects = draw(st.integers(1, 6))
    kinds = tuple(draw(st.lists(st.sampled_from(KINDS), min_size=n_objects, max_size=n_objects)))
    rows = [
        row for obj in range(n_objects) for row in draw(rows_of(obj, kinds, n_orgs, tuple(groups)))
    ]
    return World(
        roles=roles,
        groups=tuple(groups),
        kinds=kinds,
        rows=tuple(rows),
        reader=draw(st.integers(0, n_orgs - 1)),
        queries=tuple(
            draw(st.lists(st.sampled_from(SEARCHES), min_size=2, max_size=3, unique=True))
        ),
    )


# The oracle


def receives(world: World, row: Row, org: int) -> bool:
    """The trust model, read from the world's definition: whom a row's marking reaches."""
    mark = row.mark
    if row.holder == org or mark.distribution in RECEIVED_BY_ALL:
        return True
    return (
        mark.distribution == Distribution.SHARING_GROUP
        and mark.group is not None
        and world.groups[mark.group].includes(org)
    )


@dataclass
class Expected:
    """What one organisation may see of a world."""

    world: World
    latest: dict[tuple[int, int], Row]  # (object, holder): the holder's latest version
    rows: list[Row]  # every version it may see
    objects: set[int]
    groups: set[int]

    def refs(self, row: Row) -> list[str] | None:
        """A report's object_refs as the reader gets them (None: the list is dropped)."""
        kept = [self.world.stix_id(r) for r in row.refs if r in self.objects]
        return kept or None

    def reach(self, objects: set[int]) -> set[int]:
        """Some objects and the visible objects their visible versions point to, two deep."""
        found = set(objects)
        for _ in range(2):
            found |= {r for row in self.rows if row.obj in found for r in row.refs}
        return found & self.objects

    def holders(self, objects: set[int]) -> set[str]:
        """The names of the organisations whose copies of some objects the reader sees."""
        return {ORG_NAMES[h] for o, h in self.latest if o in objects}

    @property
    def hidden_uuids(self) -> list[str]:
        """The UUIDs of the objects of which the reader sees no version, and of the one
        nobody holds: none may appear in anything the reader gets."""
        hidden = [o for o in range(len(self.world.kinds)) if o not in self.objects]
        return [self.world.stix_id(o).partition("--")[2] for o in [*hidden, PHANTOM]]

    def hits(self, query: str) -> list[tuple[int, int]]:
        """What a search shows: copies carrying the value, or named so for the words."""
        if query in WORDS:
            return [k for k, row in self.latest.items() if query.lower() in row.name.lower()]
        return [k for k, row in self.latest.items() if row.value and found_by(query, row.value)]


def expect(world: World, org: int) -> Expected:
    """The oracle: a version is seen when its marking and its holder's latest one reach org."""
    rows = [
        r for r in world.rows if receives(world, r, org) and receives(world, world.current(r), org)
    ]
    latest = {(r.obj, r.holder): r for r in rows if r == world.current(r)}
    return Expected(
        world=world,
        latest=latest,
        rows=rows,
        objects={obj for obj, _ in latest},
        groups={i for i, g in enumerate(world.groups) if g.includes(org)},
    )


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        return None


def found_by(query: str, value: str) -> bool:
    """Whether searching `query` finds an object carrying `value`: equal, an address inside a
    network, or a domain under a parent domain."""
    if query == value:
        return True
    asked, held = _network(query), _network(value)
    if asked is not None and held is not None:
        return asked.num_addresses == 1 and held.supernet_of(asked)  # type: ignore[arg-type]  # both IPv4
    return asked is None and held is None and query.endswith("." + value)


# Building the world in the database


@dataclass
class Built:
    """The world as inserted: its organisations, users, groups and imports."""

    orgs: list[Organisation]
    users: list[User]
    groups: list[uuid.UUID]
    imports: list[tuple[uuid.UUID, int]]  # (import id, owner)
    keys: list[dict[str, str]]
    cookies: list[str]


def stix_of(world: World, row: Row) -> Json:
    """The STIX 2.1 object of one row."""
    kind = world.kinds[row.obj]
    obj: Json = {
        "type": kind,
        "spec_version": "2.1",
        "id": world.stix_id(row.obj),
        "created": CREATED,
        "modified": MODIFIED[row.version],
        "name": row.name,
    }
    if row.value is not None:
        sco = "domain-name" if row.value[-1].isalpha() else "ipv4-addr"
        pattern = f"[{sco}:value = '{row.value}']"
        obj |= {"pattern": pattern, "pattern_type": "stix", "valid_from": CREATED}
    if kind == "report":
        obj |= {"published": CREATED, "object_refs": [world.stix_id(r) for r in row.refs]}
    return obj


def sign_in(db: Session, user: User) -> str:
    """A live web session of the user, opened directly: logging in costs an argon2 check."""
    token = new_token(32)
    now = utcnow()
    db.add(
        WebSession(
            id=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
        )
    )
    db.flush()
    return token


def build(db: Session, world: World) -> Built:
    """Insert the world: groups directly, objects through the real STIX import, one bundle per
    holder and marking (so a later version may come before or after the earlier one)."""
    orgs = [make_org(db, name=name) for name in ORG_NAMES[: len(world.roles)]]
    users = [make_user(db, org, role=role) for org, role in zip(orgs, world.roles, strict=True)]
    uploaders = [make_user(db, org, role=Role.ANALYST) for org in orgs]
    groups = []
    for group, name in zip(world.groups, GROUP_NAMES, strict=False):
        members = [SharingGroupMember(organisation_id=orgs[m].id) for m in sorted(group.members)]
        stored = SharingGroup(
            id=uuid.uuid4(), name=name, owner_org_id=orgs[group.owner].id, members=members
        )
        db.add(stored)
        groups.append(stored.id)
    db.flush()
    batches: dict[tuple[int, Mark], list[Row]] = {}
    for row in world.rows:
        batches.setdefault((row.holder, row.mark), []).append(row)
    imports = []
    for (holder, mark), rows in batches.items():
        marking = Marking(
            tlp=mark.tlp,
            distribution=mark.distribution,
            sharing_group_id=groups[mark.group] if mark.group is not None else None,
        )
        objects = [stix_of(world, r) for r in rows]
        document = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        batch = import_stix(
            db,
            actor=Actor(via=Via.SESSION, user=uploaders[holder]),
            data=json.dumps(document).encode(),
            marking=marking,
        )
        imports.append((batch.id, holder))
    keys = [{"Authorization": f"Bearer {api_key_for(db, user)}"} for user in users]
    return Built(orgs, users, groups, imports, keys, [sign_in(db, user) for user in users])


# Reading as a user


def read_paths(client: TestClient) -> tuple[list[str], list[str]]:
    """The API's GET routes of one object (as suffixes of /intel/objects/{stix_id}) and of
    search (suffixes of /intel/search), from its OpenAPI schema."""
    paths = [p for p, ops in client.app.openapi()["paths"].items() if "get" in ops]  # type: ignore[attr-defined]  # the app is FastAPI
    one = "/api/v1/intel/objects/{stix_id}"
    search = "/api/v1/intel/search"
    objects = [p.removeprefix(one) for p in paths if p.startswith(one)]
    searches = [p.removeprefix(search) for p in paths if p.startswith(search)]
    assert {"", "/versions", "/bundle"} <= set(objects)
    assert "" in searches
    return objects, searches


@dataclass
class Reader:
    """One user of a world, and what the oracle says they may see."""

    client: TestClient
    built: Built
    org: int
    expected: Expected

    @property
    def world(self) -> World:
        """The world read."""
        return self.expected.world

    def api(self, path: str, **params: Any) -> httpx.Response:
        """GET an API path with the user's key."""
        headers = self.built.keys[self.org]
        response: httpx.Response = self.client.get(f"/api/v1{path}", params=params, headers=headers)
        return response

    def page(self, path: str, **params: Any) -> httpx.Response:
        """GET a page with the user's web session."""
        self.client.cookies.set(SESSION_COOKIE, self.built.cookies[self.org])
        response: httpx.Response = self.client.get(path, params=params)
        return response

    def pairs(self, keys: list[tuple[int, int]]) -> Counter[tuple[str, str]]:
        """(stix id, holder name) of some (object, holder) pairs."""
        return Counter((self.world.stix_id(o), ORG_NAMES[h]) for o, h in keys)

    def ids(self, keys: list[tuple[int, int]]) -> Counter[str]:
        """The stix id of each (object, holder) pair, once per pair."""
        return Counter(self.world.stix_id(o) for o, _ in keys)

    def check_export(self, response: httpx.Response, objects: set[int]) -> None:
        """Whatever a read of some visible objects answers, in any format, names no hidden
        object and no organisation whose copy of these objects the reader may not see."""
        assert response.status_code == 200, response.text
        text = response.text
        assert not [u for u in self.expected.hidden_uuids if u in text]
        involved = self.expected.reach(objects)
        named = {name for name in ORG_NAMES if name in text}
        assert named <= self.expected.holders(involved)


def listed(response: httpx.Response) -> tuple[Counter[tuple[str, str]], int]:
    """(stix id, holder name) of an API page's items, and its total."""
    assert response.status_code == 200, response.text
    body = response.json()
    return Counter((i["stix_id"], i["owner_name"]) for i in body["items"]), body["total"]


def shown(response: httpx.Response) -> tuple[Counter[str], int]:
    """The objects a page lists (by link) and the count it states."""
    assert response.status_code == 200, response.text
    total = re.search(r"(\d+) in all", response.text)
    assert total, "no count on the page"
    return Counter(LINK.findall(response.text)), int(total.group(1))


def looks_missing(response: httpx.Response, asked: str, nowhere: httpx.Response) -> bool:
    """Whether an answer is the 404 given for an id that exists nowhere, to the letter."""

    def plain(r: httpx.Response, text: str) -> str:
        return CSRF_VALUE.sub("", html.unescape(r.text)).replace(text, "ID")

    return (response.status_code, plain(response, asked)) == (404, plain(nowhere, NOWHERE))


def check_lists(reader: Reader) -> None:
    """Lists (API and pages): exactly the visible latest versions, and their count."""
    everything = list(reader.expected.latest)
    for kinds in ((), ("report",), ("indicator",)):
        keys = [k for k in everything if not kinds or reader.world.kinds[k[0]] in kinds]
        assert listed(reader.api("/intel/objects", type=list(kinds))) == (
            reader.pairs(keys),
            len(keys),
        )
        if kinds != ("indicator",):
            links = shown(reader.page("/intel/objects", type=list(kinds)))
            assert links == (reader.ids(keys), len(keys))
    word = WORDS[0].lower()
    named = [k for k in everything if word in reader.expected.latest[k].name.lower()]
    assert listed(reader.api("/intel/objects", q=word)) == (reader.pairs(named), len(named))


def check_search(reader: Reader, suffixes: list[str]) -> None:
    """Searches by value and by name, in every format: only what the reader may see."""
    for query in reader.world.queries:
        keys = reader.expected.hits(query)
        assert listed(reader.api("/intel/search", q=query)) == (reader.pairs(keys), len(keys))
        page = reader.page("/intel/search", q=query)
        assert shown(page) == (reader.ids(keys), len(keys)), query
        found = {o for o, _ in keys}
        for suffix in suffixes:
            answer = reader.api(f"/intel/search{suffix}", q=query)
            reader.check_export(answer, found)
            if "X-Total-Count" in answer.headers:
                assert int(answer.headers["X-Total-Count"]) == len(keys)
        for link in re.findall(r'href="(/intel/search/[a-z]+\?[^"]*)"', page.text):
            reader.check_export(reader.client.get(html.unescape(link)), found)


def check_bundle(reader: Reader, body: Json, chosen: Row) -> None:
    """A bundle: the object and the visible objects it points to."""
    ids = [o["id"] for o in body["objects"] if o["type"] != "marking-definition"]
    wanted = [reader.world.stix_id(chosen.obj), *(reader.expected.refs(chosen) or [])]
    assert sorted(ids) == sorted(wanted)


def check_hidden_object(
    reader: Reader, obj: int, suffixes: list[str], missing: dict[str, httpx.Response]
) -> None:
    """Every read of an object the reader may not see is the 404 of an id that is nowhere."""
    stix_id = reader.world.stix_id(obj)
    for suffix in suffixes:
        answer = reader.api(f"/intel/objects/{stix_id}{suffix}")
        assert looks_missing(answer, stix_id, missing["api" + suffix]), (suffix, answer.text)
        if "page" + suffix not in missing:
            continue  # the API has this read; the pages do not
        answer = reader.page(f"/intel/objects/{stix_id}{suffix}")
        assert looks_missing(answer, stix_id, missing["page" + suffix]), (suffix, answer.text)


def check_object(reader: Reader, obj: int, suffixes: list[str]) -> None:
    """One visible object: its detail, versions, bundle, page and every download."""
    expected = reader.expected
    stix_id = reader.world.stix_id(obj)
    answers = {suffix: reader.api(f"/intel/objects/{stix_id}{suffix}") for suffix in suffixes}
    for suffix, answer in answers.items():
        # Correlations name other visible objects (and their holders) by design.
        reader.check_export(answer, expected.objects if suffix == "/correlations" else {obj})
    body = answers[""].json()
    holder = ORG_NAMES.index(body["owner_name"])
    holders = {h for o, h in expected.latest if o == obj}
    assert holder in holders
    if reader.org in holders:
        assert holder == reader.org  # the reader's own copy comes first
    chosen = expected.latest[(obj, holder)]
    assert (body["tlp"], body["stix"]["name"]) == (chosen.mark.tlp, chosen.name)
    assert body["stix"]["modified"] == MODIFIED[chosen.version]
    assert body["stix"].get("object_refs") == expected.refs(chosen)

    versions = answers["/versions"].json()
    got = {(v["owner_name"], v["stix"]["modified"]): v["stix"] for v in versions}
    seen = {(ORG_NAMES[r.holder], MODIFIED[r.version]): r for r in expected.rows if r.obj == obj}
    assert len(versions) == len(seen)
    assert {k: v.get("object_refs") for k, v in got.items()} == {
        k: expected.refs(r) for k, r in seen.items()
    }
    check_bundle(reader, answers["/bundle"].json(), chosen)

    page = reader.page(f"/intel/objects/{stix_id}")
    reader.check_export(page, expected.objects)  # correlations name other visible objects
    contents = re.search(r"<h2>Contents</h2>(.*?)</table>", page.text, re.S)
    linked = Counter(LINK.findall(contents.group(1))) if contents else Counter()
    assert linked == Counter(expected.refs(chosen) or [])
    correlated = re.search(r'<table id="correlations">(.*?)</table>', page.text, re.S)
    visible_ids = {reader.world.stix_id(o) for o in expected.objects}
    assert set(LINK.findall(correlated.group(1)) if correlated else []) <= visible_ids
    others = re.search(r"<h2>Also held by</h2>\s*<ul>(.*?)</ul>", page.text, re.S)
    named = {n for n in ORG_NAMES if others and n in others.group(1)}
    assert named == {ORG_NAMES[h] for h in holders - {holder}}
    table = re.search(r"<h2>Versions</h2>.*?<tbody>(.*?)</tbody>", page.text, re.S)
    assert (table.group(1).count("<tr>") if table else 1) == len(seen)
    downloads = re.findall(rf'href="/intel/objects/{stix_id}(/[a-z]+)"', page.text)
    assert "/bundle" in downloads
    for suffix in downloads:
        download = reader.page(f"/intel/objects/{stix_id}{suffix}")
        reader.check_export(download, {obj})
        if suffix == "/bundle":
            check_bundle(reader, download.json(), chosen)


def check_imports_and_groups(reader: Reader) -> None:
    """Imports: only the reader's organisation's. Groups: only those it owns or belongs to."""
    built, world = reader.built, reader.world
    nowhere_import = reader.api(f"/intel/imports/{NOWHERE_UUID}")
    nowhere_import_page = reader.page(f"/intel/imports/{NOWHERE_UUID}")
    for import_id, owner in built.imports:
        answer = reader.api(f"/intel/imports/{import_id}")
        if owner == reader.org:
            assert answer.status_code == 200, answer.text
        else:
            assert looks_missing(answer, str(import_id), nowhere_import)
            page = reader.page(f"/intel/imports/{import_id}")
            assert looks_missing(page, str(import_id), nowhere_import_page)

    answer = reader.api("/sharing-groups")
    assert answer.status_code == 200
    visible = {str(built.groups[i]) for i in reader.expected.groups}
    assert {g["id"] for g in answer.json()} == visible
    nowhere_group = reader.api(f"/sharing-groups/{NOWHERE_UUID}")
    nowhere_group_page = reader.page(f"/intel/sharing-groups/{NOWHERE_UUID}")
    groups_page = reader.page("/intel/sharing-groups")
    assert groups_page.status_code == 200
    for index, (group, group_id) in enumerate(zip(world.groups, built.groups, strict=True)):
        answer = reader.api(f"/sharing-groups/{group_id}")
        page = reader.page(f"/intel/sharing-groups/{group_id}")
        if index in reader.expected.groups:
            assert answer.status_code == page.status_code == 200, answer.text
            members = {str(built.orgs[m].id) for m in group.members}
            assert set(answer.json()["member_ids"]) == members
            assert GROUP_NAMES[index] in groups_page.text
        else:
            assert looks_missing(answer, str(group_id), nowhere_group)
            assert looks_missing(page, str(group_id), nowhere_group_page)
            assert GROUP_NAMES[index] not in groups_page.text


def check_taxii(reader: Reader) -> None:
    """TAXII: the collection of everything the reader receives, and its manifest, hold each
    visible object once (and each visible version once); a hidden object is the 404 of one
    that is nowhere; a sharing group's collection is offered exactly to its organisations."""
    headers = {**reader.built.keys[reader.org], "Accept": TAXII_21}
    base = f"/taxii2/api/collections/{EVERYTHING}/"

    def get(path: str, **params: str) -> httpx.Response:
        response: httpx.Response = reader.client.get(base + path, params=params, headers=headers)
        return response

    expected, world = reader.expected, reader.world
    visible = Counter(world.stix_id(o) for o in expected.objects)
    for path in ("objects/", "manifest/"):
        answer = get(path)
        reader.check_export(answer, expected.objects)
        assert Counter(o["id"] for o in answer.json().get("objects", [])) == visible
    every = get("objects/", **{"match[version]": "all"})
    reader.check_export(every, expected.objects)
    versions = {(world.stix_id(r.obj), MODIFIED[r.version]) for r in expected.rows}
    got = Counter((o["id"], o["modified"]) for o in every.json().get("objects", []))
    assert got == Counter(versions)

    nowhere = {suffix: get(f"objects/{NOWHERE}/{suffix}") for suffix in ("", "versions/")}
    for obj in [*range(len(world.kinds)), PHANTOM]:
        if obj in expected.objects:
            continue
        for suffix, missing in nowhere.items():
            answer = get(f"objects/{world.stix_id(obj)}/{suffix}")
            assert (answer.status_code, answer.json()) == (404, missing.json())

    offered = reader.client.get("/taxii2/api/collections/", headers=headers).json()
    ids = {c["id"] for c in offered["collections"]}
    groups = {str(g) for g in reader.built.groups}
    assert ids & groups == {str(reader.built.groups[i]) for i in expected.groups}


def read_everything(reader: Reader) -> None:
    """Every read path, as one user."""
    objects, searches = read_paths(reader.client)
    missing = {
        label + suffix: get(f"/intel/objects/{NOWHERE}{suffix}")
        for suffix in objects
        for label, get in (("api", reader.api), ("page", reader.page))
    }
    # Reads the API has and the pages have not (a page can only POST there) are API-only.
    missing = {key: answer for key, answer in missing.items() if answer.status_code != 405}
    check_lists(reader)
    check_search(reader, searches)
    for obj in [*range(len(reader.world.kinds)), PHANTOM]:
        if obj in reader.expected.objects:
            check_object(reader, obj, objects)
        else:
            check_hidden_object(reader, obj, objects, missing)
    check_imports_and_groups(reader)
    check_taxii(reader)


@pytest.fixture
def browser(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """One client of the app for the whole test; each example signs its users in anew."""
    app = app_on(connection, settings)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


# The fixtures are made once per test, not once per example. That is safe: each example
# works inside a savepoint of the test's transaction and rolls it back at its end, so no
# example sees another's rows. Each example makes about a hundred requests, some 25 seconds
# in all on a 2-core machine: the examples are as many as that budget allows.
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(world=worlds())
def test_no_read_path_reveals_what_the_reader_may_not_see(
    db: Session, browser: TestClient, world: World
) -> None:
    example = db.begin_nested()
    try:
        built = build(db, world)
        for org in range(len(world.roles)):
            reader = Reader(browser, built, org, expect(world, org))
            keys = list(reader.expected.latest)
            assert listed(reader.api("/intel/objects")) == (reader.pairs(keys), len(keys))
        read_everything(Reader(browser, built, world.reader, expect(world, world.reader)))
    finally:
        example.rollback()
