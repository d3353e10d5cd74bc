"""MISP events as STIX 2.1: the conversion behind the MISP import.

An event becomes a report; its attributes and objects become indicators (when meant for
detection) or observables; its galaxies become threat actors, malware, tools and attack
patterns; its TLP tags mark what they tag. What has no STIX home is listed, never dropped
silently. Ids come from MISP's uuids (observables': from their values, as STIX 2.1 says), so
a re-import adds nothing.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymisp import MISPAttribute, MISPEvent, MISPObject
from pymisp.abstract import describe_types
from pymisp.exceptions import PyMISPError

from balai.errors import Problem
from balai.intel import misp_map
from balai.intel.markings import Tlp, check_pair, stricter, tlp_of_refs
from balai.intel.misp_map import Invalid, derived_id, tlp_of_tag
from balai.intel.schemas import Marking

# PyMISP refuses bad input with its own errors, and with Python's when a field has a bad shape.
_LOAD_ERRORS = (PyMISPError, ValueError, TypeError, KeyError, AttributeError)
_CATEGORIES = frozenset(describe_types["categories"])
_MISP_TYPES = frozenset(describe_types["types"])
_HOMED = misp_map.LINK_TYPES | misp_map.TEXT_TYPES | misp_map.VULNERABILITY_TYPES
_TRUE = (True, 1, "1", "true", "True")


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"


def _where(base: str, raw: dict[str, Any]) -> str:
    return f"{base} (uuid {raw['uuid']})" if isinstance(raw.get("uuid"), str) else base


def _without_payload(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of an attribute for PyMISP without its attached file, which Balai does not
    import: PyMISP would decode it, and unzip a malware sample's name from it."""
    return copy.deepcopy({k: v for k, v in raw.items() if k != "data"})


def _tag_name(tag: Any) -> str:
    return str(tag.get("name", "")) if isinstance(tag, Mapping) else str(tag)


@dataclass
class _Event:
    """What the parts of one event share while they are converted."""

    root: str
    uuid: str
    timestamp: str
    level: Tlp | None = None
    refs: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    stix_ids: dict[str, str] = field(default_factory=dict)  # MISP uuid to STIX id
    references: list[tuple[str, Any, Any, str]] = field(default_factory=list)


@dataclass
class _Parts:
    """What the attributes of a MISP object make."""

    level: Tlp | None
    comparisons: list[misp_map.Comparison] = field(default_factory=list)
    observables: list[dict[str, Any]] = field(default_factory=list)
    to_ids: bool = False
    tags: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # the attributes' uuids
    skipped: list[str] = field(default_factory=list)  # relations with no place in STIX


class Converter:
    """Converts MISP events one by one, gathering STIX objects, the problems of the events
    (located: Event.Attribute[3] (uuid …).value) and what in them has no STIX home."""

    def __init__(self, marking: Marking) -> None:
        self.marking = marking
        self.objects: dict[str, dict[str, Any]] = {}
        self.problems: list[Problem] = []
        self.not_mapped: list[str] = []
        self.uuids: dict[str, str] = {}  # where each event, attribute and object uuid was

    def problem(self, loc: str, msg: str) -> None:
        self.problems.append(Problem(loc, msg))

    def unique(self, uid: str, where: str) -> bool:
        """Is this uuid new? Two parts with one uuid would be one STIX object, silently."""
        if uid in self.uuids:
            self.problem(f"{where}.uuid", f"is also the uuid of {self.uuids[uid]}")
            return False
        self.uuids[uid] = where
        return True

    def add(self, ctx: _Event, obj: dict[str, Any], level: Tlp | None) -> str:
        """Keep an object once per id (an observable may come from several attributes),
        under the strictest marking any of them gave it."""
        held = self.objects.setdefault(obj["id"], obj)
        if held is not obj:
            for name, value in obj.items():
                if name.endswith("_refs") and isinstance(value, list):
                    held[name] = list(dict.fromkeys([*held.get(name, []), *value]))
        own = self.level_of(held["id"])
        if level is not None and (own is None or level.rank > own.rank):
            held["object_marking_refs"] = [level.marking_id]
        if held["id"] not in ctx.refs:
            ctx.refs.append(held["id"])
        return str(held["id"])

    def level_of(self, stix_id: str) -> Tlp | None:
        return tlp_of_refs(self.objects[stix_id].get("object_marking_refs", []))

    def tags(self, ctx: _Event, where: str, tags: Iterable[Any]) -> tuple[Tlp | None, list[str]]:
        """The strictest TLP of the event and some tags, refused when the upload's audience
        may not have it; and the names of the other tags."""
        level, others = ctx.level, []
        for index, tag in enumerate(tags):
            name = _tag_name(tag)
            tlp = tlp_of_tag(name)
            if tlp is None:
                others.append(name)
                continue
            reason = check_pair(stricter(self.marking.tlp, tlp), self.marking.distribution)
            if reason:
                self.problem(f"{where}.Tag[{index}] ({name})", f"is {tlp.label}: {reason}")
            level = tlp if level is None else stricter(level, tlp)
        return level, others

    def relate(self, ctx: _Event, source: str, kind: str, target: str) -> None:
        """A relationship, marked as strictly as the stricter of its two ends."""
        levels = [x for x in (ctx.level, self.level_of(source), self.level_of(target)) if x]
        relationship = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": derived_id("relationship", source, kind, target),
            "created": ctx.timestamp,
            "modified": ctx.timestamp,
            "relationship_type": kind,
            "source_ref": source,
            "target_ref": target,
        }
        self.add(ctx, relationship, max(levels, key=lambda x: x.rank) if levels else None)

    # The event

    def event(self, root: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.problem(root, "is not a JSON object")
            return
        wrong = len(self.problems)
        event_uuid = _uuid(raw.get("uuid"))
        if event_uuid is None:
            self.problem(f"{root}.uuid", "must be a UUID: the report's id is derived from it")
        elif not self.unique(event_uuid, root):
            return
        info = raw.get("info")
        if not isinstance(info, str) or not info.strip():
            self.problem(f"{root}.info", "is required: it becomes the report's name")
        meta = MISPEvent()
        try:
            parts = {k: v for k, v in raw.items() if k not in ("Attribute", "Object")}
            meta.from_dict(**copy.deepcopy({**parts, "info": str(info or "")}))
        except _LOAD_ERRORS as exc:
            self.problem(root, f"not a MISP event: {_message(exc)}")
            return
        when = meta.get("timestamp") or meta.get("date")
        if when is None:
            self.problem(f"{root}.timestamp", "is required (or a date): it versions the report")
            return
        ctx = _Event(root=root, uuid=event_uuid or "", timestamp=misp_map.stix_time(when))
        ctx.level, tags = self.tags(ctx, root, meta.tags)
        ctx.targets, ctx.labels = self.galaxies(ctx, meta.galaxies, tags)
        for index, attribute in enumerate(self.parts(raw, "Attribute", root)):
            self.attribute(ctx, f"{root}.Attribute[{index}]", attribute)
        for index, obj in enumerate(self.parts(raw, "Object", root)):
            self.misp_object(ctx, f"{root}.Object[{index}]", obj)
        for source in ctx.indicators:
            for target in ctx.targets:
                self.relate(ctx, source, "indicates", target)
        self.object_references(ctx)
        self.unmapped_parts(raw)
        if event_uuid is not None and len(self.problems) == wrong:
            self.report(ctx, meta, str(info))

    def parts(self, raw: dict[str, Any], key: str, root: str) -> list[Any]:
        found = raw.get(key) or []
        if not isinstance(found, list):
            self.problem(f"{root}.{key}", "must be a list")
            return []
        return found

    def galaxies(
        self, ctx: _Event, galaxies: Iterable[Any], tags: list[str]
    ) -> tuple[list[str], list[str]]:
        """Galaxy clusters and galaxy tags as objects (their ids), and the other tags."""
        targets: list[str] = []
        kept: list[str] = []
        covered: set[str] = set()
        for galaxy in galaxies:
            for cluster in galaxy.clusters:
                tag = str(cluster.get("tag_name") or "")
                covered.add(tag)
                target = self.cluster(ctx, galaxy, cluster, tag)
                if target:
                    targets.append(target)
                elif tag:
                    kept.append(tag)
        for tag in tags:
            found = misp_map.GALAXY_TAG.match(tag)
            stix_type = misp_map.GALAXY_TYPES.get(found.group(1).lower()) if found else None
            if tag in covered:
                continue
            if found and stix_type:
                obj = misp_map.galaxy_object(
                    stix_type,
                    cluster_uuid=None,
                    name=found.group(2),
                    tag=tag,
                    timestamp=ctx.timestamp,
                )
                targets.append(self.add(ctx, obj, ctx.level))
            else:
                kept.append(tag)
        return list(dict.fromkeys(targets)), list(dict.fromkeys(kept))

    def cluster(self, ctx: _Event, galaxy: Any, cluster: Any, tag: str) -> str | None:
        galaxy_type = str(galaxy.get("type") or cluster.get("type") or "")
        stix_type = misp_map.GALAXY_TYPES.get(galaxy_type)
        name = str(cluster.get("value") or "")
        if stix_type is None or not name:
            self.not_mapped.append(
                f"Galaxy {galaxy.get('name') or galaxy_type!r} cluster {name!r} ({tag}): "
                f"no STIX object for {galaxy_type or 'such'} clusters yet; its tag is a label"
            )
            return None
        meta = cluster.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        synonyms, ids = meta.get("synonyms"), meta.get("external_id")
        obj = misp_map.galaxy_object(
            stix_type,
            cluster_uuid=cluster.get("uuid"),
            name=name,
            tag=tag or f'misp-galaxy:{galaxy_type}="{name}"',
            timestamp=ctx.timestamp,
            description=str(cluster.get("description") or "") or None,
            synonyms=[str(s) for s in synonyms] if isinstance(synonyms, list) else None,
            external_id=str(ids[0]) if isinstance(ids, list) and ids else None,
        )
        return self.add(ctx, obj, ctx.level)

    # Attributes

    def attribute(self, ctx: _Event, where: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.problem(where, "is not a JSON object")
            return
        where = _where(where, raw)
        uid, kind = _uuid(raw.get("uuid")), raw.get("type")
        desc = f"Attribute {raw.get('uuid')} (type {kind!r}, value {_short(raw.get('value'))!r})"
        if uid is None:
            self.problem(f"{where}.uuid", "must be a UUID: the STIX ids are derived from it")
            return
        if not self.unique(uid, where):
            return
        if not isinstance(kind, str) or not kind:
            self.problem(f"{where}.type", "is required")
            return
        if raw.get("deleted") in _TRUE:
            self.not_mapped.append(f"{desc}: deleted in MISP, not imported")
            return
        if kind not in misp_map.ATTRIBUTE_TYPES and kind not in _HOMED:
            why = "no STIX mapping yet" if kind in _MISP_TYPES else "not a MISP type Balai knows"
            self.not_mapped.append(f"{desc}: {why}")
            return
        if raw.get("category") is not None and raw["category"] not in _CATEGORIES:
            self.problem(f"{where}.category", f"{raw['category']!r} is not a MISP category")
            return
        attribute = MISPAttribute()
        try:
            attribute.from_dict(**_without_payload(raw))
        except _LOAD_ERRORS as exc:
            self.problem(where, _message(exc))
            return
        value, comment = str(attribute.value).strip(), str(attribute.get("comment") or "").strip()
        if kind in misp_map.LINK_TYPES:
            ctx.links.append(
                {"source_name": "url", "url": value} | ({"description": comment} if comment else {})
            )
            return
        if kind in misp_map.TEXT_TYPES:
            ctx.texts.append(value)
            return
        level, tags = self.tags(ctx, where, attribute.tags)
        targets, tags = self.galaxies(ctx, attribute.galaxies, tags)
        moment = attribute.get("timestamp")
        timestamp = misp_map.stix_time(moment) if moment else ctx.timestamp
        if kind in misp_map.VULNERABILITY_TYPES:
            main = self.add(
                ctx, misp_map.vulnerability(uid, value, comment, timestamp, tags), level
            )
            ctx.stix_ids[uid] = main
            return
        try:
            mapped = misp_map.ATTRIBUTE_TYPES[kind](value)
        except Invalid as exc:
            self.problem(f"{where}.value", str(exc))
            return
        if attribute.to_ids:
            labels = [f'misp:type="{kind}"', f'misp:category="{attribute.category}"', *tags]
            indicator = misp_map.indicator(
                f"indicator--{uid}", value, mapped.comparisons, timestamp, attribute, labels
            )
            if comment:
                indicator["description"] = comment
            main = self.add(ctx, indicator, level)
            ctx.indicators.append(main)
        else:
            for observable in reversed(mapped.observables):
                main = self.add(ctx, dict(observable), level)
            self.note(ctx, uid, main, comment, tags, timestamp, attribute, level)
        for target in targets:
            self.relate(ctx, main, "indicates" if attribute.to_ids else "related-to", target)
        ctx.stix_ids[uid] = main
        self.attribute_extras(desc, attribute, payload=bool(raw.get("data")))

    def note(
        self,
        ctx: _Event,
        uid: str,
        target: str,
        comment: str,
        tags: list[str],
        timestamp: str,
        attribute: Any,
        level: Tlp | None,
    ) -> None:
        """An observable has no description or labels in STIX: a note carries them."""
        seen = [f"{k.replace('_', ' ')} {attribute.get(k)}" for k in ("first_seen", "last_seen")]
        seen = [s for s in seen if not s.endswith(" None")]
        if not (comment or tags or seen):
            return
        lines = [comment, "; ".join(seen).capitalize()]
        note: dict[str, Any] = {
            "type": "note",
            "spec_version": "2.1",
            "id": derived_id("note", uid),
            "created": timestamp,
            "modified": timestamp,
            "content": "\n".join(x for x in lines if x) or f"Tags of MISP attribute {uid}",
            "object_refs": [target],
        }
        if tags:
            note["labels"] = tags
        self.add(ctx, note, level)

    def attribute_extras(self, desc: str, attribute: Any, *, payload: bool) -> None:
        """What an attribute carries beside its value that Balai does not import."""
        if attribute.sightings:
            self.not_mapped.append(
                f"{desc}: {len(attribute.sightings)} sighting(s) not carried over; "
                "report sightings in Balai"
            )
        if attribute.shadow_attributes:
            self.not_mapped.append(
                f"{desc}: {len(attribute.shadow_attributes)} proposal(s) not carried over"
            )
        if payload:
            self.not_mapped.append(
                f"{desc}: the attached file is not imported, only what describes it"
            )

    # Objects

    def misp_object(self, ctx: _Event, where: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            self.problem(where, "is not a JSON object")
            return
        where = _where(where, raw)
        uid, name = _uuid(raw.get("uuid")), raw.get("name")
        if uid is None:
            self.problem(f"{where}.uuid", "must be a UUID: the STIX ids are derived from it")
            return
        if not self.unique(uid, where):
            return
        if not isinstance(name, str) or not name:
            self.problem(f"{where}.name", "is required")
            return
        attributes = self.parts(raw, "Attribute", where)
        desc = f"Object {uid} ({name!r}, {len(attributes)} attributes)"
        template = misp_map.TEMPLATES.get(name)
        if raw.get("deleted") in _TRUE:
            self.not_mapped.append(f"{desc}: deleted in MISP, not imported")
            return
        if template is None:
            self.not_mapped.append(f"{desc}: no STIX mapping for this object template yet")
            return
        loaded = MISPObject(name=name, strict=False)
        try:
            members = [_without_payload(a) if isinstance(a, dict) else a for a in attributes]
            fields = {k: v for k, v in raw.items() if k not in ("name", "Attribute")}
            loaded.from_dict(**copy.deepcopy(fields), Attribute=members)
        except _LOAD_ERRORS as exc:
            self.problem(where, _message(exc))
            return
        found = self.object_attributes(ctx, where, template, attributes)
        if found is None:
            return
        comparisons, level, tags = found.comparisons, found.level, found.tags
        if found.skipped:
            self.not_mapped.append(f"{desc}: {', '.join(found.skipped)}: no place in STIX yet")
        if not comparisons:
            return
        moment = loaded.get("timestamp")
        timestamp = misp_map.stix_time(moment) if moment else ctx.timestamp
        comment = str(raw.get("comment") or "").strip()
        if found.to_ids:
            labels = [f'misp:name="{name}"', f'misp:category="{raw.get("meta-category", "")}"']
            title = f"{name}: {comparisons[0][2]}"
            indicator = misp_map.indicator(
                f"indicator--{uid}", title, comparisons, timestamp, loaded, labels + tags
            )
            if comment:
                indicator["description"] = comment
            main = self.add(ctx, indicator, level)
            ctx.indicators.append(main)
        else:
            observables = found.observables
            if name == "file":  # one file, whatever number of hashes it has
                observables = [misp_map.file_observable({p: v for p, _, v in comparisons})]
            if not observables:
                self.not_mapped.append(f"{desc}: nothing in it is an observable on its own")
                return
            for observable in reversed(observables):
                main = self.add(ctx, dict(observable), level)
            self.note(ctx, uid, main, comment, tags, timestamp, loaded, level)
        for member in [uid, *found.members]:
            ctx.stix_ids[member] = main
        for reference in self.parts(raw, "ObjectReference", where):
            if isinstance(reference, dict):
                ctx.references.append(
                    (
                        main,
                        reference.get("referenced_uuid"),
                        reference.get("relationship_type"),
                        desc,
                    )
                )

    def object_attributes(
        self, ctx: _Event, where: str, template: dict[str, str], attributes: list[Any]
    ) -> _Parts | None:
        """What an object's attributes make; None when one of them is wrong."""
        found = _Parts(level=ctx.level)
        wrong = len(self.problems)
        for index, raw in enumerate(attributes):
            at = f"{where}.Attribute[{index}]"
            if not isinstance(raw, dict):
                self.problem(at, "is not a JSON object")
                continue
            at = _where(at, raw)
            relation, kind, value = raw.get("object_relation"), raw.get("type"), raw.get("value")
            path = template.get(str(relation))
            if raw.get("deleted") in _TRUE or path is None:
                found.skipped.append(f"{relation} {_short(value)!r}")
                continue
            if value is None or not str(value).strip():
                self.problem(f"{at}.value", "is required")
                continue
            try:
                literal = misp_map.object_literal(path, str(kind), str(value))
                found.comparisons.append((path, "=", literal))
                mapping = misp_map.ATTRIBUTE_TYPES.get(str(kind))
                found.observables.extend(mapping(str(value)).observables if mapping else ())
            except Invalid as exc:
                self.problem(f"{at}.value", str(exc))
                continue
            found.to_ids = found.to_ids or raw.get("to_ids") in _TRUE
            own, others = self.tags(ctx, at, raw.get("Tag") or [])
            if own is not None and (found.level is None or own.rank > found.level.rank):
                found.level = own
            found.tags.extend(t for t in others if t not in found.tags)
            member = _uuid(raw.get("uuid"))
            if member:
                found.members.append(member)
        return None if len(self.problems) > wrong else found

    def object_references(self, ctx: _Event) -> None:
        """MISP object references become relationships when both ends are in STIX."""
        for source, referenced, kind, desc in ctx.references:
            target = ctx.stix_ids.get(_uuid(referenced) or "")
            name = re.sub(r"[^a-z0-9]+", "-", str(kind or "").lower()).strip("-") or "related-to"
            if target is None or target == source:
                self.not_mapped.append(
                    f"{desc}: its reference {kind!r} to {referenced} points to nothing in STIX"
                )
                continue
            self.relate(ctx, source, name, target)

    def unmapped_parts(self, raw: dict[str, Any]) -> None:
        """Parts of an event Balai does not import, named in the report."""
        for report in raw.get("EventReport") or []:
            name = report.get("name") if isinstance(report, dict) else None
            self.not_mapped.append(f"Event report {name!r}: event reports are not imported yet")
        counted = {
            "ShadowAttribute": "proposal(s) to change the event",
            "Sighting": "sighting(s) of the event",
            "RelatedEvent": "related event(s) on the source MISP (Balai correlates on its own)",
        }
        for key, what in counted.items():
            items = raw.get(key)
            if isinstance(items, list) and items:
                self.not_mapped.append(f"{len(items)} {what}: not carried over")

    def report(self, ctx: _Event, meta: MISPEvent, info: str) -> None:
        """The event itself, as the report of everything it held."""
        if not ctx.refs:
            self.problem(
                ctx.root, "nothing in the event maps to STIX, so there is nothing to import"
            )
            return
        day = meta.get("date")
        created = min(ctx.timestamp, misp_map.stix_time(day)) if day else ctx.timestamp
        published = meta.get("publish_timestamp") if meta.get("published") else None
        references = [*ctx.links, {"source_name": "MISP", "external_id": ctx.uuid}]
        orgc = meta.get("Orgc")
        if orgc is not None and orgc.get("name"):
            references[-1]["description"] = f"MISP event by {orgc.get('name')}"
        report: dict[str, Any] = {
            "type": "report",
            "spec_version": "2.1",
            "id": f"report--{ctx.uuid}",
            "created": created,
            "modified": ctx.timestamp,
            "name": info.strip()[:500],
            "published": misp_map.stix_time(published) if published else created,
            "report_types": ["threat-report"],
            "object_refs": list(ctx.refs),
            "external_references": references,
        }
        if ctx.texts:
            report["description"] = "\n\n".join(ctx.texts)
        if ctx.labels:
            report["labels"] = ctx.labels
        if ctx.level is not None:
            report["object_marking_refs"] = [ctx.level.marking_id]
        self.objects[report["id"]] = report
