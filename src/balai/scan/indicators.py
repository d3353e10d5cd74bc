"""Indicator files a scan can use: plain lists, type<TAB>value lists, STIX 2.1 bundles and MISP
feed folders (or single MISP events), each read all-or-nothing into an ``IndicatorSet``.

A plain list guesses each value's type and skips (and counts) what is no indicator, such as the
path trails in maltrail's lists; a typed list or a structured file refuses the whole file on
the first bad entry, saying where it is.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balai.intel.models import ValueKind
from balai.intel.observables import Value, classify, from_stix, normalise, refang, url_value
from balai.intel.warninglists import MISP_TYPES, package_lists
from balai.scan.matcher import IndicatorSet

# Type names accepted in a type<TAB>value list: Balai's kinds, STIX's and MISP's names.
TYPE_NAMES: dict[str, ValueKind] = {
    **{kind.value: kind for kind in ValueKind if kind != ValueKind.ASN},
    "ipv4-addr": ValueKind.IPV4,
    "ipv6-addr": ValueKind.IPV6,
    "ip": ValueKind.IPV4,
    "domain-name": ValueKind.DOMAIN,
    "hostname": ValueKind.DOMAIN,
    "email-addr": ValueKind.EMAIL,
    "sha-1": ValueKind.SHA1,
    "sha-256": ValueKind.SHA256,
    **{name: kinds[0] for name, kinds in MISP_TYPES.items() if "|" not in name and name != "AS"},
}
EXAMPLES = 5
_IP, _DOMAIN = ValueKind.IPV4, ValueKind.DOMAIN  # normalise() reads any address for IPV4
# MISP attribute types a scan uses, as the kind of each "|"-separated part (None: not used).
MISP_KINDS: dict[str, tuple[ValueKind | None, ...]] = {
    "ip-src": (_IP,),
    "ip-dst": (_IP,),
    "ip-src|port": (_IP, None),
    "ip-dst|port": (_IP, None),
    "domain": (_DOMAIN,),
    "hostname": (_DOMAIN,),
    "hostname|port": (_DOMAIN, None),
    "domain|ip": (_DOMAIN, _IP),
    "url": (ValueKind.URL,),
    "email": (ValueKind.EMAIL,),
    "email-src": (ValueKind.EMAIL,),
    "email-dst": (ValueKind.EMAIL,),
    "md5": (ValueKind.MD5,),
    "sha1": (ValueKind.SHA1,),
    "sha256": (ValueKind.SHA256,),
    "filename|md5": (None, ValueKind.MD5),
    "filename|sha1": (None, ValueKind.SHA1),
    "filename|sha256": (None, ValueKind.SHA256),
}


class IndicatorError(Exception):
    """An indicator file that cannot be used, with the place of the first problem."""


@dataclass(frozen=True)
class Info:
    """What is known of an indicator beyond its value: shown with its hits."""

    stix_id: str | None = None
    name: str | None = None
    tlp: str | None = None
    score: float | None = None
    reports: str | None = None  # the reports that hold it, "; " between names


@dataclass
class Loaded:
    """Indicators ready to scan with, and what loading them set aside."""

    indicators: IndicatorSet
    source: str
    values: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    warninglisted: int = 0
    warninglisted_examples: list[str] = field(default_factory=list)
    info: dict[tuple[ValueKind, str], list[Info]] = field(default_factory=dict)
    lookup: Callable[[ValueKind, str], list[Info]] | None = None

    def describe(self, kind: ValueKind, value: str) -> list[Info]:
        """What is known of one matched indicator."""
        if self.lookup is not None:
            return self.lookup(kind, value)
        return self.info.get((kind, value), [])


@dataclass
class _Entry:
    value: Value
    info: Info | None = None
    any_scheme: bool = False


class Benign:
    """The MISP warninglists shipped with pymispwarninglists, for values that must not alert.

    String and hostname lists are exact look-ups. Not parents: a popular parent (a hosting
    provider's domain) does not make its customers' subdomains benign. Network lists are prefix
    tables; substring and regex lists are not used.
    """

    def __init__(self, lists: Iterable[dict[str, Any]]) -> None:
        self.strings: dict[str, list[tuple[str, frozenset[str]]]] = {}
        self.hostnames: dict[str, str] = {}
        self.networks: dict[tuple[int, int], dict[int, str]] = {}
        for raw in lists:
            name = str(raw.get("name", "?"))
            kind = raw.get("type")
            declared = raw.get("matching_attributes") or []
            kinds = frozenset(k.value for t in declared for k in MISP_TYPES.get(t, ()))
            for item in raw.get("list", []):
                text = str(item).strip().lstrip(".").lower()
                if kind == "string" and text:
                    self.strings.setdefault(text, []).append((name, kinds))
                elif kind == "hostname" and text:
                    self.hostnames.setdefault(text, name)
                elif kind == "cidr":
                    self._network(text, name)

    def _network(self, text: str, name: str) -> None:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return
        shift = network.max_prefixlen - network.prefixlen
        table = self.networks.setdefault((network.version, network.prefixlen), {})
        table.setdefault(int(network.network_address) >> shift, name)

    def check(self, value: Value) -> str | None:
        """The name of a list the value is on, or None."""
        for name, kinds in self.strings.get(value.value, ()):
            if not kinds or value.kind.value in kinds:
                return name
        host = _host(value)
        if host is not None and host in self.hostnames:
            return self.hostnames[host]
        if value.kind in (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR):
            return self._inside(value.value)
        return None

    def _inside(self, text: str) -> str | None:
        network = ipaddress.ip_network(text, strict=False)
        number = int(network.network_address)
        for (version, length), table in self.networks.items():
            if version != network.version or length > network.prefixlen:
                continue
            found = table.get(number >> (network.max_prefixlen - length))
            if found is not None:
                return found
        return None


def _host(value: Value) -> str | None:
    if value.kind == ValueKind.DOMAIN:
        return value.value
    if value.kind == ValueKind.EMAIL:
        return value.value.rpartition("@")[2]
    if value.kind == ValueKind.URL:
        host = value.value.split("://", 1)[-1].split("/", 1)[0].rpartition("@")[2]
        return None if host.startswith("[") else host.split(":")[0]
    return None


# The warninglists whose entries are benign wherever they appear in a log: reserved and
# documentation networks, public resolvers, very popular sites, empty-file hashes, known false
# positives. Lists of infrastructure that attackers use too (dynamic DNS, VPNs, cloud and
# hosting ranges, URL shorteners, sinkholes) only inform an analyst; they must not hide a hit.
SCAN_LISTS = (
    "rfc1918",
    "rfc5735",
    "rfc6598",
    "rfc3849",
    "rfc6761",
    "ipv6-linklocal",
    "multicast",
    "public-dns-v4",
    "public-dns-v6",
    "public-dns-hostname",
    "tranco10k",
    "cisco_top1000",
    "moz-top500",
    "empty-hashes",
    "nioc-filehash",
    "common-ioc-false-positive",
    "ti-falsepositives",
    "crl-hostname",
    "crl-ip",
    "whats-my-ip",
    "captive-portals",
    "security-provider-blogpost",
    "automated-malware-analysis",
)
_BENIGN: Benign | None = None


def benign() -> Benign:
    """The scan's warninglists (``SCAN_LISTS``), read once per process."""
    global _BENIGN
    if _BENIGN is None:
        _BENIGN = Benign(package_lists(SCAN_LISTS))
    return _BENIGN


def build(
    entries: Iterable[_Entry],
    source: str,
    *,
    include_warninglisted: bool = False,
    keep_info: bool = True,
) -> Loaded:
    """An indicator set from entries, less the warninglisted ones unless asked for."""
    loaded = Loaded(IndicatorSet(), source)
    check = None if include_warninglisted else benign().check
    seen: set[tuple[ValueKind, str]] = set()
    for entry in entries:
        value = entry.value
        key = (value.kind, value.value)
        if entry.info is not None and keep_info:
            loaded.info.setdefault(key, []).append(entry.info)
        if key in seen or value.kind == ValueKind.ASN:
            continue
        seen.add(key)
        listed = check(value) if check is not None else None
        if listed is not None:
            loaded.warninglisted += 1
            if len(loaded.warninglisted_examples) < EXAMPLES:
                loaded.warninglisted_examples.append(f"{value.value} ({listed})")
            continue
        loaded.indicators.add(value, any_scheme=entry.any_scheme)
        loaded.values += 1
    return loaded


def load_file(path: Path, *, include_warninglisted: bool = False) -> Loaded:
    """Read an indicator file or MISP feed folder, whatever its format."""
    if path.is_dir():
        return build(_misp_feed(path), str(path), include_warninglisted=include_warninglisted)
    if not path.is_file():
        raise IndicatorError(f"{path}: no such file or folder")
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip()
    if head.startswith((b"{", b"[")):
        return build(_json_file(path), str(path), include_warninglisted=include_warninglisted)
    skipped: list[str] = []
    entries = list(_text_file(path, skipped))
    loaded = build(entries, str(path), include_warninglisted=include_warninglisted)
    loaded.skipped = len(skipped)
    loaded.skipped_examples = skipped[:EXAMPLES]
    return loaded


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", errors="strict") as stream:
            yield from enumerate(stream, start=1)
    except UnicodeDecodeError as error:
        raise IndicatorError(f"{path}: not UTF-8 text ({error.reason})") from error


def _text_file(path: Path, skipped: list[str]) -> Iterator[_Entry]:
    """A plain list (types guessed) or, when its lines have a tab, a type<TAB>value list."""
    typed: bool | None = None
    for number, raw in _lines(path):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if typed is None:
            typed = "\t" in line
        if typed:
            yield _typed(path, number, line)
            continue
        text = line.split("#", 1)[0].split()[0]
        value = classify(text) or _host_port(text)
        if value is not None:
            yield _Entry(value)
            continue
        url = _schemeless_url(text)
        if url is not None:
            yield _Entry(url, any_scheme=True)
        else:
            skipped.append(f"line {number}: {text[:80]}")


def _schemeless_url(text: str) -> Value | None:
    """host/path, as maltrail writes URL trails."""
    host, slash, _path = refang(text).partition("/")
    if not slash or "://" in text or classify(host.split(":")[0]) is None:
        return None
    return url_value(f"http://{refang(text)}")


def _host_port(text: str) -> Value | None:
    """maltrail and others list address:port; the address is the indicator."""
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and host and ":" not in host:
        return classify(host)
    return None


def _typed(path: Path, number: int, line: str) -> _Entry:
    name, _, raw = line.partition("\t")
    kind = TYPE_NAMES.get(name.strip().lower()) or TYPE_NAMES.get(name.strip())
    if kind is None:
        raise IndicatorError(
            f"{path}, line {number}: unknown type {name.strip()!r}"
            f" (expected one of {', '.join(sorted(k.value for k in ValueKind))})"
        )
    value = normalise(kind, raw.strip().split("\t")[0])
    if value is None:
        raise IndicatorError(f"{path}, line {number}: {raw.strip()[:80]!r} is not a valid {kind}")
    return _Entry(value)


def _json_file(path: Path) -> Iterator[_Entry]:
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndicatorError(f"{path}: not valid JSON ({error})") from error
    if isinstance(document, dict) and document.get("type") == "bundle":
        yield from _stix_bundle(path, document)
    elif isinstance(document, dict) and isinstance(document.get("Event"), dict):
        yield from _misp_event(path, document["Event"])
    else:
        raise IndicatorError(f"{path}: neither a STIX 2.1 bundle nor a MISP event")


def _stix_bundle(path: Path, bundle: dict[str, Any]) -> Iterator[_Entry]:
    objects = bundle.get("objects")
    if not isinstance(objects, list):
        raise IndicatorError(f"{path}: the bundle has no objects list")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise IndicatorError(f"{path}: objects[{index}] is not a STIX object")
        if obj["type"] != "indicator" or obj.get("revoked"):
            continue
        if not isinstance(obj.get("pattern"), str):
            raise IndicatorError(f"{path}: objects[{index}] ({obj.get('id')}) has no pattern")
        info = Info(obj.get("id"), obj.get("name"), _stix_tlp(obj))
        for value in from_stix(obj):
            yield _Entry(value, info)


_TLP_REFS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
}


def _stix_tlp(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("object_marking_refs") or []:
        if ref in _TLP_REFS:
            return _TLP_REFS[ref]
    return None


def _misp_feed(folder: Path) -> Iterator[_Entry]:
    """A MISP feed: manifest.json naming the events, one <uuid>.json file each."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise IndicatorError(f"{folder}: no manifest.json, so not a MISP feed folder")
    try:
        names = json.loads(manifest.read_bytes())
    except json.JSONDecodeError as error:
        raise IndicatorError(f"{manifest}: not valid JSON ({error})") from error
    if not isinstance(names, dict):
        raise IndicatorError(f"{manifest}: expected an object of event uuids")
    for uuid in sorted(names):
        path = folder / f"{uuid}.json"
        if not path.is_file():
            raise IndicatorError(f"{manifest}: names event {uuid}, but {path.name} is missing")
        yield from _json_file(path)


def _misp_event(path: Path, event: dict[str, Any]) -> Iterator[_Entry]:
    """Attributes marked for detection (to_ids), in the event and in its objects."""
    tlp = next(
        (
            str(tag.get("name", "")).lower().removeprefix("tlp:")
            for tag in event.get("Tag") or []
            if isinstance(tag, dict) and str(tag.get("name", "")).lower().startswith("tlp:")
        ),
        None,
    )
    attributes = list(event.get("Attribute") or [])
    for obj in event.get("Object") or []:
        if isinstance(obj, dict):
            attributes.extend(obj.get("Attribute") or [])
    for index, attribute in enumerate(attributes):
        if not isinstance(attribute, dict):
            raise IndicatorError(f"{path}: Attribute[{index}] is not an object")
        if not _true(attribute.get("to_ids")):
            continue
        misp_type = str(attribute.get("type", ""))
        raw = str(attribute.get("value", ""))
        for kind, text in _misp_values(misp_type, raw):
            value = normalise(kind, text)
            if value is not None:
                info = Info(None, str(event.get("info") or "") or None, tlp)
                yield _Entry(value, info)


def _true(flag: Any) -> bool:
    return flag is True or str(flag).lower() in ("1", "true")


def _misp_values(misp_type: str, raw: str) -> Iterator[tuple[ValueKind, str]]:
    kinds = MISP_KINDS.get(misp_type)
    if kinds is None:
        return
    parts = raw.split("|") if "|" in misp_type else [raw]
    for kind, part in zip(kinds, parts, strict=False):
        if kind is not None:
            yield kind, part
