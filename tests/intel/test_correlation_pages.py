"""Correlations, warninglist hits, sightings and decay scores: through the API and the pages."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.intel import warninglists
from balai.intel.markings import Tlp
from balai.intel.models import Sighting
from tests.conftest import session_on
from tests.intel.helpers import Intel, body, count, import_as, indicator, report, sign_in
from tests.web import csrf_of


def test_the_api_lists_correlations_and_warninglist_hits_of_a_report(
    client: TestClient, connection: Connection, db: Session, intel: Intel
) -> None:
    warninglists.load(
        lambda: session_on(connection),
        lists=[
            {
                "name": "Test resolvers",
                "type": "cidr",
                "version": 1,
                "description": "d",
                "list": ["9.9.9.9/32"],
                "matching_attributes": ["ip-dst"],
            }
        ],
    )
    theirs = indicator("[ipv4-addr:value ISSUBSET '203.0.113.0/24']", name="their network")
    import_as(db, intel.away_analyst, body(theirs))
    hit = indicator("[ipv4-addr:value = '203.0.113.50']", name="our address")
    listed = indicator("[ipv4-addr:value = '9.9.9.9']", name="a resolver")
    ours = report([hit["id"], listed["id"]], name="Our report")
    import_as(db, intel.analyst, body(hit, listed, ours))

    answer = client.get(
        f"/api/v1/intel/objects/{ours['id']}/correlations", headers=intel.key(intel.reader)
    )
    assert answer.status_code == 200, answer.text
    by_value = {c["value"]: c for c in answer.json()}
    assert [o["stix_id"] for o in by_value["203.0.113.50"]["objects"]] == [theirs["id"]]
    assert by_value["9.9.9.9"]["warninglists"] == ["Test resolvers"]
    assert by_value["9.9.9.9"]["total"] == 0
    matched = client.get(
        f"/api/v1/intel/objects/{ours['id']}/correlations",
        params={"matched_only": "true"},
        headers=intel.key(intel.reader),
    )
    assert [c["value"] for c in matched.json()] == ["203.0.113.50"]

    sign_in(client, db, intel.reader)
    page = client.get(f"/intel/objects/{hit['id']}")
    assert page.status_code == 200
    assert "their network" in page.text
    resolver = client.get(f"/intel/objects/{listed['id']}")
    assert "Test resolvers" in resolver.text
    assert 'id="correlations"' not in resolver.text


def test_sightings_through_the_api_and_the_page_move_the_score(
    client: TestClient, db: Session, intel: Intel
) -> None:
    old = indicator(
        "[domain-name:value = 'stale.badcorp-infra.net']",
        created="2026-01-10T08:00:00.000Z",
        confidence=90,
    )
    import_as(db, intel.analyst, body(old), tlp=Tlp.GREEN)
    posted = client.post(
        f"/api/v1/intel/objects/{old['id']}/sightings",
        json={"kind": "seen", "count": 3},
        headers=intel.key(intel.away_analyst),
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["seen"] == 3
    assert posted.json()["score"] == 90  # seen now: full confidence
    listed = client.get(
        "/api/v1/intel/objects", params={"min_score": 80}, headers=intel.key(intel.reader)
    )
    assert [o["stix_id"] for o in listed.json()["items"]] == [old["id"]]
    assert listed.json()["items"][0]["score"] == 90

    refused = client.post(
        f"/api/v1/intel/objects/{old['id']}/sightings",
        json={"kind": "seen", "count": 1},
        headers=intel.key(intel.reader),
    )
    assert refused.status_code == 403
    bad = client.post(
        f"/api/v1/intel/objects/{old['id']}/sightings",
        json={"kind": "seen", "first_seen": "2026-01-01T00:00:00"},
        headers=intel.key(intel.analyst),
    )
    assert bad.status_code == 422
    assert "time zone" in bad.text

    sign_in(client, db, intel.analyst)
    page = client.get(f"/intel/objects/{old['id']}")
    assert "Seen</dt><dd>3 times by 1 organisation" in page.text
    before = count(db, Sighting)
    wrong = client.post(
        f"/intel/objects/{old['id']}/sightings",
        data={"csrf_token": csrf_of(page.text), "kind": "seen", "count": "many"},
    )
    assert wrong.status_code == 422
    assert "must be a whole number" in wrong.text
    assert count(db, Sighting) == before
    done = client.post(
        f"/intel/objects/{old['id']}/sightings",
        data={"csrf_token": csrf_of(page.text), "kind": "false_positive"},
    )
    assert done.status_code == 303
    after = client.get(
        f"/api/v1/intel/objects/{old['id']}/sightings", headers=intel.key(intel.analyst)
    )
    assert after.json()["false_positive_by"] == 1
    assert after.json()["score"] == 45
    assert [s["kind"] for s in after.json()["own"]] == ["false_positive"]


def test_stix_sightings_in_a_bundle_become_the_importers_reports(
    client: TestClient, db: Session, intel: Intel
) -> None:
    ioc = indicator("[ipv4-addr:value = '198.51.100.23']", name="seen address")
    import_as(db, intel.analyst, body(ioc))
    seen = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "sighting_of_ref": ioc["id"],
        "count": 4,
        "first_seen": "2026-10-30T00:00:00.000Z",
        "last_seen": "2026-10-31T00:00:00.000Z",
    }
    false = dict(
        seen,
        id="sighting--" + "2" * 8 + "-2222-4222-8222-" + "2" * 12,
        x_balai_feedback="false_positive",
    )
    elsewhere = dict(
        seen,
        id="sighting--" + "3" * 8 + "-3333-4333-8333-" + "3" * 12,
        sighting_of_ref="indicator--" + "4" * 8 + "-4444-4444-8444-" + "4" * 12,
    )
    batch = import_as(db, intel.away_analyst, body(seen, false, elsewhere))
    assert batch.report["not_mapped"] == [
        f"Sighting {elsewhere['id']}: of {elsewhere['sighting_of_ref']}, which is not held here "
        "for you; kept as STIX"
    ]
    got = client.get(
        f"/api/v1/intel/objects/{ioc['id']}/sightings", headers=intel.key(intel.away_analyst)
    ).json()
    assert (got["seen"], got["seen_by"], got["false_positive_by"]) == (4, 1, 1)
    assert {s["source"] for s in got["own"]} == {"stix"}
    import_as(db, intel.away_analyst, body(seen, false, elsewhere))  # again: nothing new
    assert count(db, Sighting) == 2


def test_a_search_result_downloads_as_a_valid_bundle_and_pages_filter_on_score(
    client: TestClient, db: Session, intel: Intel
) -> None:
    from stix2validator import ValidationOptions, validate_parsed_json

    from balai.intel import sightings

    fresh = indicator(
        "[domain-name:value = 'x.badcorp-infra.net']",
        name="fresh one",
        created="2026-11-01T00:00:00.000Z",
        confidence=70,
    )
    faded = indicator(
        "[domain-name:value = 'y.badcorp-infra.net']",
        name="faded one",
        created="2025-01-01T00:00:00.000Z",
        confidence=70,
    )
    import_as(db, intel.analyst, body(fresh, faded))
    sightings.rescore(db, [fresh["id"], faded["id"]])
    db.commit()
    found = client.get(
        "/api/v1/intel/search/bundle",
        params={"q": "badcorp-infra.net"},
        headers=intel.key(intel.reader),
    )
    assert found.status_code == 200
    assert found.headers["x-total-count"] == "0"  # parents of the query, not its children
    found = client.get(
        "/api/v1/intel/search/bundle",
        params={"q": "x.badcorp-infra.net"},
        headers=intel.key(intel.reader),
    )
    bundle = found.json()
    assert [o["id"] for o in bundle["objects"] if o["type"] == "indicator"] == [fresh["id"]]
    assert validate_parsed_json(bundle, ValidationOptions()).is_valid

    sign_in(client, db, intel.reader)
    page = client.get("/intel/objects", params={"type": "indicator", "min_score": "50"})
    assert "fresh one" in page.text
    assert "faded one" not in page.text
    bad = client.get("/intel/objects", params={"min_score": "lots"})
    assert bad.status_code == 422
    assert "min_score" in bad.text
    download = client.get("/intel/search/bundle", params={"q": "y.badcorp-infra.net"})
    assert download.headers["content-disposition"] == 'attachment; filename="search.json"'
    assert faded["id"] in download.text
