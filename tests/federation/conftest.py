"""Real Balai instances on loopback, each with its own database, server and people."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.config import Settings, load_settings
from balai.db import transaction
from balai.directory.models import Organisation, OrgKind
from balai.federation import service
from balai.federation.models import Peer
from balai.federation.schemas import PeerIn
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup, SharingGroupMember, StixObject
from balai.taxii.collections import COMMUNITY, CONNECTED
from tests.conftest import SECRET, Databases
from tests.factories import actor_for, api_key_for, make_org, make_user
from tests.functional.conftest import Instance, close_instance, new_instance
from tests.intel.conftest import client, intel  # noqa: F401  # the page tests' fixtures
from tests.intel.helpers import bundle, import_as, indicator


@dataclass
class Node:
    """One Balai instance: its processes, its own CERT and analyst, and its settings."""

    name: str
    live: Instance
    cert: Organisation
    analyst: User
    admin: User
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def api_root(self) -> str:
        return f"{self.live.url}/taxii2/api/"

    @property
    def settings(self) -> Settings:
        return load_settings(
            database_url=self.live.database_url, secret_key=SECRET, base_url=self.live.url
        )

    def session(self) -> Session:
        return self.live.factory()

    def share(
        self,
        text: str,
        *,
        tlp: Tlp = Tlp.GREEN,
        distribution: Distribution = Distribution.CONNECTED,
        group: uuid.UUID | None = None,
    ) -> str:
        """Share one indicator as this instance's CERT; answers its id."""
        made = indicator(f"[domain-name:value = '{text}']", name=text)
        with transaction(self.live.factory) as db:
            analyst = db.get(User, self.analyst.id)
            assert analyst is not None
            data = json.dumps(bundle(made)).encode()
            import_as(db, analyst, data, tlp=tlp, distribution=distribution, group=group)
        return str(made["id"])

    def held(self, org: Organisation) -> dict[str, tuple[Distribution, Tlp]]:
        """The latest objects an organisation holds here: id -> (distribution, TLP)."""
        with self.session() as db:
            rows = db.execute(
                select(StixObject.stix_id, StixObject.distribution, StixObject.tlp).where(
                    StixObject.owner_org_id == org.id, StixObject.is_latest.is_(True)
                )
            )
            return {stix_id: (dist, tlp) for stix_id, dist, tlp in rows}

    def versions(self, stix_id: str) -> int:
        with self.session() as db:
            return len(list(db.scalars(select(StixObject.pk).where(StixObject.stix_id == stix_id))))


def start_node(databases: Databases, name: str, country: str) -> Node:
    live = new_instance(databases, f"fed_{name.lower()}")
    with transaction(live.factory) as db:
        cert = make_org(db, name=f"{name} CERT", country=country)
        analyst = make_user(db, cert, email=f"analyst@{name.lower()}.example")
        admin = make_user(db, cert, role=Role.PLATFORM_ADMIN, email=f"admin@{name.lower()}.example")
    live.serve()
    return Node(name=name, live=live, cert=cert, analyst=analyst, admin=admin)


def stop_node(node: Node) -> None:
    close_instance(node.live)


def account_at(node: Node, stands_for: str, country: str) -> tuple[Organisation, str, str]:
    """An organisation at `node` standing for another instance, with an analyst and a key:
    the credential the other instance uses here."""
    with transaction(node.live.factory) as db:
        org = make_org(db, name=stands_for, country=country, kind=OrgKind.NATIONAL_CERT)
        user = make_user(db, org, email=f"federation@{uuid.uuid4().hex[:8]}.example")
        key = api_key_for(db, user)
        return org, user.email, key


def peer_org(node: Node, name: str) -> Organisation:
    """The organisation standing for a peer at `node`."""
    with transaction(node.live.factory) as db:
        return make_org(db, name=name, country="SG", kind=OrgKind.INTERNATIONAL)


def group_at(node: Node, name: str, *orgs: Organisation) -> uuid.UUID:
    with transaction(node.live.factory) as db:
        group = SharingGroup(id=uuid.uuid4(), name=name, owner_org_id=orgs[0].id)
        group.members = [SharingGroupMember(organisation_id=o.id) for o in orgs[1:]]
        db.add(group)
        return group.id


def add_peer(node: Node, **fields: object) -> Peer:
    data = PeerIn.model_validate(fields)
    with transaction(node.live.factory) as db:
        admin = db.get(User, node.admin.id)
        assert admin is not None
        return service.add_peer(db, actor=actor_for(admin), settings=node.settings, data=data)


def run(node: Node, peer_name: str, direction: str) -> tuple[int, str | None]:
    """Pull or push in-process, as `balai federation` does: objects moved and the error."""
    with node.session() as db:
        peer = db.scalar(select(Peer).where(Peer.name == peer_name))
        assert peer is not None
        act = service.pull if direction == "pull" else service.push
        done = act(db, peer=peer, settings=node.settings, checkpoint=db.commit)
        return done.objects, done.error


@pytest.fixture(scope="module")
def nodes(databases: Databases) -> Iterator[dict[str, Node]]:
    """Three instances: Thailand's, the regional hub and Malaysia's."""
    started: dict[str, Node] = {}
    try:
        for name, country in (("Thai", "TH"), ("Hub", "SG"), ("Malay", "MY")):
            started[name] = start_node(databases, name, country)
        yield started
    finally:
        for node in started.values():
            stop_node(node)


__all__ = ["COMMUNITY", "CONNECTED", "Node", "account_at", "add_peer", "group_at", "run"]
