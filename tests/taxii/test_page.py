"""The TAXII page shows where tools connect and the collections they will find."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.intel.models import SharingGroup, SharingGroupMember
from balai.taxii.collections import COMMUNITY, EVERYTHING
from tests.intel.helpers import Intel, sign_in, text_of


def test_the_page_lists_the_callers_collections_with_their_urls(
    client: TestClient, db: Session, intel: Intel
) -> None:
    group = SharingGroup(id=uuid.uuid4(), name="Mekong", owner_org_id=intel.home.id)
    group.members = [SharingGroupMember(organisation_id=intel.away.id)]
    db.add(group)
    db.commit()

    sign_in(client, db, intel.away_analyst)
    page = client.get("/intel/taxii")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert '<code id="taxii-discovery">http://testserver/taxii2/</code>' in page.text
    assert f"/taxii2/api/collections/{COMMUNITY}/" in page.text
    assert f"/taxii2/api/collections/{group.id}/" in page.text
    assert "Sharing group: Mekong" in shown
    assert "Everything shared with you" in shown
    rows = page.text.split("<tr>")
    everything_row = next(r for r in rows if EVERYTHING in r)
    assert ">read<" in everything_row

    sign_in(client, db, intel.third_admin)
    outsider = client.get("/intel/taxii")
    assert str(group.id) not in outsider.text
    assert "Mekong" not in outsider.text


def test_a_reader_is_told_its_tools_may_only_read(
    client: TestClient, db: Session, intel: Intel
) -> None:
    sign_in(client, db, intel.reader)
    page = client.get("/intel/taxii")
    cells = page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert "<td>read</td>" in cells
    assert "read and add" not in cells


def test_anonymous_visitors_are_sent_to_log_in(client: TestClient) -> None:
    response = client.get("/intel/taxii", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
