"""Shared set-up for the communication-check tests: a small region, and ways to drive a check."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.checks import service
from balai.checks.models import CheckAttempt, CheckTarget, CommCheck
from balai.checks.schemas import CheckStart, Selection
from balai.config import Settings
from balai.db import Base, SessionFactory
from balai.directory.models import Contact, ContactRole, Organisation
from balai.outbox.delivery import SmtpTransport, deliver_batch
from balai.outbox.models import OutboxMessage
from tests.conftest import session_on
from tests.factories import actor_for, api_key_for, make_contact, make_org, make_user
from tests.smtp import SmtpSink
from tests.web import login

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
LINK = re.compile(r"http://testserver(/ack/[A-Za-z0-9_-]+)")
CODE = re.compile(r"\b([A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5})\b")


@dataclass
class Region:
    """An initiating coordination centre, two checked CERTs and an uninvolved outsider."""

    hub: Organisation
    admin: User
    analyst: User
    reader: User
    platform: User
    thai: Organisation
    thai_admin: User
    niran: Contact  # ThaiCERT technical contact; her alternate is Ploy
    ploy: Contact
    somchai: Contact  # ThaiCERT operations desk, no alternate
    malay: Organisation
    malay_admin: User
    aisyah: Contact
    outsider: Organisation
    outsider_admin: User

    @property
    def checked(self) -> list[Contact]:
        """The contacts most tests check: two in Thailand, one in Malaysia."""
        return [self.niran, self.somchai, self.aisyah]


def make_region(db: Session) -> Region:
    """Build the region and commit it, so that the app's sessions see it."""
    hub = make_org(db, name="ASEAN Coordination Centre", country="SG")
    platform_org = make_org(db, name="Platform Operator", country="SG")
    thai = make_org(db, name="ThaiCERT", country="TH")
    malay = make_org(db, name="MyCERT", country="MY")
    outsider = make_org(db, name="PhilCERT", country="PH")
    ploy = make_contact(db, thai, name="Ploy Chaiyaporn", email="ploy@thaicert.example")
    region = Region(
        hub=hub,
        admin=make_user(db, hub, role=Role.ORG_ADMIN),
        analyst=make_user(db, hub, role=Role.ANALYST),
        reader=make_user(db, hub, role=Role.READER),
        platform=make_user(db, platform_org, role=Role.PLATFORM_ADMIN),
        thai=thai,
        thai_admin=make_user(db, thai, role=Role.ORG_ADMIN),
        niran=make_contact(
            db, thai, name="Niran Srisuk", email="niran@thaicert.example", alternate=ploy
        ),
        ploy=ploy,
        somchai=make_contact(
            db,
            thai,
            name="Somchai Wongsakul",
            role=ContactRole.OPERATIONS,
            email="desk@thaicert.example",
        ),
        malay=malay,
        malay_admin=make_user(db, malay, role=Role.ORG_ADMIN),
        aisyah=make_contact(db, malay, name="Aisyah Rahman", email="aisyah@mycert.example"),
        outsider=outsider,
        outsider_admin=make_user(db, outsider, role=Role.ORG_ADMIN),
    )
    db.commit()
    return region


def selection_of(*contacts: Contact) -> Selection:
    """An explicit selection of contacts."""
    return Selection(contact_ids=[c.id for c in contacts])


def start(
    db: Session,
    settings: Settings,
    user: User,
    contacts: list[Contact],
    *,
    title: str = "Quarterly check",
    escalate: int = 60,
    close: int = 240,
) -> CommCheck:
    """Start a check through the service as `user` and commit it."""
    check = service.start_check(
        db,
        actor=actor_for(user),
        settings=settings,
        data=CheckStart(
            title=title,
            selection=selection_of(*contacts),
            escalate_after_minutes=escalate,
            close_after_minutes=close,
        ),
    )
    db.commit()
    return check


def session_factory(connection: Connection) -> SessionFactory:
    """Sessions on the test's transaction, for the outbox delivery and the worker."""
    return lambda: session_on(connection)


def deliver(connection: Connection, settings: Settings) -> int:
    """Send the outbox to the test SMTP server over real SMTP; return how many were tried."""
    return deliver_batch(
        session_factory(connection),
        settings=settings,
        transport=SmtpTransport(settings),
        worker_id="tests:checks",
    )


def mail_secrets(
    connection: Connection, settings: Settings, mail: SmtpSink, expected: int
) -> dict[str, tuple[str, str]]:
    """Deliver the outbox; the link path and code each address received, read from the mail."""
    assert deliver(connection, settings) == expected
    received = mail.wait_for(expected)
    assert len(received) == expected
    return {m.to[0]: link_and_code(m.body) for m in received}


def link_and_code(text: str) -> tuple[str, str]:
    """The acknowledgement path (/ack/...) and the typed code in an e-mail's text."""
    link = LINK.search(text)
    code = CODE.search(text)
    assert link, text
    assert code, text
    return link.group(1), code.group(1)


def bearer(key: str) -> dict[str, str]:
    """Headers for an API call with a key."""
    return {"Authorization": f"Bearer {key}"}


def keys_for(db: Session, *users: User) -> list[dict[str, str]]:
    """API headers for each user, committed."""
    headers = [bearer(api_key_for(db, u)) for u in users]
    db.commit()
    return headers


def login_as(client: TestClient, user: User) -> None:
    """Forget the current browser session and log in as another user."""
    client.cookies.clear()
    login(client, user.email)


def count(db: Session, model: type[Base]) -> int:
    """Rows of a table."""
    return db.scalar(select(func.count()).select_from(model)) or 0


def row_counts(db: Session) -> dict[str, int]:
    """Rows of every table a started check writes to."""
    return {
        m.__tablename__: count(db, m) for m in (CommCheck, CheckTarget, CheckAttempt, OutboxMessage)
    }


def targets_by_name(db: Session, check_id: uuid.UUID) -> dict[str, CheckTarget]:
    """A check's targets, freshly read (the app may have changed them), by contact name."""
    db.flush()
    db.expire_all()
    rows = db.scalars(select(CheckTarget).where(CheckTarget.check_id == check_id))
    return {t.contact_name: t for t in rows}


def message_of(db: Session, attempt: CheckAttempt) -> OutboxMessage:
    """The outbox message an attempt queued."""
    assert attempt.outbox_message_id is not None
    message = db.get(OutboxMessage, attempt.outbox_message_id)
    assert message is not None
    return message


def hidden_fields(html: str, action: str) -> dict[str, list[str]]:
    """The hidden fields a browser sends with the page's form that posts to `action`."""
    start = html.index(f'<form method="post" action="{action}"')
    form = html[start : html.index("</form>", start)]
    fields: dict[str, list[str]] = {}
    for name, value in HIDDEN.findall(form):
        if name != "csrf_token":
            fields.setdefault(name, []).append(unescape(value))
    return fields


def problem_locs(body: dict[str, Any]) -> list[str]:
    """The locations an API error names."""
    return [d["loc"] for d in body["error"]["details"]]
