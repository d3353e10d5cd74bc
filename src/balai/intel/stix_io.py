"""STIX 2.1 in and out: all-or-nothing bundle import, and bundles for export."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.permissions import Permission
from balai.audit.events import AuditAction
from balai.audit.service import record
from balai.db import refresh_statistics, utcnow
from balai.errors import Problem, ValidationFailed
from balai.intel import networks, sightings
from balai.intel.groups import check_marking_group
from balai.intel.markings import (
    TLP2_MARKING_IDS,
    Tlp,
    check_pair,
    marking_definition,
    stricter,
    tlp_of_refs,
)
from balai.intel.models import (
    ImportFormat,
    IntelImport,
    ObservableValue,
    StixObject,
    ValueKind,
)
from balai.intel.observables import from_stix, reversed_domain
from balai.intel.schemas import ImportCounts, Marking
from balai.intel.stix_validate import is_sco, parse_timestamp, validate_object

Progress = Callable[[int, int], None]
SCO_VERSION = "-"  # cyber-observables are not versioned
STIX_MEDIA = "application/stix+json;version=2.1"
BULK = 2_000  # rows per INSERT: well inside SQLite's and PostgreSQL's parameter limits


def read_json(data: bytes) -> Any:
    """Decode a JSON upload, locating a syntax error by line and column."""
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise ValidationFailed.one("file", "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed.one(
            f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None


def bundle_objects(document: Any) -> list[Any]:
    """The objects of a bundle (or of a single object, or a list of them)."""
    if isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects", [])
        if not isinstance(objects, list):
            raise ValidationFailed.one("objects", "must be a list")
        return objects
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise ValidationFailed.one("file", "expected a STIX bundle, object or list of objects")


def version_of(obj: dict[str, Any]) -> tuple[str, datetime | None]:
    """The version key (modified, to the microsecond) and the modified time itself."""
    modified = obj.get("modified")
    if is_sco(obj["type"]) or not isinstance(modified, str):
        return SCO_VERSION, None
    moment = parse_timestamp(modified)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), moment


def _label(obj: dict[str, Any]) -> str | None:
    for field in ("name", "value", "pattern", "sighting_of_ref", "relationship_type"):
        value = obj.get(field)
        if isinstance(value, str | int):
            return str(value)[:500]
    hashes = obj.get("hashes")
    if isinstance(hashes, dict) and hashes:
        return str(next(iter(hashes.values())))[:500]
    return None


def _plan(
    objects: list[Any], marking: Marking, unmarked: Tlp | None = None
) -> tuple[list[dict[str, Any]], list[Tlp]]:
    """Validate everything before writing anything; every problem is reported at once.

    An object's TLP is the stricter of its own marking and the upload's; with `unmarked`
    given (TAXII), an object's own marking stands and `unmarked` applies to those without.
    """
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    kept: list[dict[str, Any]] = []
    levels: list[Tlp] = []
    for index, obj in enumerate(objects):
        where = f"objects[{index}]"
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            where += f" ({obj['id']})"
        found = validate_object(obj, where)
        if found:
            problems.extend(found)
            continue
        assert isinstance(obj, dict)  # validate_object refuses anything else
        if obj["type"] == "marking-definition" and obj["id"] in _KNOWN_TLP_IDS:
            continue  # TLP definitions are built in; the marking they carry is read per object
        key = (obj["id"], version_of(obj)[0])
        if key in seen:
            problems.append(Problem(where, f"the same object and version as objects[{seen[key]}]"))
            continue
        seen[key] = index
        refs = obj.get("object_marking_refs", [])
        own = tlp_of_refs(refs) if isinstance(refs, list) else None
        if unmarked is not None:
            level = own or unmarked
        else:
            level = stricter(marking.tlp, own) if own else marking.tlp
        reason = check_pair(level, marking.distribution)
        if reason:
            problems.append(Problem(where, f"is marked {level.label}: {reason}"))
            continue
        kept.append(obj)
        levels.append(level)
    if problems:
        raise ValidationFailed(problems)
    return kept, levels


_KNOWN_TLP_IDS = frozenset(TLP2_MARKING_IDS.values()) | {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}


def store_objects(
    session: Session,
    *,
    owner_org_id: uuid.UUID,
    objects: list[dict[str, Any]],
    levels: list[Tlp],
    marking: Marking,
    import_id: uuid.UUID | None,
    progress: Progress | None = None,
) -> ImportCounts:
    """Write validated objects as the owner's, keeping versions and the value index current.

    Rows go in by bulk INSERT ... RETURNING rather than one ORM flush each: at ten thousand
    objects a bundle that is the difference between seconds and minutes.
    """
    session.flush()
    created: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    present: Counter[str] = Counter()
    held = held_versions(session, owner_org_id, [obj["id"] for obj in objects])
    newest: dict[str, datetime | None] = {}
    fresh: list[tuple[dict[str, Any], Tlp, str, datetime | None]] = []
    for obj, level in zip(objects, levels, strict=True):
        version, modified = version_of(obj)
        have = held.setdefault(obj["id"], {})
        if version in have:
            present[obj["type"]] += 1
            continue
        (versions if have else created)[obj["type"]] += 1
        have[version] = modified
        fresh.append((obj, level, version, modified))
    # The latest version of each object, across what is held and what arrives now.
    for stix_id, have in held.items():
        dated = [m for m in have.values() if m is not None]
        newest[stix_id] = max(dated) if dated else None
    latest_version = {
        stix_id: next(v for v, m in have.items() if m == newest[stix_id])
        for stix_id, have in held.items()
    }
    arriving_latest = {
        obj["id"] for obj, _, version, _ in fresh if latest_version[obj["id"]] == version
    }
    _retire(session, owner_org_id, [i for i in arriving_latest if len(held[i]) > 1])
    now = utcnow()
    rows = [
        {
            "stix_id": obj["id"],
            "type": obj["type"],
            "version": version,
            "modified": modified,
            "created": parse_timestamp(obj["created"])
            if isinstance(obj.get("created"), str)
            else None,
            "date_added": now,
            "is_latest": obj["id"] in arriving_latest and latest_version[obj["id"]] == version,
            "revoked": bool(obj.get("revoked", False)),
            "name": _label(obj),
            "owner_org_id": owner_org_id,
            "tlp": level,
            "distribution": marking.distribution,
            "sharing_group_id": marking.sharing_group_id,
            "import_id": import_id,
            "data": obj,
        }
        for obj, level, version, modified in fresh
    ]
    indexed = 0
    for start in range(0, len(rows), BULK):
        chunk = rows[start : start + BULK]
        pks = session.scalars(
            insert(StixObject).returning(StixObject.pk, sort_by_parameter_order=True), chunk
        ).all()
        indexed += index_values(
            session,
            [(pk, row["data"]) for pk, row in zip(pks, chunk, strict=True) if row["is_latest"]],
        )
        if progress is not None:
            progress(min(start + BULK, len(rows)), len(rows))
    return ImportCounts(
        created=dict(created),
        new_versions=dict(versions),
        already_present=dict(present),
        values_indexed=indexed,
    )


def index_values(session: Session, latest: list[tuple[int, dict[str, Any]]]) -> int:
    """Put the values of some latest versions (row key and STIX data) in the value index."""
    carried = [(pk, v) for pk, data in latest for v in from_stix(data)]
    if not carried:
        return 0
    networks.record(session, (v for _, v in carried))
    session.execute(
        insert(ObservableValue),
        [
            {
                "object_pk": pk,
                "kind": v.kind,
                "value": v.value,
                "ip_first": v.ip_first,
                "ip_last": v.ip_last,
                "rev": reversed_domain(v.value) if v.kind == ValueKind.DOMAIN else None,
            }
            for pk, v in carried
        ],
    )
    return len(carried)


def held_versions(
    session: Session, owner_org_id: uuid.UUID, ids: list[str]
) -> dict[str, dict[str, datetime | None]]:
    """The versions (and their modified times) the owner already holds of some objects."""
    held: dict[str, dict[str, datetime | None]] = {}
    for chunk in _chunks(sorted(set(ids)), 500):
        rows = session.execute(
            select(StixObject.stix_id, StixObject.version, StixObject.modified).where(
                StixObject.owner_org_id == owner_org_id, StixObject.stix_id.in_(chunk)
            )
        )
        for stix_id, version, modified in rows:
            held.setdefault(stix_id, {})[version] = modified
    return held


def _retire(session: Session, owner_org_id: uuid.UUID, stix_ids: list[str]) -> None:
    """The owner's previous latest versions stop being latest and leave the value index."""
    for chunk in _chunks(sorted(stix_ids), 500):
        old = select(StixObject.pk).where(
            StixObject.owner_org_id == owner_org_id,
            StixObject.stix_id.in_(chunk),
            StixObject.is_latest.is_(True),
        )
        session.execute(delete(ObservableValue).where(ObservableValue.object_pk.in_(old)))
        session.execute(
            update(StixObject)
            .where(StixObject.pk.in_(old.scalar_subquery()))
            .values(is_latest=False)
            .execution_options(synchronize_session=False)
        )


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_stix(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    marking: Marking,
    filename: str | None = None,
    progress: Progress | None = None,
) -> IntelImport:
    """Import a STIX 2.1 bundle as the actor's organisation: all of it, or nothing."""
    owner = check_upload(session, actor=actor, marking=marking)
    return import_objects(
        session,
        actor=actor,
        owner=owner,
        objects=bundle_objects(read_json(data)),
        marking=marking,
        fmt=ImportFormat.STIX,
        filename=filename,
        progress=progress,
    )


def check_upload(session: Session, *, actor: Actor, marking: Marking) -> uuid.UUID:
    """May the actor upload under this marking? Answers the organisation that will hold it."""
    actor.require(Permission.INTEL_IMPORT)
    owner = _owner(actor)
    check_marking_group(session, actor=actor, group_id=marking.sharing_group_id)
    return owner


def import_objects(
    session: Session,
    *,
    actor: Actor,
    owner: uuid.UUID,
    objects: list[Any],
    marking: Marking,
    fmt: ImportFormat,
    filename: str | None = None,
    progress: Progress | None = None,
    not_mapped: list[str] | None = None,
    unmarked: Tlp | None = None,
) -> IntelImport:
    """Validate STIX objects read from a file of any format, then store them all, or nothing.

    The owner comes from check_upload, called before the file is read.
    """
    kept, levels = _plan(objects, marking, unmarked)
    batch = new_import(
        session, actor=actor, owner=owner, marking=marking, fmt=fmt, filename=filename
    )
    stix_sightings = [o for o in kept if o["type"] == "sighting"]
    held = held_versions(session, owner, [o["id"] for o in stix_sightings])
    counts = store_objects(
        session,
        owner_org_id=owner,
        objects=kept,
        levels=levels,
        marking=marking,
        import_id=batch.id,
        progress=progress,
    )
    fresh = [o for o in stix_sightings if version_of(o)[0] not in held.get(o["id"], {})]
    finish_import(
        session,
        actor=actor,
        batch=batch,
        counts=counts,
        report_ids=[o["id"] for o in kept if o["type"] == "report"],
        not_mapped=[*(not_mapped or []), *sightings.from_stix(session, actor=actor, objects=fresh)],
    )
    refresh_statistics(session, ["stix_objects", "observable_values"])
    return batch


def _owner(actor: Actor) -> uuid.UUID:
    if actor.organisation_id is None:
        raise ValidationFailed.one("actor", "intelligence is imported on behalf of a user")
    return actor.organisation_id


def new_import(
    session: Session,
    *,
    actor: Actor,
    owner: uuid.UUID,
    marking: Marking,
    fmt: ImportFormat,
    filename: str | None,
) -> IntelImport:
    """The record of an upload, written with its objects."""
    batch = IntelImport(
        id=uuid.uuid4(),
        owner_org_id=owner,
        created_by_id=actor.user_id,
        filename=(filename or "")[:300] or None,
        format=fmt,
        tlp=marking.tlp,
        distribution=marking.distribution,
        sharing_group_id=marking.sharing_group_id,
    )
    session.add(batch)
    session.flush()
    return batch


def finish_import(
    session: Session,
    *,
    actor: Actor,
    batch: IntelImport,
    counts: ImportCounts,
    report_ids: list[str],
    not_mapped: list[str] | None = None,
) -> None:
    """Store the import's report and audit it."""
    batch.report = {
        "counts": counts.model_dump(),
        "not_mapped": not_mapped or [],
        "report_ids": report_ids,
    }
    record(
        session,
        actor=actor,
        action=AuditAction.INTEL_IMPORTED,
        object_type="intel_import",
        object_id=batch.id,
        object_org_id=batch.owner_org_id,
        details={
            "format": batch.format.value,
            "tlp": batch.tlp.value,
            "distribution": batch.distribution.value,
            "objects": sum(counts.created.values()) + sum(counts.new_versions.values()),
        },
    )


# Export


def stix_view(row: StixObject, hidden: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    """The object as a recipient gets it: its TLP as a TLP 2.0 marking, hidden refs removed."""
    obj = dict(row.data)
    others = [r for r in obj.get("object_marking_refs", []) if r not in _KNOWN_TLP_IDS]
    obj["object_marking_refs"] = [row.tlp.marking_id, *others]
    for field, value in list(obj.items()):
        if field.endswith("_refs") and field != "object_marking_refs" and isinstance(value, list):
            kept = [ref for ref in value if ref not in hidden]
            if kept:
                obj[field] = kept
            else:
                del obj[field]
    return obj


def bundle(rows: list[StixObject], hidden: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    """A STIX 2.1 bundle of objects with the TLP marking definitions they use."""
    levels = sorted({row.tlp for row in rows}, key=lambda level: level.rank)
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [marking_definition(level) for level in levels]
        + [stix_view(row, hidden) for row in rows],
    }


# Deletion


def delete_held(
    session: Session,
    *,
    actor: Actor,
    rows: list[StixObject],
) -> int:
    """Delete some versions the actor's organisation holds of one object.

    When the latest version goes and older ones stay, the newest of those becomes the
    latest and takes its place in the value index. Answers how many versions went.
    """
    actor.require(Permission.INTEL_IMPORT)
    owner = _owner(actor)
    if not rows:
        return 0
    stix_id = rows[0].stix_id
    if any(row.owner_org_id != owner or row.stix_id != stix_id for row in rows):
        raise ValueError("delete_held takes versions of one object held by the actor")
    pks = [row.pk for row in rows]
    session.execute(delete(ObservableValue).where(ObservableValue.object_pk.in_(pks)))
    session.execute(
        delete(StixObject)
        .where(StixObject.pk.in_(pks))
        .execution_options(synchronize_session=False)
    )
    remaining = session.execute(
        select(StixObject.pk, StixObject.is_latest, StixObject.data)
        .where(StixObject.stix_id == stix_id, StixObject.owner_org_id == owner)
        .order_by(StixObject.version.desc())
    ).all()
    if remaining and not any(latest for _, latest, _ in remaining):
        pk, _, data = remaining[0]
        session.execute(update(StixObject).where(StixObject.pk == pk).values(is_latest=True))
        index_values(session, [(pk, data)])
    for row in rows:
        session.expunge(row)
    record(
        session,
        actor=actor,
        action=AuditAction.INTEL_DELETED,
        object_type="stix_object",
        object_id=stix_id,
        object_org_id=owner,
        details={"versions": [row.version for row in rows]},
    )
    return len(rows)
