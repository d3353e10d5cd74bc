"""The scan page in real Chromium: log in, upload a log, see the hits, with and without
JavaScript (with it, the upload goes through the progress bar's request)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from balai.accounts.models import Role
from tests.factories import PASSWORD, make_org, make_user
from tests.functional.conftest import Instance, instance
from tests.functional.test_browser import CHROMIUM, _unlabelled_controls, browser
from tests.intel.helpers import body, import_as, indicator

__all__ = ["browser", "instance"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason=f"no Chromium at {CHROMIUM}"),
]
LOG = "Dec 10 06:55:46 gw sshd[1]: Invalid user admin from 185.220.101.7\n" * 3


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_upload_a_log_and_see_its_hits(
    instance: Instance, browser: Browser, tmp_path: Path, javascript: bool
) -> None:
    with instance.factory() as db:
        cert = make_org(db, name="ThaiCERT", country="TH")
        analyst = make_user(db, cert, role=Role.ANALYST)
        member = make_user(db, make_org(db, name="Town hall", country="TH"), role=Role.READER)
        ioc = indicator("[ipv4-addr:value = '185.220.101.7']", name="Botnet C2")
        import_as(db, analyst, body(ioc))
        email = member.email
    instance.serve()
    log = tmp_path / "auth.log"
    log.write_text(LOG, encoding="utf-8")

    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{instance.url}/login?next=/intel/scan")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Scan a log")).to_be_visible()
    assert _unlabelled_controls(page) == []
    page.get_by_label("Log file").set_input_files(str(log))
    page.get_by_role("button", name="Scan").click()
    expect(page.get_by_role("heading", name="auth.log: 3 hits of 1 indicator")).to_be_visible()
    expect(page.get_by_role("cell", name="Botnet C2")).to_be_visible()
    expect(page.get_by_role("link", name="Zeek intel file")).to_be_visible()
    context.close()
