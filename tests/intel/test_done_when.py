"""The issue's "done when", end to end through the pages and the API.

A user of one organisation uploads the OASIS APT1 report as AMBER for a sharing group; a
member of the group sees it and its correlations with an earlier MISP event; a member outside
the group finds no trace of it anywhere; the exports pass the validators.
"""

from __future__ import annotations

import json
import re

import stix2
from fastapi.testclient import TestClient
from pymisp import MISPEvent
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_parsed_json

from tests.intel.helpers import Intel, sign_in
from tests.shared_data import shared
from tests.web import csrf_of

APT1_NETWORK_ADDRESS = "223.167.10.20"  # inside APT1's 223.166.0.0/15
APT1_SUBDOMAIN = "mail.hugesoft.org"  # under APT1's hugesoft.org
APT1_MD5 = "001dd76872d80801692ff942308c64e6"  # one of APT1's file hashes


def earlier_misp_event() -> dict[str, object]:
    """A MISP event another organisation shared before APT1 arrived."""

    def attribute(n: int, kind: str, value: str) -> dict[str, object]:
        return {
            "uuid": f"7a1e0000-0000-4000-8000-{n:012d}",
            "type": kind,
            "value": value,
            "to_ids": True,
            "timestamp": "1767225600",
            "category": "Network activity",
        }

    return {
        "Event": {
            "uuid": "7a1e0000-0000-4000-8000-00000000e001",
            "info": "Phishing wave against ministries",
            "date": "2026-01-01",
            "timestamp": "1767225600",
            "published": True,
            "publish_timestamp": "1767225600",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                attribute(1, "ip-dst", APT1_NETWORK_ADDRESS),
                attribute(2, "domain", APT1_SUBDOMAIN),
                attribute(3, "md5", APT1_MD5),
            ],
        }
    }


def test_apt1_for_a_group_correlates_for_members_and_leaves_no_trace_for_outsiders(
    client: TestClient, db: Session, intel: Intel
) -> None:
    apt1 = shared("stix/apt1.json").read_bytes()
    report_id = next(o["id"] for o in json.loads(apt1)["objects"] if o["type"] == "report")
    misp = client.post(
        "/api/v1/intel/imports",
        params={"format": "misp", "tlp": "green", "distribution": "community"},
        content=json.dumps(earlier_misp_event()),
        headers=intel.key(intel.third_admin),
    )
    assert misp.status_code == 201, misp.text
    misp_report = misp.json()["report_ids"][0]

    group = client.post(
        "/api/v1/sharing-groups",
        json={"name": "APT1 partners", "member_ids": [str(intel.away.id)]},
        headers=intel.key(intel.admin),
    )
    assert group.status_code == 201, group.text
    sign_in(client, db, intel.analyst)
    form = client.get("/intel/upload")
    uploaded = client.post(
        "/intel/upload",
        data={
            "csrf_token": csrf_of(form.text),
            "format": "stix",
            "tlp": "amber",
            "distribution": "sharing_group",
            "sharing_group_id": group.json()["id"],
        },
        files={"file": ("apt1.json", apt1, "application/json")},
    )
    assert uploaded.status_code == 303, uploaded.text

    # A member of the group sees the report, its marking and its correlations.
    member = intel.key(intel.away_analyst)
    reports = client.get("/api/v1/intel/objects", params={"type": "report"}, headers=member).json()
    assert report_id in [o["stix_id"] for o in reports["items"]]
    assert client.get(f"/api/v1/intel/objects/{report_id}", headers=member).json()["tlp"] == "amber"
    correlations = client.get(
        f"/api/v1/intel/objects/{report_id}/correlations",
        params={"matched_only": "true"},
        headers=member,
    ).json()
    matched = {c["value"]: {o["name"] for o in c["objects"]} for c in correlations}
    assert set(matched) == {"223.166.0.0/15", "hugesoft.org", APT1_MD5}
    assert all(names for names in matched.values())
    sign_in(client, db, intel.away_analyst)
    page = client.get(f"/intel/objects/{report_id}")
    assert page.status_code == 200
    assert APT1_SUBDOMAIN in page.text
    assert APT1_NETWORK_ADDRESS in page.text

    # The exports pass the validators.
    bundle = client.get(f"/api/v1/intel/objects/{report_id}/bundle", headers=member).json()
    assert validate_parsed_json(bundle, ValidationOptions()).is_valid
    assert len(stix2.parse(bundle, allow_custom=True).objects) == len(bundle["objects"])
    event = MISPEvent()
    event.from_dict(**client.get(f"/api/v1/intel/objects/{report_id}/misp", headers=member).json())
    assert APT1_MD5 in {a.value for a in event.attributes}
    csv_text = client.get(f"/api/v1/intel/objects/{report_id}/csv", headers=member).text
    assert "hugesoft.org" in csv_text

    # An outsider — even a platform admin — finds no trace of it anywhere.
    outsider = intel.key(intel.third_platform_admin)
    everything = client.get(
        "/api/v1/intel/objects", params={"per_page": 500}, headers=outsider
    ).json()
    assert report_id not in json.dumps(everything)
    assert everything["total"] == len(everything["items"])
    for path in ("", "/bundle", "/misp", "/csv", "/versions", "/correlations", "/sightings"):
        assert (
            client.get(f"/api/v1/intel/objects/{report_id}{path}", headers=outsider).status_code
            == 404
        )
    for value in ("hugesoft.org", "223.166.0.1", "APT1"):
        assert (
            client.get("/api/v1/intel/search", params={"q": value}, headers=outsider).json()[
                "total"
            ]
            == 0
        )
    seen_from_misp = client.get(
        f"/api/v1/intel/objects/{misp_report}/correlations",
        params={"matched_only": "true"},
        headers=outsider,
    ).text
    assert seen_from_misp == "[]"  # APT1's copy does not exist for the outsider
    sign_in(client, db, intel.third_platform_admin)
    for path in (
        "/intel/objects?type=report",
        "/intel/search?q=hugesoft.org",
        f"/intel/objects/{misp_report}",
    ):
        text = client.get(path).text
        assert report_id not in text
        assert not re.search(r"APT1", text)
    assert client.get(f"/intel/objects/{report_id}").status_code == 404
