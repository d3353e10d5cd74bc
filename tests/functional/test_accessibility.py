"""Every page passes axe-core's accessibility rules in real Chromium, and works without script."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from pydantic import SecretStr

from balai.accounts.models import Role
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import load_settings
from balai.directory.models import ContactRole, OrgKind
from balai.federation.models import SyncRun
from balai.federation.schemas import PeerIn
from balai.federation.service import add_peer
from balai.incidents.coordination import attach, invite
from balai.incidents.schemas import IncidentIn, InviteIn
from balai.incidents.service import report as report_incident
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import SharingGroup, SharingGroupMember
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from balai.taxii.collections import CONNECTED
from tests.conftest import SECRET
from tests.factories import PASSWORD, actor_for, make_contact, make_org, make_user
from tests.functional.conftest import Instance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None, reason="Debian's chromium is not installed"
    ),
]
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS
        )
        yield chromium
        chromium.close()


def _violations(page: Page) -> str:
    results = Axe().run(page)
    return str(results.generate_snapshot()) if results.violations_count else ""


def test_pages_pass_axe_and_carry_no_script(instance: Instance, browser: Browser) -> None:
    with instance.factory() as db:
        hub = make_org(db, name="Coordination Centre", country="SG", kind=OrgKind.INTERNATIONAL)
        admin = make_user(db, hub, role=Role.PLATFORM_ADMIN, email="admin@example.org")
        thai = make_org(db, name="ThaiCERT", country="TH")
        desk = make_contact(db, thai, name="Duty desk", role=ContactRole.OPERATIONS)
        contact = make_contact(db, thai, name="Niran Srisuk", alternate=desk)
        group = SharingGroup(name="Mekong partners", owner_org_id=hub.id)
        group.members = [SharingGroupMember(organisation_id=thai.id)]
        db.add(group)
        # One imported report, its indicator in two versions, and the import's report page.
        ioc = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--5a1f3f5e-3b8c-4d3a-9d6e-0c6b2f4a7e11",
            "created": "2026-01-10T08:00:00.000Z",
            "modified": "2026-01-10T08:00:00.000Z",
            "name": "C2 relay",
            "description": "Relay seen in phishing against ministries.",
            "indicator_types": ["malicious-activity"],
            "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'evil.example']",
            "pattern_type": "stix",
            "valid_from": "2026-01-10T08:00:00.000Z",
        }
        report = {
            "type": "report",
            "spec_version": "2.1",
            "id": "report--9b7e2a64-1c3d-4f5e-8a9b-2c4d6e8f0a13",
            "created": "2026-01-10T08:00:00.000Z",
            "modified": "2026-01-10T08:00:00.000Z",
            "name": "Phishing against ministries",
            "published": "2026-01-10T08:00:00.000Z",
            "report_types": ["threat-report"],
            "object_refs": [ioc["id"]],
        }
        marking = Marking(tlp=Tlp.AMBER, distribution=Distribution.COMMUNITY)
        batch = import_stix(
            db,
            actor=actor_for(admin),
            data=json.dumps({"type": "bundle", "objects": [report, ioc]}).encode(),
            marking=marking,
            filename="phishing.json",
        )
        later = {**ioc, "modified": "2026-02-01T08:00:00.000Z"}
        import_stix(db, actor=actor_for(admin), data=json.dumps(later).encode(), marking=marking)
        db.commit()
        peer = add_peer(
            db,
            actor=actor_for(admin),
            settings=load_settings(database_url=instance.database_url, secret_key=SECRET),
            data=PeerIn(
                name="Regional hub",
                api_root="https://hub.example/taxii2/api/",
                secret=SecretStr("balai_00000000_example"),
                organisation_id=hub.id,
                pull_collection=CONNECTED,
                interval_minutes=60,
            ),
        )
        peer.last_error = "GET https://hub.example/taxii2/api/… answered 401"
        db.add(SyncRun(peer_id=peer.id, direction="pull", error=peer.last_error))
        db.commit()
        settings = load_settings(database_url=instance.database_url, secret_key=SECRET)
        incident = report_incident(
            db,
            actor=actor_for(admin),
            settings=settings,
            data=IncidentIn.model_validate(
                {
                    "title": "Ransomware at a power utility",
                    "description": "Billing servers encrypted.",
                    "rsit_class": "malicious-code",
                    "rsit_type": "infected-system",
                    "severity": "high",
                    "countries": ["SG", "TH"],
                    "sectors": ["energy"],
                    "tlp": "amber",
                    "distribution": "community",
                    "aware_at": "2026-01-05T02:00:00Z",
                }
            ),
        )
        invite(
            db,
            actor=actor_for(admin),
            settings=settings,
            incident_id=incident.id,
            data=InviteIn(organisation_ids=[thai.id]),
        )
        attach(
            db,
            actor=actor_for(admin),
            settings=settings,
            incident_id=incident.id,
            filename="note.txt",
            content_type="text/plain",
            data=b"pay us",
        )
        subscribe(
            db,
            actor=actor_for(admin),
            settings=settings,
            data=SubscriptionIn(name="Energy", email="soc@example.org", countries=["TH"]),
        )
        db.commit()
        incident_id = incident.id
        thai_id, contact_id, group_id, import_id = thai.id, contact.id, group.id, batch.id
        peer_id = peer.id
        report_id, ioc_id = report["id"], ioc["id"]
    instance.serve()
    page = browser.new_page()
    checked: dict[str, str] = {}

    def audit(path: str) -> None:
        response = page.goto(instance.url + path)
        assert response is not None
        assert response.status < 400, f"{path}: {response.status}"
        # Pages ship no script at all, so every one of them works with JavaScript off.
        assert page.locator("script").count() == 0, f"{path} has a script"
        checked[path] = _violations(page)

    audit("/login")
    audit("/password-reset")
    audit("/ack")
    page.goto(instance.url + "/login")
    page.get_by_label("E-mail address").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile("/directory"))
    for path in (
        "/directory",
        "/organisations",
        f"/organisations/{thai_id}",
        f"/organisations/{thai_id}/edit",
        f"/organisations/{thai_id}/contacts/new",
        f"/contacts/{contact_id}",
        f"/contacts/{contact_id}/edit",
        "/directory/import",
        "/checks",
        "/checks/new?country=TH&preview=1",
        "/users",
        "/users/new",
        "/account",
        "/audit",
        "/outbox",
        "/intel/objects",
        "/intel/objects?type=report",
        f"/intel/objects/{report_id}",
        f"/intel/objects/{ioc_id}",
        "/intel/search",
        "/intel/search?q=198.51.100.7",
        "/intel/upload",
        f"/intel/imports/{import_id}",
        "/intel/sharing-groups",
        f"/intel/sharing-groups/{group_id}",
        "/intel/taxii",
        "/federation",
        f"/federation/{peer_id}",
        "/incidents",
        "/incidents/new",
        "/incidents/dashboard",
        f"/incidents/{incident_id}",
        f"/incidents/{incident_id}/edit",
        "/alerts",
        "/alerts/subscriptions/new",
    ):
        audit(path)
    page.goto(instance.url + "/checks/new?country=TH&preview=1")
    page.get_by_label("Title").fill("Accessibility check")
    page.get_by_role("button", name="Start the check").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    checked["/checks/{id}"] = _violations(page)
    failing = {path: found for path, found in checked.items() if found}
    assert failing == {}, "\n".join(f"{p}:\n{v}" for p, v in failing.items())
    page.close()
