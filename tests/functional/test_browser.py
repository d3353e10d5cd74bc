"""The main flow end to end in real Chromium, against real server and worker processes:
log in, find a contact, run a communication check, acknowledge it from the e-mail the real
SMTP server received, and see the result.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from balai.accounts.models import Role
from balai.directory.models import ContactRole, OrgKind
from tests.factories import PASSWORD, make_contact, make_org, make_user
from tests.functional.conftest import Instance

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def _unlabelled_controls(page: Page) -> list[str]:
    """Form controls a screen reader could not name."""
    result: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)"""
    )
    return result


def test_log_in_find_a_contact_check_it_and_see_the_answer(
    instance: Instance, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    screenshots = tmp_path_factory.mktemp("screenshots")  # kept by pytest for a person to see
    with instance.factory() as db:
        hub = make_org(
            db, name="ASEAN Coordination Centre", country="SG", kind=OrgKind.INTERNATIONAL
        )
        admin = make_user(db, hub, role=Role.ORG_ADMIN, email="coordinator@example.org")
        thai = make_org(db, name="ThaiCERT", country="TH")
        make_contact(
            db,
            thai,
            name="Niran Srisuk",
            role=ContactRole.TECHNICAL,
            email="niran@thaicert.example",
        )
        make_contact(
            db, thai, name="Duty desk", role=ContactRole.OPERATIONS, email="desk@thaicert.example"
        )
        malaysia = make_org(db, name="MyCERT", country="MY")
        make_contact(
            db,
            malaysia,
            name="Aisyah Rahman",
            role=ContactRole.TECHNICAL,
            email="aisyah@mycert.example",
        )
        db.commit()
        admin_email = admin.email
    instance.serve()
    instance.worker()

    page = browser.new_page()
    page.goto(f"{instance.url}/directory")
    expect(page).to_have_url(re.compile(r"/login\?next=/directory"))
    assert _unlabelled_controls(page) == []
    page.get_by_label("E-mail address").fill(admin_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Points-of-contact directory")).to_be_visible()

    # Find Thailand's technical contact.
    page.get_by_label("Country").select_option("TH")
    page.get_by_label("Role", exact=True).select_option("technical")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Niran Srisuk")
    expect(rows.first).to_contain_text("niran@thaicert.example")
    assert _unlabelled_controls(page) == []

    # Start a communication check of the ASEAN states' technical contacts.
    page.get_by_role("link", name="Communication checks").click()
    page.get_by_role("link", name="Start a check").click()
    page.get_by_label("Group of states").select_option("asean")
    page.get_by_label("Roles").select_option("technical")
    page.get_by_role("button", name="Preview contacts").click()
    expect(page.get_by_text("2 contacts will receive an e-mail")).to_be_visible()
    assert _unlabelled_controls(page) == []
    page.get_by_label("Title").fill("Browser check")
    page.get_by_role("button", name="Start the check").click()
    expect(page.get_by_role("heading", name="Browser check")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("2 waiting")

    # The worker delivers both e-mails to the real SMTP server; Niran answers his.
    instance.sink.wait_for(2)
    (mail,) = instance.sink.to("niran@thaicert.example")
    link = re.search(r"(http://\S+/ack/\S+)", mail.body)
    assert link, mail.body
    reader = browser.new_page()
    reader.goto(link.group(1))
    expect(reader.get_by_text("ThaiCERT")).to_be_visible()
    reader.get_by_role("button", name="I received this message").click()
    expect(reader.locator("#ack-result")).to_contain_text("your answer is recorded")
    reader.close()

    # The result page shows Niran reached, with a response time, and the chart.
    page.reload()
    expect(page.locator("#summary")).to_contain_text("1 reached")
    niran = page.locator("#targets tr", has_text="Niran Srisuk")
    expect(niran).to_contain_text("Reached")
    expect(niran).to_contain_text(re.compile(r"\d+ s|\d+ min"))
    expect(page.locator("svg[role=img] desc")).to_contain_text("Thailand: 1 reached")
    aisyah = page.locator("#targets tr", has_text="Aisyah Rahman")
    expect(aisyah).to_contain_text("Waiting")
    page.screenshot(path=str(screenshots / "check-result.png"))
    page.close()
