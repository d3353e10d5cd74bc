"""Free text in: indicators as analysts paste them, each an indicator, and a report.

Free text is read as an analyst reads an advisory: defanged forms are undone, punctuation
around a value is not part of it, a bare domain must end in a real top-level domain, file
names and version numbers are not indicators, and addresses that mean nothing outside the
reporter's network are left out (and the import report says so). Every value becomes one
STIX 2.1 indicator whose id derives from the organisation and the value, so that uploading it
again finds it already there; one report per upload points to them all. CSV files become
indicators the same way (csv_io).
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.db import utcnow
from balai.errors import ValidationFailed
from balai.intel.models import ImportFormat, IntelImport, StixObject, ValueKind
from balai.intel.observables import (
    Value,
    asn_value,
    classify,
    email_value,
    ip_value,
    refang,
    url_value,
)
from balai.intel.schemas import Marking
from balai.intel.stix_io import Progress, check_upload, import_objects
from balai.intel.stix_validate import parse_timestamp

# Never change: the ids of every indicator already imported from text or CSV derive from it.
NAMESPACE = uuid.UUID("423e36c5-bbef-49d7-b46e-1f7955b990bc")
MAX_VALUE = 2048  # the longest value the index holds

# File extensions that are also top-level domains. A bare two-label name ending in one,
# "setup.py" or "invoice.zip", is a file name; defanged ("evil[.]zip"), longer
# ("cdn.files.zip"), or in a URL or an e-mail address, it is a domain. Extensions that are no
# TLD (exe, pdf, txt…) need no list: a bare domain needs a real TLD. Left out on purpose:
# .app, .one and .mobi, which the real indicator lists (maltrail) hold by the thousand.
FILE_EXTENSION_TLDS = frozenset(
    {"cab", "dot", "java", "map", "md", "mov", "properties", "ps", "py", "sh", "zip"}
)
EXTRA_TLDS = frozenset({"onion"})  # special-use, not in the root zone, but real indicators
# An IPv4 address right after one of these words is a version number ("version 1.0.0.1").
VERSION_WORDS = frozenset({"version", "ver", "v", "build", "release", "firmware"})


@cache
def iana_tlds() -> frozenset[str]:
    """The top-level domains of the DNS root zone, from the IANA list in pymispwarninglists."""
    # Found without importing the package, which loads far more than this one file.
    spec = find_spec("pymispwarninglists")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pymispwarninglists is not installed: it ships the list of TLDs")
    package = Path(next(iter(spec.submodule_search_locations)))
    source = package / "data" / "misp-warninglists" / "lists" / "tlds" / "list.json"
    document = json.loads(source.read_text(encoding="utf-8"))
    return frozenset(str(name).lower() for name in document["list"]) | EXTRA_TLDS


# Extraction

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
# Defanging written with spaces ("evil [.] com", "info [at] evil.com") is joined up first, so
# that the text can then be cut at whitespace.
_SPACED_MARKER = re.compile(
    r"\s*(\[(?:\.|dot|at|@|:|://|/)\]|\((?:\.|dot|at|@)\)|\{(?:\.|dot)\})\s*", re.I
)
_SPACED_ASN = re.compile(r"\bASN?\s?(\d{1,10})\b")  # "ASN 4134", "AS 4134": upper case only
_URL_START = re.compile(r"[a-z][a-z0-9+.-]{1,15}://", re.I)
_QUOTES = "\"'`<>|{}^\\\u201c\u201d\u2018\u2019\u00ab\u00bb"
_URL_STOP = re.compile(f"[{re.escape(_QUOTES)}]")
_CUT = re.compile(f"[{re.escape(_QUOTES)},;=()\\[\\]]")
_TRIM = ".,:;!?*~"
_MAYBE = re.compile(r"[.:@\[({]|^AS")
HASH_LENGTHS = (32, 40, 64)
_OPENERS = {")": "(", "]": "[", "}": "{"}


@dataclass
class Extraction:
    """What free text holds: its indicators in order, and what was left out."""

    found: dict[tuple[ValueKind, str], Value] = field(default_factory=dict)
    unroutable: dict[str, None] = field(default_factory=dict)
    too_long: int = 0

    @property
    def values(self) -> list[Value]:
        """The indicators, each once, in order of first appearance."""
        return list(self.found.values())

    def notes(self) -> list[str]:
        """What was left out, for the import report."""
        notes = []
        if self.unroutable:
            shown = list(self.unroutable)[:20]
            more = f" and {len(self.unroutable) - 20} more" if len(self.unroutable) > 20 else ""
            notes.append(
                f"{len(self.unroutable)} addresses that are not globally routable (private, "
                f"loopback, link-local, shared, reserved or documentation ranges) were left "
                f"out: {', '.join(shown)}{more}"
            )
        if self.too_long:
            notes.append(f"{self.too_long} values longer than {MAX_VALUE} characters were left out")
        return notes


def extract(text: str) -> list[Value]:
    """The indicators in free text as an analyst would pick them out, each once, in order."""
    return scan(text).values


def scan(text: str) -> Extraction:
    """Extract indicators from free text, and note what was left out (see extract)."""
    result = Extraction()
    text = _SPACED_ASN.sub(r"AS\1", _SPACED_MARKER.sub(r"\1", text.translate(_INVISIBLE)))
    previous = ""
    for token in text.split():
        if not _MAYBE.search(token) and len(token) < 32:
            previous = token.lower()
            continue  # no dot, colon, @ or bracket, too short for a hash: a word
        plain = refang(token)
        _Token(result, defanged=plain != token, after=previous).read(plain)
        previous = token.strip(_TRIM + "()[]\"'").lower()
    return result


@dataclass
class _Token:
    """One whitespace-separated token: URLs first, then the values between separators."""

    result: Extraction
    defanged: bool
    after: str

    def read(self, token: str) -> None:
        while token:
            start = _URL_START.search(token)
            if start is None:
                self.plain(token)
                return
            self.plain(token[: start.start()])
            rest = token[start.start() :]
            stop = _URL_STOP.search(rest)
            end = stop.start() if stop else len(rest)
            self.url(rest[:end])
            token = rest[end:]

    def url(self, text: str) -> None:
        text = _trim_url(text)
        value = url_value(text)
        if value is None:
            return
        host = _host(value.value)
        address = ip_value(host)
        if address is not None and not _routable(address):
            self.result.unroutable[value.value] = None
        elif address is not None or host.rpartition(".")[2] in iana_tlds():
            self.add(value)

    def plain(self, text: str) -> None:
        for piece in _CUT.split(text):
            self.atom(piece)

    def atom(self, text: str) -> None:
        text = text.strip(".,!?*~")
        if not text:
            return
        if ":" in text or "/" in text:
            address = ip_value(text)  # IPv6 addresses and networks keep their colons and slash
            if address is not None:
                self.address(address)
                return
            for part in re.split(r"[:/]", text):
                self.atom(part)
            return
        if "@" in text:
            email = email_value(text)
            if email is None:
                for part in text.split("@"):
                    self.atom(part)
            elif email.value.rpartition(".")[2] in iana_tlds():
                self.add(email)
            return
        if text[:2].lower() == "as" and text[2:].isdigit():
            asn = asn_value(text)
            if asn is not None and text.startswith("AS"):  # "as12" in running text is none
                self.add(asn)
            return
        if "." not in text and len(text) not in HASH_LENGTHS:
            return  # a word: saves classify's attempts on most of a text
        value = classify(text)
        if value is None:
            return
        if value.kind in (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR):
            self.address(value)
        elif value.kind != ValueKind.DOMAIN or self.domain(value.value):
            self.add(value)

    def domain(self, name: str) -> bool:
        top = name.rpartition(".")[2]
        if top not in iana_tlds():
            return False
        return self.defanged or top not in FILE_EXTENSION_TLDS or name.count(".") > 1

    def address(self, value: Value) -> None:
        if value.kind == ValueKind.IPV4 and self.after in VERSION_WORDS:
            return
        if _routable(value):
            self.add(value)
        else:
            self.result.unroutable[value.value] = None

    def add(self, value: Value) -> None:
        if len(value.value) > MAX_VALUE:
            self.result.too_long += 1
        else:
            self.result.found.setdefault((value.kind, value.value), value)


def _trim_url(text: str) -> str:
    """A URL without the sentence around it: trailing punctuation, unbalanced brackets."""
    while text:
        last = text[-1]
        if last in _TRIM or (last in _OPENERS and text.count(last) > text.count(_OPENERS[last])):
            text = text[:-1]
        else:
            break
    return text


def _host(url: str) -> str:
    netloc = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0] if netloc.count(":") == 1 else netloc


def _routable(value: Value) -> bool:
    """Globally routable unicast, from the first address of a network to the last."""
    network = ipaddress.ip_network(value.value)
    ends = (network.network_address, network.broadcast_address)
    return all(end.is_global and not end.is_multicast for end in ends)


# Indicators and the upload's report


@dataclass(frozen=True)
class Item:
    """A value to share, with what the uploader said about it."""

    value: Value
    description: str | None = None


def indicator_id(owner_org_id: uuid.UUID, value: Value) -> str:
    """The same value from the same organisation always gets the same indicator id."""
    return f"indicator--{uuid.uuid5(NAMESPACE, f'{owner_org_id}:{value.kind.value}:{value.value}')}"


_PATTERNS = {
    ValueKind.IPV4: "ipv4-addr:value",
    ValueKind.IPV6: "ipv6-addr:value",
    ValueKind.DOMAIN: "domain-name:value",
    ValueKind.URL: "url:value",
    ValueKind.EMAIL: "email-addr:value",
    ValueKind.MD5: "file:hashes.MD5",
    ValueKind.SHA1: "file:hashes.'SHA-1'",
    ValueKind.SHA256: "file:hashes.'SHA-256'",
}


def pattern_of(value: Value) -> str:
    """The STIX pattern that matches a value."""
    if value.kind == ValueKind.ASN:
        return f"[autonomous-system:number = {value.value.removeprefix('AS')}]"
    literal = value.value.replace("\\", "\\\\").replace("'", "\\'")
    if value.kind == ValueKind.CIDR:
        family = "ipv6-addr" if ":" in value.value else "ipv4-addr"
        return f"[{family}:value ISSUBSET '{literal}']"
    return f"[{_PATTERNS[value.kind]} = '{literal}']"


def _timestamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def stix_objects(
    session: Session, *, owner: uuid.UUID, items: Sequence[Item], report_name: str, about: str
) -> list[dict[str, Any]]:
    """An indicator per value (the one already held, when nothing changed) and a report."""
    now = utcnow()
    stamp = _timestamp(now)
    ids = [indicator_id(owner, item.value) for item in items]
    held = _held(session, owner, ids)
    objects: list[dict[str, Any]] = []
    for stix_id, item in zip(ids, items, strict=True):
        old = held.get(stix_id)
        if old is not None and item.description in (None, old.get("description")):
            objects.append(old)  # the same version again: "already present"
        elif old is not None:
            later = max(now, parse_timestamp(old["modified"]) + timedelta(milliseconds=1))
            objects.append({**old, "modified": _timestamp(later), "description": item.description})
        else:
            objects.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": stix_id,
                    "created": stamp,
                    "modified": stamp,
                    "name": item.value.value,
                    "pattern": pattern_of(item.value),
                    "pattern_type": "stix",
                    "valid_from": stamp,
                    **({"description": item.description} if item.description else {}),
                }
            )
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "name": report_name,
        "description": about,
        "report_types": ["indicator"],
        "published": stamp,
        "object_refs": ids,
    }
    return [*objects, report]


def _held(session: Session, owner: uuid.UUID, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The latest version of those indicators the owner already holds."""
    held: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(StixObject).where(
                StixObject.owner_org_id == owner,
                StixObject.stix_id.in_(ids[start : start + 500]),
                StixObject.is_latest.is_(True),
            )
        )
        held.update((row.stix_id, dict(row.data)) for row in rows)
    return held


def decode(data: bytes, where: str) -> str:
    """An upload's text; `where` locates the problem when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed.one(where, f"not UTF-8 text (byte {exc.start + 1})") from None


def report_name(filename: str | None, what: str) -> str:
    """The name of an upload's report: the file's, or what it was and when."""
    return filename or f"{what} import {utcnow():%Y-%m-%d %H:%M} UTC"


def import_text(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    marking: Marking,
    filename: str | None = None,
    progress: Progress | None = None,
) -> IntelImport:
    """Import the indicators found in free text (see extract), with a report of the upload."""
    owner = check_upload(session, actor=actor, marking=marking)
    found = scan(decode(data, "text"))
    if not found.values:
        raise ValidationFailed.one("text", "no indicator found in the text")
    objects = stix_objects(
        session,
        owner=owner,
        items=[Item(value) for value in found.values],
        report_name=report_name(filename, "Text"),
        about="Indicators extracted from free text.",
    )
    return import_objects(
        session,
        actor=actor,
        owner=owner,
        objects=objects,
        marking=marking,
        fmt=ImportFormat.TEXT,
        filename=filename,
        progress=progress,
        not_mapped=found.notes(),
    )
