"""The prefix lengths in use, which turn "networks containing an address" into look-ups."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.intel import networks
from balai.intel.models import NetworkLength
from balai.intel.observables import Value, classify
from tests.intel.helpers import Intel, body, import_as, indicator


def _value(text: str) -> Value:
    value = classify(text)
    assert value is not None
    return value


def test_imports_record_each_length_once_per_ip_version(db: Session, intel: Intel) -> None:
    import_as(
        db,
        intel.analyst,
        body(
            indicator("[ipv4-addr:value ISSUBSET '10.0.0.0/8']"),
            indicator("[ipv4-addr:value ISSUBSET '10.20.0.0/16']"),
            indicator("[ipv6-addr:value ISSUBSET '2001:db8::/32']"),
            indicator("[ipv4-addr:value = '10.20.30.40']"),
        ),
    )
    import_as(db, intel.away_analyst, body(indicator("[ipv4-addr:value ISSUBSET '10.9.0.0/16']")))
    assert networks.lengths(db) == {4: {8, 16}, 6: {32}}
    assert db.scalar(select(func.count()).select_from(NetworkLength)) == 3


def test_containing_gives_the_supernets_at_the_lengths_in_use_shortest_first() -> None:
    known = {4: {8, 16, 24, 32}, 6: {32, 48}}
    assert networks.containing(_value("10.20.30.40"), known) == [
        "10.0.0.0/8",
        "10.20.0.0/16",
        "10.20.30.0/24",
    ]
    assert networks.containing(_value("10.20.0.0/16"), known) == ["10.0.0.0/8"]
    assert networks.containing(_value("2001:db8:1:2::9"), known) == [
        "2001:db8::/32",
        "2001:db8:1::/48",
    ]
    assert networks.containing(_value("example.org"), known) == []


def test_search_finds_every_nested_network_an_address_falls_in(
    client: TestClient, db: Session, intel: Intel
) -> None:
    wide = indicator("[ipv4-addr:value ISSUBSET '10.0.0.0/8']")
    narrow = indicator("[ipv4-addr:value ISSUBSET '10.20.30.0/24']")
    beside = indicator("[ipv4-addr:value ISSUBSET '10.21.0.0/16']")
    import_as(db, intel.analyst, body(wide, beside))
    import_as(db, intel.away_analyst, body(narrow))
    answer = client.get(
        "/api/v1/intel/search", params={"q": "10.20.30.40"}, headers=intel.key(intel.analyst)
    )
    assert answer.status_code == 200, answer.text
    found = sorted(o["stix_id"] for o in answer.json()["items"])
    assert found == sorted([wide["id"], narrow["id"]])
