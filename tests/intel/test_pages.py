"""Intelligence pages: lists with filters and paging, objects, search, upload and its report."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.intel.markings import Tlp
from tests.intel.helpers import (
    CREATED,
    LATER,
    Intel,
    body,
    import_as,
    indicator,
    intel_rows,
    malware,
    sign_in,
    stix_objects,
    text_of,
)
from tests.shared_data import shared
from tests.web import csrf_of

APT1_REPORT = "report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf"
NETWORK_223 = "indicator--031778a4-057f-48e6-9db9-c8d72b81ccd5"  # 223.166.0.0/15


@pytest.fixture
def apt1(db: Session, intel: Intel) -> None:
    """APT1 (76 objects) shared as GREEN with the community by the home organisation."""
    import_as(db, intel.analyst, shared("stix/apt1.json").read_bytes())


def _rows(page: str) -> list[str]:
    """The object links of a list's table, in order."""
    return re.findall(r'<td><a href="/intel/objects/([^"]+)">', page)


def _next(page: str) -> str:
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    assert found, "no link to the next page"
    return html.unescape(found.group(1))


def _upload(
    client: TestClient, data: bytes, fields: dict[str, str], filename: str = "bundle.json"
) -> httpx.Response:
    page = client.get("/intel/upload")
    assert page.status_code == 200, page.text
    response: httpx.Response = client.post(
        "/intel/upload",
        data={**fields, "csrf_token": csrf_of(page.text)},
        files={"file": (filename, data, "application/json")},
    )
    return response


def _selected(page: str, name: str) -> list[str]:
    """The chosen options of a select."""
    found = re.search(rf'<select id="{name}" name="{name}".*?</select>', page, re.S)
    assert found, name
    return re.findall(r'<option value="([^"]*)"\s*selected>', found.group(0))


@pytest.mark.usefixtures("apt1")
def test_the_object_list_filters_and_pages(client: TestClient, db: Session, intel: Intel) -> None:
    amber = indicator("[ipv4-addr:value = '192.0.2.1']", name="Ministry phishing relay")
    import_as(db, intel.analyst, body(amber), tlp=Tlp.AMBER)
    sign_in(client, db, intel.away_analyst)

    everything = client.get("/intel/objects")
    assert everything.status_code == 200
    assert "Page 1 of 2 (77 in all)" in text_of(everything.text)
    assert len(_rows(everything.text)) == 50
    assert _rows(everything.text)[0] == amber["id"]  # newest first
    second = client.get(_next(everything.text))
    assert len(_rows(second.text)) == 27
    assert set(_rows(everything.text)).isdisjoint(_rows(second.text))

    reports = client.get("/intel/objects?type=report")
    assert _rows(reports.text) == [APT1_REPORT]
    assert "<h1>Reports</h1>" in reports.text
    assert _selected(reports.text, "type") == ["report"]

    by_tlp = client.get("/intel/objects?tlp=amber")
    assert _rows(by_tlp.text) == [amber["id"]]
    assert _selected(by_tlp.text, "tlp") == ["amber"]

    by_name = client.get("/intel/objects", params={"q": "HUGESOFT"})
    assert _rows(by_name.text) == ["indicator--3f3ff9f1-bb4e-4392-89e5-1991179042ba"]
    assert 'value="HUGESOFT"' in by_name.text

    nothing = client.get("/intel/objects", params={"q": "no such thing", "type": "report"})
    assert "Nothing matches." in nothing.text

    # Paging keeps the filters: 30 relationships, 13 indicators and 10 tools are 53.
    several = client.get("/intel/objects?type=relationship&type=indicator&type=tool")
    assert "Page 1 of 2 (53 in all)" in text_of(several.text)
    following = _next(several.text)
    assert following == "/intel/objects?type=relationship&type=indicator&type=tool&page=2"
    rest = client.get(following)
    assert "Page 2 of 2 (53 in all)" in text_of(rest.text)
    assert len(_rows(rest.text)) == 3


def test_the_pages_need_a_signed_in_user(client: TestClient) -> None:
    for path in ("/intel/objects", f"/intel/objects/{APT1_REPORT}", "/intel/search?q=x"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


@pytest.mark.usefixtures("apt1")
def test_a_report_page_lists_its_contents(client: TestClient, db: Session, intel: Intel) -> None:
    sign_in(client, db, intel.away_analyst)
    page = client.get(f"/intel/objects/{APT1_REPORT}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "APT1: Exposing One of China's Cyber Espionage Units" in text
    assert "shared by ThaiCERT with this community" in text
    assert "Objects this report points to that you may see (75)" in text
    refs = [o["id"] for o in stix_objects(shared("stix/apt1.json")) if o["type"] != "report"]
    contents = page.text.split("<h2>Contents</h2>", 1)[1]
    assert _rows(contents) == [r for r in _report_refs() if r in refs]
    assert f'href="/intel/objects/{APT1_REPORT}/bundle"' in page.text
    assert "<h2>Versions</h2>" not in page.text  # only one
    missing = client.get("/intel/objects/report--00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404


def _report_refs() -> list[str]:
    report = next(o for o in stix_objects(shared("stix/apt1.json")) if o["type"] == "report")
    refs: list[str] = report["object_refs"]
    return refs


@pytest.mark.usefixtures("apt1")
def test_an_indicator_page_links_its_values_to_search(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.reader)
    page = client.get(f"/intel/objects/{NETWORK_223}")
    assert page.status_code == 200
    assert "[ipv4-addr:value = &#39;223.166.0.0/15&#39;]" in page.text
    assert '<a href="/intel/search?q=223.166.0.0/15"><code>223.166.0.0/15</code></a>' in (page.text)
    assert "<td>cidr</td>" in page.text
    search = client.get("/intel/search?q=223.166.0.0/15")
    assert _rows(search.text) == [NETWORK_223]


def test_an_object_with_several_versions_shows_them(
    client: TestClient, db: Session, intel: Intel
) -> None:
    first = indicator("[domain-name:value = 'old.evil.example']", name="Relay")
    newer = {**first, "modified": LATER, "pattern": "[domain-name:value = 'new.evil.example']"}
    import_as(db, intel.analyst, body(first))
    import_as(db, intel.analyst, body(newer), tlp=Tlp.AMBER)
    sign_in(client, db, intel.reader)
    page = client.get(f"/intel/objects/{first['id']}")
    assert page.status_code == 200
    versions = page.text.split("<h2>Versions</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td>.*?TLP:(\w+).*?<td>(yes|)</td></tr>", versions, re.S)
    assert [(tlp, latest) for _, tlp, latest in rows] == [("GREEN", ""), ("AMBER", "yes")]
    assert "new.evil.example" in page.text
    assert 'href="/intel/search?q=old.evil.example"' not in page.text
    assert CREATED[:10] in versions


@pytest.mark.usefixtures("apt1")
def test_the_search_page_finds_values_and_names(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.away_analyst)
    empty = client.get("/intel/search")
    assert empty.status_code == 200
    assert "Objects you may see that match" not in empty.text

    by_value = client.get("/intel/search", params={"q": "hxxp://www.hugesoft[.]org/x"})
    assert "Looking for the url http://www.hugesoft.org/x." in text_of(by_value.text)
    assert _rows(by_value.text) == []

    by_domain = client.get("/intel/search", params={"q": "www.hugesoft[.]org"})
    assert "Looking for the domain www.hugesoft.org." in text_of(by_domain.text)
    assert _rows(by_domain.text) == ["indicator--3f3ff9f1-bb4e-4392-89e5-1991179042ba"]
    assert 'value="www.hugesoft[.]org"' in by_domain.text

    by_name = client.get("/intel/search", params={"q": "ugly gorilla"})
    assert "No value recognised: searching names." in text_of(by_name.text)
    assert _rows(by_name.text) == ["threat-actor--6d179234-61fc-40c4-ae86-3d53308d8e65"]

    none = client.get("/intel/search", params={"q": "223.168.0.1"})
    assert "Nothing you may see matches." in none.text


def test_search_paging_keeps_the_query(client: TestClient, db: Session, intel: Intel) -> None:
    many = [malware(name=f"Tom & Jerry #{n}") for n in range(51)]
    import_as(db, intel.analyst, body(*many))
    sign_in(client, db, intel.reader)
    first = client.get("/intel/search", params={"q": "Tom & Jerry #"})
    assert "Page 1 of 2 (51 in all)" in text_of(first.text)
    second = client.get(_next(first.text))
    assert second.status_code == 200
    assert "Page 2 of 2 (51 in all)" in text_of(second.text)
    assert len(_rows(second.text)) == 1


def test_the_upload_page_is_for_analysts(client: TestClient, db: Session, intel: Intel) -> None:
    sign_in(client, db, intel.reader)
    assert client.get("/intel/upload").status_code == 403
    assert 'href="/intel/upload"' not in client.get("/intel/objects").text
    client.cookies.clear()
    sign_in(client, db, intel.analyst)
    page = client.get("/intel/upload")
    assert page.status_code == 200
    assert 'href="/intel/upload"' in page.text
    # An AMBER upload to the community is what most sharing is, so it is the default.
    assert _selected(page.text, "tlp") == ["amber"]
    assert _selected(page.text, "distribution") == ["community"]
    assert _selected(page.text, "format") == ["stix"]


def test_a_bad_file_shows_every_problem_and_keeps_the_marking(
    client: TestClient, db: Session, intel: Intel
) -> None:
    group = client.post(
        "/api/v1/sharing-groups", json={"name": "Mekong partners"}, headers=intel.key(intel.admin)
    ).json()["id"]
    sign_in(client, db, intel.analyst)
    bad_pattern = indicator("[ipv4-addr:value = ")
    no_family = {k: v for k, v in malware().items() if k != "is_family"}
    before = intel_rows(db)
    fields = {
        "format": "stix",
        "tlp": "amber+strict",
        "distribution": "sharing_group",
        "sharing_group_id": group,
    }
    refused = _upload(client, body(malware(), bad_pattern, no_family), fields)
    assert refused.status_code == 422, refused.text
    text = text_of(refused.text)
    assert "Nothing was imported: 2 problems" in text
    assert f"objects[1] ({bad_pattern['id']}).pattern: not a valid STIX pattern" in text
    assert f"objects[2] ({no_family['id']}).is_family: is required" in text
    assert _selected(refused.text, "tlp") == ["amber+strict"]
    assert _selected(refused.text, "distribution") == ["sharing_group"]
    assert _selected(refused.text, "sharing_group_id") == [group]
    assert intel_rows(db) == before

    unreadable = _upload(client, b'{"type": "bundle",\n "objects": [', fields)
    assert unreadable.status_code == 422
    assert "line 2, column 14: not valid JSON" in text_of(unreadable.text)

    pair = _upload(client, body(malware()), {"tlp": "red", "distribution": "community"})
    assert pair.status_code == 422
    assert "TLP:RED is for named recipients only" in text_of(pair.text)
    assert _selected(pair.text, "tlp") == ["red"]

    no_file = _upload(client, b"", {"tlp": "green", "distribution": "community"}, filename="")
    assert no_file.status_code == 422
    assert "choose a file to upload" in text_of(no_file.text)
    assert intel_rows(db) == before


def test_an_upload_leads_to_its_report(client: TestClient, db: Session, intel: Intel) -> None:
    sign_in(client, db, intel.analyst)
    data = shared("stix/apt1.json").read_bytes()
    done = _upload(client, data, {"tlp": "green", "distribution": "community"}, "apt1.json")
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert re.fullmatch(r"/intel/imports/[0-9a-f-]{36}", location)
    page = client.get(location)
    assert page.status_code == 200
    text = text_of(page.text)
    assert "The file is imported." in text
    assert "apt1.json (stix)" in text
    assert "TLP:GREEN This community" in text
    assert "Values indexed 10" in text
    assert "indicator 12 0 0" in text
    assert "relationship 30 0 0" in text
    assert f'<a href="/intel/objects/{APT1_REPORT}">' in page.text

    again = _upload(client, data, {"tlp": "green", "distribution": "community"}, "apt1.json")
    assert again.status_code == 303
    assert "indicator 0 0 12" in text_of(client.get(again.headers["location"]).text)

    # Another organisation's import report is not found.
    client.cookies.clear()
    sign_in(client, db, intel.away_admin)
    assert client.get(location).status_code == 404
    assert client.get(f"/intel/imports/{uuid.uuid4()}").status_code == 404
