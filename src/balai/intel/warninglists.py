"""MISP warninglists: values that must not alert or correlate (benign, popular, reserved).

The lists come with the pymispwarninglists package (no download at run time) and are loaded
into the database by `balai warninglists load`: two million entries are too many to hold in
every web process, while an indexed table answers "is this value listed?" in one query.
Network lists are small, so their ranges are also kept in memory, per process, for fast
"is this address inside a listed network" tests.
"""

from __future__ import annotations

import bisect
import importlib.util
import ipaddress
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from balai.db import SessionFactory, transaction, utcnow
from balai.intel.models import ValueKind, Warninglist, WarninglistEntry
from balai.intel.observables import Value, domain_value, ip_value, parents

Progress = Callable[[int, int], None]
BATCH = 20_000

# MISP attribute types a list declares it applies to, in Balai's value kinds.
MISP_TYPES: dict[str, tuple[ValueKind, ...]] = {
    "ip-src": (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR),
    "ip-dst": (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR),
    "ip-src|port": (ValueKind.IPV4, ValueKind.IPV6),
    "ip-dst|port": (ValueKind.IPV4, ValueKind.IPV6),
    "domain|ip": (ValueKind.DOMAIN, ValueKind.IPV4, ValueKind.IPV6),
    "domain": (ValueKind.DOMAIN,),
    "hostname": (ValueKind.DOMAIN,),
    "hostname|port": (ValueKind.DOMAIN,),
    "url": (ValueKind.URL,),
    "uri": (ValueKind.URL,),
    "email-src": (ValueKind.EMAIL,),
    "email-dst": (ValueKind.EMAIL,),
    "target-email": (ValueKind.EMAIL,),
    "whois-registrant-email": (ValueKind.EMAIL,),
    "md5": (ValueKind.MD5,),
    "filename|md5": (ValueKind.MD5,),
    "sha1": (ValueKind.SHA1,),
    "filename|sha1": (ValueKind.SHA1,),
    "sha256": (ValueKind.SHA256,),
    "filename|sha256": (ValueKind.SHA256,),
    "AS": (ValueKind.ASN,),
}
SUPPORTED_TYPES = ("string", "hostname", "cidr", "substring", "regex")


@dataclass(frozen=True)
class Hit:
    """A value found on a warninglist."""

    list_name: str
    matched: str


def _kinds(raw: dict[str, Any]) -> list[str]:
    declared = raw.get("matching_attributes") or []
    kinds = {kind.value for t in declared for kind in MISP_TYPES.get(t, ())}
    return sorted(kinds) if declared else [k.value for k in ValueKind]


def _entries(kind: str, items: Iterable[str]) -> Iterator[dict[str, str | None]]:
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if kind == "cidr":
            network = ip_value(text)
            if network is not None:
                yield {
                    "value": network.value,
                    "ip_first": network.ip_first,
                    "ip_last": network.ip_last,
                }
            continue
        if kind in ("string", "hostname"):
            # Balai's values are lower case; ".example.com" in MISP lists means the domain too.
            text = text.lstrip(".").lower()
        yield {"value": text[:2048], "ip_first": None, "ip_last": None}


# A small, fast set for the demo: reserved networks, resolvers, popular sites, benign hashes.
DEMO_LISTS = (
    "rfc1918",
    "rfc5735",
    "rfc6598",
    "rfc3849",
    "rfc6761",
    "ipv6-linklocal",
    "multicast",
    "public-dns-v4",
    "public-dns-v6",
    "tranco10k",
    "cisco_top1000",
    "empty-hashes",
    "eicar.com",
    "disposable-email",
    "url-shortener",
    "dynamic-dns",
    "sinkholes",
    "cloudflare",
)


def package_lists(folders: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The warninglists shipped in the pymispwarninglists package, read straight from its
    data (all of them, or those in the named folders), without building its search objects."""
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or spec.origin is None:
        raise RuntimeError("the pymispwarninglists package is not installed")
    root = Path(spec.origin).parent / "data" / "misp-warninglists" / "lists"
    paths = (
        sorted(root.glob("*/list.json"))
        if folders is None
        else [root / folder / "list.json" for folder in folders]
    )
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths if path.exists()]


def load(
    factory: SessionFactory,
    *,
    lists: Iterable[dict[str, Any]] | None = None,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Replace the stored warninglists with the package's (or the given) lists.

    Each list, and each batch of its entries, is committed on its own, so that a long load
    never holds the database for long (SQLite has one writer); a list being replaced is
    briefly incomplete, which only means a value may alert that soon would not.
    """
    if lists is None:
        lists = package_lists()
    wanted = set(only) if only is not None else None
    chosen = [
        raw
        for raw in lists
        if raw.get("type") in SUPPORTED_TYPES and (wanted is None or raw["name"] in wanted)
    ]
    total = sum(len(raw.get("list", [])) for raw in chosen)
    done = 0
    for raw in chosen:
        list_id = _reset_list(factory, raw)
        rows = [dict(entry, list_id=list_id) for entry in _entries(raw["type"], raw["list"])]
        for start in range(0, len(rows), BATCH):
            with transaction(factory) as session:
                session.execute(insert(WarninglistEntry), rows[start : start + BATCH])
        with transaction(factory) as session:
            listed = session.get(Warninglist, list_id)
            assert listed is not None  # created by _reset_list above
            listed.entries = len(rows)
            listed.loaded_at = utcnow()
        done += len(raw.get("list", []))
        if progress is not None:
            progress(done, total)
    if wanted is None:
        names = [raw["name"][:300] for raw in chosen]
        with transaction(factory) as session:
            gone = select(Warninglist.id).where(Warninglist.name.not_in(names))
            session.execute(delete(WarninglistEntry).where(WarninglistEntry.list_id.in_(gone)))
            session.execute(delete(Warninglist).where(Warninglist.name.not_in(names)))
    _CACHE.forget()
    return len(chosen)


def _reset_list(factory: SessionFactory, raw: dict[str, Any]) -> int:
    """Create or refresh a list's row and empty it; return its id."""
    name = raw["name"][:300]
    with transaction(factory) as session:
        listed = session.scalar(select(Warninglist).where(Warninglist.name == name))
        if listed is None:
            listed = Warninglist(name=name, entries=0)
            session.add(listed)
        listed.description = raw.get("description")
        listed.type = raw["type"]
        listed.version = int(raw.get("version", 0))
        listed.kinds = _kinds(raw)
        session.flush()
        session.execute(delete(WarninglistEntry).where(WarninglistEntry.list_id == listed.id))
        return listed.id


def stored(session: Session) -> list[Warninglist]:
    """The loaded lists, by name."""
    return list(session.scalars(select(Warninglist).order_by(Warninglist.name)))


@dataclass
class _Ranges:
    """Listed networks per list, merged and sorted, for bisecting."""

    token: tuple[int, Any] | None = None
    lists: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    patterns: list[tuple[str, str, frozenset[str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forget(self) -> None:
        with self.lock:
            self.token = None

    def current(self, session: Session) -> _Ranges:
        token = tuple(session.execute(select(func.count(), func.max(Warninglist.loaded_at))).one())
        with self.lock:
            if token != self.token:
                self._build(session)
                self.token = token  # type: ignore[assignment]  # (count, max loaded_at)
        return self

    def _build(self, session: Session) -> None:
        spans: dict[str, list[tuple[int, int]]] = {}
        rows = session.execute(
            select(Warninglist.name, WarninglistEntry.ip_first, WarninglistEntry.ip_last)
            .join(Warninglist, Warninglist.id == WarninglistEntry.list_id)
            .where(Warninglist.type == "cidr", WarninglistEntry.ip_first.is_not(None))
        )
        for name, first, last in rows:
            if first is not None and last is not None:
                spans.setdefault(name, []).append((int(first, 16), int(last, 16)))
        self.lists = {name: _merge(items) for name, items in spans.items()}
        grouped: dict[tuple[str, str, frozenset[str]], list[str]] = {}
        for name, kind, declared, value in session.execute(
            select(Warninglist.name, Warninglist.type, Warninglist.kinds, WarninglistEntry.value)
            .join(Warninglist, Warninglist.id == WarninglistEntry.list_id)
            .where(Warninglist.type.in_(["substring", "regex"]))
        ):
            if value:
                grouped.setdefault((name, kind, frozenset(declared)), []).append(value)
        self.patterns = []
        for (name, kind, kinds), items in grouped.items():
            if kind == "substring":
                # One trie-shaped regex per list: thousands of substrings in one pass.
                self.patterns.append((name, kind, kinds, re.compile(_trie_pattern(items))))
                continue
            for item in items:
                compiled = _regex(item)
                if compiled is not None:
                    self.patterns.append((name, kind, kinds, compiled))


def _merge(items: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    items.sort()
    starts: list[int] = []
    ends: list[int] = []
    for first, last in items:
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _trie_pattern(words: list[str]) -> str:
    """A regex matching any of the words, shaped as a trie so that it runs in one pass."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        optional = "" in node
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and not optional else f"(?:{'|'.join(branches)})"
        return f"{body}?" if optional else body

    return render(trie)


def _regex(text: str | None) -> re.Pattern[str] | None:
    """A MISP /pattern/flags regex, compiled; None when Python cannot read it."""
    if not text or not text.startswith("/"):
        return None
    body, _, flags = text[1:].rpartition("/")
    try:
        return re.compile(body, re.I if "i" in flags else 0)
    except re.error:
        return None


_CACHE = _Ranges()


def _ip_text(number: int) -> str:
    address = ipaddress.IPv6Address(number)
    return str(address.ipv4_mapped or address)


def _candidates(value: Value) -> list[tuple[str, bool]]:
    """Strings to look up for a value, each flagged whether only hostname lists may match."""
    if value.kind == ValueKind.DOMAIN:
        return [(value.value, False)] + [(p, True) for p in parents(value.value)]
    if value.kind == ValueKind.URL:
        # Stored URLs are normalised already: the host is between :// and the next /.
        host = value.value.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
        domain = domain_value(host.split(":")[0]) if not host.startswith("[") else None
        names = [domain.value, *parents(domain.value)] if domain else []
        return [(value.value, False)] + [(n, True) for n in names]
    return [(value.value, False)]


def check(session: Session, values: Iterable[Value]) -> dict[tuple[ValueKind, str], list[Hit]]:
    """Which values are on which warninglists (only lists that apply to the value's kind)."""
    wanted = list({(v.kind, v.value): v for v in values}.values())
    found: dict[tuple[ValueKind, str], list[Hit]] = {}
    lookups: dict[str, list[tuple[Value, bool]]] = {}
    for value in wanted:
        for text, hostname_only in _candidates(value):
            lookups.setdefault(text, []).append((value, hostname_only))
    texts = list(lookups)
    for start in range(0, len(texts), 500):
        rows = session.execute(
            select(WarninglistEntry.value, Warninglist.name, Warninglist.type, Warninglist.kinds)
            .join(Warninglist, Warninglist.id == WarninglistEntry.list_id)
            .where(
                WarninglistEntry.value.in_(texts[start : start + 500]),
                Warninglist.type.in_(["string", "hostname", "cidr"]),
            )
        )
        for entry, name, kind, kinds in rows:
            for value, hostname_only in lookups.get(entry or "", []):
                if value.kind.value not in kinds or (hostname_only and kind != "hostname"):
                    continue
                found.setdefault((value.kind, value.value), []).append(Hit(name, entry or ""))
    ranges = _CACHE.current(session)
    for value in wanted:
        hits = found.setdefault((value.kind, value.value), [])
        if value.ip_first is not None and value.ip_last is not None:
            first, last = int(value.ip_first, 16), int(value.ip_last, 16)
            for name, (starts, ends) in ranges.lists.items():
                index = bisect.bisect_right(starts, first) - 1
                if index >= 0 and ends[index] >= last and all(h.list_name != name for h in hits):
                    hits.append(Hit(name, f"{_ip_text(starts[index])} to {_ip_text(ends[index])}"))
        for name, kind, applies, matcher in ranges.patterns:
            if value.kind.value not in applies or any(h.list_name == name for h in hits):
                continue
            match = matcher.search(value.value)
            if match:
                hits.append(Hit(name, match.group(0) if kind == "substring" else matcher.pattern))
    return {key: hits for key, hits in found.items() if hits}
