"""The OASIS APT1 report shared as AMBER with a sharing group: members see it, others nothing."""

from __future__ import annotations

import json

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.config import Settings
from tests.factories import api_key_for, make_org, make_user
from tests.shared_data import shared
from tests.web import client_for, login, submit


def test_apt1_shared_with_a_group_reaches_its_members_and_no_one_else(
    connection: Connection, db: Session, settings: Settings
) -> None:
    mandiant = make_org(db, name="Uploader CERT", country="TH")
    uploader = make_user(db, mandiant, role=Role.ORG_ADMIN)
    partner = make_org(db, name="Partner CERT", country="MY")
    member = make_user(db, partner, role=Role.READER)
    outsider_org = make_org(db, name="Outsider CERT", country="SG")
    outsider = make_user(db, outsider_org, role=Role.PLATFORM_ADMIN)
    member_key, outsider_key, uploader_key = (
        api_key_for(db, u) for u in (member, outsider, uploader)
    )
    db.commit()
    bundle = shared("stix/apt1.json").read_bytes()
    report_id = next(o["id"] for o in json.loads(bundle)["objects"] if o["type"] == "report")
    indicator = next(o for o in json.loads(bundle)["objects"] if o["type"] == "indicator")

    with client_for(connection, settings) as client:
        made = client.post(
            "/api/v1/sharing-groups",
            json={"name": "APT1 partners", "member_ids": [str(partner.id)]},
            headers={"Authorization": f"Bearer {uploader_key}"},
        )
        assert made.status_code == 201, made.text
        group_id = made.json()["id"]
        login(client, uploader.email)
        page = client.get("/intel/upload")
        assert page.status_code == 200
        done = submit(
            client,
            "/intel/upload",
            "/intel/upload",
            {"tlp": "amber", "distribution": "sharing_group", "sharing_group_id": group_id},
            files={"file": ("apt1.json", bundle, "application/json")},
        )
        assert done.status_code == 303, done.text
        report_page = client.get(done.headers["location"])
        assert "Import report" in report_page.text

    def api(key: str, path: str, **params: str) -> object:
        with client_for(connection, settings) as c:
            return c.get(path, params=params, headers={"Authorization": f"Bearer {key}"})

    seen = api(member_key, "/api/v1/intel/objects", type="report")
    assert [o["stix_id"] for o in seen.json()["items"]] == [report_id]  # type: ignore[attr-defined]
    detail = api(member_key, f"/api/v1/intel/objects/{report_id}")
    assert detail.json()["tlp"] == "amber"  # type: ignore[attr-defined]
    bundle_out = api(member_key, f"/api/v1/intel/objects/{report_id}/bundle")
    assert len(bundle_out.json()["objects"]) > 50  # type: ignore[attr-defined]

    assert api(outsider_key, "/api/v1/intel/objects").json()["total"] == 0  # type: ignore[attr-defined]
    assert api(outsider_key, f"/api/v1/intel/objects/{report_id}").status_code == 404  # type: ignore[attr-defined]
    assert api(outsider_key, f"/api/v1/intel/objects/{report_id}/bundle").status_code == 404  # type: ignore[attr-defined]
    assert api(outsider_key, "/api/v1/intel/search", q="APT1").json()["total"] == 0  # type: ignore[attr-defined]
    found = api(member_key, "/api/v1/intel/search", q=indicator["name"][:20])
    assert found.json()["total"] >= 1  # type: ignore[attr-defined]
