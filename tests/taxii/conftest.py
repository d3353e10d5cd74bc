"""A live Balai server with intelligence to serve, for the OASIS client to talk to."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from balai.accounts.models import Role, User
from balai.db import transaction
from balai.directory.models import Organisation
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup, SharingGroupMember
from balai.taxii.collections import COMMUNITY, EVERYTHING
from tests.conftest import Databases
from tests.factories import PASSWORD, api_key_for, make_org, make_user
from tests.functional.conftest import Instance, close_instance, new_instance
from tests.intel.conftest import client, intel  # noqa: F401  # the page tests' fixtures
from tests.intel.helpers import bundle, import_as, indicator, new_id

BULK = 10_000
MAX_BODY = 200_000


@dataclass
class Taxii:
    """The live server, its people and what they shared."""

    live: Instance
    home_analyst: User
    home_reader: User
    away_analyst: User
    outsider: User
    keys: dict[str, str]
    group: uuid.UUID
    bulk_group: uuid.UUID
    versions_id: str
    group_only: str
    red_id: str
    community_ids: list[str]

    @property
    def discovery(self) -> str:
        return f"{self.live.url}/taxii2/"

    @property
    def api_root(self) -> str:
        return f"{self.live.url}/taxii2/api/"

    def collection_url(self, collection_id: str) -> str:
        return f"{self.api_root}collections/{collection_id}/"

    def basic(self, user: User) -> tuple[str, str]:
        """HTTP Basic credentials: the e-mail address and an API key as the password."""
        return user.email, self.keys[user.email]

    def creds(self, user: User) -> dict[str, str]:
        """The same credentials as keywords for taxii2-client's classes."""
        return {"user": user.email, "password": self.keys[user.email]}

    def password(self, user: User) -> tuple[str, str]:
        return user.email, PASSWORD

    @property
    def community(self) -> str:
        return self.collection_url(COMMUNITY)

    @property
    def everything(self) -> str:
        return self.collection_url(EVERYTHING)


def _group(db: object, name: str, owner: Organisation, *members: Organisation) -> uuid.UUID:
    group = SharingGroup(id=uuid.uuid4(), name=name, owner_org_id=owner.id)
    group.members = [SharingGroupMember(organisation_id=m.id) for m in members]
    db.add(group)  # type: ignore[attr-defined]  # a Session
    db.flush()  # type: ignore[attr-defined]
    return group.id


@pytest.fixture(scope="module")
def taxii(databases: Databases) -> Iterator[Taxii]:
    """One server for the module: seeding ten thousand objects once keeps the suite fast."""
    live = new_instance(databases, "taxii")
    with transaction(live.factory) as db:
        home = make_org(db, name="ThaiCERT", country="TH")
        away = make_org(db, name="MyCERT", country="MY")
        other = make_org(db, name="Outside CERT", country="PH")
        home_analyst = make_user(db, home, email="analyst@thaicert.example")
        home_reader = make_user(db, home, role=Role.READER, email="reader@thaicert.example")
        away_analyst = make_user(db, away, email="analyst@mycert.example")
        outsider = make_user(db, other, email="analyst@outside.example")
        users = [home_analyst, home_reader, away_analyst, outsider]
        keys = {user.email: api_key_for(db, user) for user in users}
        group = _group(db, "Mekong", home, away)
        bulk_group = _group(db, "Bulk", home, away, other)
    with transaction(live.factory) as db:
        # Three versions of one indicator, shared with the community.
        versions_id = new_id("indicator")
        for n, day in enumerate(("01", "02", "03")):
            version = indicator(
                "[domain-name:value = 'versions.example']",
                stix_id=versions_id,
                name=f"Version {n + 1}",
                modified=f"2026-03-{day}T00:00:00.000Z",
            )
            import_as(db, home_analyst, json.dumps(bundle(version)).encode())
        community = [indicator(f"[ipv4-addr:value = '198.51.100.{n}']") for n in range(1, 6)]
        import_as(db, home_analyst, json.dumps(bundle(*community)).encode())
        group_only = indicator("[domain-name:value = 'mekong-only.example']")
        import_as(
            db,
            home_analyst,
            json.dumps(bundle(group_only)).encode(),
            tlp=Tlp.AMBER,
            distribution=Distribution.SHARING_GROUP,
            group=group,
        )
        red = indicator("[domain-name:value = 'red-only.example']")
        import_as(
            db,
            home_analyst,
            json.dumps(bundle(red)).encode(),
            tlp=Tlp.RED,
            distribution=Distribution.ORGANISATION,
        )
        bulk = [indicator(f"[file:hashes.MD5 = '{n:032x}']") for n in range(BULK)]
        import_as(
            db,
            home_analyst,
            json.dumps(bundle(*bulk)).encode(),
            distribution=Distribution.SHARING_GROUP,
            group=bulk_group,
        )
    live.settings["BALAI_TAXII_MAX_CONTENT_LENGTH"] = str(MAX_BODY)
    live.serve()
    yield Taxii(
        live=live,
        home_analyst=home_analyst,
        home_reader=home_reader,
        away_analyst=away_analyst,
        outsider=outsider,
        keys=keys,
        group=group,
        bulk_group=bulk_group,
        versions_id=versions_id,
        group_only=group_only["id"],
        red_id=red["id"],
        community_ids=[o["id"] for o in community],
    )
    close_instance(live)
