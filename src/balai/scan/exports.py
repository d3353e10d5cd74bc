"""Shared indicators as the files detection engines load: Zeek, Suricata, DNS RPZ, plain lists.

Pure functions over already-normalised values (see ``balai.intel.observables``); no database.
A value that still holds whitespace or a control character is not a normalised value and is
left out of every format, so that no value can add a line or a field to a file.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from balai.intel.models import ValueKind

EXPORT_FORMATS = ("zeek", "suricata", "rpz", "text")


@dataclass(frozen=True)
class ExportItem:
    """One shared indicator value, with what a detection engine's analyst needs to see."""

    kind: ValueKind
    value: str
    stix_id: str
    name: str | None
    tlp: str
    score: float | None
    reports: tuple[str, ...] = ()  # names of the reports (and groupings) that hold it


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _one_line(text: str) -> str:
    """Control characters (tab, newline, CR and the rest) each become a space."""
    return _CONTROL.sub(" ", text).strip()


def _usable(value: str) -> bool:
    """A normalised value: not empty, no whitespace, no control character."""
    return bool(value) and not any(c.isspace() or _CONTROL.match(c) for c in value)


def _lines(values: Iterable[str]) -> bytes:
    """One value a line, each line ending in a newline (nothing at all for no values)."""
    return "".join(f"{v}\n" for v in values).encode()


# Zeek intelligence framework
# https://docs.zeek.org/en/master/frameworks/intel.html ("Loading Intelligence") and the
# input framework's ASCII reader: fields split on a single tab, a lone "-" is an unset field,
# and string fields are unescaped ("\x5c" is a backslash), so a backslash is written escaped.

ZEEK_FIELDS = ("indicator", "indicator_type", "meta.source", "meta.desc", "meta.url")

_ZEEK_TYPES = {
    ValueKind.IPV4: "Intel::ADDR",
    ValueKind.IPV6: "Intel::ADDR",
    ValueKind.CIDR: "Intel::SUBNET",
    ValueKind.DOMAIN: "Intel::DOMAIN",
    ValueKind.URL: "Intel::URL",
    ValueKind.EMAIL: "Intel::EMAIL",
    ValueKind.MD5: "Intel::FILE_HASH",
    ValueKind.SHA1: "Intel::FILE_HASH",
    ValueKind.SHA256: "Intel::FILE_HASH",
}


def _zeek_field(text: str) -> str:
    """A field Zeek reads back as the same text: one line, backslashes escaped, "-" kept."""
    field = _one_line(text).replace("\\", "\\x5c")
    if field == "-":
        return "\\x2d"  # a lone hyphen would be read as an unset field
    return field or "-"


def _describe(item: ExportItem) -> str:
    """The indicator's name, TLP and STIX id, for an analyst reading a match."""
    label = f"TLP:{_one_line(item.tlp).upper()}"
    name = _one_line(item.name or "")
    return f"{name} ({label}, {item.stix_id})" if name else f"{label}, {item.stix_id}"


def zeek_intel(items: Iterable[ExportItem], source: str) -> Iterator[str]:
    """A Zeek intel file: the #fields header, then one line per (indicator, type), sorted.

    URLs lose their scheme, as Intel::URL holds them (Zeek's HTTP and SMTP "seen" scripts
    report URLs without one). ASNs have no Zeek type and are left out. Where several items
    share an indicator and type, the first one's description is kept.
    """
    meta_source = _zeek_field(source)
    if meta_source == "-":
        raise ValueError("a Zeek intel source must not be empty")
    rows: dict[tuple[str, str], str] = {}
    for item in items:
        kind = _ZEEK_TYPES.get(item.kind)
        if kind is None or not _usable(item.value):
            continue
        indicator = item.value
        if item.kind == ValueKind.URL:
            indicator = _SCHEME.sub("", indicator)
        # Zeek matches strings without regard to case, so dedupe the same way.
        key = (kind, indicator.lower())
        if key not in rows:
            fields = (indicator, kind, source, _describe(item))
            rows[key] = "\t".join([*(_zeek_field(f) for f in fields), "-"])  # no meta.url
    yield "#fields\t" + "\t".join(ZEEK_FIELDS) + "\n"
    for key in sorted(rows):
        yield rows[key] + "\n"


# Suricata
# Datasets: https://docs.suricata.io/en/latest/rules/datasets.html (types string, md5, sha256,
# ipv4, ip; a string set's file holds each value base64-encoded, one a line; "load" is opened
# relative to the rule file). File hashes: rules/file-keywords.html (filemd5, filesha1,
# filesha256 read one hex hash a line). IP reputation: reputation/ipreputation/*.html.

SURICATA_SID_BASE = 9_700_000  # this export's rules use sids 9700000-9700099
IPREP_CATEGORY_ID = 1  # Suricata accepts category ids 0-59
IPREP_CATEGORY = "balai"
IPREP_UNKNOWN_SCORE = 64  # the middle of 1-127, for an indicator with no decay score
DOMAIN_DATASET = "balai-domains"

_HASH_FILES = {ValueKind.MD5: "md5.lst", ValueKind.SHA1: "sha1.lst", ValueKind.SHA256: "sha256.lst"}
_IP_KINDS = (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR)


def iprep_score(score: float | None) -> int:
    """A decay score 0-100 as a Suricata reputation 1-127 (0 would mean "no data")."""
    if score is None:
        return IPREP_UNKNOWN_SCORE
    return max(1, min(127, round(score * 127 / 100)))


_DATASET = f"dataset:isset,{DOMAIN_DATASET}, type string, load domains.lst"
# (sid offset, the file a rule needs, rule header, message, options)
_RULES = (
    (1, "domains.lst", "dns any any -> any any", "domain in DNS query", f"dns.query; {_DATASET}"),
    (2, "domains.lst", "tls any any -> any any", "domain in TLS SNI", f"tls.sni; {_DATASET}"),
    (3, "domains.lst", "http any any -> any any", "domain in HTTP Host", f"http.host; {_DATASET}"),
    (11, "md5.lst", "http any any -> any any", "file MD5", "filemd5:md5.lst"),
    (12, "sha1.lst", "http any any -> any any", "file SHA-1", "filesha1:sha1.lst"),
    (13, "sha256.lst", "http any any -> any any", "file SHA-256", "filesha256:sha256.lst"),
    (
        21,
        "iprep/balai.list",
        "ip $HOME_NET any -> any any",
        "IP address as destination",
        f"iprep:dst,{IPREP_CATEGORY},>,0",
    ),
    (
        22,
        "iprep/balai.list",
        "ip any any -> $HOME_NET any",
        "IP address as source",
        f"iprep:src,{IPREP_CATEGORY},>,0",
    ),
)


def _suricata_rules(source: str, files: dict[str, bytes]) -> bytes:
    """Rules that load the lists produced, one rule per buffer, each with a fixed sid."""
    lines = [
        f"# Balai indicators from {_one_line(source)}.",
        "# Keep the lists beside this file: datasets load relative to it, and",
        "# filemd5/filesha1/filesha256 from default-rule-path, so put all of them there.",
        "# iprep needs reputation-categories-file: iprep/categories.txt and",
        "# reputation-files: [iprep/balai.list] in suricata.yaml.",
    ]
    for offset, needs, header, message, options in _RULES:
        if needs in files:
            sid = SURICATA_SID_BASE + offset
            lines.append(
                f'alert {header} (msg:"BALAI listed {message}"; {options}; sid:{sid}; rev:1;)'
            )
    return _lines(lines)


def suricata_files(items: Iterable[ExportItem], source: str) -> dict[str, bytes]:
    """Suricata lists, IP reputation files and rules that load them, by file name.

    Domains form a string dataset (base64 lines). File hashes are lists of lower-case hex, the
    format of both md5/sha256 datasets and the filemd5/filesha1/filesha256 keywords; the rules
    use those keywords, since a dataset only tests a buffer, never a whole transferred file.
    SHA-1 has no dataset type, but filesha1 reads sha1.lst. Addresses and networks go into IP
    reputation with a score from the decay score (the highest, when one appears twice).
    URLs are left out: no Suricata buffer holds a whole URL (http.uri has no host), and a
    dataset cannot tie a host to a path.
    """
    domains: set[str] = set()
    hashes: dict[ValueKind, set[str]] = {kind: set() for kind in _HASH_FILES}
    reputation: dict[str, int] = {}
    for item in items:
        if not _usable(item.value):
            continue
        if item.kind == ValueKind.DOMAIN:
            domains.add(item.value)
        elif item.kind in hashes:
            hashes[item.kind].add(item.value.lower())
        elif item.kind in _IP_KINDS:
            score = iprep_score(item.score)
            reputation[item.value] = max(score, reputation.get(item.value, 0))
    files: dict[str, bytes] = {}
    if domains:
        files["domains.lst"] = _lines(
            base64.b64encode(d.encode()).decode() for d in sorted(domains)
        )
    for kind, name in _HASH_FILES.items():
        if hashes[kind]:
            files[name] = _lines(sorted(hashes[kind]))
    if reputation:
        # The file is comma-separated: a comma in the description would add a field.
        description = _one_line(f"Indicators shared through Balai by {source}").replace(",", " ")
        files["iprep/categories.txt"] = _lines(
            [f"{IPREP_CATEGORY_ID},{IPREP_CATEGORY},{description}"]
        )
        files["iprep/balai.list"] = _lines(
            f"{ip},{IPREP_CATEGORY_ID},{reputation[ip]}" for ip in sorted(reputation)
        )
    files["balai.rules"] = _suricata_rules(source, files)
    return dict(sorted(files.items()))


# DNS Response Policy Zone (draft-vixie-dnsop-dns-rpz, section 4): a QNAME trigger is the
# name under the zone's origin, a response-IP trigger is "prefix.reversed-address.rpz-ip";
# "CNAME ." is the NXDOMAIN action. IPv6 words are hex without leading zeros, the longest
# run of two or more zero words (the first, on a tie: RFC 5952) written "zz".

RPZ_TTL = 300
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_RPZ_SUBTREES = {"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"}


def _valid_name(name: str) -> bool:
    """Host-name labels only, so that nothing needs escaping in a master file."""
    return all(_LABEL.match(label) for label in name.split("."))


def rpz_ip_owner(value: str) -> str | None:
    """The rpz-ip owner name (relative to the origin) for an address or network, or None."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    address, prefix = network.network_address, network.prefixlen
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped and prefix >= 96:
        address, prefix = address.ipv4_mapped, prefix - 96  # BIND writes these as IPv4
    if prefix == 0:
        return None  # the draft's prefix lengths start at 1
    if isinstance(address, ipaddress.IPv4Address):
        labels = [str(octet) for octet in reversed(address.packed)]
    else:
        words = [int.from_bytes(address.packed[i : i + 2], "big") for i in range(0, 16, 2)]
        start, length = _longest_zero_run(words)
        parts = [f"{w:x}" for w in words]
        if length >= 2:
            parts[start : start + length] = ["zz"]
        labels = list(reversed(parts))
    return ".".join([str(prefix), *labels, "rpz-ip"])


def _longest_zero_run(words: list[int]) -> tuple[int, int]:
    """Start and length of the first longest run of zero words."""
    best = (0, 0)
    run_start, run_length = 0, 0
    for i, word in enumerate(words):
        if word:
            run_length = 0
            continue
        if run_length == 0:
            run_start = i
        run_length += 1
        if run_length > best[1]:
            best = (run_start, run_length)
    return best


def rpz_zone(items: Iterable[ExportItem], origin: str, serial: int) -> Iterator[str]:
    """A response policy zone in master-file format answering NXDOMAIN for every indicator.

    Each domain gets "name CNAME ." and "*.name CNAME ." (itself and every name below it);
    each address or network an rpz-ip trigger. Owner names are relative to $ORIGIN. A domain
    whose labels are not host-name labels (letters, digits, "-", "_"), whose wildcard name
    would pass 253 characters with the origin, or that ends in an rpz- trigger label is
    skipped, with a comment naming the STIX id; nothing is escaped. Other kinds are left out.
    """
    zone = origin.strip().rstrip(".").lower()
    if not zone or len(zone) > 240 or not _valid_name(zone):
        raise ValueError(f"not a usable zone origin: {origin!r}")
    if not 0 <= serial <= 0xFFFFFFFF:
        raise ValueError("a zone serial is a 32-bit unsigned number")
    domains: dict[str, ExportItem] = {}
    addresses: dict[str, ExportItem] = {}
    skipped: list[str] = []
    for item in items:
        if item.kind == ValueKind.DOMAIN:
            name = item.value.rstrip(".").lower()
            if (
                not _usable(name)
                or not _valid_name(name)
                or len(f"*.{name}.{zone}") > 253
                or name.rsplit(".", 1)[-1] in _RPZ_SUBTREES
            ):
                skipped.append(item.stix_id)
                continue
            domains.setdefault(name, item)
        elif item.kind in _IP_KINDS:
            owner = rpz_ip_owner(item.value) if _usable(item.value) else None
            if owner is None:
                skipped.append(item.stix_id)
                continue
            addresses.setdefault(owner, item)
    yield f"$TTL {RPZ_TTL}\n"
    yield f"$ORIGIN {zone}.\n"
    yield f"@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 604800 {RPZ_TTL}\n"
    yield "@ IN NS localhost.\n"
    for name in sorted(domains):
        yield f"; {_rpz_comment(domains[name])}\n"
        yield f"{name} CNAME .\n"
        yield f"*.{name} CNAME .\n"
    for owner in sorted(addresses):
        yield f"; {_rpz_comment(addresses[owner])}\n"
        yield f"{owner} CNAME .\n"
    for stix_id in skipped:
        yield f"; skipped {_one_line(stix_id)}: not a valid trigger name\n"


def _rpz_comment(item: ExportItem) -> str:
    """The STIX id and TLP, on one line."""
    return f"{_one_line(item.stix_id)} TLP:{_one_line(item.tlp).upper()}"


# Plain lists

TEXT_KINDS = (
    ValueKind.IPV4,
    ValueKind.IPV6,
    ValueKind.CIDR,
    ValueKind.DOMAIN,
    ValueKind.URL,
    ValueKind.EMAIL,
    ValueKind.MD5,
    ValueKind.SHA1,
    ValueKind.SHA256,
)


def text_lists(items: Iterable[ExportItem]) -> dict[str, bytes]:
    """One file per kind present ("ipv4.txt" …): its values, sorted, once each."""
    values: dict[ValueKind, set[str]] = {}
    for item in items:
        if item.kind in TEXT_KINDS and _usable(item.value):
            values.setdefault(item.kind, set()).add(item.value)
    return {
        f"{kind.value}.txt": _lines(sorted(values[kind])) for kind in TEXT_KINDS if kind in values
    }
