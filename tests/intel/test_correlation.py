"""Correlation over the value index, and warninglists: exact, inside networks, under parents."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.intel import warninglists
from balai.intel.correlation import correlate
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import StixObject
from balai.intel.observables import classify
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from tests.conftest import session_on
from tests.factories import actor_for, make_org, make_user

NOW = "2026-11-01T00:00:00.000Z"
COMMUNITY = Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY)
ORG_ONLY = Marking(tlp=Tlp.AMBER, distribution=Distribution.ORGANISATION)


def indicator(pattern: str, name: str) -> dict[str, Any]:
    """A minimal STIX 2.1 indicator."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": NOW,
        "modified": NOW,
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": NOW,
    }


def share(db: Session, user: User, marking: Marking, *objects: dict[str, Any]) -> list[StixObject]:
    """Import objects as the user's organisation; return their rows."""
    data = json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)})
    import_stix(db, actor=actor_for(user), data=data.encode(), marking=marking)
    db.flush()
    ids = [o["id"] for o in objects]
    return list(db.query(StixObject).filter(StixObject.stix_id.in_(ids), StixObject.is_latest))


def test_exact_network_and_parent_domain_matches_of_other_organisations(db: Session) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    mine = share(
        db,
        a,
        COMMUNITY,
        indicator("[ipv4-addr:value = '198.51.100.7']", "c2 address"),
        indicator("[domain-name:value = 'login.badcorp-infra.net']", "phishing host"),
        indicator("[file:hashes.'SHA-256' = '" + "ab" * 32 + "']", "dropper"),
    )
    theirs = share(
        db,
        b,
        COMMUNITY,
        indicator("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", "bad network"),
        indicator("[domain-name:value = 'badcorp-infra.net']", "bad domain"),
        indicator("[file:hashes.'SHA-256' = '" + "AB" * 32 + "']", "same dropper"),
        indicator("[ipv4-addr:value = '203.0.113.9']", "unrelated"),
    )
    matches = {m.value.value: m for m in correlate(db, actor=actor_for(a), rows=mine, cap=50)}
    names = {value: sorted(o.name or "" for o in m.objects) for value, m in matches.items()}
    assert names == {
        "198.51.100.7": ["bad network"],
        "login.badcorp-infra.net": ["bad domain"],
        "ab" * 32: ["same dropper"],
    }
    assert all(o.owner_org_id == b.organisation_id for m in matches.values() for o in m.objects)
    assert {o.name for o in theirs} >= {"unrelated"}  # held, but shares nothing with a's


def test_own_objects_and_invisible_objects_never_correlate(db: Session) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    mine = share(db, a, COMMUNITY, indicator("[ipv4-addr:value = '192.0.2.44']", "mine"))
    share(db, a, COMMUNITY, indicator("[ipv4-addr:value = '192.0.2.44']", "mine again"))
    share(db, b, ORG_ONLY, indicator("[ipv4-addr:value = '192.0.2.44']", "b keeps it"))
    (match,) = correlate(db, actor=actor_for(a), rows=mine, cap=50)
    assert match.total == 0
    assert match.objects == []


def test_a_very_common_value_is_counted_not_listed(db: Session) -> None:
    users = [make_user(db, make_org(db, country="TH"), role=Role.ANALYST) for _ in range(4)]
    mine = share(
        db, users[0], COMMUNITY, indicator("[domain-name:value = 'common.example.net']", "x")
    )
    for user in users[1:]:
        share(db, user, COMMUNITY, indicator("[domain-name:value = 'common.example.net']", "y"))
    (match,) = correlate(db, actor=actor_for(users[0]), rows=mine, cap=2)
    assert match.total == 3
    assert match.common
    assert match.objects == []


def test_warninglisted_values_are_flagged_and_do_not_correlate(
    connection: Connection, db: Session
) -> None:
    warninglists.load(
        lambda: session_on(connection),
        lists=[
            {
                "name": "Test resolvers",
                "type": "cidr",
                "version": 1,
                "description": "d",
                "list": ["9.9.9.0/24"],
                "matching_attributes": ["ip-dst"],
            },
            {
                "name": "Test top sites",
                "type": "hostname",
                "version": 1,
                "description": "d",
                "list": [".popular.example"],
                "matching_attributes": ["domain"],
            },
            {
                "name": "Test hashes",
                "type": "string",
                "version": 1,
                "description": "d",
                "list": ["D41D8CD98F00B204E9800998ECF8427E"],
                "matching_attributes": ["md5"],
            },
            {
                "name": "Test disposable",
                "type": "substring",
                "version": 1,
                "description": "d",
                "list": ["throwaway-mail.example"],
                "matching_attributes": ["email-src"],
            },
        ],
    )
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    objects = [
        indicator("[ipv4-addr:value = '9.9.9.9']", "resolver"),
        indicator("[domain-name:value = 'cdn.popular.example']", "popular"),
        indicator("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", "empty file"),
    ]
    mine = share(db, a, COMMUNITY, *objects)
    share(db, b, COMMUNITY, *[dict(o, id=f"indicator--{uuid.uuid4()}") for o in objects])
    matches = correlate(db, actor=actor_for(a), rows=mine, cap=50)
    assert {m.value.value: [h.list_name for h in m.warninglisted] for m in matches} == {
        "9.9.9.9": ["Test resolvers"],
        "cdn.popular.example": ["Test top sites"],
        "d41d8cd98f00b204e9800998ecf8427e": ["Test hashes"],
    }
    assert all(m.total == 0 for m in matches)  # listed values do not correlate
    hits = warninglists.check(
        db, [v for v in (classify("x@throwaway-mail.example"), classify("8.8.8.8")) if v]
    )
    assert [(k[1], [h.list_name for h in v]) for k, v in hits.items()] == [
        ("x@throwaway-mail.example", ["Test disposable"])
    ]


def test_networks_find_addresses_inside_them_and_domains_find_their_subdomains(
    db: Session,
) -> None:
    a = make_user(db, make_org(db, country="TH"), role=Role.ANALYST)
    b = make_user(db, make_org(db, country="MY"), role=Role.ANALYST)
    mine = share(
        db,
        a,
        COMMUNITY,
        indicator("[ipv4-addr:value = '198.51.0.0/16']", "their range"),
        indicator("[domain-name:value = 'badcorp-infra.net']", "their domain"),
        indicator("[ipv6-addr:value ISSUBSET '2001:db8:aa::/48']", "v6 range"),
    )
    share(
        db,
        b,
        COMMUNITY,
        indicator("[ipv4-addr:value = '198.51.7.7']", "inside"),
        indicator("[ipv4-addr:value ISSUBSET '198.51.8.0/24']", "smaller network"),
        indicator("[ipv4-addr:value = '198.52.0.1']", "outside"),
        indicator("[domain-name:value = 'a.b.badcorp-infra.net']", "subdomain"),
        indicator("[domain-name:value = 'notbadcorp-infra.net']", "look-alike"),
        indicator("[ipv6-addr:value = '2001:db8:aa::99']", "v6 inside"),
    )
    matches = {m.value.value: m for m in correlate(db, actor=actor_for(a), rows=mine, cap=50)}
    names = {value: sorted(o.name or "" for o in m.objects) for value, m in matches.items()}
    assert names == {
        "198.51.0.0/16": ["inside", "smaller network"],
        "badcorp-infra.net": ["subdomain"],
        "2001:db8:aa::/48": ["v6 inside"],
    }
