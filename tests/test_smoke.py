"""The main flow once through, in-process: log in, find a contact, check it, acknowledge."""

from __future__ import annotations

import re

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from balai.accounts.models import Role
from balai.config import Settings
from balai.directory.models import ContactRole
from tests.factories import api_key_for, make_contact, make_org, make_user
from tests.web import client_for, login, submit


def test_main_flow_in_process(connection: Connection, db: Session, settings: Settings) -> None:
    hub = make_org(db, name="Coordination Centre", country="SG")
    admin = make_user(db, hub, role=Role.ORG_ADMIN)
    cert = make_org(db, name="ThaiCERT", country="TH")
    contact = make_contact(db, cert, name="Niran Srisuk", role=ContactRole.TECHNICAL)
    key = api_key_for(db, admin)
    db.commit()
    with client_for(connection, settings) as client:
        login(client, admin.email)
        page = client.get("/directory", params={"country": "TH", "role": "technical"})
        assert page.status_code == 200, page.text
        assert "Niran Srisuk" in page.text
        api = client.get(
            "/api/v1/contacts", params={"q": "niran"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert api.status_code == 200, api.text
        assert [c["name"] for c in api.json()["items"]] == ["Niran Srisuk"]
        preview = client.get(
            "/checks/new", params={"country": "TH", "role": "technical", "preview": "1"}
        )
        assert preview.status_code == 200, preview.text
        started = submit(
            client,
            "/checks/new?country=TH&role=technical&preview=1",
            "/checks",
            {
                "title": "Smoke check",
                "contact_ids": str(contact.id),
                "repeat": "0",
                "escalate_after_minutes": "60",
                "close_after_minutes": "120",
            },
        )
        assert started.status_code == 303, started.text
        check_url = started.headers["location"]
        result = client.get(check_url)
        assert "Waiting" in result.text
    from sqlalchemy import select

    from balai.outbox.models import OutboxMessage

    message = db.scalars(select(OutboxMessage)).one()
    link = re.search(r"http://testserver(/ack/\S+)", message.payload["text"])
    assert link
    with client_for(connection, settings) as client:
        confirm = client.get(link.group(1))
        assert "I received this message" in confirm.text
        done = submit(client, link.group(1), link.group(1), {})
        assert "your answer is recorded" in done.text
        login(client, admin.email)
        assert "Reached" in client.get(check_url).text
