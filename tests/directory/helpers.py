"""Helpers for the directory tests: signing in, people of every role, sample data, files."""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User, WebSession
from balai.db import utcnow
from balai.directory.models import (
    Contact,
    ContactChannel,
    ContactRole,
    Organisation,
    OrgKind,
    Sector,
)
from balai.tokens import hash_token, new_token
from balai.web.middleware import SESSION_COOKIE
from tests.factories import api_key_for, make_contact, make_org, make_user
from tests.web import csrf_of

Json = dict[str, Any]


def sign_in(client: TestClient, db: Session, user: User) -> None:
    """Give the client a live web session of the user.

    Logging in through the form costs an argon2 verification (about 0.1 s); the log-in
    flow has its own tests, so these tests open the session row directly.
    """
    token = new_token(32)
    now = utcnow()
    db.add(
        WebSession(
            id=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
        )
    )
    db.commit()
    client.cookies.set(SESSION_COOKIE, token)


def post_form(
    client: TestClient, page: str, action: str, data: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    """Load a page for its CSRF token, then post a form to action as a browser would."""
    loaded = client.get(page)
    assert loaded.status_code == 200, loaded.text
    response: httpx.Response = client.post(
        action, data={**data, "csrf_token": csrf_of(loaded.text)}, **kwargs
    )
    return response


def count(db: Session, model: type[Any]) -> int:
    """Rows of a table."""
    return db.scalar(select(func.count()).select_from(model)) or 0


def directory_rows(db: Session) -> tuple[int, int, int]:
    """Organisations, contacts and contact channels: what a failed write must leave alone."""
    return count(db, Organisation), count(db, Contact), count(db, ContactChannel)


def fresh(db: Session, model: type[Any], item_id: uuid.UUID) -> Any:
    """An object as the database holds it now (after requests changed it)."""
    db.expire_all()
    return db.get(model, item_id)


def field_error(page: str, field: str) -> str:
    """The error message shown beside a form field ('' when there is none)."""
    found = re.search(
        rf'<p class="field-error" id="{re.escape(field)}-error">(.*?)</p>', page, re.S
    )
    return html.unescape(found.group(1)) if found else ""


def text_of(page: str) -> str:
    """A page's text with tags removed and entities decoded, whitespace collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([,:;])", r"\1", text)


def error_page(response: httpx.Response, status: int) -> str:
    """The text of an error page, asserting its status."""
    assert response.status_code == status, response.text
    return response.text


def problems(response: httpx.Response) -> list[Json]:
    """The located problems of an API error."""
    details: list[Json] = response.json()["error"]["details"]
    return details


def days_ago(days: int) -> datetime:
    """A moment some days back."""
    return utcnow() - timedelta(days=days)


@dataclass
class People:
    """Organisations and a user of every role: home (TH), away (MY) and the hub (SG)."""

    db: Session
    home: Organisation
    away: Organisation
    hub: Organisation
    reader: User
    analyst: User
    org_admin: User
    away_analyst: User
    away_admin: User
    platform_admin: User

    def key(self, user: User) -> dict[str, str]:
        """API headers of the user."""
        headers = {"Authorization": f"Bearer {api_key_for(self.db, user)}"}
        self.db.commit()
        return headers


def make_people(db: Session) -> People:
    """Three organisations and their users."""
    home = make_org(db, name="National Cyber Security Agency", country="TH")
    away = make_org(db, name="CyberSecurity Malaysia", country="MY")
    hub = make_org(db, name="ASEAN Regional CERT", country="SG")
    people = People(
        db=db,
        home=home,
        away=away,
        hub=hub,
        reader=make_user(db, home, role=Role.READER),
        analyst=make_user(db, home, role=Role.ANALYST),
        org_admin=make_user(db, home, role=Role.ORG_ADMIN),
        away_analyst=make_user(db, away, role=Role.ANALYST),
        away_admin=make_user(db, away, role=Role.ORG_ADMIN),
        platform_admin=make_user(db, hub, role=Role.PLATFORM_ADMIN),
    )
    db.commit()
    return people


@dataclass
class Sample:
    """A small region's directory, with current and stale contacts of every kind."""

    thaicert: Organisation
    mfa: Organisation
    mycert: Organisation
    bank: Organisation
    singcert: Organisation
    niran: Contact
    desk: Contact
    malee: Contact
    aminah: Contact
    budi: Contact
    weiling: Contact

    def names(self, *keys: str) -> set[str]:
        """The names of the contacts with these keys."""
        return {getattr(self, key).name for key in keys}

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every contact's key."""
        return ("niran", "desk", "malee", "aminah", "budi", "weiling")


def make_sample(db: Session) -> Sample:
    """Six contacts in five organisations of four countries; three of them stale."""
    thaicert = make_org(
        db,
        name="ThaiCERT Coordination Centre",
        country="TH",
        sectors=(Sector.DIGITAL_INFRASTRUCTURE,),
    )
    mfa = make_org(
        db,
        name="Ministry of Foreign Affairs of Thailand",
        country="TH",
        kind=OrgKind.MINISTRY,
        sectors=(Sector.FOREIGN_AFFAIRS,),
    )
    mfa.short_name = "MFA-TH"
    mycert = make_org(
        db,
        name="MyCERT",
        country="MY",
        sectors=(Sector.DIGITAL_INFRASTRUCTURE, Sector.TELECOMMUNICATIONS),
    )
    bank = make_org(
        db,
        name="Bank Indonesia CSIRT",
        country="ID",
        kind=OrgKind.SECTOR_CERT,
        sectors=(Sector.BANKING,),
    )
    singcert = make_org(db, name="SingCERT", country="SG")
    sample = Sample(
        thaicert=thaicert,
        mfa=mfa,
        mycert=mycert,
        bank=bank,
        singcert=singcert,
        niran=make_contact(
            db,
            thaicert,
            name="Niran Srisuk",
            email="niran.s@thaicert.or.th",
            languages=("th", "en"),
        ),
        desk=make_contact(
            db,
            thaicert,
            name="Duty Desk Bangkok",
            role=ContactRole.OPERATIONS,
            email="desk@thaicert.or.th",
            languages=("th",),
        ),
        malee=make_contact(
            db,
            mfa,
            name="Malee Chaiyaporn",
            role=ContactRole.POLICY,
            email="malee.c@mfa.go.th",
            languages=("th", "en", "fr"),
        ),
        aminah=make_contact(
            db, mycert, name="Aminah Rahman", email="aminah@mycert.org.my", languages=("ms", "en")
        ),
        budi=make_contact(
            db,
            bank,
            name="Budi Santoso",
            role=ContactRole.OPERATIONS,
            email="budi.santoso@bi.go.id",
            phone="+62 21 2981 5000",
            languages=("id",),
            verified_at=days_ago(400),
        ),
        weiling=make_contact(
            db,
            singcert,
            name="Tan Wei Ling",
            role=ContactRole.POLICY,
            email="weiling@csa.gov.sg",
            phone="+65 6323 5052",
            languages=("en", "zh"),
        ),
    )
    # Never verified: the factory always sets a time, so clear it here.
    sample.aminah.last_verified_at = None
    sample.weiling.expires_on = yesterday()
    db.commit()
    return sample


def yesterday() -> date:
    """The day before today (UTC)."""
    return utcnow().date() - timedelta(days=1)


def team_file(*teams: Json, **envelope: Any) -> bytes:
    """A team-directory document as bytes."""
    return json.dumps(
        {"format": "balai-team-directory", "version": 1, **envelope, "teams": list(teams)}
    ).encode()


def thai_teams() -> list[Json]:
    """A realistic Trusted-Introducer-style team listing: three teams, one under another."""
    return [
        {
            "name": "Electronic Transactions Development Agency",
            "short_name": "ETDA",
            "country": "TH",
            "kind": "ministry",
            "sectors": ["digital_infrastructure", "public_administration"],
            "website": "https://www.etda.or.th/",
            "constituency": "Thai government agencies and the digital economy",
            "emails": ["contact@etda.or.th"],
            "phones": ["+66 2 123 1234"],
        },
        {
            "name": "Thailand Computer Emergency Response Team",
            "short_name": "ThaiCERT",
            "country": "TH",
            "kind": "national_cert",
            "parent": "Electronic Transactions Development Agency",
            "sectors": ["digital_infrastructure"],
            "website": "https://www.thaicert.or.th/",
            "constituency": "All internet users in Thailand",
            "description": "Thailand's national CSIRT, member of APCERT and FIRST.",
            "emails": ["report@thaicert.or.th", "op@thaicert.or.th"],
            "phones": ["+66 2 123 1212"],
            "pgp_keys": ["A1B2 C3D4 E5F6 0718 293A  4B5C 6D7E 8F90 A1B2 C3D4"],
            "timezone": "Asia/Bangkok",
            "contacts": [
                {
                    "name": "Somchai Wongsakul",
                    "role": "technical",
                    "title": "Head of incident response",
                    "emails": ["somchai@thaicert.or.th"],
                    "phones": ["+66 81 234 5678"],
                    "languages": ["th", "en"],
                    "timezone": "Asia/Bangkok",
                    "office_start": "08:30",
                    "office_end": "17:30",
                    "alternate": "Pranee Kittisak",
                },
                {
                    "name": "Pranee Kittisak",
                    "role": "technical",
                    "emails": ["pranee@thaicert.or.th"],
                    "languages": ["th"],
                    "timezone": "Asia/Bangkok",
                    "last_verified_at": "2025-01-15T03:00:00Z",
                },
            ],
        },
        {
            "name": "Malaysia Computer Emergency Response Team",
            "short_name": "MyCERT",
            "country": "MY",
            "sectors": ["digital_infrastructure", "telecommunications"],
            "website": "https://www.mycert.org.my/",
            "constituency": "The Malaysian internet community",
            "emails": ["cyber999@cybersecurity.my"],
            "phones": ["+60 3 8800 7999"],
            "timezone": "Asia/Kuala_Lumpur",
            "contacts": [
                {
                    "name": "Aminah Rahman",
                    "role": "policy",
                    "emails": ["aminah@cybersecurity.my"],
                    "languages": ["ms", "en"],
                    "timezone": "Asia/Kuala_Lumpur",
                }
            ],
        },
    ]


def upload(client: TestClient, data: bytes, filename: str = "teams.json") -> httpx.Response:
    """Upload a team-directory file through the import page."""
    page = client.get("/directory/import")
    assert page.status_code == 200, page.text
    response: httpx.Response = client.post(
        "/directory/import",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": (filename, data, "application/json")},
    )
    return response
