"""Searching the directory: every filter and their combinations, on the page and in the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.directory.models import ContactRole
from tests.directory.helpers import (
    People,
    Sample,
    error_page,
    sign_in,
    text_of,
)
from tests.factories import make_contact

# (query as the page takes it, keys of the contacts it must find)
SEARCHES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"niran", "desk", "malee", "aminah", "budi", "weiling"}),
    ({"q": "niran"}, {"niran"}),
    ({"q": "  NIRAN sri "}, {"niran"}),
    ({"q": "foreign affairs"}, {"malee"}),
    ({"q": "mfa-th"}, {"malee"}),
    ({"q": "bi.go.id"}, {"budi"}),
    ({"q": "aminah@mycert"}, {"aminah"}),
    ({"q": "+65 6323"}, {"weiling"}),
    ({"q": "%"}, set()),
    ({"q": "_"}, set()),
    ({"q": "nobody by that name"}, set()),
    ({"country": "TH"}, {"niran", "desk", "malee"}),
    ({"country": "th"}, {"niran", "desk", "malee"}),
    ({"country": ["TH", "MY"]}, {"niran", "desk", "malee", "aminah"}),
    ({"role": "technical"}, {"niran", "aminah"}),
    ({"role": ["policy", "operations"]}, {"desk", "malee", "budi", "weiling"}),
    ({"kind": "ministry"}, {"malee"}),
    ({"kind": "sector_cert"}, {"budi"}),
    ({"kind": ["ministry", "sector_cert"]}, {"malee", "budi"}),
    ({"sector": "banking"}, {"budi"}),
    ({"sector": "digital_infrastructure"}, {"niran", "desk", "aminah"}),
    ({"sector": "telecommunications"}, {"aminah"}),
    ({"language": "fr"}, {"malee"}),
    ({"language": "en"}, {"niran", "malee", "aminah", "weiling"}),
    ({"language": ["ms", "id"]}, {"aminah", "budi"}),
    ({"stale": "yes"}, {"aminah", "budi", "weiling"}),
    ({"stale": "no"}, {"niran", "desk", "malee"}),
    ({"country": "TH", "role": "technical"}, {"niran"}),
    ({"country": "TH", "language": "en", "stale": "no"}, {"niran", "malee"}),
    ({"kind": "national_cert", "stale": "yes"}, {"aminah", "weiling"}),
    ({"q": "thaicert", "role": "operations"}, {"desk"}),
    ({"sector": "digital_infrastructure", "language": "ms"}, {"aminah"}),
    ({"country": ["ID", "SG"], "role": "policy", "stale": "yes"}, {"weiling"}),
    ({"country": "ID", "role": "technical"}, set()),
]


def _ids(search: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in search.items()) or "everything"


def _api_params(search: dict[str, Any]) -> dict[str, Any]:
    params = dict(search)
    if "stale" in params:
        params["stale"] = {"yes": "true", "no": "false"}[params["stale"]]
    return params


@pytest.mark.parametrize(("search", "expected"), SEARCHES, ids=[_ids(s) for s, _ in SEARCHES])
def test_search_page_finds_exactly_the_matching_contacts(
    client: TestClient,
    db: Session,
    people: People,
    sample: Sample,
    search: dict[str, Any],
    expected: set[str],
) -> None:
    sign_in(client, db, people.reader)
    page = client.get("/directory", params=search)
    assert page.status_code == 200, page.text
    shown = text_of(page.text)
    for key in sample.all_keys:
        name = getattr(sample, key).name
        assert (name in shown) == (key in expected), f"{name}: {search}"
    if not expected:
        assert "No contact matches." in shown
    assert f"{len(expected)} in all." in shown


@pytest.mark.parametrize(("search", "expected"), SEARCHES, ids=[_ids(s) for s, _ in SEARCHES])
def test_search_api_finds_exactly_the_matching_contacts(
    client: TestClient,
    people: People,
    sample: Sample,
    search: dict[str, Any],
    expected: set[str],
) -> None:
    response = client.get(
        "/api/v1/contacts", params=_api_params(search), headers=people.key(people.reader)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    found = [c["name"] for c in body["items"]]
    assert set(found) == sample.names(*expected)
    assert body["total"] == len(expected)


def test_results_are_ordered_by_country_organisation_role_and_name(
    client: TestClient, people: People, sample: Sample
) -> None:
    response = client.get(
        "/api/v1/contacts",
        params={"country": ["ID", "MY", "SG", "TH"]},
        headers=people.key(people.reader),
    )
    assert [c["name"] for c in response.json()["items"]] == [
        "Budi Santoso",  # ID
        "Aminah Rahman",  # MY
        "Tan Wei Ling",  # SG
        "Malee Chaiyaporn",  # TH, Ministry of Foreign Affairs of Thailand
        "Duty Desk Bangkok",  # TH, ThaiCERT Coordination Centre, operations
        "Niran Srisuk",  # TH, ThaiCERT Coordination Centre, technical
    ]


def test_api_results_carry_the_contact_and_its_organisation(
    client: TestClient, people: People, sample: Sample
) -> None:
    response = client.get(
        "/api/v1/contacts", params={"q": "malee"}, headers=people.key(people.reader)
    )
    [malee] = response.json()["items"]
    assert malee["id"] == str(sample.malee.id)
    assert malee["organisation_id"] == str(sample.mfa.id)
    assert malee["organisation_name"] == "Ministry of Foreign Affairs of Thailand"
    assert malee["country"] == "TH"
    assert malee["role"] == "policy"
    assert malee["emails"] == ["malee.c@mfa.go.th"]
    assert malee["phones"] == ["+66 2 123 4567"]
    assert malee["languages"] == ["en", "fr", "th"]


def test_api_filters_by_organisation(client: TestClient, people: People, sample: Sample) -> None:
    response = client.get(
        "/api/v1/contacts",
        params={"organisation_id": [str(sample.thaicert.id), str(sample.bank.id)]},
        headers=people.key(people.reader),
    )
    assert {c["name"] for c in response.json()["items"]} == sample.names("niran", "desk", "budi")


def test_search_page_shows_the_filters_it_applied(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    sign_in(client, db, people.reader)
    page = client.get(
        "/directory", params={"q": "desk", "country": "TH", "language": "th", "stale": "no"}
    ).text
    assert 'value="desk"' in page
    assert '<option value="TH" selected>' in page
    assert '<option value="th" selected>' in page
    assert '<option value="no" selected>' in page
    # The choices offer only countries and languages present in the directory.
    assert '<option value="ID"' in page
    assert '<option value="VN"' not in page
    assert '<option value="zh"' in page


def test_search_page_pages_through_many_contacts(
    client: TestClient, db: Session, people: People, sample: Sample
) -> None:
    for n in range(55):
        make_contact(db, sample.bank, name=f"Analyst {n:02d}", role=ContactRole.TECHNICAL)
    db.commit()
    sign_in(client, db, people.reader)
    first = client.get("/directory", params={"country": "ID"}).text
    assert "Page 1 of 2 (56 in all)" in first
    assert 'href="/directory?country=ID&amp;page=2"' in first
    second = client.get("/directory", params={"country": "ID", "page": 2}).text
    assert "Page 2 of 2 (56 in all)" in second
    shown_first = {f"Analyst {n:02d}" for n in range(55) if f"Analyst {n:02d}<" in first}
    shown_second = {f"Analyst {n:02d}" for n in range(55) if f"Analyst {n:02d}<" in second}
    assert len(shown_first) + len(shown_second) == 55
    assert not shown_first & shown_second


BAD_FILTERS = [
    ({"country": "XX"}, "country"),
    ({"language": "klingon"}, "language"),
    ({"role": "boss"}, "role"),
    ({"kind": "cartel"}, "kind"),
    ({"sector": "fishing"}, "sector"),
]


@pytest.mark.parametrize(("params", "field"), BAD_FILTERS)
def test_api_refuses_unknown_filter_values_naming_the_filter(
    client: TestClient, people: People, sample: Sample, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/contacts", params=params, headers=people.key(people.reader))
    assert response.status_code == 422, response.text
    locs = [d["loc"] for d in response.json()["error"]["details"]]
    assert any(field in loc for loc in locs), locs


@pytest.mark.parametrize(("params", "field"), BAD_FILTERS)
def test_search_page_refuses_unknown_filter_values_naming_the_filter(
    client: TestClient,
    db: Session,
    people: People,
    sample: Sample,
    params: dict[str, str],
    field: str,
) -> None:
    sign_in(client, db, people.reader)
    page = error_page(client.get("/directory", params=params), 422)
    assert field in text_of(page)
    assert "Niran Srisuk" not in page
