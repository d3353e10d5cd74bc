"""The demo region: the ten ASEAN member states and six dialogue partners, all fictional.

Each state's Ministry of Foreign Affairs is its lead organisation, and the directory's tree
says who answers for whom: the Ministry of Defence and the ICT ministry or agency hang under
the MFA, and the CERTs (national and sector) hang under the ICT ministry that runs them.
Companies and civil society stand alone. One international organisation, the ASEAN Cyber
Coordination Centre, ran a quarterly communication check a month ago, so the results pages
have something to show.

A fixed seed makes the people, numbers and outcomes the same on every run, so screenshots
and docs stay true; ids and one-time tokens stay random, as they must. E-mail addresses use
the reserved .example domain (RFC 2606), so nothing the demo sends can reach anyone.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from rich.console import Console
from rich.progress import track
from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User
from balai.accounts.passwords import hash_password
from balai.checks.models import (
    AttemptRole,
    CheckAttempt,
    CheckStatus,
    CheckTarget,
    CommCheck,
    Outcome,
)
from balai.config import Settings
from balai.db import utcnow
from balai.demo.incidents import add_incidents
from balai.demo.people import (
    LOCALES,
    STATES,
    State,
    ascii_slug,
    invent_person,
    invent_phone,
    languages,
)
from balai.directory.models import (
    ChannelKind,
    Contact,
    ContactChannel,
    ContactLanguage,
    ContactRole,
    Organisation,
    OrganisationSector,
    OrgKind,
    Sector,
)
from balai.directory.regions import ASEAN_MEMBER_STATES
from balai.tokens import hash_token, new_code, new_token
from balai.validators import country_name

DEMO_PASSWORD = "balai-demo-2026!"  # noqa: S105  # printed at start-up for anyone to use
FICTIONAL = "Fictional organisation for the Balai demo."
SEED = 2026

_WEEKDAYS = "mon,tue,wed,thu,fri"
_EVERY_DAY = "mon,tue,wed,thu,fri,sat,sun"
_CERT_KINDS = (OrgKind.NATIONAL_CERT, OrgKind.SECTOR_CERT)
_CHECK_ROLES = (ContactRole.TECHNICAL, ContactRole.OPERATIONS)
_TITLES = {
    ContactRole.POLICY: (
        "Director, International Cyber Policy",
        "Deputy Director, Cyber Diplomacy",
        "Senior Policy Officer, Cybersecurity",
        "Head of Cyber Affairs",
    ),
    ContactRole.TECHNICAL: (
        "Head of Security Operations",
        "IT Security Manager",
        "Senior Security Engineer",
        "Chief Information Security Officer",
        "Incident Response Lead",
        "Network Security Manager",
    ),
    ContactRole.OPERATIONS: (
        "Shift Lead, Operations Centre",
        "Senior Incident Handler",
        "Duty Manager, 24/7 Operations",
    ),
}
# Civil society has no security operations; its technical contact runs its own systems.
_CIVIL_SOCIETY_TITLES = ("Digital Security Programme Lead", "Technology Coordinator")


@dataclass(frozen=True)
class DemoLogins:
    """The demo's accounts, to print at start-up."""

    password: str
    accounts: list[tuple[str, str, str]]  # (who, e-mail, role label)


@dataclass(frozen=True)
class _Account:
    email: str
    name: str
    role: Role
    org: tuple[str, str]  # (country, body) as the loader files organisations
    where: str


_ACCOUNTS = (
    _Account(
        "admin@balai.example",
        "Siti Zulaikha",
        Role.PLATFORM_ADMIN,
        ("SG", "acc"),
        "ASEAN Cyber Coordination Centre (demo)",
    ),
    _Account(
        "coordinator@acc-demo.example",
        "Tan Hui Min",
        Role.ORG_ADMIN,
        ("SG", "acc"),
        "ASEAN Cyber Coordination Centre (demo)",
    ),
    _Account(
        "admin@thaicert-demo.example",
        "Nattaya Srisuk",
        Role.ORG_ADMIN,
        ("TH", "cert"),
        "ThaiCERT (demo)",
    ),
    _Account(
        "analyst@mycert-demo.example",
        "Wong Mei Ling",
        Role.ANALYST,
        ("MY", "cert"),
        "MyCERT (demo)",
    ),
    _Account(
        "reader@mfa-sg-demo.example",
        "Rajesh Menon",
        Role.READER,
        ("SG", "mfa"),
        "Ministry of Foreign Affairs, Singapore",
    ),
)


def load_demo_region(
    session: Session, *, settings: Settings, console: Console | None = None
) -> DemoLogins:
    """Fill an empty database with the demo region; on a filled one, change nothing."""
    if session.scalar(select(Organisation.id).limit(1)) is None:
        rng = random.Random(SEED)  # noqa: S311  # repeatable demo data, not secrets
        builder = _Builder(session, rng, utcnow())
        builder.coordination_centre()
        for state in _over_states(console):
            builder.state(state)
        users = _add_users(session, builder.orgs)
        _add_check(builder, settings=settings, coordinator=users[1])
        _set_verification(rng, builder.contacts, now=builder.now)
        session.flush()
        add_incidents(
            session,
            settings=settings,
            orgs=builder.orgs,
            thai=users[2],
            malaysian=users[3],
            now=builder.now,
        )
    return DemoLogins(
        password=DEMO_PASSWORD,
        accounts=[(f"{a.name}, {a.where}", a.email, a.role.label) for a in _ACCOUNTS],
    )


def _over_states(console: Console | None) -> Iterable[State]:
    if console is None:
        return STATES
    return track(STATES, description="Loading the demo region", console=console)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class _Builder:
    """Adds organisations and their contacts, one state at a time."""

    session: Session
    rng: random.Random
    now: datetime
    orgs: dict[tuple[str, str], Organisation] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    domains: dict[uuid.UUID, str] = field(default_factory=dict)
    # Full names stay unique across the demo so that no two rows look like one person.
    names: set[str] = field(default_factory=lambda: {a.name for a in _ACCOUNTS})

    def coordination_centre(self) -> None:
        """The international organisation that runs the demo's check."""
        acc = self.organisation(
            ("SG", "acc"),
            "ASEAN Cyber Coordination Centre (demo)",
            "ACC",
            OrgKind.INTERNATIONAL,
            (Sector.FOREIGN_AFFAIRS, Sector.PUBLIC_ADMINISTRATION),
            domain="acc-demo.example",
            constituency="The ASEAN member states' national CERTs and cyber policy ministries.",
        )
        self.person(acc, ContactRole.POLICY)
        self.person(acc, ContactRole.TECHNICAL)
        self.session.flush()

    def state(self, state: State) -> None:
        """One state's ministries, CERTs, companies and civil society."""
        cc = state.code
        mfa = self.ministry(cc, "mfa", "Ministry of Foreign Affairs", "MFA", Sector.FOREIGN_AFFAIRS)
        self.ministry(cc, "mod", "Ministry of Defence", "MOD", Sector.DEFENCE, parent=mfa)
        ict = self.ministry(cc, "ict", *state.ict, Sector.DIGITAL_INFRASTRUCTURE, parent=mfa)
        self.certs(state, ict)
        self.companies(state)
        cso = self.organisation(
            (cc, "civil_society"),
            f"{state.civil_society} (demo)",
            None,
            OrgKind.CIVIL_SOCIETY,
            (Sector.CIVIL_SOCIETY, Sector.EDUCATION),
        )
        self.person(cso, ContactRole.TECHNICAL)
        self.session.flush()

    def certs(self, state: State, ict: Organisation) -> None:
        """The national CERT and, in ASEAN, a sector CERT, both run by the ICT ministry."""
        country = country_name(state.code)
        cert = self.organisation(
            (state.code, "cert"),
            f"{state.cert} (demo)",
            state.cert,
            OrgKind.NATIONAL_CERT,
            (Sector.DIGITAL_INFRASTRUCTURE, Sector.ICT_SERVICES),
            parent=ict,
            constituency=f"Government, critical infrastructure and the public of {country}.",
        )
        self.cert_staff(cert)
        if state.sector_cert is None:
            return
        name, short, sectors = state.sector_cert
        sector_cert = self.organisation(
            (state.code, "sector_cert"),
            f"{name} (demo)",
            short,
            OrgKind.SECTOR_CERT,
            sectors,
            parent=ict,
            constituency=f"The {' and '.join(s.label.lower() for s in sectors)} sector "
            f"of {country}.",
        )
        self.cert_staff(sector_cert)

    def ministry(
        self,
        cc: str,
        body: str,
        name: str,
        short: str,
        sector: Sector,
        *,
        parent: Organisation | None = None,
    ) -> Organisation:
        """A ministry with a policy and a technical point of contact."""
        ministry = self.organisation(
            (cc, body),
            name,
            short,
            OrgKind.MINISTRY,
            (sector, Sector.PUBLIC_ADMINISTRATION),
            parent=parent,
            domain=f"{_slug(short)}-{cc.lower()}-demo.example",
        )
        self.person(ministry, ContactRole.POLICY)
        self.person(ministry, ContactRole.TECHNICAL)
        return ministry

    def companies(self, state: State) -> None:
        """A telecom operator, a bank, or both."""
        kinds = (
            ("telco", state.telco, (Sector.TELECOMMUNICATIONS, Sector.DIGITAL_INFRASTRUCTURE)),
            ("bank", state.bank, (Sector.BANKING,)),
        )
        for body, name, sectors in self.rng.sample(kinds, self.rng.randint(1, 2)):
            company = self.organisation(
                (state.code, body), f"{name} (demo)", None, OrgKind.COMPANY, sectors
            )
            self.person(company, ContactRole.TECHNICAL)

    def cert_staff(self, cert: Organisation) -> None:
        """A technical contact and a 24/7 desk whose alternate is a named duty officer."""
        self.person(cert, ContactRole.TECHNICAL)
        duty_officer = self.person(cert, ContactRole.OPERATIONS)
        desk = self.contact(
            cert,
            ContactRole.OPERATIONS,
            name=f"{cert.short_name} Operations Desk (24/7)",
            title="24/7 incident desk",
            mailbox="ops",
            spoken=languages(cert.country),
        )
        desk.alternate = duty_officer

    def organisation(
        self,
        key: tuple[str, str],
        name: str,
        short: str | None,
        kind: OrgKind,
        sectors: Iterable[Sector],
        *,
        parent: Organisation | None = None,
        domain: str | None = None,
        constituency: str | None = None,
    ) -> Organisation:
        """Add one organisation, filed under key for later lookups."""
        domain = domain or f"{_slug(short or name.removesuffix(' (demo)'))}-demo.example"
        org = Organisation(
            id=uuid.uuid4(),
            name=name,
            short_name=short,
            kind=kind,
            country=key[0],
            parent=parent,
            website=f"https://www.{domain}",
            constituency=constituency,
            description=FICTIONAL,
            sector_rows=[OrganisationSector(sector=s) for s in sectors],
        )
        self.session.add(org)
        self.orgs[key] = org
        self.domains[org.id] = domain
        return org

    def person(self, org: Organisation, role: ContactRole) -> Contact:
        """A person of the organisation's state, named like no one else in the demo."""
        mailboxes = {c.channel_values(ChannelKind.EMAIL)[0].split("@")[0] for c in org.contacts}
        person = invent_person(self.rng, org.country)
        while person.mailbox in mailboxes or person.name in self.names:
            person = invent_person(self.rng, org.country)
        self.names.add(person.name)
        titles = _CIVIL_SOCIETY_TITLES if org.kind == OrgKind.CIVIL_SOCIETY else _TITLES[role]
        contact = self.contact(
            org,
            role,
            name=person.name,
            title=self.rng.choice(titles),
            mailbox=person.mailbox,
            spoken=person.languages,
        )
        if self.rng.random() < 0.15:
            handle = f"{ascii_slug(person.given)}.{self.rng.randint(10, 99)}"
            contact.channels.append(
                ContactChannel(kind=ChannelKind.MESSENGER, value=handle, label="Signal", position=2)
            )
        return contact

    def contact(
        self,
        org: Organisation,
        role: ContactRole,
        *,
        name: str,
        title: str,
        mailbox: str,
        spoken: list[str],
    ) -> Contact:
        """A point of contact with an e-mail address, a phone and working hours."""
        around_the_clock = role == ContactRole.OPERATIONS
        contact = Contact(
            id=uuid.uuid4(),
            name=name,
            role=role,
            title=title,
            timezone=LOCALES[org.country].timezone,
            office_days=_EVERY_DAY if around_the_clock else _WEEKDAYS,
            office_start=None if around_the_clock else time(8, 30),
            office_end=None if around_the_clock else time(17, 30),
            pgp_fingerprint=f"{self.rng.getrandbits(160):040X}"
            if org.kind in _CERT_KINDS
            else None,
            channels=[
                ContactChannel(
                    kind=ChannelKind.EMAIL, value=f"{mailbox}@{self.domains[org.id]}", position=0
                ),
                ContactChannel(
                    kind=ChannelKind.PHONE, value=invent_phone(self.rng, org.country), position=1
                ),
            ],
            language_rows=[ContactLanguage(language=code) for code in spoken],
        )
        org.contacts.append(contact)
        self.contacts.append(contact)
        return contact


def _add_users(session: Session, orgs: dict[tuple[str, str], Organisation]) -> list[User]:
    password_hash = hash_password(DEMO_PASSWORD)  # once: argon2 is slow on purpose
    users = [
        User(
            id=uuid.uuid4(),
            email=account.email,
            name=account.name,
            organisation_id=orgs[account.org].id,
            role=account.role,
            password_hash=password_hash,
            timezone=LOCALES[account.org[0]].timezone,
            active=True,
        )
        for account in _ACCOUNTS
    ]
    session.add_all(users)
    session.flush()
    return users


def _add_check(builder: _Builder, *, settings: Settings, coordinator: User) -> None:
    """The coordination centre's quarterly check of ASEAN contacts, closed a month ago."""
    # 02:00 UTC is the start of the working morning across most of ASEAN.
    started = (builder.now - timedelta(days=30)).replace(hour=2, minute=0, second=0, microsecond=0)
    close = settings.check_close_minutes
    check = CommCheck(
        id=uuid.uuid4(),
        organisation_id=builder.orgs[("SG", "acc")].id,
        created_by_id=coordinator.id,
        title="Quarterly check: ASEAN technical contacts",
        message="Our routine quarterly check of the ASEAN technical points of contact. "
        "Please confirm that this address reaches you.",
        selection={
            "contact_ids": [],
            "countries": list(ASEAN_MEMBER_STATES),
            "roles": [role.value for role in _CHECK_ROLES],
            "kinds": [],
            "sectors": [],
        },
        status=CheckStatus.CLOSED,
        started_at=started,
        escalate_after_minutes=settings.check_escalate_minutes,
        close_after_minutes=close,
        closes_at=started + timedelta(minutes=close),
        closed_at=started + timedelta(days=1),
    )
    builder.session.add(check)
    targets = [
        c
        for c in builder.contacts
        if c.organisation.country in ASEAN_MEMBER_STATES and c.role in _CHECK_ROLES
    ]
    for contact, outcome in _outcomes(builder.rng, targets):
        check.targets.append(_target(builder.rng, check, contact, outcome))
    builder.session.flush()


def _outcomes(rng: random.Random, contacts: list[Contact]) -> Iterator[tuple[Contact, Outcome]]:
    """About 75% answer, 10% only through their alternate; the rest stay silent."""
    with_alternate = [c for c in contacts if c.alternate is not None]
    via_alternate = set(rng.sample(with_alternate, min(len(with_alternate), len(contacts) // 10)))
    others = [c for c in contacts if c not in via_alternate]
    direct = set(rng.sample(others, round(len(contacts) * 0.75)))
    for contact in contacts:
        if contact in via_alternate:
            yield contact, Outcome.REACHED_ALTERNATE
        elif contact in direct:
            yield contact, Outcome.REACHED
        else:
            yield contact, Outcome.NOT_REACHED


def _target(
    rng: random.Random, check: CommCheck, contact: Contact, outcome: Outcome
) -> CheckTarget:
    """One contact's part in the check, replayed as the worker would have recorded it."""
    started = check.started_at
    escalate_at = started + timedelta(minutes=check.escalate_after_minutes)
    target = CheckTarget(
        id=uuid.uuid4(),
        contact_id=contact.id,
        organisation_id=contact.organisation_id,
        contact_name=contact.name,
        organisation_name=contact.organisation.name,
        country=contact.organisation.country,
        role=contact.role,
        outcome=outcome,
    )
    primary = _attempt(AttemptRole.PRIMARY, contact, at=started)
    target.attempts.append(primary)
    acked_at = None
    if outcome == Outcome.REACHED:
        acked_at = started + _response_time(rng, minutes=2, hours=6)
        _acknowledge(target, primary, contact, sent=started, at=acked_at)
    if acked_at is not None and acked_at <= escalate_at:
        return target
    target.escalated_at = escalate_at
    alternate = contact.alternate
    if alternate is None:
        target.escalation_note = "no alternate with an e-mail address"
        return target
    target.escalation_note = f"tried alternate {alternate.name}"
    second = _attempt(AttemptRole.ALTERNATE, alternate, at=escalate_at)
    target.attempts.append(second)
    if outcome == Outcome.REACHED_ALTERNATE:
        at = escalate_at + _response_time(rng, minutes=2, hours=3)
        _acknowledge(target, second, alternate, sent=started, at=at)
    return target


def _attempt(role: AttemptRole, contact: Contact, *, at: datetime) -> CheckAttempt:
    email = contact.email
    assert email is not None  # every demo contact has an e-mail address
    return CheckAttempt(
        id=uuid.uuid4(),
        role=role,
        contact_id=contact.id,
        contact_name=contact.name,
        email=email,
        token_hash=hash_token(new_token()),
        code_hash=hash_token(new_code()),
        created_at=at,
    )


def _response_time(rng: random.Random, *, minutes: int, hours: int) -> timedelta:
    """Log-uniform between the bounds: most answer quickly, a few much later."""
    seconds = math.exp(rng.uniform(math.log(minutes * 60), math.log(hours * 3600)))
    return timedelta(seconds=round(seconds))


def _acknowledge(
    target: CheckTarget, attempt: CheckAttempt, contact: Contact, *, sent: datetime, at: datetime
) -> None:
    # Response time counts from the first message, as in a real check.
    target.acknowledged_at = at
    target.response_seconds = (at - sent).total_seconds()
    attempt.used_at = at
    # An answer confirms the contact, as answering a real check does.
    if contact.last_verified_at is None or contact.last_verified_at < at:
        contact.last_verified_at = at


def _set_verification(rng: random.Random, contacts: list[Contact], *, now: datetime) -> None:
    """Verify the contacts the check did not, leaving some stale for the directory to flag."""
    unverified = [c for c in contacts if c.last_verified_at is None]
    never = set(rng.sample(unverified, round(len(contacts) * 0.10)))
    for contact in unverified:
        if contact not in never:
            contact.last_verified_at = now - timedelta(minutes=rng.randint(60, 90 * 24 * 60))
    for contact in rng.sample(contacts, 5):
        contact.expires_on = (now - timedelta(days=rng.randint(3, 60))).date()
