"""The OASIS TAXII 2.1 client (taxii2-client) against a running Balai server."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from taxii2client.exceptions import AccessError
from taxii2client.v21 import ApiRoot, Collection, Server, Status, as_pages

from balai.taxii.collections import COMMUNITY, CONNECTED, EVERYTHING, ORGANISATION
from tests.intel.helpers import indicator, new_id
from tests.taxii.conftest import BULK, Taxii

TAXII = "application/taxii+json;version=2.1"


def _ids(envelope: dict) -> list[str]:  # type: ignore[type-arg]  # a TAXII envelope
    return [o["id"] for o in envelope.get("objects", [])]


# Discovery, API root, collections


def test_discovery_and_api_root(taxii: Taxii) -> None:
    server = Server(
        taxii.discovery,
        user=taxii.basic(taxii.home_reader)[0],
        password=taxii.basic(taxii.home_reader)[1],
    )
    assert "TAXII" in server.title
    assert [root.url for root in server.api_roots] == [taxii.api_root]
    assert server.default is not None
    assert server.default.url == taxii.api_root
    root = server.api_roots[0]
    assert root.versions == [TAXII]
    assert root.max_content_length == 200_000


def test_collections_follow_the_callers_organisation_and_role(taxii: Taxii) -> None:
    reader = ApiRoot(
        taxii.api_root, user=taxii.home_reader.email, password=taxii.keys[taxii.home_reader.email]
    )
    offered = {c.id: c for c in reader.collections}
    assert {EVERYTHING, COMMUNITY, CONNECTED, ORGANISATION, str(taxii.group)} <= set(offered)
    assert all(c.can_read for c in offered.values())
    assert not any(c.can_write for c in offered.values()), "a reader writes nowhere"

    analyst = ApiRoot(taxii.api_root, **taxii.creds(taxii.home_analyst))
    writable = {c.id for c in analyst.collections if c.can_write}
    assert writable == {COMMUNITY, CONNECTED, ORGANISATION, str(taxii.group), str(taxii.bulk_group)}

    outsider = ApiRoot(taxii.api_root, **taxii.creds(taxii.outsider))
    assert str(taxii.group) not in {c.id for c in outsider.collections}
    with pytest.raises(Exception, match="404"):
        Collection(taxii.collection_url(str(taxii.group)), **taxii.creds(taxii.outsider)).refresh()


# Objects and filters


def test_objects_of_a_collection_and_the_type_and_id_filters(taxii: Taxii) -> None:
    community = Collection(taxii.community, **taxii.creds(taxii.away_analyst))
    got = _ids(community.get_objects())
    assert set(taxii.community_ids) <= set(got)
    assert got.count(taxii.versions_id) == 1, "the last version only, by default"
    assert taxii.group_only not in got
    assert taxii.red_id not in got

    one = community.get_objects(id=taxii.community_ids[0])
    assert _ids(one) == [taxii.community_ids[0]]
    two = community.get_objects(id=",".join(taxii.community_ids[:2]))
    assert sorted(_ids(two)) == sorted(taxii.community_ids[:2])
    assert _ids(community.get_objects(type="malware")) == []
    assert len(_ids(community.get_objects(type="indicator"))) == len(got)


def test_version_filters(taxii: Taxii) -> None:
    community = Collection(taxii.community, **taxii.creds(taxii.away_analyst))

    def names(**filters: str) -> list[str]:
        envelope = community.get_object(taxii.versions_id, **filters)
        return [o["name"] for o in envelope.get("objects", [])]

    assert names() == ["Version 3"]
    assert names(version="last") == ["Version 3"]
    assert names(version="first") == ["Version 1"]
    assert names(version="all") == ["Version 1", "Version 2", "Version 3"]
    assert sorted(names(version="first,last")) == ["Version 1", "Version 3"]
    assert names(version="2026-03-02T00:00:00.000Z") == ["Version 2"]
    assert names(version="2026-03-02T00:00:00Z") == ["Version 2"]
    assert names(version="2026-03-05T00:00:00.000Z") == []
    assert names(spec_version="2.1") == ["Version 3"]
    assert names(spec_version="2.0") == []

    versions = community.object_versions(taxii.versions_id)
    assert versions["versions"] == [
        "2026-03-01T00:00:00.000000Z",
        "2026-03-02T00:00:00.000000Z",
        "2026-03-03T00:00:00.000000Z",
    ]


def test_added_after_and_the_date_added_headers(taxii: Taxii) -> None:
    url = taxii.community + "objects/"
    auth = taxii.basic(taxii.away_analyst)
    first = httpx.get(url, auth=auth, headers={"Accept": TAXII}, params={"limit": "2"})
    assert first.status_code == 200
    assert first.headers["content-type"] == TAXII
    earliest = first.headers["X-TAXII-Date-Added-First"]
    latest = first.headers["X-TAXII-Date-Added-Last"]
    assert earliest <= latest
    everything = httpx.get(url, auth=auth, headers={"Accept": TAXII}).json()["objects"]
    later = httpx.get(
        url, auth=auth, headers={"Accept": TAXII}, params={"added_after": earliest}
    ).json()
    assert 0 < len(later.get("objects", [])) < len(everything)
    for record in Collection(taxii.community, user=auth[0], password=auth[1]).get_manifest(
        added_after=earliest
    )["objects"]:
        assert record["date_added"] > earliest


def test_paging_ten_thousand_objects_added_in_one_instant(taxii: Taxii) -> None:
    bulk = Collection(taxii.collection_url(str(taxii.bulk_group)), **taxii.creds(taxii.outsider))
    seen: Counter[str] = Counter()
    pages = 0
    for envelope in as_pages(bulk.get_objects, per_request=1000):
        pages += 1
        assert len(envelope["objects"]) <= 1000
        seen.update(_ids(envelope))
    assert pages == BULK // 1000
    assert len(seen) == BULK, "every object once"
    assert max(seen.values()) == 1, "none twice"

    records: Counter[str] = Counter()
    for envelope in as_pages(bulk.get_manifest, per_request=700):
        records.update(r["id"] for r in envelope["objects"])
        assert {r["media_type"] for r in envelope["objects"]} == {
            "application/stix+json;version=2.1"
        }
    assert records == seen


def test_a_page_larger_than_the_server_allows_is_cut_to_its_maximum(taxii: Taxii) -> None:
    bulk = Collection(taxii.collection_url(str(taxii.bulk_group)), **taxii.creds(taxii.outsider))
    envelope = bulk.get_objects(limit=5000)
    assert len(envelope["objects"]) == 1000
    assert envelope["more"] is True
    assert envelope["next"]


# Writing


def test_add_objects_returns_a_status_whose_counts_add_up(taxii: Taxii) -> None:
    analyst = taxii.basic(taxii.home_analyst)
    community = Collection(taxii.community, user=analyst[0], password=analyst[1])
    marked = indicator(
        "[domain-name:value = 'posted.example']",
        object_marking_refs=["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
    )
    unmarked = indicator("[domain-name:value = 'unmarked.example']")
    status = community.add_objects({"objects": [marked, unmarked]})
    assert status.status == "complete"
    assert (
        status.total_count,
        status.success_count,
        status.failure_count,
        status.pending_count,
    ) == (2, 2, 0, 0)
    assert {s["id"] for s in status.successes} == {marked["id"], unmarked["id"]}

    again = Status(f"{taxii.api_root}status/{status.id}", user=analyst[0], password=analyst[1])
    again.refresh()
    assert again.success_count == 2
    with pytest.raises(Exception, match="404"):
        Status(f"{taxii.api_root}status/{status.id}", **taxii.creds(taxii.away_analyst)).refresh()

    reader = Collection(taxii.community, **taxii.creds(taxii.away_analyst))
    got = {o["id"]: o for o in reader.get_objects(id=f"{marked['id']},{unmarked['id']}")["objects"]}
    green, amber = (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    )
    assert got[marked["id"]]["object_marking_refs"] == [green], "its own marking stands"
    assert got[unmarked["id"]]["object_marking_refs"] == [amber], "unmarked is taken as AMBER"


def test_a_reader_may_not_write_and_nothing_is_stored(taxii: Taxii) -> None:
    community = Collection(taxii.community, **taxii.creds(taxii.home_reader))
    refused = indicator("[domain-name:value = 'by-a-reader.example']")
    with pytest.raises(AccessError):
        community.add_objects({"objects": [refused]})
    response = httpx.post(
        taxii.community + "objects/",
        auth=taxii.basic(taxii.home_reader),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        json={"objects": [refused]},
    )
    assert response.status_code == 403
    assert response.json()["http_status"] == "403"
    reader = Collection(taxii.community, **taxii.creds(taxii.home_analyst))
    assert _ids(reader.get_objects(id=refused["id"])) == []


def test_a_bad_object_refuses_the_whole_envelope_and_says_where(taxii: Taxii) -> None:
    good = indicator("[domain-name:value = 'good-half.example']")
    bad = indicator("[domain-name:value = 'bad-half.example']", pattern_type=None)
    del bad["pattern_type"]
    response = httpx.post(
        taxii.community + "objects/",
        auth=taxii.basic(taxii.home_analyst),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        json={"objects": [good, bad]},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == TAXII
    assert bad["id"] in response.json()["description"]
    assert "objects[1]" in response.json()["description"]
    reader = Collection(taxii.community, **taxii.creds(taxii.home_analyst))
    assert _ids(reader.get_objects(id=good["id"])) == [], "nothing was stored"


def test_delete_an_object_the_organisation_shared(taxii: Taxii) -> None:
    analyst = taxii.basic(taxii.home_analyst)
    community = Collection(taxii.community, user=analyst[0], password=analyst[1])
    stix_id = new_id("indicator")
    versions = [
        indicator(
            "[domain-name:value = 'to-delete.example']",
            stix_id=stix_id,
            name=f"v{n}",
            modified=f"2026-04-0{n}T00:00:00.000Z",
        )
        for n in (1, 2)
    ]
    community.add_objects({"objects": versions})
    other = Collection(taxii.community, **taxii.creds(taxii.away_analyst))
    with pytest.raises(Exception, match="403"):
        other.delete_object(stix_id)

    community.delete_object(stix_id, version="last")
    left = community.get_object(stix_id, version="all")["objects"]
    assert [o["name"] for o in left] == ["v1"], "the older version is now the latest"
    assert [o["name"] for o in community.get_object(stix_id)["objects"]] == ["v1"]
    found = httpx.get(
        f"{taxii.live.url}/api/v1/intel/search",
        params={"q": "to-delete.example"},
        headers={"Authorization": f"Bearer {analyst[1]}"},
    )
    assert [i["stix_id"] for i in found.json()["items"]] == [stix_id], "still found by value"

    community.delete_object(stix_id)
    with pytest.raises(Exception, match="404"):
        community.get_object(stix_id)
    gone = httpx.get(
        f"{taxii.live.url}/api/v1/intel/search",
        params={"q": "to-delete.example"},
        headers={"Authorization": f"Bearer {analyst[1]}"},
    )
    assert gone.json()["items"] == [], "and gone from the value index"


# Visibility


def test_no_endpoint_reveals_what_the_caller_may_not_see(taxii: Taxii) -> None:
    outsider = taxii.basic(taxii.outsider)
    everything = Collection(taxii.everything, user=outsider[0], password=outsider[1])
    seen = {i for page in as_pages(everything.get_objects, per_request=1000) for i in _ids(page)}
    assert taxii.group_only not in seen
    assert taxii.red_id not in seen
    manifest = {
        r["id"]
        for page in as_pages(everything.get_manifest, per_request=1000)
        for r in page.get("objects", [])
    }
    assert taxii.group_only not in manifest
    assert taxii.red_id not in manifest
    for hidden in (taxii.group_only, taxii.red_id):
        for path in (f"objects/{hidden}/", f"objects/{hidden}/versions/"):
            response = httpx.get(taxii.everything + path, auth=outsider, headers={"Accept": TAXII})
            assert response.status_code == 404, path
        deleted = httpx.delete(
            f"{taxii.everything}objects/{hidden}/", auth=outsider, headers={"Accept": TAXII}
        )
        assert deleted.status_code in (403, 404)

    member = Collection(taxii.collection_url(str(taxii.group)), **taxii.creds(taxii.away_analyst))
    assert _ids(member.get_objects()) == [taxii.group_only]
    own = Collection(taxii.collection_url(ORGANISATION), **taxii.creds(taxii.home_reader))
    assert _ids(own.get_objects()) == [taxii.red_id]
    other_own = Collection(taxii.collection_url(ORGANISATION), **taxii.creds(taxii.away_analyst))
    assert taxii.red_id not in _ids(other_own.get_objects())


# Errors


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "", {"Accept": "application/json"}, 406),
        ("GET", "api/collections/", {"Accept": "application/taxii+json;version=2.0"}, 406),
        ("GET", "api/", {}, 200),
        ("GET", "nope/", {}, 404),
        ("GET", "api/collections/00000000-0000-4000-8000-000000000000/", {}, 404),
        ("GET", "api/collections/{community}/objects/?limit=0", {}, 400),
        ("GET", "api/collections/{community}/objects/?limit=many", {}, 400),
        ("GET", "api/collections/{community}/objects/?added_after=yesterday", {}, 400),
        ("GET", "api/collections/{community}/objects/?next=not-a-cursor", {}, 400),
        ("GET", "api/collections/{community}/objects/?match[version]=soon", {}, 400),
        (
            "GET",
            "api/collections/{community}/objects/indicator--00000000-0000-4000-8000-000000000000/",
            {},
            404,
        ),
        ("GET", "api/status/00000000-0000-4000-8000-000000000000/", {}, 404),
        ("POST", "api/collections/{community}/objects/", {"Content-Type": "application/json"}, 415),
        ("POST", "api/collections/{everything}/objects/", {"Content-Type": TAXII}, 403),
    ],
)
def test_error_codes(
    taxii: Taxii, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    url = taxii.discovery + path.format(community=COMMUNITY, everything=EVERYTHING)
    response = httpx.request(
        method,
        url,
        auth=taxii.basic(taxii.home_analyst),
        headers={"Accept": TAXII, **headers},
        content=b'{"objects": []}' if method == "POST" else None,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    if status >= 400:
        body = response.json()
        assert body["http_status"] == str(status)
        assert body["title"]
        assert body["description"]


def test_authentication(taxii: Taxii) -> None:
    url = taxii.discovery
    anonymous = httpx.get(url, headers={"Accept": TAXII})
    assert anonymous.status_code == 401
    assert "Basic" in anonymous.headers["www-authenticate"]
    wrong = httpx.get(
        url, auth=(taxii.home_reader.email, "not the password"), headers={"Accept": TAXII}
    )
    assert wrong.status_code == 401
    assert (
        httpx.get(
            url, auth=taxii.password(taxii.home_reader), headers={"Accept": TAXII}
        ).status_code
        == 200
    )
    bearer = {"Accept": TAXII, "Authorization": f"Bearer {taxii.keys[taxii.home_reader.email]}"}
    assert httpx.get(url, headers=bearer).status_code == 200
    mismatched = (taxii.outsider.email, taxii.keys[taxii.home_reader.email])
    assert httpx.get(url, auth=mismatched, headers={"Accept": TAXII}).status_code == 401


def test_a_body_over_the_maximum_is_refused_with_413(taxii: Taxii) -> None:
    objects = [indicator(f"[domain-name:value = 'big{n}.example']") for n in range(600)]
    response = httpx.post(
        taxii.community + "objects/",
        auth=taxii.basic(taxii.home_analyst),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        json={"objects": objects},
    )
    assert response.status_code == 413
    assert response.json()["http_status"] == "413"
    reader = Collection(taxii.community, **taxii.creds(taxii.home_analyst))
    assert _ids(reader.get_objects(id=objects[0]["id"])) == []
