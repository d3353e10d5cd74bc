"""The incidents API: report, read, filter, coordinate, files, bad input, the dashboard."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.config import Settings
from balai.db import utcnow
from balai.incidents.models import Incident, IncidentParty
from tests.incidents.helpers import RANSOMWARE, hours_ago
from tests.intel.helpers import Intel, count, locs


def test_report_coordinate_and_close_over_the_api(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    home, away = intel.key(intel.analyst), intel.key(intel.away_analyst)
    created = client.post(
        "/api/v1/incidents",
        json={**RANSOMWARE, "aware_at": hours_ago(80).isoformat()},
        headers=home,
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["machinetag"] == 'rsit:malicious-code="infected-system"'
    assert incident["classification"] == "Malicious Code / Infected System"
    assert incident["overdue_stages"] == ["notification"]
    assert [s["stage"] for s in incident["stages"]] == [
        "early_warning",
        "notification",
        "final_report",
    ]
    path = f"/api/v1/incidents/{incident['id']}"

    invited = client.post(
        f"{path}/parties", json={"organisation_ids": [str(intel.away.id)]}, headers=home
    )
    assert [p["status"] for p in invited.json()["parties"]] == ["notified"]
    ack = client.put(f"{path}/parties/mine", json={"status": "acknowledged"}, headers=away)
    assert ack.json()["parties"][0]["acknowledged_at"] is not None

    deadline = (utcnow() + timedelta(hours=6)).isoformat()
    asked = client.post(
        f"{path}/assistance",
        json={"organisation_id": str(intel.away.id), "text": "Sinkhole it", "respond_by": deadline},
        headers=home,
    )
    assert asked.status_code == 201
    answered = client.put(
        f"{path}/assistance/{asked.json()['id']}",
        json={"status": "declined", "answer": "Not our network."},
        headers=away,
    )
    assert answered.json()["status"] == "declined"
    assert client.post(f"{path}/comments", json={"text": "Thanks"}, headers=away).status_code == 204
    filed = client.post(f"{path}/stages", json={"stage": "notification", "text": "n"}, headers=home)
    assert filed.json()["overdue_stages"] == []

    upload = client.post(
        f"{path}/attachments",
        params={"filename": "note.txt"},
        content=b"pay us",
        headers={**home, "content-type": "text/plain"},
    )
    assert upload.status_code == 201
    download = client.get(f"{path}/attachments/{upload.json()['id']}", headers=away)
    assert download.content == b"pay us"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == 'attachment; filename="note.txt"'

    closed = client.post(f"{path}/close", json={"resolution": "Restored."}, headers=home)
    assert closed.json()["status"] == "closed"
    kinds = [e["kind"] for e in closed.json()["timeline"]]
    assert kinds[0] == "reported"
    assert kinds[-1] == "closed"
    assert "assistance_answered" in kinds
    assert "comment" in kinds


def test_lists_filter_and_page(db: Session, client: TestClient, intel: Intel) -> None:
    home = intel.key(intel.analyst)
    for change in (
        {"severity": "low", "countries": ["TH"]},
        {
            "severity": "critical",
            "countries": ["SG"],
            "rsit_class": "availability",
            "rsit_type": "ddos",
        },
        {"severity": "high", "aware_at": hours_ago(100).isoformat()},
    ):
        assert (
            client.post(
                "/api/v1/incidents", json={**RANSOMWARE, **change}, headers=home
            ).status_code
            == 201
        )

    def titles(**params: object) -> list[str]:
        body = client.get("/api/v1/incidents", params=params, headers=home).json()
        return sorted(i["severity"] for i in body["items"])

    assert titles() == ["critical", "high", "low"]
    assert titles(severity_at_least="high") == ["critical", "high"]
    assert titles(rsit_class="availability") == ["critical"]
    assert titles(country="sg") == ["critical"]
    assert titles(cross_border="false") == ["low"]
    assert titles(overdue="true") == ["high"]
    paged = client.get("/api/v1/incidents", params={"per_page": 2}, headers=home).json()
    assert paged["total"] == 3
    assert paged["next"] is not None
    assert len(paged["items"]) == 2


def test_bad_input_says_where_and_writes_nothing(
    db: Session, client: TestClient, intel: Intel
) -> None:
    home = intel.key(intel.analyst)
    bad = client.post(
        "/api/v1/incidents",
        json={**RANSOMWARE, "countries": ["TH", "ZZ"], "severity": "huge"},
        headers=home,
    )
    assert bad.status_code == 422
    assert set(locs(bad)) == {"body.countries[1]", "body.severity"}
    unknown = client.post("/api/v1/incidents", json={**RANSOMWARE, "colour": "red"}, headers=home)
    assert unknown.status_code == 422
    assert count(db, Incident) == 0
    created = client.post("/api/v1/incidents", json=RANSOMWARE, headers=home).json()
    refused = client.post(
        f"/api/v1/incidents/{created['id']}/parties",
        json={"organisation_ids": [str(intel.home.id)]},
        headers=home,
    )
    assert refused.status_code == 422
    assert locs(refused) == ["organisation_ids[0]"]
    assert count(db, IncidentParty) == 0


def test_the_taxonomy_comes_from_pytaxonomies(client: TestClient, intel: Intel) -> None:
    body = client.get("/api/v1/incidents/taxonomy", headers=intel.key(intel.reader)).json()
    assert body["namespace"] == "rsit"
    classes = {c["value"]: [t["value"] for t in c["types"]] for c in body["classes"]}
    assert "infected-system" in classes["malicious-code"]
    assert len(classes) == 11
    assert body["severities"] == ["low", "medium", "high", "critical"]


def test_a_reader_reads_but_may_not_report(client: TestClient, intel: Intel) -> None:
    reader = intel.key(intel.reader)
    assert client.get("/api/v1/incidents", headers=reader).status_code == 200
    assert client.post("/api/v1/incidents", json=RANSOMWARE, headers=reader).status_code == 403
    assert client.get("/api/v1/incidents").status_code == 401


def test_thai_file_names_download_and_odd_input_is_refused_not_a_crash(
    db: Session, client: TestClient, intel: Intel
) -> None:
    home = intel.key(intel.analyst)
    created = client.post("/api/v1/incidents", json=RANSOMWARE, headers=home).json()
    path = f"/api/v1/incidents/{created['id']}"
    upload = client.post(
        f"{path}/attachments", params={"filename": "รายงาน报告.txt"}, content=b"x", headers=home
    )
    assert upload.status_code == 201
    download = client.get(f"{path}/attachments/{upload.json()['id']}", headers=home)
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E0%B8%A3" in disposition
    ancient = client.post(
        "/api/v1/incidents",
        json={**RANSOMWARE, "aware_at": "0001-01-01T00:00:00+07:00"},
        headers=home,
    )
    assert ancient.status_code == 422
    far = client.get("/api/v1/incidents", params={"page": 10**20}, headers=home)
    assert far.status_code == 422
