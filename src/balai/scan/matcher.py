"""Exact matching of log text against a set of indicators, as Zeek's intel framework means it.

A chunk of log text is translated (lower case; every byte that cannot be part of an indicator
becomes a space) and handed to NumPy (``balai.scan.vector``): every token, every part of a
token after a dot or an @ (for parent domains) and the name of a hash-named file is hashed in
whole-array operations and tested against a Bloom filter of the indicators. The few that
pass are checked exactly in Python. Addresses that some listed network may contain and IPv6
addresses (in any spelling) are found the same way and then compared in Python, with a cache,
since logs repeat them.

Matching rules (docs/user/scanner.md):

- IPv4 and IPv6: a whole address token equal to an indicator, or inside an indicator network;
- domains: a host name equal to the indicator or any subdomain of it, case-insensitive;
- URLs: a URL in the line, normalised (scheme and host case, default port, defanged forms);
- MD5, SHA-1, SHA-256 and e-mail addresses: the whole token, case-insensitive.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np

from balai.intel.models import ValueKind
from balai.intel.observables import Value, url_value
from balai.scan.vector import Bloom, Spans, hash_joined, hash_values

TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789._-@+"


def _table(chars: bytes) -> bytes:
    """A translation that lower-cases, keeps ``chars`` and the line end, and blanks the rest."""
    return bytes(
        (c + 32 if 65 <= c <= 90 else c) if bytes([c]).lower() in chars or c == 10 else 32
        for c in range(256)
    )


# Tokens for whole values: a colon separates (host:port, mailto:, times) ...
_TOKENS = _table(TOKEN_CHARS)
# ... except in IPv6 addresses, found in a second pass with hex digits, colons and dots only.
_IPV6_TOKENS = _table(b"0123456789abcdef:.")
_CANDIDATE_TOKENS = _table(TOKEN_CHARS + b":")
_HEX_COLON_DOT = b"0123456789abcdef:."
_EDGE = b".-_+"
_EDGE_TABLE = np.zeros(256, dtype=np.int64)
_EDGE_TABLE[list(_EDGE)] = 1
_DOT, _AT, _COLON, _ZERO, _NINE, _LETTER_D, _LETTER_H = (ord(c) for c in ".@:09dh")
_HASH_SIZES = np.array([32, 40, 64])
_HASH_KINDS = frozenset({ValueKind.MD5, ValueKind.SHA1, ValueKind.SHA256})
_WHOLE, _PARENT, _HASH_FILE = 0, 1, 2
# Tokens that only a defanged text has ("evil[.]com" gives "evil . com"; "hxxp://"): the text
# is refanged and cut again only when one of them is there.
_DEFANG_TOKENS = frozenset({b".", b"@", b"dot", b"hxxp", b"hxxps", b"hxxp:", b"hxxps:"})
_DEFANG_HASHES = hash_values([b"dot", b"hxxp", b"hxxps"])
_REFANG = [
    (re.compile(rb"h(?:xx|XX)p(s?)(?=://|\[://\]|\[:\]//)", re.I), rb"http\1"),
    (re.compile(rb"\[(?:\.|dot)\]|\((?:\.|dot)\)", re.I), b"."),
    (re.compile(rb"\[://\]"), b"://"),
    (re.compile(rb"\[:\]"), b":"),
    (re.compile(rb"\[(?:@|at)\]", re.I), b"@"),
]
_URL = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>`|\\{}^]+")
# Chunks are scanned in pieces of about this many bytes, so that NumPy's arrays stay in cache.
PIECE_SIZE = 256 << 10
ADDRESS_CACHE_LIMIT = 200_000


class Match(NamedTuple):
    """One indicator matched by part of a token: ``offset`` and ``length`` within the token."""

    kind: ValueKind | None  # None: the token is the host of a listed URL; compare the line's URLs
    indicator: str
    offset: int
    length: int


@dataclass
class IndicatorSet:
    """The indicators a scan looks for, in the forms the matcher compares."""

    # Values compared whole (addresses, domains, hashes, e-mail), as bytes; a value's kind
    # follows from its form (``kind_of``), so no second table is kept.
    exact: set[bytes] = field(default_factory=set)
    # The kinds among them, and (from a loader that has it ready) the values joined by line
    # ends, which is what the Bloom filter is built from.
    kinds: set[ValueKind] = field(default_factory=set)
    joined: bytes | None = None
    networks4: dict[int, set[int]] = field(default_factory=dict)
    networks6: dict[int, set[int]] = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)
    # URLs listed without a scheme (maltrail's "host/path" trails), as "host/path": any scheme.
    urls_any_scheme: set[str] = field(default_factory=set)
    url_hosts: set[bytes] = field(default_factory=set)
    # The first two octets ("10.1") of every address some IPv4 network may contain, as written
    # in logs: a cheap test before an address is parsed and compared with each prefix length.
    networks4_by_16: set[bytes] = field(default_factory=set)
    # Built by prepare() once every value is in: the Bloom filter of what tokens are hashed
    # against, and what kinds of value there are.
    bloom: Bloom = field(default_factory=lambda: Bloom(16))
    by_16_bloom: Bloom = field(default_factory=lambda: Bloom(16))
    has_hashes: bool = False
    has_ipv6: bool = False
    prepared: bool = False

    def prepare(self) -> None:
        """Build the Bloom filter (again, if values were added since)."""
        if self.prepared:
            return
        # IPv6 values are in too, harmlessly: a token never holds a colon. They are matched
        # in the IPv6 pass.
        joined = self.joined if self.joined is not None else b"\n".join(self.exact)
        count = len(self.exact) + len(self.url_hosts)
        self.bloom = Bloom(min(30, max(16, math.ceil(math.log2(count + 1)) + 5)))
        self.bloom.add(hash_joined(joined))
        self.bloom.add(hash_joined(b"\n".join(self.url_hosts)))
        self.by_16_bloom = Bloom(20)
        self.by_16_bloom.add(hash_joined(b"\n".join(self.networks4_by_16)))
        self.has_hashes = bool(self.kinds & _HASH_KINDS)
        # IPv6 spellings matter to IPv4 values too (::ffff:102:304 is 1.2.3.4).
        self.has_ipv6 = bool(
            self.kinds & {ValueKind.IPV4, ValueKind.IPV6}
            or self.networks6
            or self.networks4
            or any(b":" in host for host in self.url_hosts)
        )
        self.prepared = True

    def add(self, value: Value, *, any_scheme: bool = False) -> None:
        """Add one normalised value; a URL with ``any_scheme`` matches whatever its scheme."""
        self.prepared = False
        if value.kind == ValueKind.CIDR:
            network = ipaddress.ip_network(value.value)
            table = self.networks4 if network.version == 4 else self.networks6
            shift = network.max_prefixlen - network.prefixlen
            table.setdefault(network.prefixlen, set()).add(int(network.network_address) >> shift)
            if network.version == 4:
                self._index_by_16(network)
        elif value.kind == ValueKind.URL:
            if any_scheme:
                self.urls_any_scheme.add(value.value.split("://", 1)[1])
            else:
                self.urls.add(value.value)
            host = urlsplit(value.value).hostname
            if host:
                self.url_hosts.add(host.encode())
        elif value.kind != ValueKind.ASN:
            self.add_exact(value.value.encode(), value.kind)

    def add_exact(self, value: bytes, kind: ValueKind) -> None:
        """Add a value compared whole, already normalised and encoded."""
        self.prepared = False
        self.joined = None
        self.exact.add(value)
        self.kinds.add(kind)

    def _index_by_16(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        first = int(network.network_address) >> 16
        last = int(network.broadcast_address) >> 16
        self.networks4_by_16.update(
            f"{prefix >> 8}.{prefix & 255}".encode() for prefix in range(first, last + 1)
        )

    def __len__(self) -> int:
        return (
            len(self.exact)
            + len(self.urls)
            + len(self.urls_any_scheme)
            + sum(len(s) for s in self.networks4.values())
            + sum(len(s) for s in self.networks6.values())
        )


class Hit(NamedTuple):
    """An indicator found on a line; ``line`` counts from 1 within the scanned piece."""

    line: int
    kind: ValueKind
    indicator: str
    text: str
    line_text: str


@dataclass
class Matcher:
    """Finds indicators in chunks of log text; remembers what it learnt of addresses."""

    indicators: IndicatorSet
    addresses: dict[bytes, tuple[Match, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.indicators.prepare()

    def scan(self, chunk: bytes, first_line: int = 1) -> list[Hit]:
        """Every hit in a chunk of whole lines; line numbers start at ``first_line``."""
        hits: list[Hit] = []
        start, size = 0, len(chunk)
        line = first_line
        while start < size:
            end = chunk.find(b"\n", min(start + PIECE_SIZE, size) - 1)
            end = size if end < 0 else end + 1
            piece = chunk[start:end]
            hits.extend(self._scan_piece(piece, line))
            line += piece.count(b"\n")
            start = end
        return hits

    def _scan_piece(self, raw: bytes, first_line: int) -> list[Hit]:
        indicators = self.indicators
        spans = Spans(raw.translate(_TOKENS))
        if _defanged(spans):
            refanged = _refang(raw)
            if refanged != raw:
                raw = refanged
                spans = Spans(raw.translate(_TOKENS))
        located: list[tuple[int, Match]] = []
        url_lines: set[int] = set()
        self._values(spans, located, url_lines)
        if indicators.networks4:
            self._networks4(spans, located)
        if indicators.has_ipv6:
            self._addresses6(raw, located, url_lines)
        hits = _hits(raw, located, first_line)
        if url_lines:
            line_starts = sorted(raw.rfind(b"\n", 0, at) + 1 for at in url_lines)
            hits.extend(self._url_hits(raw, sorted(set(line_starts)), first_line))
            hits.sort(key=lambda hit: hit.line)
        return hits

    def _values(self, spans: Spans, located: list[tuple[int, Match]], url_lines: set[int]) -> None:
        """Tokens equal to a value, parent domains of host names, hashes naming files."""
        if not len(spans.starts):
            return
        codes = spans.codes
        # One edge character comes off each end: "evil.com." in DNS logs, "-evil.com".
        starts = spans.starts + _EDGE_TABLE[codes[spans.starts]]
        ends = spans.ends - _EDGE_TABLE[codes[spans.ends - 1]]
        keep = ends > starts
        starts, ends = starts[keep], ends[keep]
        if not len(starts):  # only lone edge characters ("-", ".")
            return
        # Parts after a dot or an @: the parents of a host name, the host of an address.
        marks = np.flatnonzero((codes == _DOT) | (codes == _AT))
        dot_at = spans.dot_at = marks[codes[marks] == _DOT]
        owner = np.searchsorted(starts, marks, side="right") - 1
        inside = (owner >= 0) & (marks + 1 < ends[owner]) & (marks >= starts[owner])
        marks, owner = marks[inside], owner[inside]
        groups = [(starts, ends, _WHOLE), (marks + 1, ends[owner], _PARENT)]
        if self.indicators.has_hashes:
            long = ends - starts > 32  # a hash and at least a dot and a letter
            named_starts, named_ends = starts[long], ends[long]
            first = np.searchsorted(dot_at, named_starts)
            has = first < len(dot_at)
            named = named_starts[has], named_ends[has], dot_at[first[has]]
            sized = (named[2] < named[1]) & np.isin(named[2] - named[0], _HASH_SIZES)
            groups.append((named[0][sized], named[2][sized], _HASH_FILE))
        all_starts = np.concatenate([g[0] for g in groups])
        all_ends = np.concatenate([g[1] for g in groups])
        passed = np.flatnonzero(self.indicators.bloom.may_hold(spans.hashes(all_starts, all_ends)))
        if not len(passed):
            return
        bounds = np.cumsum([len(g[0]) for g in groups])
        text = spans.text
        exact, url_hosts = self.indicators.exact, self.indicators.url_hosts
        for index in passed.tolist():
            start, end = int(all_starts[index]), int(all_ends[index])
            value = text[start:end]
            group = int(np.searchsorted(bounds, index, side="right"))
            if group == 0:
                if value in exact:
                    located.append((start, Match(kind_of(value), value.decode(), 0, end - start)))
                if value in url_hosts:
                    url_lines.add(start)
            elif group == 1:
                if value in exact and kind_of(value) is ValueKind.DOMAIN:
                    host = _host_start(text, start)
                    located.append((host, Match(ValueKind.DOMAIN, value.decode(), 0, end - host)))
            elif value in exact and kind_of(value) in _HASH_KINDS:
                located.append((start, Match(kind_of(value), value.decode(), 0, end - start)))

    def _networks4(self, spans: Spans, located: list[tuple[int, Match]]) -> None:
        """Addresses inside a listed IPv4 network (exact addresses are values)."""
        codes = spans.codes
        starts, ends = spans.starts, spans.ends
        # Tokens of 7 to 15 bytes from a digit to a digit, with three dots: 1.2.3.4 and the
        # like (a stray 1a.2.3.4 is refused when parsed).
        length = ends - starts
        first, last = codes[starts], codes[ends - 1]
        maybe = (
            (length >= 7)
            & (length <= 15)
            & (first >= _ZERO)
            & (first <= _NINE)
            & (last >= _ZERO)
            & (last <= _NINE)
        )
        starts, ends = starts[maybe], ends[maybe]
        dot_at = spans.dot_at
        first_dot = np.searchsorted(dot_at, starts)
        address = np.searchsorted(dot_at, ends) - first_dot == 3
        starts, ends, first_dot = starts[address], ends[address], first_dot[address]
        # The first two octets ("10.1") against those some network may contain, as a filter.
        second = dot_at[first_dot + 1]
        near = self.indicators.by_16_bloom.may_hold(spans.hashes(starts, second))
        text = spans.text
        cache = self.addresses
        for start, end in zip(starts[near].tolist(), ends[near].tolist(), strict=True):
            token = text[start:end]
            found = cache.get(token)
            if found is None:
                found = tuple(self._ipv4_networks(token, 0))
                self._remember(token, found)
            located.extend((start, match) for match in found)

    def _addresses6(
        self, raw: bytes, located: list[tuple[int, Match]], url_lines: set[int]
    ) -> None:
        """IPv6 addresses in any spelling: equal to a listed one, inside a listed network, or
        the host of a listed URL."""
        if not _may_hold_ipv6(raw):
            return
        text = raw.translate(_IPV6_TOKENS)
        codes = np.frombuffer(text, dtype=np.uint8)
        inside = codes > 32
        edges = np.diff(inside.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        # An IPv6 address has "::" or seven colons; "15:16:01" (a time) has neither.
        is_colon = codes == _COLON
        colons = np.concatenate(([0], np.cumsum(is_colon)))
        pairs = np.concatenate(([0, 0], np.cumsum(is_colon[1:] & is_colon[:-1])))
        wanted = (colons[ends] - colons[starts] >= 7) | (pairs[ends] - pairs[starts + 1] > 0)
        cache = self.addresses
        url_hosts = self.indicators.url_hosts
        for start, end in zip(starts[wanted].tolist(), ends[wanted].tolist(), strict=True):
            token = text[start:end]
            found = cache.get(token)
            if found is None:
                matches: list[Match] = []
                compressed = self._ipv6(token, matches)
                if compressed is not None and compressed in url_hosts:
                    matches.append(Match(None, "", 0, len(token)))
                found = tuple(matches)
                self._remember(token, found)
            for match in found:
                if match.kind is None:
                    url_lines.add(start)
                else:
                    located.append((start + match.offset, match))

    def _remember(self, token: bytes, matches: tuple[Match, ...]) -> None:
        if len(self.addresses) >= ADDRESS_CACHE_LIMIT:
            self.addresses.clear()
        self.addresses[token] = matches

    def _ipv4_networks(self, token: bytes, offset: int) -> list[Match]:
        parts = token.split(b".")
        if len(parts) != 4:
            return []
        number = 0
        for part in parts:
            if not part.isdigit() or len(part) > 3 or int(part) > 255:
                return []
            number = number << 8 | int(part)
        return [
            Match(ValueKind.CIDR, _network_text(4, length, prefix), offset, len(token))
            for length, prefix in _containing(self.indicators.networks4, number, 32)
        ]

    def _ipv6(self, token: bytes, matches: list[Match]) -> bytes | None:
        """Add the matches of an IPv6 address; answer its canonical form (None: no address)."""
        text = token.strip(b".").decode()
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        offset = token.find(text.encode())
        compressed = address.compressed.encode()
        if compressed in self.indicators.exact:
            matches.append(Match(ValueKind.IPV6, address.compressed, offset, len(text)))
        mapped = address.ipv4_mapped
        # ::ffff:1.2.3.4 holds the address as a token of its own, which the IPv4 paths match.
        if mapped is not None and "." not in text:
            v4 = str(mapped).encode()
            if v4 in self.indicators.exact:
                matches.append(Match(ValueKind.IPV4, v4.decode(), offset, len(text)))
            matches.extend(
                Match(ValueKind.CIDR, _network_text(4, length, prefix), offset, len(text))
                for length, prefix in _containing(self.indicators.networks4, int(mapped), 32)
            )
        matches.extend(
            Match(ValueKind.CIDR, _network_text(6, length, prefix), offset, len(text))
            for length, prefix in _containing(self.indicators.networks6, int(address), 128)
        )
        return compressed

    def _url_hits(self, chunk: bytes, line_starts: list[int], first_line: int) -> list[Hit]:
        """Full URLs on the lines that mention a listed URL's host."""
        urls = self.indicators.urls
        any_scheme = self.indicators.urls_any_scheme
        hits = []
        counted, line = 0, first_line
        for start in line_starts:
            line += chunk.count(b"\n", counted, start)
            counted = start
            end = chunk.find(b"\n", start)
            raw_line = chunk[start : end if end >= 0 else len(chunk)]
            for found in _URL.finditer(raw_line):
                text = found.group().decode("utf-8", "replace").rstrip(".,;:)]")
                value = url_value(text)
                if value is None:
                    continue
                if value.value in urls:
                    hits.append(Hit(line, ValueKind.URL, value.value, text, _line_text(raw_line)))
                    continue
                rest = value.value.split("://", 1)[1]
                if rest in any_scheme:
                    hits.append(Hit(line, ValueKind.URL, rest, text, _line_text(raw_line)))
        return hits


_HEX = b"0123456789abcdef"
_HASH_BY_LENGTH = {32: ValueKind.MD5, 40: ValueKind.SHA1, 64: ValueKind.SHA256}


def kind_of(value: bytes) -> ValueKind:
    """The kind of a normalised value compared whole, read off its form."""
    if b"@" in value:
        return ValueKind.EMAIL
    if b":" in value:
        return ValueKind.IPV6
    if len(value) in _HASH_BY_LENGTH and not value.translate(None, _HEX):
        return _HASH_BY_LENGTH[len(value)]
    if value[-1:].isdigit():
        return ValueKind.IPV4
    return ValueKind.DOMAIN


def _containing(table: dict[int, set[int]], number: int, bits: int) -> Iterable[tuple[int, int]]:
    for length, prefixes in table.items():
        prefix = number >> (bits - length)
        if prefix in prefixes:
            yield length, prefix


def _network_text(version: int, length: int, prefix: int) -> str:
    bits = 32 if version == 4 else 128
    return str(ipaddress.ip_network((prefix << (bits - length), length)))


def _refang(chunk: bytes) -> bytes:
    for pattern, replacement in _REFANG:
        chunk = pattern.sub(replacement, chunk)
    return chunk


def _line_text(raw: bytes) -> str:
    return raw[:2000].rstrip(b"\r").decode("utf-8", "replace")


def _host_start(text: bytes, start: int) -> int:
    """Where the host name holding position ``start`` begins: after an @, else the token."""
    begin = max(text.rfind(b" ", 0, start), text.rfind(b"\n", 0, start)) + 1
    at = text.rfind(b"@", begin, start)
    begin = at + 1 if at >= 0 else begin
    return begin + 1 if text[begin : begin + 1] in (b".", b"-", b"_", b"+") else begin


def _may_hold_ipv6(raw: bytes) -> bool:
    """Whether some colons stand as an IPv6 address's do: a "::", or seven colons each at most
    five bytes after the last (2001:db8:0:0:0:0:0:1). Times (15:16:01) and MAC addresses have
    neither, so most pieces skip the IPv6 pass."""
    colons = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == _COLON)
    if len(colons) < 2:
        return False
    gaps = np.diff(colons)
    if np.any(gaps == 1):
        return True
    if len(gaps) < 6:
        return False
    close = np.concatenate(([0], np.cumsum(gaps <= 5)))
    return bool(np.any(close[6:] - close[:-6] == 6))


def _defanged(spans: Spans) -> bool:
    """Whether the chunk may hold defanged values: a lone "." or "@" token ("evil[.]com" gives
    "evil . com"), or "hxxp", "hxxps" or "dot" tokens."""
    lengths = spans.ends - spans.starts
    lone = spans.codes[spans.starts[lengths == 1]]
    if np.any((lone == _DOT) | (lone == _AT)):
        return True
    first = spans.codes[spans.starts]
    sized = (lengths >= 3) & (lengths <= 5) & ((first == _LETTER_D) | (first == _LETTER_H))
    words = spans.hashes(spans.starts[sized], spans.ends[sized])
    return bool(np.isin(words, _DEFANG_HASHES).any())


def _hits(chunk: bytes, located: list[tuple[int, Match]], first_line: int) -> list[Hit]:
    located.sort(key=lambda item: item[0])
    hits = []
    counted, line = 0, first_line
    for position, match in located:
        assert match.kind is not None  # URL-host markers are never located
        line += chunk.count(b"\n", counted, position)
        counted = position
        start = chunk.rfind(b"\n", 0, position) + 1
        end = chunk.find(b"\n", position)
        text = chunk[position : position + match.length].decode("utf-8", "replace")
        raw_line = chunk[start : end if end >= 0 else len(chunk)]
        hits.append(Hit(line, match.kind, match.indicator, text, _line_text(raw_line)))
    return hits


def candidates(data: bytes) -> set[str]:
    """Every text in a log that a stored indicator value could equal: tokens and their parts,
    parent domains, canonical IPv6 forms, normalised URLs. Networks are the caller's (they
    depend on the prefix lengths in use)."""
    found: set[str] = set()
    tokens = set(data.translate(_CANDIDATE_TOKENS).split())
    if not _DEFANG_TOKENS.isdisjoint(tokens):
        data = _refang(data)
        tokens = set(data.translate(_CANDIDATE_TOKENS).split())
    for token in tokens:
        parts = token.split(b":") if b":" in token else [token]
        if len(parts) > 2 and not token.translate(None, _HEX_COLON_DOT):
            with contextlib.suppress(ValueError):
                found.add(ipaddress.IPv6Address(token.strip(b".").decode()).compressed)
        for part in parts:
            core = part.strip(_EDGE).decode("ascii", "replace")
            if not core:
                continue
            found.add(core)
            host = core.rpartition("@")[2]
            labels = host.split(".")
            found.update(".".join(labels[start:]) for start in range(len(labels) - 1))
    for match in _URL.finditer(data):
        value = url_value(match.group().decode("utf-8", "replace").rstrip(".,;:)]"))
        if value is not None:
            found.add(value.value)
    return found
