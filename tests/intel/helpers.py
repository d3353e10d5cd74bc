"""Helpers for the intelligence tests: people, signing in, STIX objects, imports, row counts."""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from balai.accounts.models import Role, User, WebSession
from balai.audit.models import AuditEvent
from balai.db import utcnow
from balai.directory.models import Organisation
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import IntelImport, ObservableValue, StixObject
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from balai.tokens import hash_token, new_token
from balai.web.middleware import SESSION_COOKIE
from tests.factories import actor_for, api_key_for, make_org, make_user
from tests.shared_data import SHARED_DATA

Json = dict[str, Any]

CREATED = "2026-01-10T08:00:00.000Z"
LATER = "2026-02-01T08:00:00.000Z"
LATEST = "2026-03-01T08:00:00.000Z"
IDENTITY_ID = "identity--a0b1c2d3-0000-4000-8000-000000000001"


@dataclass
class Intel:
    """Three organisations (TH home, MY away, SG third) and their users."""

    db: Session
    home: Organisation
    away: Organisation
    third: Organisation
    reader: User
    analyst: User
    admin: User
    away_analyst: User
    away_admin: User
    third_admin: User
    third_platform_admin: User
    _keys: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)

    def key(self, user: User) -> dict[str, str]:
        """API headers of the user (every user has one key, made with the people)."""
        return self._keys[user.id]


def make_intel(db: Session) -> Intel:
    """Three organisations with a user of every role that matters to sharing."""
    home = make_org(db, name="ThaiCERT", country="TH")
    away = make_org(db, name="MyCERT", country="MY")
    third = make_org(db, name="SingCERT", country="SG")
    people = Intel(
        db=db,
        home=home,
        away=away,
        third=third,
        reader=make_user(db, home, role=Role.READER),
        analyst=make_user(db, home, role=Role.ANALYST),
        admin=make_user(db, home, role=Role.ORG_ADMIN),
        away_analyst=make_user(db, away, role=Role.ANALYST),
        away_admin=make_user(db, away, role=Role.ORG_ADMIN),
        third_admin=make_user(db, third, role=Role.ORG_ADMIN),
        third_platform_admin=make_user(db, third, role=Role.PLATFORM_ADMIN),
    )
    # Keys up front: making one writes an audit event, which would blur the row counts.
    for user in (
        people.reader,
        people.analyst,
        people.admin,
        people.away_analyst,
        people.away_admin,
        people.third_admin,
        people.third_platform_admin,
    ):
        people._keys[user.id] = {"Authorization": f"Bearer {api_key_for(db, user)}"}
    db.commit()
    return people


def sign_in(client: TestClient, db: Session, user: User) -> None:
    """Give the client a live web session of the user.

    Logging in through the form costs an argon2 verification; the log-in flow has its own
    tests, so these open the session row directly.
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


def text_of(page: str) -> str:
    """A page's text with tags removed and entities decoded, whitespace collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([,:;.])", r"\1", text)


def problems(response: httpx.Response) -> list[Json]:
    """The located problems of an API error."""
    details: list[Json] = response.json()["error"]["details"]
    return details


def locs(response: httpx.Response) -> list[str]:
    """Where each problem of an API error is."""
    return [p["loc"] for p in problems(response)]


def count(db: Session, model: type[Any], *where: Any) -> int:
    """Rows of a table (matching some conditions)."""
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def intel_rows(db: Session) -> tuple[int, int, int, int]:
    """Objects, indexed values, imports and audit events: what a refused import leaves alone."""
    db.expire_all()
    return (
        count(db, StixObject),
        count(db, ObservableValue),
        count(db, IntelImport),
        count(db, AuditEvent),
    )


def rows_of(db: Session, stix_id: str) -> list[StixObject]:
    """Every stored version and holder of an object, oldest version first."""
    db.expire_all()
    return list(
        db.scalars(
            select(StixObject)
            .where(StixObject.stix_id == stix_id)
            .order_by(StixObject.modified, StixObject.pk)
        )
    )


def indexed(db: Session, stix_id: str) -> list[tuple[str, str, bool]]:
    """The (kind, value, version is latest) rows of the value index for an object."""
    db.expire_all()
    found = db.execute(
        select(ObservableValue.kind, ObservableValue.value, StixObject.is_latest)
        .join(StixObject, StixObject.pk == ObservableValue.object_pk)
        .where(StixObject.stix_id == stix_id)
        .order_by(ObservableValue.value)
    )
    return [(kind.value, value, latest) for kind, value, latest in found]


# STIX content


def new_id(kind: str) -> str:
    """A fresh STIX identifier of a type."""
    return f"{kind}--{uuid.uuid4()}"


def indicator(
    pattern: str,
    *,
    stix_id: str | None = None,
    name: str = "C2 address",
    created: str = CREATED,
    modified: str | None = None,
    **extra: Any,
) -> Json:
    """A STIX 2.1 indicator with a STIX pattern."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or new_id("indicator"),
        "created": created,
        "modified": modified or created,
        "name": name,
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": created,
        **extra,
    }


def report(refs: list[str], *, name: str = "Campaign report", **extra: Any) -> Json:
    """A STIX 2.1 report pointing to some objects."""
    return {
        "type": "report",
        "spec_version": "2.1",
        "id": new_id("report"),
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "report_types": ["threat-report"],
        "published": CREATED,
        "object_refs": refs,
        **extra,
    }


def malware(name: str = "PlugX", **extra: Any) -> Json:
    """A STIX 2.1 malware family."""
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": new_id("malware"),
        "created": CREATED,
        "modified": CREATED,
        "name": name,
        "is_family": True,
        **extra,
    }


def bundle(*objects: Json) -> Json:
    """A STIX 2.1 bundle."""
    return {"type": "bundle", "id": new_id("bundle"), "objects": list(objects)}


def body(*objects: Json) -> bytes:
    """A bundle of objects, as an upload's bytes."""
    return json.dumps(bundle(*objects)).encode()


# Imports


def import_as(
    db: Session,
    user: User,
    data: bytes,
    *,
    tlp: Tlp = Tlp.GREEN,
    distribution: Distribution = Distribution.COMMUNITY,
    group: uuid.UUID | None = None,
) -> IntelImport:
    """Import a bundle straight through the service, committed (for seeding)."""
    batch = import_stix(
        db,
        actor=actor_for(user),
        data=data,
        marking=Marking(tlp=tlp, distribution=distribution, sharing_group_id=group),
        filename="seed.json",
    )
    db.commit()
    return batch


def api_import(
    client: TestClient, headers: dict[str, str], data: bytes, **params: str
) -> httpx.Response:
    """POST a file to the import API; tlp green and community unless given."""
    query = {"tlp": "green", "distribution": "community", **params}
    response: httpx.Response = client.post(
        "/api/v1/intel/imports",
        params=query,
        content=data,
        headers={**headers, "Content-Type": "application/json"},
    )
    return response


# The shared test material


def stix_examples() -> list[str]:
    """Names of the real STIX bundles in the shared data (the folder also holds schemas)."""
    folder = SHARED_DATA / "stix"
    if not folder.is_dir():
        return ["apt1.json"]  # the test asks shared() for it, which skips
    return sorted(p.name for p in folder.glob("*.json") if _is_bundle(p))


def stix_schemas() -> list[str]:
    """Names of the JSON schemas (OASIS interop profiles) beside the STIX examples."""
    folder = SHARED_DATA / "stix"
    if not folder.is_dir():
        return ["core.json"]
    return sorted(p.name for p in folder.glob("*.json") if not _is_bundle(p))


def _is_bundle(path: Path) -> bool:
    document = json.loads(path.read_bytes())
    return isinstance(document, dict) and document.get("type") == "bundle"


def stix_objects(path: Path) -> list[Json]:
    """The objects of a real bundle."""
    objects: list[Json] = json.loads(path.read_bytes())["objects"]
    return objects
