"""The result of a check: per state and per contact, with its chart, and in organisation history."""

from __future__ import annotations

import re
import uuid
from html import unescape

import pytest
from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from balai.checks.models import CheckTarget, CommCheck, Outcome
from balai.config import Settings
from tests.checks.helpers import LINK, Region, keys_for, login_as, message_of, start
from tests.factories import make_contact
from tests.web import client_for

# name: (outcome, response seconds)
OUTCOMES: dict[str, tuple[Outcome, float | None]] = {
    "Niran Srisuk": (Outcome.REACHED, 60.0),
    "Somchai Wongsakul": (Outcome.REACHED, 120.0),
    "Dara Thongdee": (Outcome.NOT_REACHED, None),
    "Aisyah Rahman": (Outcome.REACHED_ALTERNATE, 300.0),
    "Farid Ismail": (Outcome.PENDING, None),
}
RECT = re.compile(r'<rect class="c-(\w+)" x="[\d.]+" y="(\d+)" width="([\d.]+)"')
ROW = re.compile(r"<tr>(.*?)</tr>", re.S)


@pytest.fixture
def check(db: Session, settings: Settings, region: Region) -> CommCheck:
    """A check of five contacts in two states, with a made-up set of outcomes."""
    dara = make_contact(db, region.thai, name="Dara Thongdee")
    farid = make_contact(db, region.malay, name="Farid Ismail")
    check = start(db, settings, region.admin, [*region.checked, dara, farid], title="Outcome check")
    for target in check.targets:
        outcome, seconds = OUTCOMES[target.contact_name]
        db.execute(
            update(CheckTarget)
            .where(CheckTarget.id == target.id)
            .values(outcome=outcome, response_seconds=seconds)
        )
    db.commit()
    return check


def _per_contact(html: str) -> dict[str, str]:
    """Outcome label per contact name, from the page's per-contact table."""
    table = html[html.index('<table id="targets">') :]
    found = {}
    for row in ROW.findall(table):
        name = re.search(r'<a href="/contacts/[^"]+">([^<]+)</a>', row)
        badge = re.search(r'<span class="badge \w+">([^<]+)</span>', row)
        if name and badge:
            found[unescape(name.group(1))] = unescape(badge.group(1))
    return found


def test_api_summarises_each_state_and_the_whole(
    connection: Connection, db: Session, settings: Settings, region: Region, check: CommCheck
) -> None:
    [admin] = keys_for(db, region.admin)
    with client_for(connection, settings) as client:
        detail = client.get(f"/api/v1/checks/{check.id}", headers=admin)
        listed = client.get("/api/v1/checks", headers=admin)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["summary"] == {
        "country": "",
        "total": 5,
        "reached": 2,
        "reached_alternate": 1,
        "not_reached": 1,
        "pending": 1,
        "median_response_seconds": 120.0,
    }
    assert body["countries"] == [
        {
            "country": "MY",
            "total": 2,
            "reached": 0,
            "reached_alternate": 1,
            "not_reached": 0,
            "pending": 1,
            "median_response_seconds": 300.0,
        },
        {
            "country": "TH",
            "total": 3,
            "reached": 2,
            "reached_alternate": 0,
            "not_reached": 1,
            "pending": 0,
            "median_response_seconds": 90.0,
        },
    ]
    assert {t["contact_name"]: (t["outcome"], t["response_seconds"]) for t in body["targets"]} == {
        name: (outcome.value, seconds) for name, (outcome, seconds) in OUTCOMES.items()
    }
    assert [t["country"] for t in body["targets"]] == ["MY", "MY", "TH", "TH", "TH"]
    [item] = listed.json()["items"]
    assert item["id"] == str(check.id)
    assert item["summary"] == body["summary"]


def test_page_shows_summary_chart_and_per_contact_outcomes(
    connection: Connection, settings: Settings, region: Region, check: CommCheck
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        page = client.get(f"/checks/{check.id}")
    assert page.status_code == 200
    html = page.text
    assert (
        '<p id="summary">2 reached, 1 reached through the alternate, 1 not reached, 1 waiting, '
        "of 5. Median response time: 2 min 0 s.</p>"
    ) in html
    assert (
        '<th scope="row">Thailand</th><td>3</td><td>2</td><td>0</td><td>1</td><td>0</td>'
        "<td>1 min 30 s</td>"
    ) in html
    assert (
        '<th scope="row">Malaysia</th><td>2</td><td>0</td><td>1</td><td>0</td><td>1</td>'
        "<td>5 min 0 s</td>"
    ) in html

    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Outcome per state</title>' in svg
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg, re.S)
    assert desc
    assert "Malaysia: 0 reached, 1 through alternate, 0 not reached, 1 waiting." in desc.group(1)
    assert "Thailand: 2 reached, 0 through alternate, 1 not reached, 0 waiting." in desc.group(1)
    bars = [(kind, int(y), float(width)) for kind, y, width in RECT.findall(svg)]
    # One row per state in code order (MY, then TH); widths are shares of 420 pixels.
    assert bars == [
        ("reached_alternate", 4, 210.0),
        ("pending", 4, 210.0),
        ("reached", 30, 280.0),
        ("not_reached", 30, 140.0),
    ]
    assert ">1/2</text>" in svg
    assert ">2/3</text>" in svg

    assert _per_contact(html) == {
        "Niran Srisuk": "Reached",
        "Somchai Wongsakul": "Reached",
        "Dara Thongdee": "Not reached",
        "Aisyah Rahman": "Reached through alternate",
        "Farid Ismail": "Waiting",
    }


def test_check_list_page_summarises_each_check(
    connection: Connection, settings: Settings, region: Region, check: CommCheck
) -> None:
    with client_for(connection, settings) as client:
        login_as(client, region.admin)
        page = client.get("/checks")
    row = next(r for r in ROW.findall(page.text) if "Outcome check" in r)
    assert f'<a href="/checks/{check.id}">Outcome check</a>' in row
    assert "<td>5</td><td>2</td><td>1</td>" in row
    assert '1 <span class="muted">(1 waiting)</span>' in row
    assert "2 min 0 s" in row


@pytest.mark.parametrize(
    ("viewer", "organisation", "counts"),
    [
        # The initiator sees every row: 2 reached, 1 through alternate, 1 not reached.
        ("admin", "hub", "<td>2</td><td>1</td><td>1 (1 waiting)</td>"),
        # ThaiCERT sees its three rows only.
        ("thai_admin", "thai", "<td>2</td><td>0</td><td>1</td>"),
        # MyCERT sees its two rows only.
        ("malay_admin", "malay", "<td>0</td><td>1</td><td>0 (1 waiting)</td>"),
    ],
)
def test_organisation_page_lists_the_check_in_its_history(
    connection: Connection,
    settings: Settings,
    region: Region,
    check: CommCheck,
    viewer: str,
    organisation: str,
    counts: str,
) -> None:
    org_id: uuid.UUID = getattr(region, organisation).id
    with client_for(connection, settings) as client:
        login_as(client, getattr(region, viewer))
        page = client.get(f"/organisations/{org_id}")
    assert page.status_code == 200
    history = page.text[page.text.index("<h2>Communication checks</h2>") :]
    rows = [r for r in ROW.findall(history) if f'href="/checks/{check.id}"' in r]
    assert len(rows) == 1
    assert "ASEAN Coordination Centre" in rows[0]
    assert counts in rows[0]


def test_titles_and_messages_are_escaped_on_every_page_that_shows_them(
    connection: Connection, db: Session, settings: Settings, region: Region
) -> None:
    check = start(
        db, settings, region.admin, [region.niran], title='<img src=x onerror="alert(1)">'
    )
    [attempt] = check.targets[0].attempts
    path = LINK.search(message_of(db, attempt).payload["text"])
    assert path
    with client_for(connection, settings) as client:
        ack_page = client.get(path.group(1))
        login_as(client, region.admin)
        pages = [ack_page, client.get(f"/checks/{check.id}"), client.get("/checks")]
    for page in pages:
        assert "<img src=x" not in page.text
        assert "&lt;img src=x" in page.text
