"""The scanner on the platform: exports (visibility, PAP, paging), scan sightings, the page."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from balai.intel.markings import Distribution, Tlp
from balai.intel.models import Sighting
from tests.intel.helpers import Intel, body, import_as, indicator, report, sign_in, text_of

C2_IP = "185.220.101.7"
C2_DOMAIN = "c2.badcorp-infra.net"
RED_DOMAIN = "quiet.badcorp-infra.net"
HIDDEN_IP = "45.137.21.9"
LOG = (
    "Dec 10 06:55:46 gw sshd[1]: Invalid user admin from 185.220.101.7\n"
    "Dec 10 06:55:47 gw named[2]: query: WWW.C2.BadCorp-Infra.net IN A\n"
    "Dec 10 06:55:48 gw named[2]: query: notc2.badcorp-infra.net.au IN A\n"
    "Dec 10 06:55:49 gw sshd[1]: Invalid user root from 45.137.21.9\n"
    "Dec 10 06:55:50 gw sshd[1]: Invalid user root from 185.220.101.70\n"
)


@pytest.fixture
def shared(intel: Intel) -> dict[str, str]:
    """Home shares three indicators with the community (one PAP:RED); away keeps one."""
    ip = indicator(f"[ipv4-addr:value = '{C2_IP}']", name="Botnet C2")
    domain = indicator(f"[domain-name:value = '{C2_DOMAIN}']", name="C2 domain")
    red = indicator(f"[domain-name:value = '{RED_DOMAIN}']", name="Quiet C2", labels=["PAP:RED"])
    hidden = indicator(f"[ipv4-addr:value = '{HIDDEN_IP}']", name="Away only")
    import_as(
        intel.db, intel.analyst, body(ip, domain, red, report([ip["id"]], name="Botnet wave"))
    )
    import_as(
        intel.db,
        intel.away_analyst,
        body(hidden),
        tlp=Tlp.AMBER,
        distribution=Distribution.ORGANISATION,
    )
    return {"ip": ip["id"], "domain": domain["id"], "red": red["id"], "hidden": hidden["id"]}


def scan_rows(client: TestClient, headers: dict[str, str], limit: int) -> list[dict[str, object]]:
    """Every row of the scanner's export, following X-Next-After."""
    rows: list[dict[str, object]] = []
    after = "0"
    for _ in range(20):
        response = client.get(
            "/api/v1/intel/export",
            params={"format": "scan", "after": after, "limit": limit},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        rows.extend(json.loads(line) for line in response.text.splitlines())
        if "x-next-after" not in response.headers:
            return rows
        after = response.headers["x-next-after"]
    raise AssertionError("paging did not end")


def test_the_scanner_export_holds_what_the_user_may_see_page_by_page(
    client: TestClient, intel: Intel, shared: dict[str, str]
) -> None:
    home = scan_rows(client, intel.key(intel.reader), limit=1)
    assert {(r["kind"], r["value"]) for r in home} == {
        ("ipv4", C2_IP),
        ("domain", C2_DOMAIN),
        ("domain", RED_DOMAIN),
    }
    assert {r["stix_id"] for r in home} == {shared["ip"], shared["domain"], shared["red"]}
    red = next(r for r in home if r["value"] == RED_DOMAIN)
    assert (red["pap"], red["tlp"], red["name"], red["reports"]) == ("red", "green", "Quiet C2", [])
    c2 = next(r for r in home if r["value"] == C2_IP)
    assert c2["reports"] == ["Botnet wave"]
    # One page at once gives the same rows as one row a page.
    assert scan_rows(client, intel.key(intel.reader), limit=1000) == home
    away = scan_rows(client, intel.key(intel.away_analyst), limit=1000)
    assert ("ipv4", HIDDEN_IP) in {(r["kind"], r["value"]) for r in away}
    third = scan_rows(client, intel.key(intel.third_admin), limit=1000)
    assert HIDDEN_IP not in {r["value"] for r in third}


def test_engine_exports_keep_only_what_the_action_allows(
    client: TestClient, intel: Intel, shared: dict[str, str]
) -> None:
    headers = intel.key(intel.reader)
    zeek = client.get("/api/v1/intel/export", params={"format": "zeek"}, headers=headers)
    assert zeek.status_code == 200
    lines = zeek.text.splitlines()
    assert lines[0].startswith("#fields\tindicator\tindicator_type")
    assert f"{C2_IP}\tIntel::ADDR" in zeek.text
    assert f"{C2_DOMAIN}\tIntel::DOMAIN" in zeek.text
    assert RED_DOMAIN not in zeek.text  # PAP:RED: not for watching the network
    assert HIDDEN_IP not in zeek.text

    rpz = client.get("/api/v1/intel/export", params={"format": "rpz"}, headers=headers)
    assert rpz.status_code == 200
    assert f"*.{C2_DOMAIN} CNAME ." in rpz.text
    assert "32.7.101.220.185.rpz-ip CNAME ." in rpz.text
    assert RED_DOMAIN not in rpz.text

    lists = client.get("/api/v1/intel/export", params={"format": "text"}, headers=headers)
    with zipfile.ZipFile(io.BytesIO(lists.content)) as archive:
        assert archive.read("ipv4.txt").decode() == f"{C2_IP}\n"
        assert archive.read("domain.txt").decode() == f"{C2_DOMAIN}\n"

    suricata = client.get("/api/v1/intel/export", params={"format": "suricata"}, headers=headers)
    with zipfile.ZipFile(io.BytesIO(suricata.content)) as archive:
        assert C2_IP in archive.read("iprep/balai.list").decode()
        assert "balai.rules" in archive.namelist()

    bad = client.get("/api/v1/intel/export", params={"format": "pdf"}, headers=headers)
    assert bad.status_code == 422
    anonymous = client.get("/api/v1/intel/export", params={"format": "zeek"})
    assert anonymous.status_code == 401


def test_scan_sightings_are_recorded_all_or_nothing(
    client: TestClient, intel: Intel, shared: dict[str, str]
) -> None:
    headers = intel.key(intel.away_analyst)
    good = {"stix_id": shared["ip"], "count": 3, "first_seen": "2026-11-01T10:00:00Z"}
    refused = client.post(
        "/api/v1/intel/sightings",
        json={"sightings": [good, {"stix_id": shared["hidden"] + "0", "count": 1}]},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "sightings[1].stix_id" in refused.text
    assert intel.db.scalars(select(Sighting)).all() == []

    done = client.post(
        "/api/v1/intel/sightings",
        json={"sightings": [good, {"stix_id": shared["domain"], "count": 2}]},
        headers=headers,
    )
    assert done.status_code == 201, done.text
    assert done.json()["recorded"] == 2
    rows = intel.db.scalars(select(Sighting).order_by(Sighting.count)).all()
    assert [(r.stix_id, r.count, r.source) for r in rows] == [
        (shared["domain"], 2, "scanner"),
        (shared["ip"], 3, "scanner"),
    ]
    assert {r.organisation_id for r in rows} == {intel.away.id}

    third = client.post(
        "/api/v1/intel/sightings",
        json={"sightings": [{"stix_id": shared["hidden"], "count": 1}]},
        headers=intel.key(intel.third_admin),
    )
    assert third.status_code == 422  # the same answer as for an id that does not exist
    reader = client.post(
        "/api/v1/intel/sightings",
        json={"sightings": [{"stix_id": shared["ip"], "count": 1}]},
        headers=intel.key(intel.reader),
    )
    assert reader.status_code == 403
    naive = client.post(
        "/api/v1/intel/sightings",
        json={
            "sightings": [{"stix_id": shared["ip"], "count": 1, "last_seen": "2026-11-01T10:00:00"}]
        },
        headers=headers,
    )
    assert naive.status_code == 422
    assert len(intel.db.scalars(select(Sighting)).all()) == 2


def upload(client: TestClient, data: bytes, name: str = "auth.log") -> str:
    page = client.get("/intel/scan")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/intel/scan", data={"csrf_token": token}, files={"file": (name, data, "text/plain")}
    )
    assert response.status_code in (200, 422), response.text
    return str(response.text)


def test_a_member_scans_an_upload_and_sees_only_hits_on_what_they_may_see(
    client: TestClient, intel: Intel, shared: dict[str, str]
) -> None:
    sign_in(client, intel.db, intel.third_admin)
    page = text_of(upload(client, LOG.encode()))
    assert "auth.log: 2 hits of 2 indicators" in page
    assert "WWW.C2.BadCorp-Infra.net" in page  # the matched text, as written in the log
    assert "Botnet C2" in page
    assert HIDDEN_IP not in page.split("Lines with hits", 1)[1]  # away's, invisible to third
    assert "185.220.101.70" not in page.split("Lines with hits", 1)[1]

    sign_in(client, intel.db, intel.away_analyst)
    compressed = text_of(upload(client, gzip.compress(LOG.encode()), "auth.log.gz"))
    assert "auth.log.gz: 3 hits of 3 indicators" in compressed  # away sees its own too


def test_the_page_refuses_what_it_cannot_scan_and_links_the_exports(
    client: TestClient, intel: Intel, shared: dict[str, str]
) -> None:
    sign_in(client, intel.db, intel.reader)
    page = client.get("/intel/scan")
    assert 'href="/intel/scan/export/zeek"' in page.text
    assert 'href="/intel/scan/export/suricata"' in page.text
    broken = text_of(upload(client, b"\x1f\x8b not gzip", "broken.log.gz"))
    assert "not a readable gzip file" in broken
    download = client.get("/intel/scan/export/rpz")
    assert download.status_code == 200
    assert f"{C2_DOMAIN} CNAME ." in download.text
    client.cookies.clear()
    assert client.get("/intel/scan").status_code in (302, 303)
