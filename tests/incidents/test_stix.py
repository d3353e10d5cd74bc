"""An incident as STIX 2.1: valid by the OASIS validator, marked, and carrying only the
linked objects the reader may see."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_parsed_json

from balai.config import Settings
from balai.intel.markings import Distribution, Tlp
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, body, import_as, indicator, sign_in


def test_the_bundle_is_valid_marked_and_holds_only_what_the_reader_may_see(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    shared = indicator("[ipv4-addr:value = '198.51.100.1']", name="Shared C2")
    own = indicator("[ipv4-addr:value = '198.51.100.2']", name="Our own sensor")
    import_as(db, intel.analyst, body(shared))
    import_as(db, intel.analyst, body(own), tlp=Tlp.RED, distribution=Distribution.ORGANISATION)
    incident = report_as(db, intel.analyst, settings, link_ids=[shared["id"], own["id"]])

    def bundle_for(headers: dict[str, str]) -> dict[str, Any]:
        response = client.get(f"/api/v1/incidents/{incident.id}/stix", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/stix+json")
        document: dict[str, Any] = response.json()
        return document

    theirs = bundle_for(intel.key(intel.away_analyst))
    result: Any = validate_parsed_json(theirs, ValidationOptions(version="2.1", strict=False))
    assert result.is_valid, [str(e) for e in result.errors]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in theirs["objects"]:
        by_type.setdefault(obj["type"], []).append(obj)
    [found] = by_type["incident"]
    assert found["id"] == f"incident--{incident.id}"
    assert found["name"] == incident.title
    assert 'rsit:malicious-code="infected-system"' in found["labels"]
    assert "severity:high" in found["labels"]
    assert "cross-border" in found["labels"]
    assert found["object_marking_refs"] == [Tlp.AMBER.marking_id]
    assert found["external_references"][0]["external_id"] == incident.reference
    assert [i["name"] for i in by_type["indicator"]] == ["Shared C2"]
    assert [r["target_ref"] for r in by_type["relationship"]] == [shared["id"]]
    assert "Our own sensor" not in str(theirs)
    assert by_type["identity"][0]["name"] == "ThaiCERT"
    # The reporter sees its own RED sensor linked too.
    mine = bundle_for(intel.key(intel.analyst))
    assert sorted(r["target_ref"] for r in mine["objects"] if r["type"] == "relationship") == (
        sorted([shared["id"], own["id"]])
    )


def test_an_outsider_gets_no_bundle_and_the_page_offers_the_download(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    red = report_as(db, intel.analyst, settings, tlp="red", distribution="organisation")
    outsider = client.get(f"/api/v1/incidents/{red.id}/stix", headers=intel.key(intel.third_admin))
    assert outsider.status_code == 404
    sign_in(client, db, intel.analyst)
    page = client.get(f"/incidents/{red.id}").text
    assert f'href="/incidents/{red.id}/stix"' in page
    download = client.get(f"/incidents/{red.id}/stix")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="{red.reference}.stix.json"'
    )
    assert download.json()["objects"][0]["id"] == Tlp.RED.marking_id
