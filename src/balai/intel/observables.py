"""Normalised observable values: refang, classify, normalise, and pull them out of STIX.

Every value is stored in one canonical form (lower-case domains and hashes, compressed IP
addresses, URLs with lower-case scheme and host and no default port), so that search,
correlation and de-duplication compare like with like.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from balai.intel.models import ValueKind

_DEFANG = [
    (re.compile(r"h(?:xx|XX)p(s?)(?=://|\[://\]|\[:\]//)", re.I), r"http\1"),
    (re.compile(r"\[(?:\.|dot)\]|\((?:\.|dot)\)|\{(?:\.|dot)\}|\s\[?dot\]?\s", re.I), "."),
    (re.compile(r"\[:\]"), ":"),
    (re.compile(r"\[://\]"), "://"),
    (re.compile(r"\[(?:@|at)\]|\((?:@|at)\)|\s\[?at\]?\s", re.I), "@"),
    (re.compile(r"\[/\]"), "/"),
]
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.I)
HASH_KINDS = {32: ValueKind.MD5, 40: ValueKind.SHA1, 64: ValueKind.SHA256}
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


@dataclass(frozen=True)
class Value:
    """A normalised value, with its IP bounds when it is an address or a network."""

    kind: ValueKind
    value: str
    ip_first: str | None = None
    ip_last: str | None = None


def reversed_domain(domain: str) -> str:
    """A domain's labels in reverse order: www.example.org gives org.example.www."""
    return ".".join(reversed(domain.split(".")))


def refang(text: str) -> str:
    """Undo the usual defanging: hxxp, [.], (dot), [:], [at]."""
    for pattern, replacement in _DEFANG:
        text = pattern.sub(replacement, text)
    return text


def _ip_hex(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """32 hex digits; IPv4 as IPv4-mapped IPv6, so one range test serves both families."""
    if isinstance(address, ipaddress.IPv4Address):
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


def ip_value(raw: str) -> Value | None:
    """An address or a network; a /32 (or /128) network is an address."""
    try:
        network = ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError:
        return None
    if network.num_addresses == 1:
        address = network.network_address
        kind = ValueKind.IPV4 if address.version == 4 else ValueKind.IPV6
        return Value(kind, str(address), _ip_hex(address), _ip_hex(address))
    return Value(
        ValueKind.CIDR,
        str(network),
        _ip_hex(network.network_address),
        _ip_hex(network.broadcast_address),
    )


def domain_value(raw: str) -> Value | None:
    """A host name with at least two labels and an alphabetic (or IDNA) top-level label."""
    name = raw.strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    top = labels[-1]
    if not (top.isalpha() or top.startswith("xn--")):
        return None
    return Value(ValueKind.DOMAIN, name)


def url_value(raw: str) -> Value | None:
    """A URL with lower-case scheme and host, no default port, no fragment."""
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return None
    host = parts.hostname
    if ip_value(host) is None:
        domain = domain_value(host)
        if domain is None:
            return None
        host = domain.value
    elif ":" in host:
        host = f"[{ipaddress.IPv6Address(host.split('%')[0]).compressed}]"
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    # The whole userinfo, password included: credentials in a URL are part of the indicator.
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    path = parts.path or "/"
    return Value(ValueKind.URL, urlunsplit((scheme, netloc, path, parts.query, "")))


def email_value(raw: str) -> Value | None:
    """An e-mail address, lower-cased."""
    local, at, host = raw.strip().lower().rpartition("@")
    if not at or not local or " " in local or domain_value(host) is None:
        return None
    return Value(ValueKind.EMAIL, f"{local}@{host}")


def hash_value(raw: str, kind: ValueKind | None = None) -> Value | None:
    """An MD5, SHA-1 or SHA-256 as lower-case hex."""
    text = raw.strip()
    if not _HEX.match(text):
        return None
    found = HASH_KINDS.get(len(text))
    if found is None or (kind is not None and kind != found):
        return None
    return Value(found, text.lower())


def asn_value(raw: str | int) -> Value | None:
    """An autonomous system number, as AS15169."""
    found = _ASN.match(str(raw).strip())
    if not found or int(found.group(1)) > 4294967295:
        return None
    return Value(ValueKind.ASN, f"AS{int(found.group(1))}")


def classify(raw: str) -> Value | None:
    """Recognise one token as analysts write it, defanged or not; None when it is none."""
    text = refang(raw.strip().strip("'\"<>,;"))
    if not text:
        return None
    if "://" in text:
        return url_value(text)
    if "@" in text:
        return email_value(text)
    if _HEX.match(text):
        return hash_value(text)
    if text.upper().startswith("AS") and text[2:].isdigit():
        return asn_value(text)
    return ip_value(text) or domain_value(text)


def normalise(kind: ValueKind, raw: str) -> Value | None:
    """A value of a known kind in its canonical form."""
    if kind in (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR):
        return ip_value(raw)
    if kind == ValueKind.DOMAIN:
        return domain_value(raw)
    if kind == ValueKind.URL:
        return url_value(refang(raw))
    if kind == ValueKind.EMAIL:
        return email_value(raw)
    if kind == ValueKind.ASN:
        return asn_value(raw)
    return hash_value(raw, kind)


# STIX

_SCO_VALUE = {
    "ipv4-addr": ValueKind.IPV4,
    "ipv6-addr": ValueKind.IPV6,
    "domain-name": ValueKind.DOMAIN,
    "url": ValueKind.URL,
    "email-addr": ValueKind.EMAIL,
}
_HASH_NAMES = {
    "MD5": ValueKind.MD5,
    "SHA-1": ValueKind.SHA1,
    "SHA-256": ValueKind.SHA256,
    "SHA1": ValueKind.SHA1,
    "SHA256": ValueKind.SHA256,
}
# Equality (and, for networks, ISSUBSET) comparisons, read without the full pattern grammar:
# the ANTLR parser costs about a millisecond a pattern, too slow for a million indicators.
_STEP = r"(?:[a-z0-9_-]+|'[^']+')(?:\[(?:\*|\d+)\])?"  # a property, maybe a list index
_COMPARISON = re.compile(
    rf"([a-z0-9-]+):({_STEP}(?:\.{_STEP})*)\s*(=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'",
    re.I,
)

# The value of an object reached through a reference: an address, a domain or an e-mail address.
_REF_VALUE = re.compile(r"_ref\.value$|_refs\[(?:\*|\d+)\]\.value$")


def _comparison(obj_type: str, path: str, value: str) -> Value | None:
    path = path.replace("'", "")
    if path == "value" and obj_type in _SCO_VALUE:
        return normalise(_SCO_VALUE[obj_type], value)
    if obj_type == "file" and path.startswith("hashes."):
        kind = _HASH_NAMES.get(path.removeprefix("hashes.").upper())
        return hash_value(value, kind) if kind else None
    if obj_type == "autonomous-system" and path == "number":
        return asn_value(value)
    if _REF_VALUE.search(path):  # network-traffic:dst_ref.value, domain-name:resolves_to_refs[*]
        return email_value(value) if "@" in value else ip_value(value) or domain_value(value)
    return None


def from_pattern(pattern: str) -> list[Value]:
    """The values an indicator's STIX pattern compares for equality (or subset, for CIDRs)."""
    found = []
    # A negated test ("value NOT = 'x'") puts NOT before the operator, so it never matches.
    for obj_type, path, _op, literal in _COMPARISON.findall(pattern):
        value = _comparison(obj_type.lower(), path, re.sub(r"\\([\\'])", r"\1", literal))
        if value is not None:
            found.append(value)
    for number in re.findall(r"autonomous-system:number\s*=\s*(\d+)", pattern):
        found.append(Value(ValueKind.ASN, f"AS{int(number)}"))
    return found


def from_stix(obj: dict[str, Any]) -> list[Value]:
    """The values a STIX object carries: an observable's own, or an indicator's pattern's."""
    kind = obj.get("type")
    if kind == "indicator" and obj.get("pattern_type", "stix") == "stix":
        return _unique(from_pattern(str(obj.get("pattern", ""))))
    if kind in _SCO_VALUE and isinstance(obj.get("value"), str):
        value = normalise(_SCO_VALUE[kind], obj["value"])
        return [value] if value else []
    if kind == "file" and isinstance(obj.get("hashes"), dict):
        return _unique(
            v
            for name, raw in obj["hashes"].items()
            if (k := _HASH_NAMES.get(name.upper()))
            and isinstance(raw, str)
            and (v := hash_value(raw, k))
        )
    if kind == "autonomous-system" and obj.get("number") is not None:
        value = asn_value(obj["number"])
        return [value] if value else []
    return []


def _unique(values: Iterable[Value]) -> list[Value]:
    seen: dict[tuple[ValueKind, str], Value] = {}
    for value in values:
        seen.setdefault((value.kind, value.value), value)
    return list(seen.values())


def parents(domain: str) -> Iterator[str]:
    """The registrable parents of a domain: a.b.evil.com gives b.evil.com and evil.com."""
    labels = domain.split(".")
    for start in range(1, len(labels) - 1):
        yield ".".join(labels[start:])
