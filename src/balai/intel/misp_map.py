"""MISP attribute types, object templates, tags and galaxies as STIX 2.1: the mapping tables.

Modelled on what MISP's own misp-stix produces: an attribute meant for detection (to_ids)
becomes an indicator, any other a cyber-observable. Values are checked and normalised with
the value index's own functions, so what is stored is what search and correlation compare.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from balai.intel.markings import Tlp
from balai.intel.models import ValueKind
from balai.intel.observables import (
    Value,
    asn_value,
    domain_value,
    email_value,
    hash_value,
    ip_value,
    url_value,
)

# Balai's namespace for ids derived from MISP uuids; fixed, so a re-import finds the same ids.
NAMESPACE = uuid.UUID("1b3265d4-3be9-4e4f-b044-43b0de213d44")
# STIX 2.1 section 2.9: a cyber-observable's id is a UUIDv5 of its id-contributing properties,
# so the same value gets the same id from every source.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
_ID_PROPERTIES = {
    "autonomous-system": ("number",),
    "file": ("hashes", "name", "parent_directory_ref", "extensions"),
    "mutex": ("name",),
    "network-traffic": (
        "start",
        "end",
        "src_ref",
        "dst_ref",
        "src_port",
        "dst_port",
        "protocols",
        "extensions",
    ),
    "windows-registry-key": ("key", "values"),
}
HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
_SHA512 = re.compile(r"^[0-9a-f]{128}$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.I)

Comparison = tuple[str, str, str | int]


class Invalid(ValueError):
    """A value that is not what its MISP type says it is."""


@dataclass(frozen=True)
class Mapped:
    """A MISP value in STIX: the comparisons of its pattern, and the observables it names
    (the first is the value itself; it may point to the others)."""

    comparisons: tuple[Comparison, ...]
    observables: tuple[dict[str, Any], ...]


def derived_id(stix_type: str, *parts: str) -> str:
    """A STIX id derived from MISP uuids (or names): the same input, the same id."""
    return f"{stix_type}--{uuid.uuid5(NAMESPACE, '/'.join(parts))}"


def sco(stix_type: str, **props: Any) -> dict[str, Any]:
    """A cyber-observable with its deterministic id, as the stix2 library computes it."""
    contributing = {k: props[k] for k in _ID_PROPERTIES.get(stix_type, ("value",)) if k in props}
    hashes = contributing.get("hashes")
    if isinstance(hashes, dict):
        chosen = next((n for n in ("MD5", "SHA-1", "SHA-256", "SHA-512") if n in hashes), None)
        name = chosen or next(iter(hashes))
        contributing["hashes"] = {name: hashes[name]}
    text = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        "type": stix_type,
        "spec_version": "2.1",
        "id": f"{stix_type}--{uuid.uuid5(SCO_NAMESPACE, text)}",
        **props,
    }


def pattern(comparisons: tuple[Comparison, ...] | list[Comparison]) -> str:
    """A STIX pattern: one observation whose comparisons all hold."""
    return "[" + " AND ".join(f"{path} {op} {_literal(lit)}" for path, op, lit in comparisons) + "]"


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stix_time(moment: datetime | date | float | int) -> str:
    """A STIX timestamp (UTC, milliseconds) of a MISP time: a datetime, a date or epoch seconds."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    elif not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def indicator(
    stix_id: str,
    name: str,
    comparisons: Iterable[Comparison],
    timestamp: str,
    source: Any,
    labels: list[str],
) -> dict[str, Any]:
    """An indicator of a MISP attribute or object, valid from when MISP first saw it."""
    valid_from = timestamp
    first, last = source.get("first_seen"), source.get("last_seen")
    if isinstance(first, datetime):
        valid_from = stix_time(first)
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": timestamp,
        "modified": timestamp,
        "name": name[:500],
        "indicator_types": ["malicious-activity"],
        "pattern": pattern(list(comparisons)),
        "pattern_type": "stix",
        "valid_from": valid_from,
        "labels": list(dict.fromkeys(labels)),
    }
    if isinstance(last, datetime) and stix_time(last) > valid_from:
        indicator["valid_until"] = stix_time(last)
    return indicator


def vulnerability(
    uid: str, name: str, comment: str, timestamp: str, tags: list[str]
) -> dict[str, Any]:
    """A vulnerability attribute (a CVE, usually) as a vulnerability object."""
    obj: dict[str, Any] = {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": f"vulnerability--{uid}",
        "created": timestamp,
        "modified": timestamp,
        "name": name[:500],
    }
    if _CVE.match(name):
        obj["external_references"] = [{"source_name": "cve", "external_id": name.upper()}]
    if comment:
        obj["description"] = comment
    if tags:
        obj["labels"] = tags
    return obj


# Attribute types


def _ip(raw: str) -> tuple[Value, dict[str, Any]]:
    found = ip_value(raw)
    if found is None:
        raise Invalid(f"{raw!r} is not an IP address or network")
    kind = "ipv6-addr" if ":" in found.value else "ipv4-addr"
    return found, sco(kind, value=found.value)


def _address(raw: str) -> Mapped:
    found, observable = _ip(raw)
    op = "ISSUBSET" if found.kind == ValueKind.CIDR else "="
    return Mapped(((f"{observable['type']}:value", op, found.value),), (observable,))


def _host(raw: str) -> tuple[str, dict[str, Any]]:
    found = domain_value(raw)
    if found is None:
        raise Invalid(f"{raw!r} is not a domain name")
    return found.value, sco("domain-name", value=found.value)


def _domain(raw: str) -> Mapped:
    name, observable = _host(raw)
    return Mapped((("domain-name:value", "=", name),), (observable,))


def _port(raw: str) -> int:
    if not raw.strip().isdigit() or not 0 <= int(raw) <= 65535:
        raise Invalid(f"{raw!r} is not a port number")
    return int(raw)


def _split(raw: str, what: str) -> tuple[str, str]:
    first, bar, second = raw.rpartition("|")
    if not bar or not first.strip() or not second.strip():
        raise Invalid(f"expected {what} separated by '|'")
    return first.strip(), second.strip()


def _with_port(direction: str, host: Callable[[str], tuple[str, dict[str, Any]]]) -> Mapping:
    def mapping(raw: str) -> Mapped:
        where, port = _split(raw, "an address and a port")
        value, target = host(where)
        number = _port(port)
        protocol = "ipv6" if target["type"] == "ipv6-addr" else "ipv4"
        traffic = sco(
            "network-traffic",
            **{f"{direction}_ref": target["id"], f"{direction}_port": number},
            protocols=[protocol],
        )
        comparisons = (
            (f"network-traffic:{direction}_ref.value", "=", value),
            (f"network-traffic:{direction}_port", "=", number),
        )
        return Mapped(comparisons, (traffic, target))

    return mapping


def _ip_host(raw: str) -> tuple[str, dict[str, Any]]:
    found, observable = _ip(raw)
    return found.value, observable


def _domain_ip(raw: str) -> Mapped:
    host, address = _split(raw, "a domain and an address")
    name, _ = _host(host)
    found, target = _ip(address)
    domain = sco("domain-name", value=name, resolves_to_refs=[target["id"]])
    comparisons = (
        ("domain-name:value", "=", name),
        ("domain-name:resolves_to_refs[*].value", "=", found.value),
    )
    return Mapped(comparisons, (domain, target))


def _url(raw: str) -> Mapped:
    text = raw.strip()
    # MISP accepts URLs without a scheme ("evil.com/gate.php"); they are kept as written.
    if url_value(text) is None and url_value(f"http://{text}") is None:
        raise Invalid(f"{raw!r} is not a URL")
    return Mapped((("url:value", "=", text),), (sco("url", value=text),))


def _uri(raw: str) -> Mapped:
    text = raw.strip()
    if not text or any(c.isspace() for c in text):
        raise Invalid(f"{raw!r} is not a URI")
    return Mapped((("url:value", "=", text),), (sco("url", value=text),))


def _email(raw: str) -> Mapped:
    found = email_value(raw)
    if found is None:
        raise Invalid(f"{raw!r} is not an e-mail address")
    return Mapped(
        (("email-addr:value", "=", found.value),), (sco("email-addr", value=found.value),)
    )


def _digest(kind: str, raw: str) -> str:
    text = raw.strip().lower()
    if kind == "sha512":
        if not _SHA512.match(text):
            raise Invalid(f"{raw!r} is not a SHA-512 (128 hexadecimal digits)")
        return text
    found = hash_value(text, ValueKind(kind))
    if found is None:
        digits = {"md5": 32, "sha1": 40, "sha256": 64}[kind]
        raise Invalid(f"{raw!r} is not a {HASH_NAMES[kind]} ({digits} hexadecimal digits)")
    return found.value


def _hash(kind: str) -> Mapping:
    def mapping(raw: str) -> Mapped:
        digest = _digest(kind, raw)
        name = HASH_NAMES[kind]
        return Mapped(
            ((f"file:hashes.'{name}'", "=", digest),), (sco("file", hashes={name: digest}),)
        )

    return mapping


def _file_hash(kind: str) -> Mapping:
    def mapping(raw: str) -> Mapped:
        filename, digest = _split(raw, "a file name and a hash")
        digest = _digest(kind, digest)
        name = HASH_NAMES[kind]
        comparisons = (("file:name", "=", filename), (f"file:hashes.'{name}'", "=", digest))
        return Mapped(comparisons, (sco("file", name=filename, hashes={name: digest}),))

    return mapping


def _filename(raw: str) -> Mapped:
    name = raw.strip()
    if not name:
        raise Invalid("is empty")
    return Mapped((("file:name", "=", name),), (sco("file", name=name),))


def _asn(raw: str) -> Mapped:
    found = asn_value(raw)
    if found is None:
        raise Invalid(f"{raw!r} is not an autonomous system number")
    number = int(found.value.removeprefix("AS"))
    return Mapped(
        (("autonomous-system:number", "=", number),), (sco("autonomous-system", number=number),)
    )


def _regkey(raw: str) -> Mapped:
    key = raw.strip()
    if not key:
        raise Invalid("is empty")
    return Mapped(
        (("windows-registry-key:key", "=", key),), (sco("windows-registry-key", key=key),)
    )


def _regkey_value(raw: str) -> Mapped:
    key, _, data = raw.partition("|")
    if not key.strip() or not data:
        raise Invalid("expected a registry key and its data separated by '|'")
    comparisons = (
        ("windows-registry-key:key", "=", key.strip()),
        ("windows-registry-key:values[*].data", "=", data),
    )
    observable = sco("windows-registry-key", key=key.strip(), values=[{"data": data}])
    return Mapped(comparisons, (observable,))


def _mutex(raw: str) -> Mapped:
    name = raw.strip()
    if not name:
        raise Invalid("is empty")
    return Mapped((("mutex:name", "=", name),), (sco("mutex", name=name),))


Mapping = Callable[[str], Mapped]

ATTRIBUTE_TYPES: dict[str, Mapping] = {
    "ip-src": _address,
    "ip-dst": _address,
    "ip-src|port": _with_port("src", _ip_host),
    "ip-dst|port": _with_port("dst", _ip_host),
    "hostname|port": _with_port("dst", _host),
    "domain": _domain,
    "hostname": _domain,
    "domain|ip": _domain_ip,
    "url": _url,
    "uri": _uri,
    "email": _email,
    "email-src": _email,
    "email-dst": _email,
    "md5": _hash("md5"),
    "sha1": _hash("sha1"),
    "sha256": _hash("sha256"),
    "sha512": _hash("sha512"),
    "filename|md5": _file_hash("md5"),
    "filename|sha1": _file_hash("sha1"),
    "filename|sha256": _file_hash("sha256"),
    "filename|sha512": _file_hash("sha512"),
    "malware-sample": _file_hash("md5"),
    "filename": _filename,
    "AS": _asn,
    "regkey": _regkey,
    "regkey|value": _regkey_value,
    "mutex": _mutex,
}
# Types that are not observables but have a STIX home of their own (handled by the importer).
LINK_TYPES = frozenset({"link"})
TEXT_TYPES = frozenset({"text", "comment"})
VULNERABILITY_TYPES = frozenset({"vulnerability"})

# Object templates: which object relation becomes which comparison of the object's pattern.
TEMPLATES: dict[str, dict[str, str]] = {
    "file": {
        "filename": "file:name",
        "md5": "file:hashes.'MD5'",
        "sha1": "file:hashes.'SHA-1'",
        "sha256": "file:hashes.'SHA-256'",
        "sha512": "file:hashes.'SHA-512'",
        "size-in-bytes": "file:size",
    },
    "domain-ip": {
        "domain": "domain-name:value",
        "hostname": "domain-name:value",
        "ip": "domain-name:resolves_to_refs[*].value",
    },
    "url": {"url": "url:value"},
    "ip-port": {
        "ip": "network-traffic:dst_ref.value",
        "ip-dst": "network-traffic:dst_ref.value",
        "ip-src": "network-traffic:src_ref.value",
        "hostname": "network-traffic:dst_ref.value",
        "domain": "network-traffic:dst_ref.value",
        "dst-port": "network-traffic:dst_port",
        "src-port": "network-traffic:src_port",
    },
    "email": {
        "from": "email-message:from_ref.value",
        "to": "email-message:to_refs[*].value",
        "cc": "email-message:cc_refs[*].value",
        "subject": "email-message:subject",
    },
}
_NUMBERS = ("_port", ":size")


def object_literal(path: str, misp_type: str, raw: str) -> str | int:
    """The literal an object attribute gives its object's pattern, checked by its MISP type."""
    if path.endswith(_NUMBERS):
        text = raw.strip()
        if path.endswith("_port"):
            return _port(text)
        if not text.isdigit():
            raise Invalid(f"{raw!r} is not a size in bytes")
        return int(text)
    mapping = ATTRIBUTE_TYPES.get(misp_type)
    if mapping is None:
        if not raw.strip():
            raise Invalid("is empty")
        return raw.strip()
    return mapping(raw).comparisons[-1][2]


def file_observable(parts: dict[str, str | int]) -> dict[str, Any]:
    """One file observable from a file object's name, size and hashes."""
    props: dict[str, Any] = {}
    hashes = {
        path.split("'")[1]: value for path, value in parts.items() if path.startswith("file:hashes")
    }
    if hashes:
        props["hashes"] = hashes
    if "file:name" in parts:
        props["name"] = parts["file:name"]
    if "file:size" in parts:
        props["size"] = parts["file:size"]
    return sco("file", **props)


# Tags


TLP_TAGS = {
    "tlp:white": Tlp.CLEAR,
    "tlp:clear": Tlp.CLEAR,
    "tlp:green": Tlp.GREEN,
    "tlp:amber": Tlp.AMBER,
    "tlp:amber+strict": Tlp.AMBER_STRICT,
    "tlp:red": Tlp.RED,
}
GALAXY_TAG = re.compile(r'^misp-galaxy:([a-z0-9_-]+)="(.+)"$', re.I)


def tlp_of_tag(name: str) -> Tlp | None:
    """The TLP 2.0 level a MISP tag names (tlp:white is TLP 1.0's name for CLEAR)."""
    return TLP_TAGS.get(name.strip().lower())


# Galaxies: the galaxy types whose clusters name something STIX has an object for.

GALAXY_TYPES = {
    "threat-actor": "threat-actor",
    "mitre-intrusion-set": "intrusion-set",
    "mitre-enterprise-attack-intrusion-set": "intrusion-set",
    "mitre-malware": "malware",
    "mitre-enterprise-attack-malware": "malware",
    "malpedia": "malware",
    "ransomware": "malware",
    "rat": "malware",
    "botnet": "malware",
    "banker": "malware",
    "stealer": "malware",
    "backdoor": "malware",
    "android": "malware",
    "tool": "tool",
    "mitre-tool": "tool",
    "mitre-enterprise-attack-tool": "tool",
    "mitre-attack-pattern": "attack-pattern",
    "mitre-enterprise-attack-attack-pattern": "attack-pattern",
}
# What each object becomes when exported back to MISP, as a galaxy tag.
EXPORT_GALAXIES = {
    "threat-actor": "threat-actor",
    "intrusion-set": "mitre-intrusion-set",
    "malware": "malpedia",
    "tool": "tool",
    "attack-pattern": "mitre-attack-pattern",
}


def galaxy_object(
    stix_type: str,
    *,
    cluster_uuid: str | None,
    name: str,
    tag: str,
    timestamp: str,
    description: str | None = None,
    synonyms: list[str] | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """The STIX object of a galaxy cluster (its id from the cluster's uuid, else its tag)."""
    try:
        object_id = f"{stix_type}--{uuid.UUID(str(cluster_uuid))}"
    except ValueError:
        object_id = derived_id(stix_type, tag)
    obj: dict[str, Any] = {
        "type": stix_type,
        "spec_version": "2.1",
        "id": object_id,
        "created": timestamp,
        "modified": timestamp,
        "name": name,
    }
    if description:
        obj["description"] = description
    if synonyms and stix_type != "attack-pattern":
        obj["aliases"] = synonyms
    if stix_type == "malware":
        obj["is_family"] = True
    references = [{"source_name": "misp-galaxy", "description": tag}]
    if external_id:
        references.insert(0, {"source_name": "mitre-attack", "external_id": external_id})
    obj["external_references"] = references
    return obj
