"""Search by value: an address inside a shared network, a name under a shared domain."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.intel.markings import Tlp
from tests.intel.helpers import Intel, body, import_as, indicator
from tests.shared_data import shared

# Indicators of the APT1 report (OASIS example) and what they carry.
NETWORK_223 = "indicator--031778a4-057f-48e6-9db9-c8d72b81ccd5"  # 223.166.0.0/15
NETWORK_58 = "indicator--da1d061b-2bc9-467a-b16f-8d14f468e1f0"  # 58.246.0.0/15
HUGESOFT = "indicator--3f3ff9f1-bb4e-4392-89e5-1991179042ba"  # hugesoft.org
MSNHOME = "indicator--1002c58e-cbde-4930-b5ee-490037fd4f7e"  # msnhome.org
MD5_001DD = "indicator--8d12f44f-8ac0-4b12-8b4a-3699ca8c9691"


@pytest.fixture
def apt1(db: Session, intel: Intel) -> None:
    """APT1 shared with the community by the home organisation."""
    import_as(db, intel.analyst, shared("stix/apt1.json").read_bytes(), tlp=Tlp.AMBER)


def _found(client: TestClient, intel: Intel, q: str) -> list[str]:
    answer = client.get(
        "/api/v1/intel/search", params={"q": q}, headers=intel.key(intel.away_analyst)
    )
    assert answer.status_code == 200, answer.text
    return [o["stix_id"] for o in answer.json()["items"]]


@pytest.mark.usefixtures("apt1")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # An address finds the shared networks it falls in.
        ("223.167.10.20", [NETWORK_223]),
        ("223.166.0.0", [NETWORK_223]),
        ("223.167.255.255", [NETWORK_223]),
        ("223.167.10[.]20", [NETWORK_223]),
        ("58.247.1.1", [NETWORK_58]),
        ("223.168.0.1", []),
        ("223.165.255.255", []),
        # A network is found as itself.
        ("58.246.0.0/15", [NETWORK_58]),
        ("58.246.0.0/16", []),
        # A name finds the shared domains it falls under, and only those.
        ("hugesoft.org", [HUGESOFT]),
        ("HugeSoft.ORG.", [HUGESOFT]),
        ("www.hugesoft.org", [HUGESOFT]),
        ("a.b.c.hugesoft[.]org", [HUGESOFT]),
        ("mail.msnhome.org", [MSNHOME]),
        ("hugesoft.org.evil.example", []),
        ("nothugesoft.org", []),
        # Hashes in any case.
        ("001DD76872D80801692FF942308C64E6", [MD5_001DD]),
    ],
)
def test_search_by_value(client: TestClient, intel: Intel, q: str, expected: list[str]) -> None:
    assert _found(client, intel, q) == expected


@pytest.mark.usefixtures("apt1")
def test_text_that_is_no_value_searches_names(client: TestClient, intel: Intel) -> None:
    assert _found(client, intel, "ugly GORILLA") == [
        "threat-actor--6d179234-61fc-40c4-ae86-3d53308d8e65"
    ]
    assert len(_found(client, intel, "HTRAN Hop Point")) == 4
    assert _found(client, intel, "no such name anywhere") == []
    # LIKE wildcards are literal characters, not patterns.
    assert _found(client, intel, "%") == []
    assert _found(client, intel, "_") == []


def test_ipv6_networks_and_addresses(client: TestClient, db: Session, intel: Intel) -> None:
    network = indicator("[ipv6-addr:value ISSUBSET '2001:db8::/32']")
    address = indicator("[ipv6-addr:value = '2001:DB8:0:0:0:0:0:5']")
    v4 = indicator("[ipv4-addr:value = '0.0.0.5']")
    import_as(db, intel.analyst, body(network, address, v4))
    assert _found(client, intel, "2001:db8:1::7") == [network["id"]]
    assert sorted(_found(client, intel, "2001:db8::5")) == sorted([network["id"], address["id"]])
    assert _found(client, intel, "2001:db9::1") == []
    assert _found(client, intel, "0.0.0.5") == [v4["id"]]


def test_search_pages_with_a_total(client: TestClient, db: Session, intel: Intel) -> None:
    many = [indicator(f"[ipv4-addr:value = '198.51.100.{n}']") for n in range(5)]
    network = indicator("[ipv4-addr:value = '198.51.100.0/24']")
    import_as(db, intel.analyst, body(*many, network))
    answer = client.get(
        "/api/v1/intel/search",
        params={"q": "198.51.100.3", "per_page": 1},
        headers=intel.key(intel.reader),
    ).json()
    assert answer["total"] == 2
    assert answer["pages"] == 2
    assert answer["next"] is not None
    second = client.get(answer["next"], headers=intel.key(intel.reader)).json()
    assert {answer["items"][0]["stix_id"], second["items"][0]["stix_id"]} == {
        many[3]["id"],
        network["id"],
    }
