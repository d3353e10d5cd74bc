"""STIX 2.1 export: bundles that the OASIS validator passes and the stix2 library parses."""

from __future__ import annotations

from typing import Any

import pytest
import stix2
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from stix2validator import validate_parsed_json

from balai.intel.markings import (
    MARKING_LEVELS,
    TLP1_MARKING_IDS,
    TLP2_EXTENSION,
    Distribution,
    Tlp,
)
from tests.intel.helpers import (
    Intel,
    Json,
    body,
    import_as,
    indicator,
    malware,
    report,
    sign_in,
    stix_examples,
    stix_objects,
)
from tests.shared_data import shared

TLP1_AMBER = next(ref for ref, level in TLP1_MARKING_IDS.items() if level == Tlp.AMBER)


def _assert_good_bundle(document: Json, levels: dict[str, Tlp]) -> None:
    """Valid STIX 2.1 by the OASIS validator and stix2; each object carries its one TLP."""
    result: Any = validate_parsed_json(document)
    assert result.is_valid, [str(e) for r in result.object_results for e in r.errors]
    parsed = stix2.parse(document, allow_custom=True)
    assert len(parsed.objects) == len(document["objects"])
    definitions = {
        o["id"]: o["extensions"][TLP2_EXTENSION]["tlp_2_0"]
        for o in document["objects"]
        if o["id"] in MARKING_LEVELS
    }
    used: dict[str, str] = {}
    for obj in document["objects"]:
        if obj["id"] in MARKING_LEVELS:
            continue
        tlp_refs = [ref for ref in obj["object_marking_refs"] if ref in MARKING_LEVELS]
        assert tlp_refs == [levels[obj["id"]].marking_id], obj["id"]
        used[tlp_refs[0]] = levels[obj["id"]].value
    # The definitions of exactly the levels used, each saying its level.
    assert definitions == used


def test_apt1_report_bundle_is_valid_stix_with_its_contents(
    client: TestClient, db: Session, intel: Intel
) -> None:
    path = shared("stix/apt1.json")
    objects = stix_objects(path)
    report_id = next(o["id"] for o in objects if o["type"] == "report")
    import_as(db, intel.analyst, path.read_bytes(), tlp=Tlp.AMBER)

    answer = client.get(
        f"/api/v1/intel/objects/{report_id}/bundle", headers=intel.key(intel.away_analyst)
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/stix+json;version=2.1"
    document = answer.json()
    assert document["type"] == "bundle"
    assert document["objects"][0]["id"] == Tlp.AMBER.marking_id
    assert document["objects"][1]["id"] == report_id
    exported = {o["id"] for o in document["objects"][1:]}
    assert exported == {o["id"] for o in objects}
    _assert_good_bundle(document, dict.fromkeys(exported, Tlp.AMBER))
    # The objects themselves come out as they went in, but for the marking.
    original = {o["id"]: o for o in objects}
    for obj in document["objects"][1:]:
        assert {k: v for k, v in obj.items() if k != "object_marking_refs"} == original[obj["id"]]


def test_the_page_download_is_the_same_valid_bundle(
    client: TestClient, db: Session, intel: Intel
) -> None:
    path = shared("stix/apt1.json")
    report_id = next(o["id"] for o in stix_objects(path) if o["type"] == "report")
    import_as(db, intel.analyst, path.read_bytes(), tlp=Tlp.GREEN)
    sign_in(client, db, intel.away_analyst)
    answer = client.get(f"/intel/objects/{report_id}/bundle")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/stix+json;version=2.1"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="{report_id.replace("--", "-")}.json"'
    )
    document = answer.json()
    assert len(document["objects"]) == 77  # the report, its 75 objects and TLP:GREEN
    _assert_good_bundle(document, {o["id"]: Tlp.GREEN for o in document["objects"][1:]})


@pytest.mark.parametrize("name", [n for n in stix_examples() if n != "apt1.json"])
def test_every_object_of_each_real_example_exports_valid(
    client: TestClient, db: Session, intel: Intel, name: str
) -> None:
    path = shared(f"stix/{name}")
    import_as(db, intel.analyst, path.read_bytes(), tlp=Tlp.AMBER_STRICT)
    for obj in stix_objects(path):
        answer = client.get(
            f"/api/v1/intel/objects/{obj['id']}/bundle", headers=intel.key(intel.reader)
        )
        assert answer.status_code == 200, (obj["id"], answer.text)
        document = answer.json()
        assert [o["id"] for o in document["objects"]] == [Tlp.AMBER_STRICT.marking_id, obj["id"]]
        _assert_good_bundle(document, {obj["id"]: Tlp.AMBER_STRICT})


def test_a_bundle_of_mixed_markings_carries_each_objects_own(
    client: TestClient, db: Session, intel: Intel
) -> None:
    amber = indicator("[ipv4-addr:value = '198.51.100.7']", object_marking_refs=[TLP1_AMBER])
    strict = indicator(
        "[domain-name:value = 'c2.evil.example']",
        object_marking_refs=[Tlp.AMBER_STRICT.marking_id],
    )
    family = malware()
    the_report = report([amber["id"], strict["id"], family["id"]])
    import_as(db, intel.analyst, body(the_report, amber, strict, family), tlp=Tlp.GREEN)
    answer = client.get(
        f"/api/v1/intel/objects/{the_report['id']}/bundle", headers=intel.key(intel.away_analyst)
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    # Definitions come first, least restrictive first; then the report and its contents.
    assert [o["id"] for o in document["objects"]] == [
        Tlp.GREEN.marking_id,
        Tlp.AMBER.marking_id,
        Tlp.AMBER_STRICT.marking_id,
        the_report["id"],
        amber["id"],
        strict["id"],
        family["id"],
    ]
    _assert_good_bundle(
        document,
        {
            the_report["id"]: Tlp.GREEN,
            amber["id"]: Tlp.AMBER,
            strict["id"]: Tlp.AMBER_STRICT,
            family["id"]: Tlp.GREEN,
        },
    )


def test_other_marking_references_are_kept_beside_the_tlp(
    client: TestClient, db: Session, intel: Intel
) -> None:
    statement: Json = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--d3c0a5b2-1d2e-4f4a-9c7e-3b1a2c4d5e6f",
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2026, ThaiCERT"},
    }
    marked = malware(object_marking_refs=[TLP1_AMBER, statement["id"]])
    import_as(db, intel.analyst, body(statement, marked))
    answer = client.get(
        f"/api/v1/intel/objects/{marked['id']}", headers=intel.key(intel.away_analyst)
    )
    assert answer.json()["stix"]["object_marking_refs"] == [Tlp.AMBER.marking_id, statement["id"]]
    bundle = client.get(
        f"/api/v1/intel/objects/{statement['id']}/bundle", headers=intel.key(intel.away_analyst)
    ).json()
    _assert_good_bundle(bundle, {statement["id"]: Tlp.GREEN})


def test_an_object_nobody_shared_with_you_has_no_bundle(
    client: TestClient, db: Session, intel: Intel
) -> None:
    private = malware()
    import_as(db, intel.analyst, body(private), tlp=Tlp.RED, distribution=Distribution.ORGANISATION)
    path = f"/api/v1/intel/objects/{private['id']}/bundle"
    assert client.get(path, headers=intel.key(intel.reader)).status_code == 200
    assert client.get(path, headers=intel.key(intel.away_admin)).status_code == 404
    assert client.get(path, headers=intel.key(intel.third_platform_admin)).status_code == 404
