"""STIX 2.1 import through the API: reports, versions, holders, markings, permissions, audit."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from balai.audit.models import AuditEvent
from balai.config import Settings
from balai.intel.markings import TLP1_MARKING_IDS, Tlp
from balai.intel.models import IntelImport, SharingGroup, SharingGroupMember, StixObject
from tests.intel.helpers import (
    CREATED,
    LATER,
    LATEST,
    Intel,
    api_import,
    body,
    indexed,
    indicator,
    intel_rows,
    locs,
    malware,
    problems,
    report,
    rows_of,
    stix_examples,
    stix_objects,
    stix_schemas,
)
from tests.shared_data import shared
from tests.web import app_on

TLP1 = {level: ref for ref, level in TLP1_MARKING_IDS.items()}

# Values each real example carries (patterns and observables), as the value index holds them.
EXAMPLE_VALUES = {
    "apt1.json": 10,  # 4 networks, 3 domains, 3 MD5 hashes; the x509 patterns carry none
    "indicator-for-c2-ip-address.json": 1,
    "indicators-for-C2-with-COA.json": 2,
    "infrastructure.json": 2,
    "malicious-email-indicator-with-attachment.json": 0,  # MATCHES patterns only
}


def _group(db: Session, intel: Intel, *, members: tuple[str, ...] = ()) -> SharingGroup:
    """A sharing group owned by the home organisation."""
    group = SharingGroup(name="Mekong partners", owner_org_id=intel.home.id)
    group.members = [SharingGroupMember(organisation_id=getattr(intel, m).id) for m in members]
    db.add(group)
    db.commit()
    return group


@pytest.mark.parametrize("name", stix_examples())
def test_every_real_stix_example_imports_with_counts_per_type(
    client: TestClient, db: Session, intel: Intel, name: str
) -> None:
    data = shared(f"stix/{name}").read_bytes()
    objects = stix_objects(shared(f"stix/{name}"))
    done = api_import(client, intel.key(intel.analyst), data, filename=name)
    assert done.status_code == 201, done.text
    report_out = done.json()
    assert report_out["filename"] == name
    assert report_out["counts"]["created"] == dict(Counter(o["type"] for o in objects))
    assert report_out["counts"]["new_versions"] == {}
    assert report_out["counts"]["already_present"] == {}
    if name in EXAMPLE_VALUES:
        assert report_out["counts"]["values_indexed"] == EXAMPLE_VALUES[name]
    assert report_out["report_ids"] == [o["id"] for o in objects if o["type"] == "report"]
    stored = db.scalars(
        select(StixObject).where(StixObject.import_id == uuid.UUID(report_out["id"]))
    ).all()
    assert sorted(r.stix_id for r in stored) == sorted(o["id"] for o in objects)
    assert {(r.tlp, r.owner_org_id, r.is_latest) for r in stored} == {
        (Tlp.GREEN, intel.home.id, True)
    }
    # The import's report reads back the same.
    again = client.get(f"/api/v1/intel/imports/{report_out['id']}", headers=intel.key(intel.reader))
    assert again.status_code == 200
    assert again.json()["counts"] == report_out["counts"]


@pytest.mark.parametrize("name", stix_schemas())
def test_a_json_schema_is_no_stix_and_is_refused(
    client: TestClient, db: Session, intel: Intel, name: str
) -> None:
    before = intel_rows(db)
    refused = api_import(client, intel.key(intel.analyst), shared(f"stix/{name}").read_bytes())
    assert refused.status_code == 422, refused.text
    assert locs(refused)[0].startswith("objects[0]")
    assert intel_rows(db) == before


def test_reimport_counts_what_is_already_present_and_creates_nothing(
    client: TestClient, db: Session, intel: Intel
) -> None:
    path = shared("stix/apt1.json")
    types = dict(Counter(o["type"] for o in stix_objects(path)))
    first = api_import(client, intel.key(intel.analyst), path.read_bytes())
    assert first.status_code == 201, first.text
    objects, values, imports, _ = intel_rows(db)
    assert (objects, values, imports) == (76, 10, 1)
    second = api_import(client, intel.key(intel.admin), path.read_bytes())
    assert second.status_code == 201, second.text
    counts = second.json()["counts"]
    assert counts == {
        "created": {},
        "new_versions": {},
        "already_present": types,
        "values_indexed": 0,
    }
    # The upload is recorded; no object or value is.
    assert intel_rows(db)[:3] == (76, 10, 2)


def test_a_later_version_becomes_latest_and_the_old_leaves_the_value_index(
    client: TestClient, db: Session, intel: Intel
) -> None:
    key = intel.key(intel.analyst)
    first = indicator("[ipv4-addr:value = '198.51.100.1']", created=CREATED)
    stix_id = first["id"]
    assert api_import(client, key, body(first)).status_code == 201
    assert indexed(db, stix_id) == [("ipv4", "198.51.100.1", True)]

    newer = indicator(
        "[ipv4-addr:value = '198.51.100.2']", stix_id=stix_id, created=CREATED, modified=LATEST
    )
    done = api_import(client, key, body(newer))
    assert done.status_code == 201, done.text
    assert done.json()["counts"]["new_versions"] == {"indicator": 1}
    assert done.json()["counts"]["created"] == {}
    assert [(r.version, r.is_latest) for r in rows_of(db, stix_id)] == [
        ("2026-01-10T08:00:00.000000Z", False),
        ("2026-03-01T08:00:00.000000Z", True),
    ]
    assert indexed(db, stix_id) == [("ipv4", "198.51.100.2", True)]

    # A version between the two, arriving last, is kept but does not become latest.
    older = indicator(
        "[ipv4-addr:value = '198.51.100.3']", stix_id=stix_id, created=CREATED, modified=LATER
    )
    late = api_import(client, key, body(older))
    assert late.status_code == 201, late.text
    assert late.json()["counts"]["new_versions"] == {"indicator": 1}
    assert [(r.version, r.is_latest) for r in rows_of(db, stix_id)] == [
        ("2026-01-10T08:00:00.000000Z", False),
        ("2026-02-01T08:00:00.000000Z", False),
        ("2026-03-01T08:00:00.000000Z", True),
    ]
    assert indexed(db, stix_id) == [("ipv4", "198.51.100.2", True)]

    headers = intel.key(intel.reader)
    shown = client.get(f"/api/v1/intel/objects/{stix_id}", headers=headers).json()
    assert shown["stix"]["pattern"] == "[ipv4-addr:value = '198.51.100.2']"
    history = client.get(f"/api/v1/intel/objects/{stix_id}/versions", headers=headers).json()
    assert [v["stix"]["modified"] for v in history] == [CREATED, LATER, LATEST]
    for gone in ("198.51.100.1", "198.51.100.3"):
        found = client.get("/api/v1/intel/search", params={"q": gone}, headers=headers)
        assert found.json()["total"] == 0, gone
    found = client.get("/api/v1/intel/search", params={"q": "198.51.100.2"}, headers=headers)
    assert [o["stix_id"] for o in found.json()["items"]] == [stix_id]


@pytest.mark.parametrize("later_first", [False, True])
def test_two_versions_in_one_bundle_keep_the_later_as_latest(
    client: TestClient, db: Session, intel: Intel, later_first: bool
) -> None:
    old = indicator("[ipv4-addr:value = '198.51.100.1']", created=CREATED)
    new = {**old, "modified": LATER, "pattern": "[ipv4-addr:value = '198.51.100.2']"}
    versions = [new, old] if later_first else [old, new]
    done = api_import(client, intel.key(intel.analyst), body(*versions))
    assert done.status_code == 201, done.text
    counts = done.json()["counts"]
    assert (counts["created"], counts["new_versions"]) == ({"indicator": 1}, {"indicator": 1})
    assert [(r.modified is not None, r.is_latest) for r in rows_of(db, old["id"])] == [
        (True, False),
        (True, True),
    ]
    assert indexed(db, old["id"]) == [("ipv4", "198.51.100.2", True)]


def test_the_same_modified_time_written_differently_is_the_same_version(
    client: TestClient, db: Session, intel: Intel
) -> None:
    key = intel.key(intel.analyst)
    first = malware(modified="2026-01-10T08:00:00.5Z")
    assert api_import(client, key, body(first)).status_code == 201
    again = api_import(client, key, body({**first, "modified": "2026-01-10T08:00:00.500000Z"}))
    assert again.json()["counts"]["already_present"] == {"malware": 1}
    assert len(rows_of(db, first["id"])) == 1


def test_a_second_organisation_holds_its_own_copy(
    client: TestClient, db: Session, intel: Intel
) -> None:
    shared_indicator = indicator("[domain-name:value = 'c2.evil.example']")
    home = api_import(client, intel.key(intel.analyst), body(shared_indicator))
    assert home.status_code == 201
    away = api_import(client, intel.key(intel.away_analyst), body(shared_indicator), tlp="amber")
    assert away.status_code == 201, away.text
    # Not "already present": that is another organisation's copy.
    assert away.json()["counts"]["created"] == {"indicator": 1}
    rows = rows_of(db, shared_indicator["id"])
    assert {(r.owner_org_id, r.tlp, r.is_latest) for r in rows} == {
        (intel.home.id, Tlp.GREEN, True),
        (intel.away.id, Tlp.AMBER, True),
    }
    assert indexed(db, shared_indicator["id"]) == [
        ("domain", "c2.evil.example", True),
        ("domain", "c2.evil.example", True),
    ]
    # Each reader gets their own organisation's copy first.
    path = f"/api/v1/intel/objects/{shared_indicator['id']}"
    assert client.get(path, headers=intel.key(intel.reader)).json()["tlp"] == "green"
    assert client.get(path, headers=intel.key(intel.away_admin)).json()["tlp"] == "amber"
    # A new version from one holder leaves the other's copy as it was.
    newer = {**shared_indicator, "modified": LATER, "pattern": "[domain-name:value = 'x.example']"}
    assert api_import(client, intel.key(intel.away_analyst), body(newer)).status_code == 201
    latest = {(r.owner_org_id, r.version, r.is_latest) for r in rows_of(db, newer["id"])}
    assert (intel.home.id, "2026-01-10T08:00:00.000000Z", True) in latest
    assert (intel.away.id, "2026-01-10T08:00:00.000000Z", False) in latest


@pytest.mark.parametrize(
    ("upload", "distribution", "refs", "kept"),
    [
        ("green", "community", [TLP1[Tlp.AMBER]], Tlp.AMBER),
        ("green", "community", [Tlp.AMBER_STRICT.marking_id], Tlp.AMBER_STRICT),
        ("clear", "community", [TLP1[Tlp.GREEN]], Tlp.GREEN),
        ("clear", "public", [Tlp.CLEAR.marking_id], Tlp.CLEAR),
        ("green", "organisation", [TLP1[Tlp.CLEAR], Tlp.RED.marking_id], Tlp.RED),
        ("green", "organisation", [TLP1[Tlp.RED]], Tlp.RED),
        # A looser marking of its own never widens the upload's.
        ("amber", "community", [TLP1[Tlp.CLEAR]], Tlp.AMBER),
        ("amber", "community", [Tlp.GREEN.marking_id], Tlp.AMBER),
    ],
)
def test_an_object_keeps_its_own_stricter_marking(
    client: TestClient,
    db: Session,
    intel: Intel,
    upload: str,
    distribution: str,
    refs: list[str],
    kept: Tlp,
) -> None:
    marked = indicator("[ipv4-addr:value = '203.0.113.5']", object_marking_refs=refs)
    plain = malware()
    done = api_import(
        client, intel.key(intel.analyst), body(marked, plain), tlp=upload, distribution=distribution
    )
    assert done.status_code == 201, done.text
    assert [r.tlp for r in rows_of(db, marked["id"])] == [kept]
    assert [r.tlp for r in rows_of(db, plain["id"])] == [Tlp(upload)]
    # What recipients get carries that marking as its one TLP 2.0 reference.
    shown = client.get(f"/api/v1/intel/objects/{marked['id']}", headers=intel.key(intel.reader))
    assert shown.json()["stix"]["object_marking_refs"] == [kept.marking_id]


def test_tlp_marking_definitions_in_a_bundle_are_not_stored(
    client: TestClient, db: Session, intel: Intel
) -> None:
    definition = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1[Tlp.AMBER],
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:AMBER",
        "definition": {"tlp": "amber"},
    }
    marked = indicator("[ipv4-addr:value = '203.0.113.6']", object_marking_refs=[TLP1[Tlp.AMBER]])
    done = api_import(client, intel.key(intel.analyst), body(definition, marked))
    assert done.status_code == 201, done.text
    assert done.json()["counts"]["created"] == {"indicator": 1}
    assert rows_of(db, TLP1[Tlp.AMBER]) == []


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        (b'{"type": "bundle",\n  "objects": [}', "line 2, column 15", "not valid JSON"),
        (b"", "line 1, column 1", "not valid JSON"),
        ('{"type": "bundle", "name": "caf\u00e9"}'.encode("latin-1"), "file", "not UTF-8 text"),
        (b'"a string"', "file", "expected a STIX bundle"),
        (b'{"type": "bundle", "objects": {}}', "objects", "must be a list"),
        (b"[1]", "objects[0]", "is not a JSON object"),
    ],
    ids=["malformed", "empty", "not-utf8", "string", "objects-not-a-list", "not-an-object"],
)
def test_an_unreadable_file_is_located_and_writes_nothing(
    client: TestClient, db: Session, intel: Intel, data: bytes, loc: str, message: str
) -> None:
    before = intel_rows(db)
    refused = api_import(client, intel.key(intel.analyst), data)
    assert refused.status_code == 422, refused.text
    assert problems(refused)[0]["loc"] == loc
    assert message in problems(refused)[0]["msg"]
    assert intel_rows(db) == before


def test_an_oversized_body_is_refused(
    connection: Connection, db: Session, intel: Intel, settings: Settings
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1024})
    app = app_on(connection, small)
    data = body(*[indicator(f"[ipv4-addr:value = '198.51.100.{n}']") for n in range(10)])
    assert len(data) > 1024
    before = intel_rows(db)
    with TestClient(app, raise_server_exceptions=False) as small_client:
        refused = api_import(small_client, intel.key(intel.analyst), data)
        fits = api_import(small_client, intel.key(intel.analyst), body(malware()))
    app.state.engine.dispose()
    assert refused.status_code == 422, refused.text
    assert problems(refused) == [{"loc": "body", "msg": "larger than 1024 bytes"}]
    assert fits.status_code == 201, fits.text
    assert intel_rows(db)[0] == before[0] + 1


@pytest.mark.parametrize(
    ("tlp", "distribution", "reason"),
    [
        ("red", "community", "TLP:RED is for named recipients only"),
        ("red", "public", "TLP:RED is for named recipients only"),
        ("green", "public", "TLP:GREEN is for the community, never public"),
        ("amber", "public", "TLP:AMBER is for named recipients, never public"),
        ("amber+strict", "connected", "TLP:AMBER+STRICT never leaves the recipient organisations"),
    ],
)
def test_a_marking_that_makes_no_sense_is_refused_with_its_reason(
    client: TestClient, db: Session, intel: Intel, tlp: str, distribution: str, reason: str
) -> None:
    before = intel_rows(db)
    refused = api_import(
        client, intel.key(intel.analyst), body(malware()), tlp=tlp, distribution=distribution
    )
    assert refused.status_code == 422, refused.text
    assert reason in refused.json()["error"]["message"]
    assert intel_rows(db) == before


def test_sharing_with_a_group_needs_a_group_the_organisation_is_in(
    client: TestClient, db: Session, intel: Intel
) -> None:
    key = intel.key(intel.away_analyst)
    member_of = _group(db, intel, members=("away",))
    foreign = SharingGroup(name="Straits partners", owner_org_id=intel.third.id)
    db.add(foreign)
    db.commit()
    before = intel_rows(db)

    without = api_import(client, key, body(malware()), distribution="sharing_group")
    assert without.status_code == 422
    assert "choose a sharing group" in without.json()["error"]["message"]
    stray = api_import(client, key, body(malware()), sharing_group_id=str(member_of.id))
    assert stray.status_code == 422
    assert "choose a sharing group" in stray.json()["error"]["message"]
    outside = api_import(
        client,
        key,
        body(malware()),
        distribution="sharing_group",
        sharing_group_id=str(foreign.id),
    )
    assert outside.status_code == 422
    assert problems(outside) == [{"loc": "sharing_group_id", "msg": "no such sharing group"}]
    assert intel_rows(db) == before

    # A member (not the owner) may share with the group.
    shared_malware = malware()
    inside = api_import(
        client,
        key,
        body(shared_malware),
        tlp="red",
        distribution="sharing_group",
        sharing_group_id=str(member_of.id),
    )
    assert inside.status_code == 201, inside.text
    assert inside.json()["sharing_group_id"] == str(member_of.id)
    [row] = rows_of(db, shared_malware["id"])
    assert (row.owner_org_id, row.tlp, row.sharing_group_id) == (
        intel.away.id,
        Tlp.RED,
        member_of.id,
    )


def test_readers_cannot_import(client: TestClient, db: Session, intel: Intel) -> None:
    before = intel_rows(db)
    refused = api_import(client, intel.key(intel.reader), body(malware()))
    assert refused.status_code == 403
    assert "intel:object:import" in refused.json()["error"]["message"]
    assert intel_rows(db) == before
    assert client.post("/api/v1/intel/imports?tlp=green&distribution=community").status_code == 401


def test_an_import_is_audited(client: TestClient, db: Session, intel: Intel) -> None:
    objects = [indicator("[ipv4-addr:value = '198.51.100.9']"), malware()]
    done = api_import(client, intel.key(intel.analyst), body(*objects), tlp="amber")
    assert done.status_code == 201
    db.expire_all()
    [event] = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "intel:import:completed")
    ).all()
    assert event.actor_user_id == intel.analyst.id
    assert event.object_type == "intel_import"
    assert event.object_id == done.json()["id"]
    assert event.object_org_id == intel.home.id
    assert event.details == {
        "format": "stix",
        "tlp": "amber",
        "distribution": "community",
        "objects": 2,
    }
    batch = db.get(IntelImport, uuid.UUID(done.json()["id"]))
    assert batch is not None
    assert batch.created_by_id == intel.analyst.id


def test_an_import_report_is_for_its_organisation_only(client: TestClient, intel: Intel) -> None:
    the_report = report([], name="Empty")
    the_report["object_refs"] = [malware()["id"]]
    done = api_import(client, intel.key(intel.analyst), body(the_report))
    assert done.status_code == 201, done.text
    assert done.json()["report_ids"] == [the_report["id"]]
    path = f"/api/v1/intel/imports/{done.json()['id']}"
    assert client.get(path, headers=intel.key(intel.reader)).status_code == 200
    assert client.get(path, headers=intel.key(intel.away_admin)).status_code == 404
    assert client.get(path, headers=intel.key(intel.third_platform_admin)).status_code == 404


def test_a_single_object_or_a_list_imports_too(client: TestClient, intel: Intel) -> None:
    single = malware()
    done = api_import(client, intel.key(intel.analyst), json.dumps(single).encode())
    assert done.status_code == 201, done.text
    assert done.json()["counts"]["created"] == {"malware": 1}
    listed = api_import(
        client, intel.key(intel.analyst), json.dumps([malware(), malware()]).encode()
    )
    assert listed.json()["counts"]["created"] == {"malware": 2}
