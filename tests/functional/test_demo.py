"""`balai demo`: one command brings up the demo region, its worker and its mail catcher."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.smtp import free_port
from tests.web import CSRF


def test_demo_starts_prints_its_logins_and_serves_the_region(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALAI_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "balai",
            "demo",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        env=env | {"COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("the demo did not start within 120 s")
        with httpx.Client(base_url=url, follow_redirects=False) as client:
            token = CSRF.search(client.get("/login").text)
            assert token
            login = client.post(
                "/login",
                data={
                    "email": "admin@balai.example",
                    "password": "balai-demo-2026!",
                    "csrf_token": token.group(1),
                },
            )
            assert login.status_code == 303, login.text
            directory = client.get("/directory", params={"country": "TH", "role": "technical"})
            assert directory.status_code == 200
            assert "Thailand" in directory.text
            checks = client.get("/checks")
            assert "Quarterly check: ASEAN technical contacts" in checks.text
            incidents = client.get("/incidents", params={"overdue": "1"})
            assert "Ransomware at a cross-border power interconnector" in incidents.text
            assert "Notification overdue" in incidents.text
            dashboard = client.get("/incidents/dashboard")
            assert "DDoS" in dashboard.text or "Availability" in dashboard.text
            # The invited CERTs' duty desks were alerted: the demo's worker delivered it.
            deadline = time.monotonic() + 30
            while "Ransomware at a cross-border" not in client.get("/demo/mailbox").text:
                assert time.monotonic() < deadline, "no alert reached the demo mailbox"
                time.sleep(0.5)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"Balai demo running at {url}" in output
    assert "admin@balai.example" in output
    assert "balai-demo-2026!" in output
    assert re.search(r"mail catcher|Mail sent by the demo", output)
