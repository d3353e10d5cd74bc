"""Organisation forms: a duplicate name is shown beside the field, with the input kept."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.directory.models import Organisation
from tests.directory.helpers import People, count, field_error, post_form, sign_in


def test_a_duplicate_name_is_an_error_beside_the_name_field(
    client: TestClient, db: Session, people: People
) -> None:
    sign_in(client, db, people.platform_admin)
    before = count(db, Organisation)
    response = post_form(
        client,
        "/organisations/new",
        "/organisations/new",
        {
            "name": people.home.name,
            "kind": "company",
            "country": "TH",
            "short_name": "Typed value kept",
        },
    )
    assert response.status_code == 422
    assert "already exists in TH" in field_error(response.text, "name")
    assert 'value="Typed value kept"' in response.text
    assert count(db, Organisation) == before


def test_renaming_onto_another_organisations_name_is_refused_beside_the_field(
    client: TestClient, db: Session, people: People
) -> None:
    sign_in(client, db, people.platform_admin)
    url = f"/organisations/{people.away.id}/edit"
    response = post_form(
        client, url, url, {"name": people.home.name, "kind": "national_cert", "country": "TH"}
    )
    assert response.status_code == 422
    assert "already exists in TH" in field_error(response.text, "name")
    db.refresh(people.away)
    assert people.away.country == "MY"
