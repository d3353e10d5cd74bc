"""The issue's "done when", on a live instance (web server, worker, real SMTP server, real
webhook receiver on loopback): a CERT reports a cross-border ransomware incident on the
page and invites the national CERTs of the affected states; they get alerts by e-mail and
webhook, acknowledge them and appear as parties; one that does not answer escalates; the
overdue notification shows; an organisation outside the audience receives and sees nothing.

Slow on purpose (about 10 s): real processes, a real log-in, real deliveries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from balai.accounts.models import Role
from balai.alerts import ack
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import load_settings
from balai.db import transaction, utcnow
from balai.directory.models import ContactRole
from tests.conftest import SECRET, Databases
from tests.factories import PASSWORD, actor_for, make_contact, make_org, make_user
from tests.functional.conftest import Instance, close_instance, new_instance
from tests.webhooks import WebhookReceiver

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOOPBACK = {"BALAI_WEBHOOK_ALLOW_HTTP": "true", "BALAI_WEBHOOK_ALLOW_PRIVATE": "true"}


@pytest.fixture
def region(databases: Databases) -> Iterator[tuple[Instance, WebhookReceiver, dict[str, str]]]:
    """ThaiCERT reports; MyCERT and SingCERT are the affected states' CERTs, each with a
    24/7 desk that has an alternate and a webhook subscription; VNCERT subscribes to
    everything but is outside the audience."""
    live = new_instance(databases, "alerts")
    live.settings.update(LOOPBACK)
    receiver = WebhookReceiver()
    receiver.start()
    settings = load_settings(
        database_url=live.database_url,
        secret_key=SECRET,
        webhook_allow_http=True,
        webhook_allow_private=True,
    )
    secrets: dict[str, str] = {}
    with transaction(live.factory) as db:
        thai = make_org(db, name="ThaiCERT", country="TH")
        make_user(db, thai, role=Role.ANALYST, email="analyst@thaicert.example")
        for name, country in (("MyCERT", "MY"), ("SingCERT", "SG"), ("VNCERT", "VN")):
            cert = make_org(db, name=name, country=country)
            code = country.lower()
            deputy = make_contact(
                db,
                cert,
                name=f"{name} deputy",
                role=ContactRole.TECHNICAL,
                email=f"deputy@{code}.example",
            )
            make_contact(
                db,
                cert,
                name=f"{name} duty desk",
                role=ContactRole.OPERATIONS,
                email=f"duty@{code}.example",
                alternate=deputy,
            )
            admin = make_user(db, cert, role=Role.ORG_ADMIN, email=f"admin@{code}.example")
            _, secret = subscribe(
                db,
                actor=actor_for(admin),
                settings=settings,
                data=SubscriptionIn(
                    name="SOC",
                    for_organisation=True,
                    email=f"soc@{code}.example",
                    webhook_url=receiver.url(f"/{code}"),
                ),
            )
            assert secret is not None
            secrets[code] = secret
    live.serve()
    try:
        yield live, receiver, secrets
    finally:
        receiver.stop()
        close_instance(live)


def _log_in(live: Instance, email: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    done = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    return client


def _post(client: httpx.Client, page: str, action: str, data: dict[str, object]) -> httpx.Response:
    token = CSRF.search(client.get(page).text)
    assert token is not None, page
    return client.post(action, data={**data, "csrf_token": token.group(1)})


def test_a_cross_border_ransomware_report_reaches_the_affected_certs_and_no_one_else(
    region: tuple[Instance, WebhookReceiver, dict[str, str]],
) -> None:
    live, receiver, secrets = region
    live.worker(**LOOPBACK)
    thai = _log_in(live, "analyst@thaicert.example")
    aware = utcnow() - timedelta(hours=80)  # the user's zone is Asia/Bangkok
    reported = _post(
        thai,
        "/incidents/new",
        "/incidents",
        {
            "title": "Ransomware at a cross-border power interconnector",
            "description": "Operator consoles encrypted; the ransom note names the grid operator.",
            "classification": "malicious-code/infected-system",
            "severity": "critical",
            "other_countries": "TH MY SG",
            "sectors": "energy",
            "aware_at": aware.astimezone(ZoneInfo("Asia/Bangkok")).strftime("%Y-%m-%dT%H:%M"),
            "tlp": "red",
            "distribution": "organisation",
        },
    )
    assert reported.status_code == 303, reported.text
    path = reported.headers["location"]
    page = thai.get(path).text
    assert "Cross-border" in page
    assert "Notification overdue" in page  # 80 hours since becoming aware: past 72

    invited = _post(thai, path, f"{path}/parties", {"national_certs": "1"})
    assert invited.status_code == 303

    # E-mail to each affected CERT's 24/7 desk, and a signed call to each one's webhook.
    live.sink.wait_for(2)
    receiver.wait_for(2)
    assert sorted(m.to[0] for m in live.sink.all()) == ["duty@my.example", "duty@sg.example"]
    for code in ("my", "sg"):
        [call] = receiver.to(f"/{code}")
        envelope = Webhook(secrets[code]).verify(call.body, call.headers)
        assert envelope["type"] == "incident.party_invited"
        alert = envelope["data"]
        assert alert["reason"] == "invitation"
        assert alert["incident"]["title"] == "Ransomware at a cross-border power interconnector"
    assert receiver.to("/vn") == []  # outside the audience: nothing at all
    assert live.sink.to("duty@vn.example") == []
    assert live.sink.to("soc@vn.example") == []

    # MyCERT acknowledges from its e-mail; SingCERT stays silent.
    [mail] = live.sink.to("duty@my.example")
    link = re.search(r"(/alerts/ack/\S+)", mail.body)
    assert link is not None
    anonymous = httpx.Client(base_url=live.url, timeout=30)
    done = _post(anonymous, link.group(1), link.group(1), {})
    assert "the alert is acknowledged" in done.text

    parties = thai.get(path).text
    assert re.search(
        r"MyCERT</td><td>Malaysia</td>\s*<td><span class=\"badge party-acknowledged\">Acknowledged",
        parties,
    )
    assert re.search(
        r"SingCERT</td><td>Singapore</td>\s*<td><span class=\"badge party-notified\">Notified",
        parties,
    )

    # An hour later SingCERT's alert goes to its alternate (the worker's job, run here at
    # that time), and the worker delivers it.
    settings = load_settings(database_url=live.database_url, secret_key=SECRET)
    with transaction(live.factory) as db:
        later = utcnow() + timedelta(minutes=settings.alert_escalate_minutes, seconds=5)
        assert ack.escalate_due(db, settings=settings, now=later) == 1
    live.sink.wait_for(3)
    [escalated] = live.sink.to("deputy@sg.example")
    assert escalated.subject.startswith("[Balai TLP:RED] Unacknowledged:")

    # VNCERT, outside the audience, sees nothing: not in the list, not by its address.
    vn = _log_in(live, "admin@vn.example")
    assert "Ransomware" not in vn.get("/incidents").text
    assert vn.get(path).status_code == 404
    assert "Ransomware" not in vn.get("/alerts").text
    dashboard = thai.get("/incidents/dashboard").text
    assert "Notification overdue" in dashboard
