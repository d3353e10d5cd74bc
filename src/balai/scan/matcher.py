"""Exact matching of log text against a set of indicators, as Zeek's intel framework means it.

A chunk of log text is cut into tokens by one ``bytes.translate`` (which also lower-cases) and
``split``, both in C; the tokens equal to an indicator are found by a set intersection, also in C.
Only tokens never seen before are looked at in Python, for what equality cannot find: a
subdomain of a listed domain, an address inside a listed network, an IPv6 address written in
another form, ``host:port`` and ``mailto:`` forms, and full URLs. Logs repeat themselves, so a
bounded cache of tokens already found clean keeps the Python part small.

Matching rules (docs/user/scanner.md):

- IPv4 and IPv6: a whole address token equal to an indicator, or inside an indicator network;
- domains: a host name equal to the indicator or any subdomain of it, case-insensitive;
- URLs: a URL in the line, normalised (scheme and host case, default port, defanged forms);
- MD5, SHA-1, SHA-256 and e-mail addresses: the whole token, case-insensitive.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from balai.intel.models import ValueKind
from balai.intel.observables import Value, url_value

TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789._-@:+"
# One translation lower-cases and turns every byte that cannot be part of a token into a space.
# Line ends stay, so that hits can be placed on their lines.
_TOKENS = bytes(
    (c + 32 if 65 <= c <= 90 else c) if bytes([c]).lower() in TOKEN_CHARS or c == 10 else 32
    for c in range(256)
)
_BLANK = (32, 10)
_HEX_COLON_DOT = b"0123456789abcdef:."
_EDGE = b".-_+"
_EDGE_BYTES = frozenset(_EDGE)
_DIGITS = range(0x30, 0x3A)
_HASH_LENGTHS = frozenset({32, 40, 64})
_HASH_KINDS = frozenset({ValueKind.MD5, ValueKind.SHA1, ValueKind.SHA256})
# Tokens that only a defanged text has ("evil[.]com" gives "evil . com"): the text is refanged
# and cut again only when one of them is there.
_DEFANG_TOKENS = frozenset({b".", b"@", b"dot", b"hxxp", b"hxxps", b"hxxp:", b"hxxps:"})
_REFANG = [
    (re.compile(rb"h(?:xx|XX)p(s?)(?=://|\[://\]|\[:\]//)", re.I), rb"http\1"),
    (re.compile(rb"\[(?:\.|dot)\]|\((?:\.|dot)\)", re.I), b"."),
    (re.compile(rb"\[://\]"), b"://"),
    (re.compile(rb"\[:\]"), b":"),
    (re.compile(rb"\[(?:@|at)\]", re.I), b"@"),
]
_URL = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>`|\\{}^]+")
CLEAN_CACHE_LIMIT = 400_000
FIND_EACH_LIMIT = 32
BLOCK_SIZE = 32 << 10


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
    # The last labels of listed domains ("com", "net"): a host name under any other cannot be
    # a subdomain of a listed one, and file names (setup.exe) are not host names.
    top_labels: set[bytes] = field(default_factory=set)
    networks4: dict[int, set[int]] = field(default_factory=dict)
    networks6: dict[int, set[int]] = field(default_factory=dict)
    urls: set[str] = field(default_factory=set)
    # URLs listed without a scheme (maltrail's "host/path" trails), as "host/path": any scheme.
    urls_any_scheme: set[str] = field(default_factory=set)
    url_hosts: set[bytes] = field(default_factory=set)
    # The first two octets ("10.1") of every address some IPv4 network may contain, as written
    # in logs: a cheap test before an address is parsed and compared with each prefix length.
    networks4_by_16: set[bytes] = field(default_factory=set)

    def add(self, value: Value, *, any_scheme: bool = False) -> None:
        """Add one normalised value; a URL with ``any_scheme`` matches whatever its scheme."""
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
        self.exact.add(value)
        if kind == ValueKind.DOMAIN:
            self.top_labels.add(value[value.rfind(b".") + 1 :])

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
    """Finds indicators in chunks of log text; keeps caches of tokens it has looked at."""

    indicators: IndicatorSet
    clean: set[bytes] = field(default_factory=set)
    known: dict[bytes, tuple[Match, ...]] = field(default_factory=dict)

    def scan(self, chunk: bytes, first_line: int = 1) -> list[Hit]:
        """Every hit in a chunk of whole lines; line numbers start at ``first_line``."""
        if len(self.known) > CLEAN_CACHE_LIMIT:
            self.known.clear()
        tokens = chunk.translate(_TOKENS)
        unique = set(tokens.split())
        if not _DEFANG_TOKENS.isdisjoint(unique):
            refanged = _refang(chunk)
            if refanged != chunk:
                chunk = refanged
                tokens = chunk.translate(_TOKENS)
                unique = set(tokens.split())
        # Set difference iterates its left side: the chunk's tokens, not the (larger) cache.
        fresh = unique - self.clean
        fresh.difference_update(self.known)
        if fresh:
            self._learn(fresh)
        found = unique.intersection(self.known)
        if not found:
            return []
        located: list[tuple[int, Match]] = []
        url_lines: set[int] = set()
        for start, token in _positions(tokens, found):
            for match in self.known[token]:
                if match.kind is None:
                    url_lines.add(chunk.rfind(b"\n", 0, start) + 1)
                else:
                    located.append((start + match.offset, match))
        hits = _hits(chunk, located, first_line)
        if url_lines:
            hits.extend(self._url_hits(chunk, sorted(url_lines), first_line))
            hits.sort(key=lambda hit: hit.line)
        return hits

    def _learn(self, fresh: set[bytes]) -> None:
        """Look at tokens never seen before; remember which match and which are clean.

        Tokens equal to a value or to a listed URL's host are found by set intersections, in C.
        Only tokens with punctuation can match in any other way, and most fresh tokens (time
        stamps, ids, numbers) have none, so the Python loop skips them at once.
        """
        indicators = self.indicators
        by_16 = indicators.networks4_by_16
        top_labels = indicators.top_labels
        found: dict[bytes, list[Match]] = {
            token: [Match(kind_of(token), token.decode(), 0, len(token))]
            for token in fresh.intersection(indicators.exact)
        }
        for token in fresh.intersection(indicators.url_hosts):
            found.setdefault(token, []).append(Match(None, "", 0, len(token)))
        # Only tokens worth remembering go to the cache of clean ones: addresses, names and
        # the like, which logs repeat. Ids, numbers and time stamps are new on every line; they
        # would only push the useful entries out, and they cost little to look at again.
        kept: list[bytes] = []
        for token in fresh:
            if token.isalnum():
                continue
            last = token[-1]
            if b":" in token or b"@" in token or last in _EDGE_BYTES or token[0] in _EDGE_BYTES:
                matches = self._inspect(token)  # all of the token's matches, exact ones too
                if matches:
                    found[token] = matches
                else:
                    found.pop(token, None)
            elif last in _DIGITS:
                # Not tcpdump's address.port (1.2.3.4.443): it reads like a version number.
                if token.count(b".") != 3:
                    continue
                if by_16:
                    second = token.find(b".", token.find(b".") + 1)
                    if token[:second] in by_16:
                        networks = self._ipv4_networks(token, 0)
                        if networks:
                            found.setdefault(token, []).extend(networks)
            elif b"." in token and (
                token[token.rfind(b".") + 1 :] in top_labels or token.find(b".") in _HASH_LENGTHS
            ):
                parents = self._parents(token, 0)
                if parents:
                    found.setdefault(token, []).extend(parents)
            kept.append(token)
        self.known.update((token, tuple(matches)) for token, matches in found.items())
        if len(self.clean) + len(kept) > CLEAN_CACHE_LIMIT:
            self.clean.clear()
        self.clean.update(kept)
        self.clean.difference_update(found)

    def _inspect(self, token: bytes) -> list[Match]:
        if b":" not in token:
            return self._plain(token, 0)
        matches: list[Match] = []
        if token.count(b":") >= 2 and not token.translate(None, _HEX_COLON_DOT):
            address = self._ipv6(token, matches)
            if address is not None:
                # An IPv6 address is one value: its parts are no addresses or names.
                if address in self.indicators.url_hosts:
                    matches.append(Match(None, "", 0, len(token)))
                return matches
        offset = 0
        for part in token.split(b":"):
            if part:
                matches.extend(self._plain(part, offset))
            offset += len(part) + 1
        return matches

    def _plain(self, token: bytes, offset: int) -> list[Match]:
        """Matches in a token without a colon: exact, subdomain, network, e-mail host."""
        indicators = self.indicators
        core = token.strip(_EDGE)
        if not core:
            return []
        if len(core) != len(token):
            offset += token.find(core)
        matches: list[Match] = []
        if core in indicators.exact:
            matches.append(Match(kind_of(core), core.decode(), offset, len(core)))
        if core in indicators.url_hosts:
            matches.append(Match(None, "", offset, len(core)))
        at = core.rfind(b"@")
        if at >= 0:
            host = core[at + 1 :]
            if host in indicators.exact and kind_of(host) is ValueKind.DOMAIN:
                matches.append(Match(ValueKind.DOMAIN, host.decode(), offset + at + 1, len(host)))
            matches.extend(self._parents(host, offset + at + 1))
        elif b"." in core:
            if core[-1] in _DIGITS:
                if indicators.networks4:
                    matches.extend(self._ipv4_networks(core, offset))
            else:
                matches.extend(self._parents(core, offset))
        return matches

    def _parents(self, host: bytes, offset: int) -> list[Match]:
        """Listed domains that ``host`` is a subdomain of; a listed hash named as a file
        (``<sha256>.exe``), as sandboxes and mail filters write them."""
        exact = self.indicators.exact
        matches = []
        dot = host.find(b".")
        if dot in _HASH_LENGTHS and host[:dot] in exact:
            kind = kind_of(host[:dot])
            if kind in _HASH_KINDS:
                matches.append(Match(kind, host[:dot].decode(), offset, dot))
        while dot >= 0:
            parent = host[dot + 1 :]
            if parent in exact:  # a parent of a host name is a domain
                matches.append(Match(ValueKind.DOMAIN, parent.decode(), offset, len(host)))
            dot = host.find(b".", dot + 1)
        return matches

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
        if mapped is not None:
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


def _positions(tokens: bytes, found: set[bytes]) -> Iterable[tuple[int, bytes]]:
    """Where the found tokens stand in the translated chunk.

    A few tokens are searched for one by one (each a fast ``find`` over the chunk). Many are
    looked for block by block (a block's tokens against the found set, in C), then line by
    line in the blocks that have some: one pass over the chunk, whatever their number.
    """
    if len(found) <= FIND_EACH_LIMIT:
        for token in found:
            for start in _occurrences(tokens, token):
                yield start, token
        return
    start, size = 0, len(tokens)
    while start < size:
        end = tokens.find(b"\n", min(start + BLOCK_SIZE, size))
        end = size if end < 0 else end + 1
        block = tokens[start:end]
        if not found.isdisjoint(block.split()):
            offset = start
            for line in block.split(b"\n"):
                words = line.split()
                if not found.isdisjoint(words):
                    for token in found.intersection(words):
                        for at in _occurrences(line, token):
                            yield offset + at, token
                offset += len(line) + 1
        start = end


def _occurrences(tokens: bytes, token: bytes) -> Iterable[int]:
    """Start positions of ``token`` as a whole token in the translated chunk."""
    size = len(token)
    end_of_text = len(tokens)
    start = tokens.find(token)
    while start >= 0:
        end = start + size
        if (start == 0 or tokens[start - 1] in _BLANK) and (
            end == end_of_text or tokens[end] in _BLANK
        ):
            yield start
        start = tokens.find(token, end)


def _line_text(raw: bytes) -> str:
    return raw[:2000].rstrip(b"\r").decode("utf-8", "replace")


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
    tokens = set(data.translate(_TOKENS).split())
    if not _DEFANG_TOKENS.isdisjoint(tokens):
        data = _refang(data)
        tokens = set(data.translate(_TOKENS).split())
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
