"""MISP event JSON in and out: events are imported as STIX 2.1, through the STIX path, and
objects a reader may see are exported as a MISP event that PyMISP and MISP load."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pymisp import MISPEvent
from pymisp.abstract import describe_types
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.db import utcnow
from balai.errors import ValidationFailed
from balai.intel import stix_io
from balai.intel.misp_convert import Converter
from balai.intel.misp_map import EXPORT_GALAXIES, NAMESPACE
from balai.intel.models import ImportFormat, IntelImport, StixObject, ValueKind
from balai.intel.observables import from_stix
from balai.intel.schemas import Marking


def import_misp(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    marking: Marking,
    filename: str | None = None,
    progress: stix_io.Progress | None = None,
) -> IntelImport:
    """Import MISP event JSON as STIX 2.1, as the actor's organisation: all of it, or nothing."""
    owner = stix_io.check_upload(session, actor=actor, marking=marking)
    converted = convert(stix_io.read_json(data), marking)
    return stix_io.import_objects(
        session,
        actor=actor,
        owner=owner,
        objects=converted.objects,
        marking=marking,
        fmt=ImportFormat.MISP,
        filename=filename,
        progress=progress,
        not_mapped=converted.not_mapped,
    )


@dataclass
class Converted:
    """STIX objects made from MISP events, and what in them has no STIX home."""

    objects: list[dict[str, Any]]
    not_mapped: list[str]


def convert(document: Any, marking: Marking) -> Converted:
    """MISP events ({"Event": …}, a bare event, or a search response) as STIX 2.1 objects.

    Raises ValidationFailed with every problem located: Event.Attribute[3] (uuid …).value.
    """
    converter = Converter(marking)
    for root, event in events_of(document):
        converter.event(root, event)
    if converter.problems:
        raise ValidationFailed(converter.problems)
    return Converted(list(converter.objects.values()), converter.not_mapped)


def events_of(document: Any) -> list[tuple[str, Any]]:
    """The events of a MISP JSON document, each with where it is."""
    if isinstance(document, dict) and isinstance(document.get("response"), list):
        items = [
            i["Event"] if isinstance(i, dict) and "Event" in i else i for i in document["response"]
        ]
        if not items:
            raise ValidationFailed.one("response", "holds no event")
        if len(items) == 1:
            return [("Event", items[0])]
        return [(f"response[{i}].Event", item) for i, item in enumerate(items)]
    if isinstance(document, dict) and "Event" in document:
        return [("Event", document["Event"])]
    if isinstance(document, dict) and ("info" in document or "Attribute" in document):
        return [("Event", document)]
    raise ValidationFailed.one(
        "file", 'not a MISP event: expected {"Event": {...}}, a bare event or a search response'
    )


# Export

# The MISP attribute types of each kind of value, the default first.
_KIND_TYPES: dict[ValueKind, tuple[str, ...]] = {
    ValueKind.IPV4: ("ip-dst", "ip-src"),
    ValueKind.IPV6: ("ip-dst", "ip-src"),
    ValueKind.CIDR: ("ip-dst", "ip-src"),
    ValueKind.DOMAIN: ("domain", "hostname"),
    ValueKind.URL: ("url", "uri"),
    ValueKind.EMAIL: ("email", "email-src", "email-dst"),
    ValueKind.MD5: ("md5",),
    ValueKind.SHA1: ("sha1",),
    ValueKind.SHA256: ("sha256",),
    ValueKind.ASN: ("AS",),
}
_LABEL = re.compile(r'^misp:(type|category)="(.+)"$')


def misp_event(
    rows: list[StixObject], *, title: str, hidden: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    """A MISP event of objects a reader may see (a report and its contents, or a search result).

    Indicators and observables become attributes (for detection when they are indicators),
    one per value they carry; the strictest TLP among the rows becomes the event's tag, so
    nothing is widened; threat actors, malware, tools and attack patterns become galaxy tags.
    """
    event = MISPEvent()
    event.info = title[:65535] or "Balai export"
    first = rows[0] if rows else None
    if first is not None and first.type == "report":
        event.uuid = first.stix_id.partition("--")[2]
    else:
        event.uuid = str(uuid.uuid5(NAMESPACE, "event/" + ",".join(r.stix_id for r in rows)))
    moments = [r.modified or r.date_added for r in rows]
    event.set_date((max(moments) if moments else utcnow()).date())
    event.published = False
    if rows:
        strictest = max((r.tlp for r in rows), key=lambda level: level.rank)
        event.add_tag(f"tlp:{strictest.value}")
    seen: dict[tuple[str, str], Any] = {}
    for row in rows:
        data = stix_io.stix_view(row, hidden)
        for tag in _tags(row.type, data):
            if tag not in (t.name for t in event.tags):
                event.add_tag(tag)
        for kind, value, extra in _attributes(row, data):
            key = (kind, value)
            if key in seen:
                seen[key].to_ids = seen[key].to_ids or extra["to_ids"]
                continue
            seen[key] = event.add_attribute(kind, value, **extra)
    return {"Event": json.loads(event.to_json())}


def _tags(row_type: str, data: dict[str, Any]) -> list[str]:
    if row_type == "report":
        return [str(label) for label in data.get("labels", []) if not _LABEL.match(str(label))]
    galaxy = EXPORT_GALAXIES.get(row_type)
    name = str(data.get("name") or "").replace('"', "'")
    return [f'misp-galaxy:{galaxy}="{name}"'] if galaxy and name else []


def _attributes(row: StixObject, data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The MISP attributes (type, value, other fields) of one STIX object."""
    labels: dict[str, str] = {}
    for label in data.get("labels", []):
        if match := _LABEL.match(str(label)):
            labels[match.group(1)] = match.group(2)
    moment = row.modified or row.date_added
    base: dict[str, Any] = {"timestamp": moment if moment.tzinfo else moment.replace(tzinfo=UTC)}
    if data.get("description"):
        base["comment"] = str(data["description"])[:65535]
    found: list[tuple[str, str, dict[str, Any]]] = []
    if row.type == "report":
        for reference in data.get("external_references", []):
            if isinstance(reference, dict) and reference.get("url"):
                found.append(("link", str(reference["url"]), {**base, "to_ids": False}))
        if data.get("description"):
            found.append(
                ("text", str(data["description"]), {**base, "to_ids": False, "comment": ""})
            )
        return found
    if row.type == "vulnerability" and data.get("name"):
        return [("vulnerability", str(data["name"]), {**base, "to_ids": False})]
    values = from_stix(data)
    to_ids = row.type == "indicator"
    for value in values:
        choices = _KIND_TYPES[value.kind]
        wanted = labels.get("type", "").split("|")[0]  # ip-src|port: the address is an ip-src
        kind = wanted if wanted in choices else choices[0]
        text = value.value.removeprefix("AS") if value.kind == ValueKind.ASN else value.value
        extra = {**base, "to_ids": to_ids, "category": _category(kind, labels.get("category"))}
        if len(values) == 1:
            extra["uuid"] = row.stix_id.partition("--")[2]
        else:
            extra["uuid"] = str(uuid.uuid5(NAMESPACE, f"{row.stix_id}/{value.kind}/{value.value}"))
        found.append((kind, text, extra))
    if not values and to_ids and data.get("pattern_type") == "stix" and data.get("pattern"):
        extra = {**base, "to_ids": True, "uuid": row.stix_id.partition("--")[2]}
        found.append(("stix2-pattern", str(data["pattern"]), extra))
    return found


def _category(kind: str, wanted: str | None) -> str:
    """The category an attribute had in MISP when it fits its type, else the type's default."""
    if wanted and kind in describe_types["category_type_mappings"].get(wanted, ()):
        return wanted
    return str(describe_types["sane_defaults"][kind]["default_category"])
