"""The inherited resource suite applied to every REST API resource."""

from __future__ import annotations

import uuid
from typing import Any

from balai.accounts.models import Role, User
from balai.alerts.models import Subscription
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import load_settings
from balai.directory.models import Contact, ContactRole, Organisation
from balai.incidents.models import Incident
from balai.incidents.schemas import IncidentIn
from balai.incidents.service import report
from tests.factories import actor_for, make_contact, make_org, make_user
from tests.resource_suite import BadInput, Json, ResourceSuite, World, dropped, replaced


def organisation_payload(name: str, country: str, **extra: Any) -> Json:
    """A complete organisation as the API takes it."""
    return {
        "name": name,
        "short_name": name.split()[0][:20],
        "kind": "national_cert",
        "country": country,
        "parent_id": None,
        "sectors": ["digital_infrastructure", "telecommunications"],
        "website": "https://cert.example.org/",
        "constituency": "Government agencies and critical infrastructure operators",
        "description": "The national computer emergency response team.",
        **extra,
    }


def _parent_cycle(world: World, payload: Json, item: uuid.UUID | None) -> Json:
    child = make_org(world.db, name="ThaiCERT Bangkok Office", country="TH", parent=world.home)
    world.db.commit()
    return {**payload, "parent_id": str(child.id)}


ORGANISATION_BAD_INPUTS = [
    replaced("country-unknown", "country", country="XX"),
    replaced("country-alpha-3", "country", country="THA"),
    replaced("kind-unknown", "kind", kind="spy_agency"),
    replaced("name-blank", "name", name="   "),
    replaced("name-too-long", "name", name="N" * 201),
    replaced("sector-unknown", "sectors", sectors=["banking", "fishing"]),
    replaced("short-name-too-long", "short_name", short_name="S" * 61),
    replaced("website-not-a-url", "website", website="cert dot example"),
    replaced("website-too-long", "website", website="https://cert.example.org/" + "a" * 280),
    replaced("parent-unknown", "parent_id", parent_id=str(uuid.uuid4())),
    replaced("parent-malformed", "parent_id", parent_id="the ministry"),
    replaced("field-unknown", "colour", colour="blue"),
    dropped("kind-missing", "kind", "kind"),
    dropped("country-missing", "country", "country"),
]


class TestOrganisationsApi(ResourceSuite):
    collection = "/api/v1/organisations"
    model = Organisation
    org_column = "id"
    editor_role = Role.ORG_ADMIN
    unprivileged_role = Role.ORG_ADMIN
    admin_creates = True
    bad_inputs = ORGANISATION_BAD_INPUTS
    bad_updates = [
        *ORGANISATION_BAD_INPUTS,
        BadInput(
            "parent-is-itself",
            "parent_id",
            lambda world, payload, item: {**payload, "parent_id": str(item)},
        ),
        BadInput("parent-is-its-own-child", "parent_id", _parent_cycle),
        # Only a platform admin may move an organisation to another country.
        replaced("country-moved-by-org-admin", "country", country="MY"),
    ]

    def payload(self, world: World) -> Json:
        return organisation_payload(
            "Cambodia Computer Emergency Response Team", "KH", parent_id=str(world.hub.id)
        )

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        return organisation_payload(
            "Thailand Computer Emergency Response Team",
            "TH",
            sectors=["banking"],
            website="https://www.thaicert.or.th/",
            description=None,
        )

    def owned_item(self, world: World) -> uuid.UUID:
        return world.home.id

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        made = [make_org(world.db, country="VN").id for _ in range(count)]
        world.db.commit()
        return made

    def duplicate(self, world: World) -> Json | None:
        return organisation_payload(world.home.name.upper(), world.home.country.lower())


def contact_payload(alternate: Contact | None = None, **extra: Any) -> Json:
    """A complete point of contact as the API takes it."""
    return {
        "name": "Somchai Wongsakul",
        "role": "technical",
        "title": "Head of incident response",
        "emails": ["somchai@thaicert.or.th", "ir@thaicert.or.th"],
        "phones": ["+66 2 123 4567"],
        "messengers": [{"app": "Signal", "handle": "+66 81 234 5678"}],
        "pgp_fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567",
        "languages": ["en", "th"],
        "timezone": "Asia/Bangkok",
        "office_days": ["mon", "tue", "wed", "thu", "fri"],
        "office_start": "08:30:00",
        "office_end": "17:30:00",
        "alternate_id": str(alternate.id) if alternate else None,
        "expires_on": "2030-12-31",
        "notes": "Prefers Signal after hours.",
        **extra,
    }


def _foreign_alternate(world: World, payload: Json, item: uuid.UUID | None) -> Json:
    foreign = make_contact(world.db, world.away, name="Aminah Rahman")
    world.db.commit()
    return {**payload, "alternate_id": str(foreign.id)}


CONTACT_BAD_INPUTS = [
    replaced("email-malformed", "emails", emails=["somchai at thaicert"]),
    replaced("phone-without-country-code", "phones", phones=["02 123 4567"]),
    replaced("phone-impossible", "phones", phones=["+66 1"]),
    replaced("pgp-fingerprint-short", "pgp_fingerprint", pgp_fingerprint="0123456789ABCDEF"),
    replaced("pgp-fingerprint-not-hex", "pgp_fingerprint", pgp_fingerprint="Z" * 40),
    replaced("language-unknown", "languages", languages=["en", "xx"]),
    replaced("timezone-unknown", "timezone", timezone="Asia/Atlantis"),
    replaced("office-start-without-end", "office_end", office_start="08:30:00", office_end=None),
    replaced("office-end-without-start", "office_start", office_start=None, office_end="17:30:00"),
    replaced("office-hours-malformed", "office_start", office_start="half past eight"),
    replaced("no-email-and-no-phone", "emails", emails=[], phones=[]),
    replaced("too-many-emails", "emails", emails=[f"desk{i}@example.org" for i in range(11)]),
    replaced("role-unknown", "role", role="boss"),
    replaced("office-day-unknown", "office_days", office_days=["mon", "funday"]),
    replaced("messenger-without-app", "messengers", messengers=[{"app": "", "handle": "x"}]),
    replaced("name-empty", "name", name=""),
    replaced("expires-on-malformed", "expires_on", expires_on="next year"),
    replaced("alternate-unknown", "alternate_id", alternate_id=str(uuid.uuid4())),
    BadInput("alternate-of-another-organisation", "alternate_id", _foreign_alternate),
    replaced("field-unknown", "fax", fax="+66 2 000 0000"),
    dropped("role-missing", "role", "role"),
]


class TestContactsApi(ResourceSuite):
    collection = "/api/v1/contacts"
    model = Contact
    org_column = "organisation_id"
    editor_role = Role.ANALYST
    unprivileged_role = Role.READER
    deletable = True
    bad_inputs = CONTACT_BAD_INPUTS
    bad_updates = [
        *CONTACT_BAD_INPUTS,
        BadInput(
            "alternate-is-itself",
            "alternate_id",
            lambda world, payload, item: {**payload, "alternate_id": str(item)},
        ),
    ]

    def create_url(self, world: World) -> str:
        return f"/api/v1/organisations/{world.home.id}/contacts"

    def payload(self, world: World) -> Json:
        alternate = make_contact(world.db, world.home, name="ThaiCERT duty desk")
        world.db.commit()
        return contact_payload(alternate)

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        return contact_payload(
            name="Somchai Wongsakul (acting)",
            role="operations",
            emails=["duty@thaicert.or.th"],
            phones=["+66 2 765 4321", "+66 81 111 2222"],
            messengers=[],
            pgp_fingerprint=None,
            languages=["en"],
            office_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            office_start=None,
            office_end=None,
            expires_on=None,
            notes=None,
        )

    def owned_item(self, world: World) -> uuid.UUID:
        contact = make_contact(world.db, world.home, role=ContactRole.POLICY)
        world.db.commit()
        return contact.id

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        made = [make_contact(world.db, world.home).id for _ in range(count)]
        world.db.commit()
        return made


class TestUsersApi(ResourceSuite):
    collection = "/api/v1/users"
    model = User
    org_column = "organisation_id"
    editor_role = Role.ORG_ADMIN
    unprivileged_role = Role.ANALYST
    update_method = "PATCH"
    scoped_to_org = True
    bad_inputs = [
        replaced("email-malformed", "email", email="kanya.thaicert.or.th"),
        dropped("email-missing", "email", "email"),
        replaced("name-empty", "name", name=""),
        replaced("organisation-malformed", "organisation_id", organisation_id="ThaiCERT"),
        replaced("organisation-unknown", "organisation_id", organisation_id=str(uuid.uuid4())),
        replaced("role-unknown", "role", role="wizard"),
        replaced("timezone-unknown", "timezone", timezone="Mars/Olympus_Mons"),
        replaced("password-too-short", "password", password="short1"),
        replaced("field-unknown", "is_admin", is_admin=True),
    ]
    bad_updates = [
        replaced("name-empty", "name", name=""),
        replaced("role-unknown", "role", role="wizard"),
        replaced("timezone-unknown", "timezone", timezone="Mars/Olympus_Mons"),
        replaced("active-not-a-boolean", "active", active="perhaps"),
        # The e-mail address and the organisation cannot be changed through an update.
        replaced("email-not-updatable", "email", email="new@thaicert.or.th"),
        replaced(
            "organisation-not-updatable", "organisation_id", organisation_id=str(uuid.uuid4())
        ),
    ]

    def payload(self, world: World) -> Json:
        return {
            "email": "kanya.srisai@thaicert.or.th",
            "name": "Kanya Srisai",
            "organisation_id": str(world.home.id),
            "role": "analyst",
            "timezone": "Asia/Bangkok",
        }

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        return {"name": "Kanya Thongdee", "timezone": "Asia/Jakarta", "role": "reader"}

    def owned_item(self, world: World) -> uuid.UUID:
        return world.user_in(world.home, Role.ANALYST).id

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        made = [make_user(world.db, world.home, role=Role.READER).id for _ in range(count)]
        world.db.commit()
        return made

    def duplicate(self, world: World) -> Json | None:
        return self.payload(world) | {"email": world.owner.email.upper()}


# Incidents: reported by an organisation's analysts, shared under a marking (these are
# community-wide, so every member reads them), changed only by the reporter, never deleted.


def incident_payload(**extra: Any) -> Json:
    """A complete incident report as the API takes it."""
    return {
        "title": "Ransomware at a regional power utility",
        "description": "Billing servers encrypted since 02:10 UTC.",
        "rsit_class": "malicious-code",
        "rsit_type": "infected-system",
        "severity": "high",
        "countries": ["MY", "TH"],
        "sectors": ["energy"],
        "cross_border": True,
        "tlp": "amber",
        "distribution": "community",
        **extra,
    }


INCIDENT_BAD_INPUTS = [
    replaced("class-unknown", "rsit_class", rsit_class="ransomware"),
    replaced("type-not-of-class", "rsit_type", rsit_type="phishing"),
    replaced("severity-unknown", "severity", severity="apocalyptic"),
    replaced("country-unknown", "countries", countries=["TH", "XX"]),
    replaced("countries-empty", "countries", countries=[]),
    replaced("sector-unknown", "sectors", sectors=["fishing"]),
    replaced("title-blank", "title", title="  "),
    replaced("field-unknown", "colour", colour="red"),
    dropped("severity-missing", "severity", "severity"),
]


class TestIncidentsApi(ResourceSuite):
    collection = "/api/v1/incidents"
    model = Incident
    org_column = "owner_org_id"
    own_org_only = True
    editor_role = Role.ANALYST
    unprivileged_role = Role.READER
    bad_inputs = [
        *INCIDENT_BAD_INPUTS,
        replaced("red-for-the-community", "body", tlp="red"),
        replaced("aware-in-the-future", "body", aware_at="2099-01-01T00:00:00Z"),
    ]
    bad_updates = INCIDENT_BAD_INPUTS

    def payload(self, world: World) -> Json:
        return incident_payload()

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        changed = incident_payload(
            title="Ransomware at two power utilities", severity="critical", countries=["TH"]
        )
        return {k: v for k, v in changed.items() if k not in ("tlp", "distribution")} | {
            "cross_border": False
        }

    def echoed(self, sent: Json) -> Json:
        return {k: v for k, v in sent.items() if k != "aware_at"}

    def owned_item(self, world: World) -> uuid.UUID:
        return self.more_items(world, 1)[0]

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        settings = load_settings(database_url="sqlite:///unused.sqlite3", secret_key="s" * 40)
        made = [
            report(
                world.db,
                actor=actor_for(world.owner),
                settings=settings,
                data=IncidentIn.model_validate(incident_payload(title=f"Incident {n}")),
            ).id
            for n in range(count)
        ]
        world.db.commit()
        return made


# Alert subscriptions of an organisation: made and changed by its admins, seen by its members,
# invisible to every other organisation.


class TestAlertSubscriptionsApi(ResourceSuite):
    collection = "/api/v1/alert-subscriptions"
    model = Subscription
    org_column = "owner_org_id"
    own_org_only = True
    editor_role = Role.ORG_ADMIN
    unprivileged_role = Role.ANALYST  # analysts subscribe themselves, not the organisation
    deletable = True
    scoped_to_org = True
    bad_inputs = [
        replaced("email-malformed", "email", email="soc at thaicert"),
        replaced("country-unknown", "countries", countries=["XX"]),
        replaced("class-unknown", "rsit_classes", rsit_classes=["ransomware"]),
        replaced("severity-unknown", "min_severity", min_severity="apocalyptic"),
        replaced("tlp-unknown", "tlps", tlps=["purple"]),
        replaced("kind-unknown", "indicator_kinds", indicator_kinds=["phone"]),
        replaced("digest-too-rare", "digest_hours", digest_hours=1000),
        replaced("no-channel", "body", email=None),
        replaced("webhook-not-https", "webhook_url", webhook_url="http://hooks.example/x"),
        replaced("field-unknown", "colour", colour="red"),
        dropped("name-missing", "name", "name"),
    ]

    def payload(self, world: World) -> Json:
        return {
            "name": "SOC: energy incidents",
            "for_organisation": True,
            "email": "soc@thaicert.example",
            "countries": ["MY", "TH"],
            "sectors": ["energy"],
            "min_severity": "medium",
        }

    def changes(self, world: World, item_id: uuid.UUID) -> Json:
        return {
            "name": "SOC: everything critical",
            "for_organisation": True,
            "email": "soc@thaicert.example",
            "mode": "digest",
            "digest_hours": 12,
            "min_severity": "critical",
            "keywords": ["ransomware"],
        }

    def owned_item(self, world: World) -> uuid.UUID:
        return self.more_items(world, 1)[0]

    def more_items(self, world: World, count: int) -> list[uuid.UUID]:
        settings = load_settings(database_url="sqlite:///unused.sqlite3", secret_key="s" * 40)
        made = [
            subscribe(
                world.db,
                actor=actor_for(world.owner),
                settings=settings,
                data=SubscriptionIn.model_validate(
                    {**self.payload(world), "name": f"Subscription {n}"}
                ),
            )[0].id
            for n in range(count)
        ]
        world.db.commit()
        return made
