"""The incident pages, driven as a browser without JavaScript would: forms and links."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.config import Settings
from balai.incidents.models import Incident, IncidentParty, IncidentStatus, PartyStatus
from tests.incidents.helpers import hours_ago, report_as
from tests.intel.helpers import Intel, count, sign_in, text_of
from tests.web import submit

FORM = {
    "title": "Ransomware at a regional power utility",
    "description": "Files encrypted on billing servers.",
    "classification": "malicious-code/infected-system",
    "severity": "high",
    "countries": ["TH", "MY"],
    "sectors": ["energy"],
    "tlp": "amber",
    "distribution": "community",
}


def test_a_cert_reports_on_the_page_and_sees_its_clocks(
    db: Session, client: TestClient, intel: Intel
) -> None:
    sign_in(client, db, intel.analyst)
    form = client.get("/incidents/new")
    assert form.status_code == 200
    assert "Malicious Code: Infected System" in form.text  # from the taxonomy
    response = submit(
        client,
        "/incidents/new",
        "/incidents",
        {**FORM, "other_countries": "sg", "aware_at": "2026-01-05T09:30"},
    )
    assert response.status_code == 303, response.text
    incident = db.scalars(select(Incident)).one()
    assert incident.countries == ["MY", "SG", "TH"]
    # The user's zone is Asia/Bangkok (UTC+7): 09:30 there is 02:30 UTC.
    assert incident.aware_at.isoformat() == "2026-01-05T02:30:00+00:00"
    page = text_of(client.get(response.headers["location"]).text)
    assert f"{incident.reference}: Ransomware at a regional power utility" in page
    assert "Notification overdue" in page
    assert "Malicious Code / Infected System" in page
    assert "Cross-border" in page


def test_bad_input_shows_the_form_again_with_the_problem_and_saves_nothing(
    db: Session, client: TestClient, intel: Intel
) -> None:
    sign_in(client, db, intel.analyst)
    response = submit(
        client,
        "/incidents/new",
        "/incidents",
        {**FORM, "classification": "malicious-code/ransomware", "countries": []},
    )
    assert response.status_code == 422
    page = text_of(response.text)
    assert "not a type of the class malicious-code" in page
    assert "countries" in page
    assert 'value="Ransomware at a regional power utility"' in response.text  # kept
    assert count(db, Incident) == 0


def test_the_reporter_triages_invites_the_national_certs_and_a_party_answers(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings, countries=["TH", "MY"])
    path = f"/incidents/{incident.id}"
    sign_in(client, db, intel.analyst)
    triaged = submit(
        client,
        f"{path}/edit",
        f"{path}/edit",
        {**FORM, "classification": "availability/sabotage", "severity": "critical"},
    )
    assert triaged.status_code == 303
    invited = submit(client, path, f"{path}/parties", {"national_certs": "1"})
    assert invited.status_code == 303
    db.expire_all()
    assert incident.status == IncidentStatus.IN_PROGRESS
    party = db.scalars(select(IncidentParty)).one()
    assert party.organisation_id == intel.away.id
    assert "Notified" in text_of(client.get(path).text)

    client.cookies.clear()
    sign_in(client, db, intel.away_analyst)
    page = client.get(path)
    assert (
        "Your organisation&#39;s status" in page.text or "Your organisation's status" in page.text
    )
    answered = submit(
        client, path, f"{path}/parties/mine", {"status": "acknowledged", "note": "On it"}
    )
    assert answered.status_code == 303
    db.expire_all()
    assert party.status == PartyStatus.ACKNOWLEDGED
    commented = submit(client, path, f"{path}/comments", {"text": "Same note seen in Penang."})
    assert commented.status_code == 303
    timeline = text_of(client.get(path).text)
    assert "MyCERT: notified → acknowledged. On it" in timeline
    assert "Same note seen in Penang." in timeline
    # A party does not triage: the form is not offered and the post is refused.
    assert f'href="{path}/edit"' not in client.get(path).text
    assert submit(client, path, f"{path}/edit", FORM).status_code == 403


def test_a_refused_page_action_shows_the_problem_and_changes_nothing(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    path = f"/incidents/{incident.id}"
    sign_in(client, db, intel.analyst)
    response = submit(client, path, f"{path}/parties", {"note": "nobody chosen"})
    assert response.status_code == 422
    assert "choose the organisations to invite" in text_of(response.text)
    assert count(db, IncidentParty) == 0


def test_a_file_is_attached_on_the_page_and_downloaded(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    incident = report_as(db, intel.analyst, settings)
    path = f"/incidents/{incident.id}"
    sign_in(client, db, intel.analyst)
    attached = submit(
        client,
        path,
        f"{path}/attachments",
        {},
        files={"file": ("note.txt", b"pay us", "text/plain")},
    )
    assert attached.status_code == 303
    page = client.get(path).text
    assert "note.txt" in page
    href = page.split(f'href="{path}/attachments/')[1].split('"')[0]
    assert client.get(f"{path}/attachments/{href}").content == b"pay us"


def test_the_dashboard_charts_classes_by_month_and_lists_overdue_stages(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    report_as(db, intel.analyst, settings, aware_at=hours_ago(90).isoformat())
    report_as(db, intel.analyst, settings, rsit_class="availability", rsit_type="ddos")
    sign_in(client, db, intel.reader)
    page = client.get("/incidents/dashboard")
    assert page.status_code == 200
    assert '<svg role="img"' in page.text
    text = text_of(page.text)
    assert "Open incidents 2" in text
    assert "Notification overdue" in text
    assert "Malicious Code" in text
    assert "Availability" in text
    assert "No organisation has been invited yet." in text
    listing = text_of(client.get("/incidents?overdue=1").text)
    assert listing.count("Ransomware at a regional power utility") == 1
    report_as(db, intel.away_analyst, settings, title="Phishing in Penang", countries=["MY"])
    domestic = text_of(client.get("/incidents", params={"cross_border": "0"}).text)
    assert "Phishing in Penang" in domestic
    abroad = text_of(client.get("/incidents", params={"cross_border": "1"}).text)
    assert "Phishing in Penang" not in abroad
    assert "Ransomware at a regional power utility" in abroad
    by_mycert = client.get("/incidents", params={"organisation_id": str(intel.away.id)})
    assert "Phishing in Penang" in by_mycert.text
    assert "Ransomware at a regional power utility" not in by_mycert.text
    assert f'<option value="{intel.away.id}"' in by_mycert.text
