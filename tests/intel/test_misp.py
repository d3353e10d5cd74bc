"""MISP events in and out: real events from PyMISP's tests, and one that uses every mapping."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pymisp import MISPEvent
from sqlalchemy import select
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_instance
from typer.testing import CliRunner

from balai.accounts.models import Role
from balai.cli.app import app
from balai.db import make_engine, make_sessionmaker
from balai.errors import ValidationFailed
from balai.intel.markings import Distribution, Tlp, marking_definition
from balai.intel.misp_io import convert
from balai.intel.models import IntelImport, StixObject
from balai.intel.schemas import Marking
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases
from tests.factories import make_org, make_user
from tests.intel.helpers import (
    Intel,
    Json,
    api_import,
    count,
    indexed,
    intel_rows,
    locs,
    problems,
    sign_in,
    text_of,
)
from tests.shared_data import shared
from tests.web import csrf_of

CIRCL_REPORT = "report--57c4445b-c548-4654-af0b-4be3950d210f"
CIRCL_SHA1 = "77b0c41b7d340b8a3d903f21347bbf06aa766b5b"
CIRCL_SHA256 = "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68"
RICH_REPORT = "report--5f1d3c2a-1111-4a2b-9c3d-000000000001"
THREAT_ACTOR = "threat-actor--7cdd1fd8-2f6b-4b4a-9a2b-7c1b0d8d5b1e"
MALWARE = "malware--5f1d3c2a-4444-4a2b-9c3d-000000000001"


def circl() -> Json:
    """CIRCL's OSINT event on the Xorist ransomware (tlp:white, nine attributes)."""
    event: Json = json.loads(shared("misp/circl-57c4445b.json").read_bytes())
    return event


def _attribute(n: int, kind: str, value: str, *, to_ids: bool = True, **extra: Any) -> Json:
    return {
        "uuid": f"5f1d3c2a-2222-4a2b-9c3d-{n:012d}",
        "type": kind,
        "to_ids": to_ids,
        "value": value,
        "timestamp": "1772352000",
        **extra,
    }


def _member(n: int, relation: str, kind: str, value: str, to_ids: bool = False) -> Json:
    return {
        "uuid": f"5f1d3c2a-5555-4a2b-9c3d-{n:012d}",
        "object_relation": relation,
        "type": kind,
        "value": value,
        "to_ids": to_ids,
    }


def rich() -> Json:
    """An AMBER event with every attribute type, object template and galaxy kind mapped,
    and some that are not."""
    sofacy = 'misp-galaxy:threat-actor="Sofacy"'
    return {
        "Event": {
            "uuid": RICH_REPORT.removeprefix("report--"),
            "info": "Rich test event",
            "date": "2026-03-01",
            "timestamp": "1772352000",
            "publish_timestamp": "1772355600",
            "published": True,
            "Orgc": {"name": "Test CERT", "uuid": "5f1d3c2a-1111-4a2b-9c3d-0000000000ff"},
            "Tag": [
                {"name": "tlp:amber"},
                {"name": "type:OSINT"},
                {"name": sofacy},
                {"name": 'misp-galaxy:sector="Finance"'},
            ],
            "Galaxy": [
                {
                    "name": "Threat Actor",
                    "type": "threat-actor",
                    "GalaxyCluster": [
                        {
                            "uuid": THREAT_ACTOR.removeprefix("threat-actor--"),
                            "value": "Sofacy",
                            "tag_name": sofacy,
                            "type": "threat-actor",
                            "meta": {"synonyms": ["APT28", "Fancy Bear"]},
                        }
                    ],
                },
                {
                    "name": "Sector",
                    "type": "sector",
                    "GalaxyCluster": [
                        {
                            "uuid": "75597b7f-54e8-4f14-88c9-e81485ece483",
                            "value": "Finance",
                            "tag_name": 'misp-galaxy:sector="Finance"',
                        }
                    ],
                },
            ],
            "Attribute": [
                _attribute(1, "ip-dst", "198.51.100.7", comment="C2 server"),
                _attribute(2, "ip-src|port", "203.0.113.9|4444"),
                _attribute(3, "domain|ip", "evil.example.com|192.0.2.55", to_ids=False),
                _attribute(4, "hostname", "c2.Evil.example.com", Tag=[{"name": "tlp:red"}]),
                _attribute(5, "url", "http://evil.example.com/gate.php?id=1"),
                _attribute(6, "email-src", "Phisher@Evil.example.com"),
                _attribute(7, "filename|sha256", f"dropper.exe|{CIRCL_SHA256}"),
                _attribute(8, "AS", "AS64500", to_ids=False, comment="bulletproof hosting"),
                _attribute(9, "link", "https://blog.example.org/analysis", to_ids=False),
                _attribute(10, "vulnerability", "CVE-2020-1234", to_ids=False),
                _attribute(11, "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
                _attribute(
                    12,
                    "md5",
                    "0749bae92ca336a02c83d126e04ec628",
                    Sighting=[{"type": "0", "date_sighting": "1772352000"}],
                    Galaxy=[
                        {
                            "name": "Malpedia",
                            "type": "malpedia",
                            "GalaxyCluster": [
                                {
                                    "uuid": MALWARE.removeprefix("malware--"),
                                    "value": "X-Agent",
                                    "tag_name": 'misp-galaxy:malpedia="X-Agent"',
                                }
                            ],
                        }
                    ],
                ),
                _attribute(13, "ip-dst", "192.0.2.55", to_ids=False),
                _attribute(14, "text", "Campaign notes.", to_ids=False),
            ],
            "Object": [
                {
                    "uuid": "5f1d3c2a-5555-4a2b-9c3d-000000000001",
                    "name": "file",
                    "meta-category": "file",
                    "timestamp": "1772352000",
                    "comment": "The loader",
                    "Attribute": [
                        _member(11, "filename", "filename", "loader.dll"),
                        _member(
                            12, "sha1", "sha1", "77b0c41b7d340b8a3d903f21347bbf06aa766b5b", True
                        ),
                        _member(13, "size-in-bytes", "size-in-bytes", "4096"),
                        _member(14, "entropy", "float", "7.9"),
                    ],
                    "ObjectReference": [
                        {
                            "referenced_uuid": "5f1d3c2a-5555-4a2b-9c3d-000000000002",
                            "relationship_type": "communicates-with",
                        }
                    ],
                },
                {
                    "uuid": "5f1d3c2a-5555-4a2b-9c3d-000000000002",
                    "name": "ip-port",
                    "timestamp": "1772352000",
                    "Attribute": [
                        _member(21, "ip", "ip-dst", "198.51.100.80", True),
                        _member(22, "dst-port", "port", "8443"),
                    ],
                },
                {
                    "uuid": "5f1d3c2a-5555-4a2b-9c3d-000000000003",
                    "name": "domain-ip",
                    "timestamp": "1772352000",
                    "Attribute": [
                        _member(31, "domain", "domain", "update.example.net"),
                        _member(32, "ip", "ip-dst", "192.0.2.77"),
                    ],
                },
                {
                    "uuid": "5f1d3c2a-5555-4a2b-9c3d-000000000004",
                    "name": "btc-wallet",
                    "timestamp": "1772352000",
                    "Attribute": [
                        _member(41, "wallet-address", "btc", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
                    ],
                },
            ],
        }
    }


def misp_import(
    client: TestClient, headers: dict[str, str], event: Json | bytes, **params: str
) -> httpx.Response:
    """POST a MISP event to the import API (GREEN for the community unless told)."""
    data = event if isinstance(event, bytes) else json.dumps(event).encode()
    return api_import(client, headers, data, format="misp", **params)


def get(client: TestClient, headers: dict[str, str], path: str, **params: str) -> httpx.Response:
    response: httpx.Response = client.get(path, params=params, headers=headers)
    return response


def loaded(document: Json) -> MISPEvent:
    """The event as PyMISP, MISP's own library, loads it."""
    event = MISPEvent()
    event.load(json.dumps(document))
    return event


def attributes(event: MISPEvent) -> set[tuple[str, str, bool]]:
    return {(a.type, str(a.value), bool(a.to_ids)) for a in event.attributes}


# The real events


def test_the_circl_event_becomes_a_report_of_indicators_that_search_finds(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    response = misp_import(client, headers, circl(), filename="circl.json")
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["format"] == "misp"
    assert report["counts"]["created"] == {"indicator": 5, "report": 1}
    assert report["counts"]["values_indexed"] == 3  # the three hashes; a file name is no value
    assert report["report_ids"] == [CIRCL_REPORT]
    assert report["not_mapped"] == []

    stix = get(client, headers, f"/api/v1/intel/objects/{CIRCL_REPORT}").json()["stix"]
    assert stix["name"] == "Ransomware - Xorist"
    assert stix["published"] == "2016-08-30T09:10:31.000Z"
    assert len(stix["object_refs"]) == 5
    assert 'ms-caro-malware:malware-type="Ransom"' in stix["labels"]
    assert "tlp:white" not in stix["labels"]
    assert "UPX packed" in stix["description"]
    assert "http://www.xylibox.com/2011/06/have-fun-with-trojan-ransomwin32xorist.html" in {
        r.get("url") for r in stix["external_references"]
    }
    indicator = "indicator--57c4448b-3fa4-4d65-9ccc-4afa950d210f"
    assert indexed(db, indicator) == [("sha256", CIRCL_SHA256, True)]
    found = get(client, intel.key(intel.away_analyst), "/api/v1/intel/search", q=CIRCL_SHA256)
    assert [o["stix_id"] for o in found.json()["items"]] == [indicator]
    detail = get(client, headers, f"/api/v1/intel/objects/{indicator}").json()
    assert detail["stix"]["pattern"] == f"[file:hashes.'SHA-256' = '{CIRCL_SHA256}']"
    assert detail["stix"]["description"] == "Imported via the Freetext Import Tool"
    # tlp:white is CLEAR, and the upload's GREEN is the stricter of the two.
    assert detail["tlp"] == "green"


def test_the_pymisp_sample_event_keeps_its_observable_and_its_text(
    client: TestClient, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    bare = shared("misp/misp_event.json").read_bytes()  # the event without {"Event": …}
    response = misp_import(client, headers, bare)
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["created"] == {"report": 1, "url": 1}
    report = "report--5758ebf5-c898-48e6-9fe9-5665c0a83866"
    stix = get(client, headers, f"/api/v1/intel/objects/{report}").json()["stix"]
    assert stix["description"] == "Locky"
    assert stix["labels"] == ['ecsirt:malicious-code="ransomware"', "for_intelmq_processing"]
    found = get(
        client, headers, "/api/v1/intel/search", q="http://fake.website.com/malware/is/here"
    )
    assert [o["type"] for o in found.json()["items"]] == ["url"]


def test_importing_an_event_again_creates_nothing(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    assert misp_import(client, headers, circl()).status_code == 201
    before = count(db, StixObject)
    again = misp_import(client, headers, {"response": [circl()]})  # as a search answers it
    assert again.status_code == 201, again.text
    assert again.json()["counts"]["created"] == {}
    assert again.json()["counts"]["already_present"] == {"indicator": 5, "report": 1}
    assert count(db, StixObject) == before


def test_a_red_event_is_refused_for_the_community_and_kept_red_for_the_organisation(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    event = circl()
    event["Event"]["Tag"][0]["name"] = "tlp:red"
    before = intel_rows(db)
    refused = misp_import(client, headers, event)
    assert refused.status_code == 422
    assert locs(refused) == ["Event.Tag[0] (tlp:red)"]
    assert "TLP:RED is for named recipients only" in problems(refused)[0]["msg"]
    assert intel_rows(db) == before

    kept = misp_import(client, headers, event, distribution="organisation")
    assert kept.status_code == 201, kept.text
    assert set(db.scalars(select(StixObject.tlp))) == {Tlp.RED}


def test_an_amber_event_uploaded_as_green_stays_amber(
    client: TestClient, db: Session, intel: Intel
) -> None:
    event = circl()
    event["Event"]["Tag"][0]["name"] = "tlp:amber"
    response = misp_import(client, intel.key(intel.analyst), event, tlp="green")
    assert response.status_code == 201, response.text
    assert set(db.scalars(select(StixObject.tlp))) == {Tlp.AMBER}
    assert response.json()["tlp"] == "green"  # the upload's own marking, as chosen


def _with(change: str) -> Json:
    event = circl()
    attributes = event["Event"]["Attribute"]
    if change == "bad address":
        attributes[3].update(type="ip-dst", value="999.1.1.1")
    elif change == "bad hash":
        attributes[5]["value"] = "0749bae92ca336a02c83d126e04ec62"
    elif change == "no uuid":
        del attributes[0]["uuid"]
    elif change == "bad category":
        attributes[4]["category"] = "Gossip"
    elif change == "no info":
        del event["Event"]["info"]
    elif change == "bad object":
        event["Event"]["Object"] = copy.deepcopy(rich()["Event"]["Object"][1:2])
        event["Event"]["Object"][0]["Attribute"][0]["value"] = "198.51.100.300"
    return event


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        (b'{"Event": {', "line 1, column 12", "not valid JSON"),
        (b'{"type": "bundle", "objects": []}', "file", "not a MISP event"),
        (
            "bad address",
            "Event.Attribute[3] (uuid 57c44648-96f4-45d4-a8eb-453e950d210f).value",
            "'999.1.1.1' is not an IP address",
        ),
        (
            "bad hash",
            "Event.Attribute[5] (uuid 57c4448b-454c-4d17-90d1-4d2f950d210f).value",
            "is not a MD5 (32 hexadecimal digits)",
        ),
        ("no uuid", "Event.Attribute[0].uuid", "must be a UUID"),
        (
            "bad category",
            "Event.Attribute[4] (uuid 57c4448a-fb04-457d-87e7-4127950d210f).category",
            "'Gossip' is not a MISP category",
        ),
        ("no info", "Event.info", "is required"),
        (
            "bad object",
            "Event.Object[0] (uuid 5f1d3c2a-5555-4a2b-9c3d-000000000002).Attribute[0] "
            "(uuid 5f1d3c2a-5555-4a2b-9c3d-000000000021).value",
            "'198.51.100.300' is not an IP address",
        ),
    ],
    ids=["not json", "not misp", "address", "hash", "uuid", "category", "info", "object"],
)
def test_a_bad_event_writes_nothing_and_names_the_place(
    client: TestClient, db: Session, intel: Intel, data: str | bytes, where: str, what: str
) -> None:
    event = data if isinstance(data, bytes) else _with(data)
    before = intel_rows(db)
    response = misp_import(client, intel.key(intel.analyst), event)
    assert response.status_code == 422, response.text
    assert locs(response) == [where]
    assert what in problems(response)[0]["msg"]
    assert intel_rows(db) == before


# Every mapping


def test_every_mapping_lands_and_what_does_not_map_is_named(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    response = misp_import(client, headers, rich(), distribution="organisation")
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["counts"]["created"] == {
        "autonomous-system": 1,
        "domain-name": 2,
        "indicator": 9,
        "ipv4-addr": 2,
        "malware": 1,
        "note": 1,
        "relationship": 11,  # 9 indicate Sofacy, one X-Agent, the file talks to the address
        "report": 1,
        "threat-actor": 1,
        "vulnerability": 1,
    }
    assert report["not_mapped"] == [
        "Galaxy 'Sector' cluster 'Finance' (misp-galaxy:sector=\"Finance\"): no STIX object "
        "for sector clusters yet; its tag is a label",
        "Attribute 5f1d3c2a-2222-4a2b-9c3d-000000000011 (type 'btc', value "
        "'1BoatSLRHtKNngkdXEeobR76b53LETtpyT'): no STIX mapping yet",
        "Attribute 5f1d3c2a-2222-4a2b-9c3d-000000000012 (type 'md5', value "
        "'0749bae92ca336a02c83d126e04ec628'): 1 sighting(s) not carried over; "
        "report sightings in Balai",
        "Object 5f1d3c2a-5555-4a2b-9c3d-000000000001 ('file', 4 attributes): entropy '7.9': "
        "no place in STIX yet",
        "Object 5f1d3c2a-5555-4a2b-9c3d-000000000004 ('btc-wallet', 1 attributes): "
        "no STIX mapping for this object template yet",
    ]

    def stix(stix_id: str) -> Json:
        found: Json = get(client, headers, f"/api/v1/intel/objects/{stix_id}").json()
        return found

    def pattern(n: int) -> str:
        return str(stix(f"indicator--5f1d3c2a-2222-4a2b-9c3d-{n:012d}")["stix"]["pattern"])

    assert pattern(2) == (
        "[network-traffic:src_ref.value = '203.0.113.9' AND network-traffic:src_port = 4444]"
    )
    assert pattern(4) == "[domain-name:value = 'c2.evil.example.com']"
    assert pattern(6) == "[email-addr:value = 'phisher@evil.example.com']"
    assert stix("indicator--5f1d3c2a-2222-4a2b-9c3d-000000000004")["tlp"] == "red"
    assert stix(RICH_REPORT)["tlp"] == "amber"
    file_object = stix("indicator--5f1d3c2a-5555-4a2b-9c3d-000000000001")["stix"]
    assert file_object["pattern"] == (
        f"[file:name = 'loader.dll' AND file:hashes.'SHA-1' = '{CIRCL_SHA1}' AND file:size = 4096]"
    )
    assert file_object["description"] == "The loader"
    actor = stix(THREAT_ACTOR)["stix"]
    assert (actor["name"], actor["aliases"]) == ("Sofacy", ["APT28", "Fancy Bear"])
    assert stix(RICH_REPORT)["stix"]["labels"] == ['misp-galaxy:sector="Finance"', "type:OSINT"]
    for value, kind in [
        ("203.0.113.9", "indicator"),  # through network-traffic:src_ref
        ("192.0.2.55", "ipv4-addr"),  # the same address from domain|ip and ip-dst: one object
        ("198.51.100.80", "indicator"),  # an ip-port object
        ("AS64500", "autonomous-system"),
    ]:
        found = get(client, headers, "/api/v1/intel/search", q=value).json()["items"]
        assert [o["type"] for o in found] == [kind], value

    # Everything converted is valid STIX 2.1 to the OASIS validator.
    bundle = get(client, headers, f"/api/v1/intel/objects/{RICH_REPORT}/bundle").json()
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]


def test_observable_ids_are_those_of_stix2() -> None:
    stix2 = pytest.importorskip("stix2")
    objects = convert(rich(), Marking(tlp=Tlp.AMBER, distribution=Distribution.ORGANISATION))
    made = {o["id"] for o in objects.objects}
    assert stix2.IPv4Address(value="192.0.2.55").id in made
    assert stix2.AutonomousSystem(number=64500).id in made
    assert stix2.DomainName(value="update.example.net").id in made


# Export


def test_an_imported_report_exports_as_a_misp_event_that_pymisp_loads(
    client: TestClient, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    assert misp_import(client, headers, rich(), distribution="organisation").status_code == 201
    response = get(client, headers, f"/api/v1/intel/objects/{RICH_REPORT}/misp")
    assert response.status_code == 200, response.text
    event = loaded(response.json())
    assert event.info == "Rich test event"
    assert event.uuid == RICH_REPORT.removeprefix("report--")
    tags = {t.name for t in event.tags}
    # The hostname is RED, so the event is: the export never widens a marking.
    assert {"tlp:red", "type:OSINT", 'misp-galaxy:threat-actor="Sofacy"'} <= tags
    assert 'misp-galaxy:malpedia="X-Agent"' in tags
    assert {
        ("ip-dst", "198.51.100.7", True),
        ("ip-src", "203.0.113.9", True),
        ("hostname", "c2.evil.example.com", True),
        ("email-src", "phisher@evil.example.com", True),
        ("sha256", CIRCL_SHA256, True),
        ("md5", "0749bae92ca336a02c83d126e04ec628", True),
        ("url", "http://evil.example.com/gate.php?id=1", True),
        ("domain", "evil.example.com", False),
        ("ip-dst", "192.0.2.55", False),
        ("AS", "64500", False),
        ("vulnerability", "CVE-2020-1234", False),
        ("link", "https://blog.example.org/analysis", False),
    } <= attributes(event)
    first = next(a for a in event.attributes if a.value == "198.51.100.7")
    assert (first.uuid, first.category, first.comment) == (
        "5f1d3c2a-2222-4a2b-9c3d-000000000001",
        "Network activity",
        "C2 server",
    )
    # Read back, the event gives the same indicators: the same ids, nothing new.
    again = convert(response.json(), Marking(tlp=Tlp.RED, distribution=Distribution.ORGANISATION))
    assert "indicator--5f1d3c2a-2222-4a2b-9c3d-000000000001" in {o["id"] for o in again.objects}


def test_a_search_exports_what_it_finds_as_a_misp_event(client: TestClient, intel: Intel) -> None:
    assert misp_import(client, intel.key(intel.analyst), circl()).status_code == 201
    headers = intel.key(intel.away_analyst)
    response = get(client, headers, "/api/v1/intel/search/misp", q=CIRCL_SHA256)
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "1"
    event = loaded(response.json())
    assert attributes(event) == {("sha256", CIRCL_SHA256, True)}
    assert {t.name for t in event.tags} == {"tlp:green"}
    assert event.info == f"Balai search: {CIRCL_SHA256}"


def test_an_outsider_gets_nothing_from_the_misp_exports(
    client: TestClient, db: Session, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    shared_only_here = misp_import(client, headers, circl(), distribution="organisation")
    assert shared_only_here.status_code == 201
    outsider = intel.key(intel.third_platform_admin)
    path = f"/api/v1/intel/objects/{CIRCL_REPORT}/misp"
    assert get(client, headers, path).status_code == 200
    assert get(client, outsider, path).status_code == 404
    found = get(client, outsider, "/api/v1/intel/search/misp", q=CIRCL_SHA256)
    assert found.headers["X-Total-Count"] == "0"
    assert attributes(loaded(found.json())) == set()
    sign_in(client, db, intel.third_admin)
    assert client.get(f"/intel/objects/{CIRCL_REPORT}/misp").status_code == 404


# Pages and the command line


def test_the_upload_page_imports_a_misp_event_and_the_object_page_exports_it(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.analyst)
    page = client.get("/intel/upload")
    assert '<option value="misp"' in page.text
    done = client.post(
        "/intel/upload",
        data={
            "format": "misp",
            "tlp": "amber",
            "distribution": "organisation",
            "csrf_token": csrf_of(page.text),
        },
        files={"file": ("rich.json", json.dumps(rich()).encode(), "application/json")},
    )
    assert done.status_code == 303, done.text
    shown = text_of(client.get(done.headers["location"]).text)
    assert "Not carried over" in shown
    assert "(type 'btc', value '1BoatSLRHtKNngkdXEeobR76b53LETtpyT'): no STIX mapping yet" in shown
    assert db.scalars(select(IntelImport.format)).one().value == "misp"

    report_page = client.get(f"/intel/objects/{RICH_REPORT}")
    assert f'href="/intel/objects/{RICH_REPORT}/misp"' in report_page.text
    assert "Download as MISP event" in report_page.text
    download = client.get(f"/intel/objects/{RICH_REPORT}/misp")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    assert loaded(download.json()).info == "Rich test event"

    bad = copy.deepcopy(rich())
    bad["Event"]["Attribute"][0]["value"] = "999.1.1.1"
    page = client.get("/intel/upload")
    refused = client.post(
        "/intel/upload",
        data={"format": "misp", "tlp": "amber", "distribution": "organisation"}
        | {"csrf_token": csrf_of(page.text)},
        files={"file": ("bad.json", json.dumps(bad).encode(), "application/json")},
    )
    assert refused.status_code == 422
    assert "Event.Attribute[0] (uuid 5f1d3c2a-2222-4a2b-9c3d-000000000001).value" in (
        text_of(refused.text)
    )


runner = CliRunner()


def test_the_command_imports_a_misp_event(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    event = circl()  # skips before a database is made when the shared data is absent
    url = databases.new_url("misp_cli")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        user = make_user(session, make_org(session, name="CLI CERT"), role=Role.ANALYST)
        email = user.email
        session.commit()
    monkeypatch.setenv("BALAI_DATABASE_URL", url)
    monkeypatch.setenv("BALAI_SECRET_KEY", SECRET)
    file = tmp_path / "circl.json"
    file.write_text(json.dumps(event))
    command = ["intel", "import", str(file), "--format", "misp", "--user", email]
    first = runner.invoke(app, [*command, "--tlp", "green"])
    assert first.exit_code == 0, first.output
    said = " ".join(first.stdout.split())
    assert "imported 6 new objects and 0 new versions; 0 already here; 3 values indexed" in said
    again = runner.invoke(app, [*command, "--tlp", "green"])
    assert "imported 0 new objects and 0 new versions; 6 already here" in " ".join(
        again.stdout.split()
    )
    event["Event"]["Tag"][0]["name"] = "tlp:red"
    file.write_text(json.dumps(event))
    refused = runner.invoke(app, command)  # AMBER for the community, by default
    assert refused.exit_code == 1
    assert "Event.Tag[0] (tlp:red)" in refused.output
    with make_sessionmaker(engine)() as session:
        assert len(session.scalars(select(IntelImport.id)).all()) == 2
    engine.dispose()


def test_marking_definitions_in_a_converted_event_are_the_tlp_2_ones() -> None:
    converted = convert(rich(), Marking(tlp=Tlp.RED, distribution=Distribution.ORGANISATION))
    refs = {r for o in converted.objects for r in o.get("object_marking_refs", [])}
    assert refs == {marking_definition(Tlp.AMBER)["id"], marking_definition(Tlp.RED)["id"]}


def test_a_search_response_gives_one_report_per_event_and_locates_problems() -> None:
    sample = json.loads(shared("misp/misp_event.json").read_bytes())
    marking = Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY)
    both = convert({"response": [circl(), {"Event": sample}]}, marking)
    assert sorted(o["id"] for o in both.objects if o["type"] == "report") == [
        "report--5758ebf5-c898-48e6-9fe9-5665c0a83866",
        CIRCL_REPORT,
    ]
    sample["Attribute"][0]["value"] = "not a url"
    with pytest.raises(ValidationFailed) as refused:
        convert({"response": [circl(), {"Event": sample}]}, marking)
    assert [p.loc for p in refused.value.problems] == [
        "response[1].Event.Attribute[0] (uuid 575c8598-f1f0-4c16-a94a-0612c0a83866).value"
    ]


def test_one_uuid_twice_and_an_event_with_nothing_to_map_are_refused() -> None:
    marking = Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY)
    event = circl()
    twice = event["Event"]["Attribute"]
    twice[5]["uuid"] = twice[4]["uuid"]
    with pytest.raises(ValidationFailed) as refused:
        convert(event, marking)
    assert [(p.loc, p.msg) for p in refused.value.problems] == [
        (
            "Event.Attribute[5] (uuid 57c4448a-fb04-457d-87e7-4127950d210f).uuid",
            "is also the uuid of Event.Attribute[4] (uuid 57c4448a-fb04-457d-87e7-4127950d210f)",
        )
    ]
    event = circl()
    event["Event"]["Attribute"] = [a for a in event["Event"]["Attribute"] if a["type"] == "text"]
    with pytest.raises(ValidationFailed) as empty:
        convert(event, marking)
    assert [p.loc for p in empty.value.problems] == ["Event"]


def test_a_malware_sample_keeps_its_name_and_hash_and_its_file_is_left_out() -> None:
    event = circl()
    sample = {
        "uuid": "5f1d3c2a-7777-4a2b-9c3d-000000000001",
        "type": "malware-sample",
        "category": "Payload delivery",
        "to_ids": True,
        "value": "3Z4wnG9603it23y.exe|0749bae92ca336a02c83d126e04ec628",
        "data": "UEsDBBQAAAAIAA==",  # a (broken) zip: never opened
        "timestamp": "1472480395",
    }
    event["Event"]["Attribute"].append(sample)
    converted = convert(event, Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY))
    made = {o["id"]: o for o in converted.objects}
    assert made["indicator--5f1d3c2a-7777-4a2b-9c3d-000000000001"]["pattern"] == (
        "[file:name = '3Z4wnG9603it23y.exe' AND "
        "file:hashes.'MD5' = '0749bae92ca336a02c83d126e04ec628']"
    )
    assert converted.not_mapped == [
        "Attribute 5f1d3c2a-7777-4a2b-9c3d-000000000001 (type 'malware-sample', value "
        "'3Z4wnG9603it23y.exe|0749bae92ca336a02c83d126e04ec628'): the attached file is not "
        "imported, only what describes it"
    ]
