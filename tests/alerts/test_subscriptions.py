"""Subscriptions: who may make which, webhook URLs and secrets, pages and API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from balai.alerts import service
from balai.alerts.models import Subscription
from balai.alerts.schemas import SubscriptionIn
from balai.config import Settings
from balai.errors import Forbidden, NotFound, ValidationFailed
from balai.outbox.webhooks import unseal_webhook_secret
from tests.alerts.helpers import loopback, messages, subscribe
from tests.factories import actor_for
from tests.incidents.helpers import report_as
from tests.intel.helpers import Intel, count, locs, sign_in, text_of
from tests.web import submit


def test_a_webhook_gets_a_secret_shown_once_and_stored_sealed(
    db: Session, intel: Intel, settings: Settings
) -> None:
    settings = loopback(settings)
    sub, secret = subscribe(db, intel.analyst, settings, webhook_url="http://127.0.0.1:8/x")
    assert secret is not None
    assert sub.webhook_secret_sealed is not None
    assert secret not in sub.webhook_secret_sealed
    assert unseal_webhook_secret(settings, sub.webhook_secret_sealed) == secret
    assert service.subscription_out(sub).webhook_secret is None  # shown once, at creation
    report_as(db, intel.away_analyst, settings)  # queues a call signed with the first secret
    [queued] = messages(db)
    rotated = service.rotate_secret(
        db, actor=actor_for(intel.analyst), settings=settings, subscription_id=sub.id
    )
    assert rotated != secret
    assert unseal_webhook_secret(settings, sub.webhook_secret_sealed) == rotated
    db.commit()
    db.refresh(queued)
    assert unseal_webhook_secret(settings, queued.payload["secret"]) == rotated  # re-sealed


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example/x", "https://"),
        ("ftp://hooks.example/x", "https://"),
        ("https://user:pw@hooks.example/x", "user name or password"),
    ],
)
def test_unsafe_webhook_urls_are_refused(
    db: Session, intel: Intel, settings: Settings, url: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        subscribe(db, intel.analyst, settings, webhook_url=url)
    assert caught.value.problems[0].loc == "webhook_url"
    assert words in caught.value.problems[0].msg
    db.rollback()
    assert count(db, Subscription) == 0


def test_a_private_address_is_refused_unless_allowed(
    db: Session, intel: Intel, settings: Settings
) -> None:
    https = settings.model_copy(update={"webhook_allow_http": True})
    with pytest.raises(ValidationFailed, match=r"127\.0\.0\.1 is a loopback address"):
        subscribe(db, intel.analyst, https, webhook_url="http://127.0.0.1/hook")


def test_a_subscription_needs_a_channel_and_known_classes() -> None:
    with pytest.raises(ValueError, match="an e-mail address, a webhook URL or both"):
        SubscriptionIn(name="x")
    with pytest.raises(ValueError, match="not an RSIT incident class"):
        SubscriptionIn(name="x", email="a@b.example", rsit_classes=["ransomware"])


def test_organisation_subscriptions_are_for_its_admins(
    db: Session, intel: Intel, settings: Settings
) -> None:
    with pytest.raises(Forbidden):
        subscribe(db, intel.analyst, settings, email="soc@th.example", for_organisation=True)
    db.rollback()
    org_sub, _ = subscribe(db, intel.admin, settings, email="soc@th.example", for_organisation=True)
    mine, _ = subscribe(db, intel.analyst, settings, email="me@th.example")
    # Members see their own and their organisation's; other organisations see neither.
    assert {s.id for s in service.visible_subscriptions(db, actor=actor_for(intel.reader))} == {
        org_sub.id
    }
    assert {s.id for s in service.visible_subscriptions(db, actor=actor_for(intel.analyst))} == {
        org_sub.id,
        mine.id,
    }
    assert service.visible_subscriptions(db, actor=actor_for(intel.away_admin)) == []
    with pytest.raises(NotFound):
        service.delete(db, actor=actor_for(intel.away_admin), subscription_id=mine.id)
    with pytest.raises(Forbidden):
        service.delete(db, actor=actor_for(intel.analyst), subscription_id=org_sub.id)
    service.delete(db, actor=actor_for(intel.admin), subscription_id=org_sub.id)
    assert count(db, Subscription) == 1


def test_the_api_creates_lists_updates_and_deletes(
    db: Session, client: TestClient, intel: Intel
) -> None:
    headers = intel.key(intel.analyst)
    bad = client.post(
        "/api/v1/alert-subscriptions",
        json={"name": "Energy", "email": "not-an-address", "countries": ["XX"]},
        headers=headers,
    )
    assert bad.status_code == 422
    assert set(locs(bad)) == {"body.email", "body.countries[0]"}
    made = client.post(
        "/api/v1/alert-subscriptions",
        json={
            "name": "Energy",
            "email": "me@th.example",
            "sectors": ["energy"],
            "min_severity": "high",
        },
        headers=headers,
    )
    assert made.status_code == 201
    body = made.json()
    assert body["webhook_secret"] is None
    path = f"/api/v1/alert-subscriptions/{body['id']}"
    listed = client.get("/api/v1/alert-subscriptions", headers=headers).json()["items"]
    assert [s["name"] for s in listed] == ["Energy"]
    changed = client.put(
        path, json={"name": "Energy, all", "email": "me@th.example"}, headers=headers
    )
    assert changed.json()["sectors"] == []
    assert client.get(path, headers=intel.key(intel.away_analyst)).status_code == 404
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404


def test_the_page_makes_a_subscription_and_shows_the_secret_once(
    db: Session, client: TestClient, intel: Intel, settings: Settings
) -> None:
    sign_in(client, db, intel.admin)
    form = client.get("/alerts/subscriptions/new")
    assert "For the whole organisation" in form.text
    refused = submit(client, "/alerts/subscriptions/new", "/alerts/subscriptions", {"name": "SOC"})
    assert refused.status_code == 422
    assert "an e-mail address, a webhook URL or both" in text_of(refused.text)
    assert count(db, Subscription) == 0
    made = submit(
        client,
        "/alerts/subscriptions/new",
        "/alerts/subscriptions",
        {
            "name": "SOC",
            "for_organisation": "1",
            "email": "soc@th.example",
            "webhook_url": "https://203.0.113.5/balai",
            "countries": ["MY"],
            "keywords": "ransomware, power",
        },
    )
    # A documentation address is not a public one: the form says so and saves nothing.
    assert made.status_code == 422
    assert "203.0.113.5 is a private address" in text_of(made.text)
    assert count(db, Subscription) == 0
    made = submit(
        client,
        "/alerts/subscriptions/new",
        "/alerts/subscriptions",
        {
            "name": "SOC",
            "for_organisation": "1",
            "email": "soc@th.example",
            "countries": ["MY"],
            "keywords": "ransomware, power",
        },
    )
    assert made.status_code == 303
    sub = db.query(Subscription).one()
    assert (sub.user_id, sub.countries, sub.keywords) == (None, ["MY"], ["power", "ransomware"])
    listing = text_of(client.get("/alerts").text)
    assert "SOC" in listing
    assert "words power, ransomware" in listing


def test_a_url_whose_host_is_not_a_host_name_is_refused_not_a_crash(
    client: TestClient, intel: Intel
) -> None:
    response = client.post(
        "/api/v1/alert-subscriptions",
        json={"name": "x", "webhook_url": "https://a..b/hook"},
        headers=intel.key(intel.analyst),
    )
    assert response.status_code == 422
    assert locs(response) == ["webhook_url"]
