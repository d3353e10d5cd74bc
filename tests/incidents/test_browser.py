"""Reporting and coordinating an incident in real Chromium, as the people who use it would:
the reporter fills the form and invites the affected states' CERTs; one of them answers."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Browser, Page, expect

from balai.accounts.models import Role
from tests.factories import PASSWORD, make_org, make_user
from tests.functional.conftest import Instance, instance
from tests.functional.test_browser import CHROMIUM, _unlabelled_controls, browser

__all__ = ["browser", "instance"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason=f"no Chromium at {CHROMIUM}"),
]


def _log_in(page: Page, url: str, email: str) -> None:
    page.goto(f"{url}/login?next=/incidents")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()


def test_report_invite_and_answer_in_the_browser(instance: Instance, browser: Browser) -> None:
    with instance.factory() as db:
        thai = make_user(db, make_org(db, name="ThaiCERT", country="TH"), role=Role.ANALYST)
        malaysian = make_user(db, make_org(db, name="MyCERT", country="MY"), role=Role.ANALYST)
        outsider = make_user(db, make_org(db, name="VNCERT", country="VN"), role=Role.ANALYST)
        db.commit()
        emails = (thai.email, malaysian.email, outsider.email)
    instance.serve()

    context = browser.new_context()
    page = context.new_page()
    _log_in(page, instance.url, emails[0])
    page.get_by_role("link", name="Report an incident").click()
    assert _unlabelled_controls(page) == []
    page.get_by_label("Title").fill("Ransomware at a power interconnector")
    page.get_by_label("What happened").fill("Operator consoles encrypted at the Thai end.")
    page.get_by_label("Classification (ENISA/TF-CSIRT reference taxonomy)").select_option(
        "malicious-code/infected-system"
    )
    page.get_by_label("Critical", exact=False).first.check()
    page.get_by_label("Malaysia (MY)").check()
    page.get_by_label("Thailand (TH)").check()
    page.get_by_label("Energy").check()
    page.get_by_label("When you became aware of it", exact=False).fill("2026-01-05T09:30")
    page.get_by_label("TLP marking").select_option("red")
    page.get_by_label("Share with").select_option("organisation")
    page.get_by_role("button", name="Report").click()
    expect(page.get_by_role("heading", name="Ransomware at a power interconnector")).to_be_visible()
    expect(page.get_by_text("Notification overdue").first).to_be_visible()
    page.get_by_label("Invite the national CERTs of the affected countries").check()
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("cell", name="MyCERT", exact=True)).to_be_visible()
    incident_url = page.url.split("#")[0]
    context.close()

    context = browser.new_context()
    page = context.new_page()
    _log_in(page, instance.url, emails[1])
    page.goto(incident_url)
    page.get_by_label("Investigating").check()
    page.get_by_label("Note to the parties (optional)").fill("Two utilities run the same SCADA.")
    page.get_by_role("button", name="Save our status").click()
    expect(page.get_by_text("MyCERT: notified → investigating").first).to_be_visible()
    context.close()

    context = browser.new_context()
    page = context.new_page()
    _log_in(page, instance.url, emails[2])
    expect(page.get_by_text("No incidents match.")).to_be_visible()
    assert page.goto(incident_url).status == 404  # type: ignore[union-attr]  # a navigation
    context.close()
