"""The log scanner at scale: a million indicators against 2 GB of mixed, realistic logs.

    .venv/bin/python -m bench.scan_bench                      # 2 GB, 1,000,000 indicators, 2 jobs
    .venv/bin/python -m bench.scan_bench --size-gb 0.2 --indicators 100000 --skip-grep  # a trial

Indicators: maltrail's static trails (real domains, addresses, networks and URLs; bare paths
skipped), a fixed-seed sample of them topped up with the kinds maltrail lacks (hashes, e-mail
addresses, IPv6 addresses and networks, more IPv4 networks), leaving out values on the scan's
warninglists so that every one is loaded. They go into the local cache `balai scan` keeps.

Logs: real lines (../shared/data/logs) drawn at random with new addresses (a few thousand
internal 10.x hosts, about 200,000 external addresses, both drawn Zipf-like), new Zeek times and
uids, and generated web access and proxy lines with benign hosts. Every pool and every real
line is checked against the indicators first (``Oracle``, a plain reading of the matching
rules), so the only lines that can match are the planted ones: known indicators written as logs
write them, and near misses that must not match.

Figures: cache load time and scan throughput (medians of 3 runs of a fresh process that loads
the cache and scans through ``engine.scan_files``, as ``balai scan`` does), peak memory of that
process and its workers (summed RSS every 0.2 s, summed PSS every second), ``grep -F`` with the
same values and a plain read of the files as baselines, one timed run of the CLI itself,
whether every planted hit and nothing else was found, and how busy other work kept the machine
during each run. The data is made once in --work-dir and reused while its parameters match.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import hashlib
import ipaddress
import itertools
import json
import os
import pstats
import random
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from balai.intel.models import ValueKind as K
from balai.intel.observables import Value, classify, url_value
from balai.intel.warninglists import package_lists
from balai.scan import cache, engine
from balai.scan.indicators import benign
from bench.datasets import SHARED, TRAILS

console = Console()
LOGS = SHARED / "logs"
RESULTS = Path(__file__).parent / "results"
SEED = 2026
SERVER, API_KEY = "http://balai.invalid", "bench"
VERSION = 3  # of the generated data: a work folder made by another version is made again

# Synthetic top-up, in twentieths: the kinds maltrail has none (or few) of.
SYNTHETIC = [K.SHA256] * 5 + [K.MD5] * 4 + [K.SHA1] * 3 + [K.EMAIL] * 3 + [K.IPV6] * 3
SYNTHETIC += [K.CIDR, K.CIDR]
PREFIXES4 = [16, 20, 22, 24, 24, 24, 24, 24, 24, 26, 28, 29]
WORDS = [
    *("api", "static", "img", "cdn", "news", "shop", "blog", "docs", "media", "assets", "user"),
    *("login", "search", "account", "video", "images", "js", "css", "data", "files", "upload"),
    *("download", "help", "support", "cart", "checkout", "product", "item", "page"),
]


# Indicators


def trail_value(text: str) -> Value | None:
    """A maltrail trail as the scanner reads trails: a value, address:port or host/path."""
    value = classify(text)
    if value is not None:
        return value
    host, colon, port = text.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return classify(host)
    host, slash, _ = text.partition("/")
    if slash and "://" not in text and classify(host.split(":")[0]) is not None:
        return url_value(f"http://{text}")
    return None


def maltrail() -> dict[K, list[str]]:
    """maltrail's distinct values by kind, in the order of the archive."""
    found: dict[K, dict[str, None]] = {}
    with tarfile.open(TRAILS) as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.name.endswith(".txt") else None
            if handle is None:
                continue
            for raw in handle.read().decode("utf-8", "replace").splitlines():
                text = raw.split("#", 1)[0].strip()
                value = trail_value(text) if text and not text.startswith("/") else None
                if value is not None:
                    found.setdefault(value.kind, {})[value.value] = None
    return {kind: list(values) for kind, values in found.items()}


def synthetic(rng: random.Random, n: int) -> Value | None:
    """The n-th generated value (None when it came out as a reserved network)."""
    kind = SYNTHETIC[n % len(SYNTHETIC)]
    digest = hashlib.sha256(f"{SEED}:{n}".encode()).hexdigest()
    if kind in (K.SHA256, K.MD5, K.SHA1):
        return Value(kind, digest[: {K.SHA256: 64, K.MD5: 32, K.SHA1: 40}[kind]])
    if kind == K.EMAIL:
        local = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randrange(1000)}"
        return Value(K.EMAIL, f"{local}@{rng.choice(WORDS)}-mail{rng.randrange(5000)}.net")
    top = rng.choice([0x2001, 0x2400, 0x2600, 0x2A00, 0x2A02, 0x2C0F]) << 112
    if kind == K.IPV6:
        host = rng.choice([1, rng.getrandbits(16), rng.getrandbits(64)])
        return Value(K.IPV6, str(ipaddress.IPv6Address(top | rng.getrandbits(48) << 64 | host)))
    if n % 20 == 19:  # every other network is IPv6
        length = rng.choice([32, 48, 56, 64])
        prefix = (top | rng.getrandbits(112)) >> (128 - length) << (128 - length)
        return Value(K.CIDR, str(ipaddress.IPv6Network((prefix, length))))
    length = rng.choice(PREFIXES4)
    network = ipaddress.IPv4Network((rng.getrandbits(32) >> (32 - length) << (32 - length), length))
    return Value(K.CIDR, str(network)) if network.is_global else None


def indicator_values(total: int) -> list[Value]:
    """`total` values none of which is warninglisted: 80% maltrail (a sample, in proportion to
    its kinds), the rest generated."""
    check = benign().check
    rng = random.Random(SEED)
    trails = maltrail()
    available = sum(len(values) for values in trails.values())
    chosen: list[Value] = []
    for kind, values in sorted(trails.items()):
        rng.shuffle(values)
        quota = round(total * 0.8 * len(values) / available)
        picked = (Value(kind, text) for text in values)
        chosen.extend(itertools.islice((v for v in picked if check(v) is None), quota))
    seen = {value.value for value in chosen}
    for n in itertools.count():
        if len(chosen) >= total:
            break
        value = synthetic(rng, n)
        if value is not None and value.value not in seen and check(value) is None:
            seen.add(value.value)
            chosen.append(value)
    return chosen[:total]


class Oracle:
    """What indicators a line holds: a plain, separately written reading of the matching rules
    (docs/user/scanner.md), slow but simple; used on pools, real lines and planted lines."""

    _TOKEN = re.compile(r"[a-z0-9._@:-]+")
    _URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s\"'<>`|\\{}^]+")

    def __init__(self, values: Iterable[Value]) -> None:
        self.exact: dict[str, K] = {}
        self.networks: dict[tuple[int, int], set[int]] = {}
        self.urls: set[str] = set()
        self.url_hosts: set[str] = set()
        self.url_paths: set[str] = set()
        for value in values:
            if value.kind == K.CIDR:
                net = ipaddress.ip_network(value.value)
                key = (net.max_prefixlen, net.prefixlen)
                self.networks.setdefault(key, set()).add(
                    int(net.network_address) >> (key[0] - key[1])
                )
            elif value.kind == K.URL:
                parts = urlsplit(value.value)
                self.urls.add(value.value)
                self.url_hosts.add(parts.hostname or "")
                self.url_paths.add(parts.path + (f"?{parts.query}" if parts.query else ""))
            else:
                self.exact[value.value] = value.kind

    def find(self, line: str) -> set[str]:
        """The indicators the line holds, as normalised values."""
        found = set()
        for match in self._URL.finditer(line):
            url = url_value(match.group().rstrip(".,;:)]"))
            if url is not None and url.value in self.urls:
                found.add(url.value)
        for token in self._TOKEN.findall(line.lower()):
            for part in {token, *token.split(":")}:
                self._check(part.strip(".-_"), found)
        return found

    def _check(self, text: str, found: set[str]) -> None:
        if not text:
            return
        if text in self.exact:
            found.add(text)
        _, at, host = text.rpartition("@")
        labels = host.split(".")
        for start in range(0 if at else 1, len(labels)):
            if self.exact.get(".".join(labels[start:])) == K.DOMAIN:
                found.add(".".join(labels[start:]))
        numbers = text.split(".")
        if len(numbers) == 4 and all(n.isdigit() and len(n) <= 3 and int(n) < 256 for n in numbers):
            self._inside(int.from_bytes(bytes(int(n) for n in numbers), "big"), 32, found)
        elif text.count(":") >= 2:
            try:
                address = ipaddress.IPv6Address(text)
            except ValueError:
                return
            for form in (address.compressed, str(address.ipv4_mapped or "")):
                if form in self.exact:
                    found.add(form)
            if address.ipv4_mapped is not None:
                self._inside(int(address.ipv4_mapped), 32, found)
            self._inside(int(address), 128, found)

    def _inside(self, number: int, bits: int, found: set[str]) -> None:
        for (family, length), prefixes in self.networks.items():
            if family == bits and number >> (bits - length) in prefixes:
                prefix = number >> (bits - length) << (bits - length)
                found.add(str(ipaddress.ip_network((prefix, length))))


# Pools and log sources


def zipf(rng: random.Random, items: list[str]) -> str:
    """An item drawn with probability about proportional to 1/rank (log-uniform rank)."""
    return items[int(len(items) ** rng.random()) - 1]


@dataclass
class Pools:
    """Values filler lines are made of, each checked to match no indicator."""

    internal: list[str]
    external: list[str]
    hosts: list[str]
    paths: list[str]
    agents: list[str]


def make_pools(oracle: Oracle, rng: random.Random, externals: int = 200_000) -> Pools:
    """Addresses, hosts, paths and user agents that hold no indicator."""

    def clean(text: str) -> bool:
        return not oracle.find(text)

    internal = {
        f"10.{rng.randrange(1, 48)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(3000)
    }
    external: dict[str, None] = {}
    while len(external) < externals:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast and clean(str(address)):
            external[str(address)] = None
    (tranco,) = package_lists(["tranco10k"])
    hosts = [h for d in tranco["list"] for h in (d, f"www.{d}", f"{rng.choice(WORDS)}.{d}")]
    extensions = ["", "", ".html", ".php", ".js", ".css", ".png", ".jpg", ".json"]
    paths: set[str] = set()
    while len(paths) < 20_000:
        segments = "/".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 5)))
        query = rng.choice(["", "", f"?id={rng.randrange(10**6)}", f"?v={rng.getrandbits(32):08x}"])
        paths.add(f"/{segments}{rng.choice(extensions)}{query}")
    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.6367.119 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.4.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Microsoft-CryptoAPI/10.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    ]
    return Pools(
        internal=sorted(internal),
        external=list(external),
        hosts=[h for h in hosts if h not in oracle.url_hosts and clean(h)],
        paths=sorted(p for p in paths if p not in oracle.url_paths and clean(p)),
        agents=[a for a in agents if clean(a)],
    )


_IPV4 = re.compile(r"(?<![\w.-])\d{1,3}(?:\.\d{1,3}){3}(?![\w-]|\.\w)")
_PROXIFIER_HOST = re.compile(r"(?<= - )[^\s:]+(?=:\d+ )")
# Planted lines: what each hits, where it goes in a line (address, host, URL, hash, e-mail).
LABELS = {
    **{"ipv4": (K.IPV4, "address"), "cidr": (K.CIDR, "address"), "cidr6": (K.CIDR, "address6")},
    **{"ipv6": (K.IPV6, "address6"), "domain": (K.DOMAIN, "host"), "url": (K.URL, "url")},
    **{"subdomain": (K.DOMAIN, "host"), "md5": (K.MD5, "hash"), "sha1": (K.SHA1, "hash")},
    **{"sha256": (K.SHA256, "hash"), "email": (K.EMAIL, "email")},
}
NEAR_MISSES = ["near-ipv4", "near-cidr", "near-domain", "near-url", "near-sha256", "near-email"]


def _mark_address(match: re.Match[str]) -> str:
    try:
        private = ipaddress.IPv4Address(match.group()).is_private
    except ValueError:
        return match.group()
    return "\0int\0" if private else "\0ext\0"


def templates(name: str, oracle: Oracle) -> tuple[list[str], list[list[str]], int]:
    """A real log's header, its lines cut into literals and slots (odd places), and how many
    lines were left out for holding an indicator."""
    raw = (gzip.open if name.endswith(".gz") else open)(LOGS / name, "rt", encoding="utf-8")
    with raw as stream:
        lines = stream.read().splitlines()
    header = [line for line in lines if line.startswith("#") and not line.startswith("#close")]
    found, dropped = [], 0
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if name.startswith("zeek"):
            _ts, _uid, rest = line.split("\t", 2)
            line = "\0ts\0\t\0uid\0\t" + rest
        parts = _IPV4.sub(_mark_address, line).split("\0")
        sample = [
            {"ts": "1521911720.865716", "uid": "CqKst53mF3det3eDV9"}.get(p, "192.0.2.1")
            if i % 2
            else p
            for i, p in enumerate(parts)
        ]
        if oracle.find("".join(sample)):
            dropped += 1
        else:
            found.append(parts)
    return header, found, dropped


class Source:
    """One log file's kind of line: filler lines, and lines carrying a planted value."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        self.pools, self.rng = pools, rng
        self.clock = 1_712_950_000.0 + rng.random() * 86_400
        self.header: list[str] = []

    def address(self, internal: bool) -> str:
        return zipf(self.rng, self.pools.internal if internal else self.pools.external)

    def line(self) -> str:
        raise NotImplementedError

    def plant(self, category: str, text: str) -> str | None:
        """A line with `text` where that category of value goes, or None if it has no place."""
        raise NotImplementedError


class RealSource(Source):
    """Lines of a real log, drawn at random, with new addresses (and Zeek times and uids)."""

    def __init__(
        self,
        name: str,
        shape: tuple[list[str], list[list[str]], int],
        pools: Pools,
        rng: random.Random,
    ) -> None:
        super().__init__(pools, rng)
        self.name = name
        self.header, self.templates, _ = shape
        self.slots = [
            (t, i)
            for t, parts in enumerate(self.templates)
            for i in range(1, len(parts), 2)
            if parts[i] in ("int", "ext")
        ]
        self.slots6 = [
            (t, i) for t, i in self.slots if not self.templates[t][i + 1].startswith(":")
        ]

    def fill(self, parts: list[str], override: tuple[int, str] = (0, "")) -> str:
        out = []
        for index, part in enumerate(parts):
            if not index % 2:
                out.append(part)
            elif index == override[0]:
                out.append(override[1])
            elif part == "ts":
                self.clock += self.rng.random() * 0.01
                out.append(f"{self.clock:.6f}")
            elif part == "uid":
                out.append("C" + "".join(self.rng.choices(_UID, k=17)))
            else:
                out.append(self.address(part == "int"))
        return "".join(out)

    def line(self) -> str:
        return self.fill(self.rng.choice(self.templates))

    def plant(self, category: str, text: str) -> str | None:
        if category in ("address", "address6"):
            slots = self.slots6 if category == "address6" else self.slots
            if not slots:
                return None
            template, index = self.rng.choice(slots)
            return self.fill(self.templates[template], (index, text))
        line = self.line()
        if category == "host" and self.name == "Proxifier_2k.log":
            return (
                _PROXIFIER_HOST.sub(text, line, count=1) if _PROXIFIER_HOST.search(line) else None
            )
        field = {("zeek-dns.log.gz", "host"): 9, ("zeek-smtp.log.gz", "email"): 8}.get(
            (self.name, category)
        )
        if field is None:
            return None
        fields = line.split("\t")
        fields[field] = text
        return "\t".join(fields)


_UID = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class WebSource(Source):
    """Web server access lines in the Combined Log Format."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        super().__init__(pools, rng)
        self.second, self.stamp = 0, ""

    def line(self, client: str = "", path: str = "", referer: str = "") -> str:
        rng = self.rng
        self.clock += rng.random() * 0.004
        if int(self.clock) != self.second:
            self.second = int(self.clock)
            self.stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.second))
        chance = rng.random()
        method = "GET" if chance < 0.85 else "POST" if chance < 0.97 else "HEAD"
        status = rng.choice((200, 200, 200, 200, 200, 304, 304, 404, 301, 302, 500))
        if not referer:
            host = zipf(rng, self.pools.hosts)
            referer = f"https://{host}{zipf(rng, self.pools.paths)}" if chance < 0.6 else "-"
        return (
            f"{client or self.address(False)} - - [{self.stamp}] "
            f'"{method} {path or zipf(rng, self.pools.paths)} HTTP/1.1" {status} '
            f'{rng.randrange(200, 60_000)} "{referer}" "{zipf(rng, self.pools.agents)}"'
        )

    def plant(self, category: str, text: str) -> str | None:
        if category.startswith("address"):
            return self.line(client=text)
        if category in ("host", "url"):
            url = text if category == "url" else f"https://{text}{zipf(self.rng, self.pools.paths)}"
            return self.line(referer=url)
        if category == "hash":
            return self.line(path=f"/downloads/{text}")
        return self.line(path=f"/account/reset?email={text}&lang=en")


class ProxySource(Source):
    """Forward proxy lines in squid's native format, with full URLs."""

    def line(self, client: str = "", url: str = "", server: str = "") -> str:
        rng = self.rng
        self.clock += rng.random() * 0.004
        host = zipf(rng, self.pools.hosts)
        if not url and rng.random() < 0.4:
            method, code, mime, url = "CONNECT", "TCP_TUNNEL/200", "-", f"{host}:443"
        else:
            scheme = "https" if rng.random() < 0.3 else "http"
            url = url or f"{scheme}://{host}{zipf(rng, self.pools.paths)}"
            method = "GET" if rng.random() < 0.9 else "POST"
            code = rng.choice(
                ("TCP_MISS/200", "TCP_MISS/200", "TCP_HIT/200", "TCP_MISS/304", "TCP_MISS/404")
            )
            mime = rng.choice(("text/html", "application/json", "image/png", "text/javascript"))
        return (
            f"{self.clock:.3f} {rng.randrange(5, 30_000):6d} {client or self.address(True)} {code} "
            f"{rng.randrange(300, 900_000)} {method} {url} - HIER_DIRECT/"
            f"{server or self.address(False)} {mime}"
        )

    def plant(self, category: str, text: str) -> str | None:
        if category.startswith("address"):
            return self.line(client=text) if self.rng.random() < 0.5 else self.line(server=text)
        if category == "host":
            return self.line(url=f"http://{text}{zipf(self.rng, self.pools.paths)}")
        if category == "url":
            return self.line(url=text)
        if category == "hash":
            return self.line(
                url=f"http://{zipf(self.rng, self.pools.hosts)}/api/files?sha256={text}"
            )
        return None


# File name, share of the corpus, and where its lines come from.
FILES = [
    ("access.log", 0.26, "web"),
    ("proxy.log", 0.22, "proxy"),
    ("dns.log", 0.14, "zeek-dns.log.gz"),
    ("dns.1.log.gz", 0.08, "zeek-dns.log.gz"),
    ("auth.log", 0.08, "OpenSSH_2k.log"),
    ("syslog", 0.07, "Linux_2k.log"),
    ("proxifier.log", 0.06, "Proxifier_2k.log"),
    ("smtp.log.gz", 0.05, "zeek-smtp.log.gz"),
    ("error.log", 0.04, "Apache_2k.log"),
]


SHARES = {name: share for name, share, _ in FILES}


def make_source(kind: str, shapes: dict[str, Any], pools: Pools, rng: random.Random) -> Source:
    if kind == "web":
        return WebSource(pools, rng)
    if kind == "proxy":
        return ProxySource(pools, rng)
    return RealSource(kind, shapes[kind], pools, rng)


# Planted lines


@dataclass
class Plant:
    """A line written to hit one indicator (or, a near miss, to hit none)."""

    file: str
    line: int
    label: str
    indicator: str | None
    text: str


def candidates(
    label: str, values: dict[K, list[str]], rng: random.Random
) -> Iterator[tuple[str | None, str]]:
    """(indicator the text must hit or None, text to write) for one label, in random order."""

    def shuffled(kind: K, keep: Any = None) -> list[str]:
        found = [v for v in values[kind] if keep is None or keep(v)]
        return rng.sample(found, len(found))

    base = label.removeprefix("near-")
    near = label != base
    networks = base.startswith("cidr")
    for value in shuffled(
        LABELS[base][0], lambda v: not networks or ("." in v) != (base == "cidr6")
    ):
        text: str | None = value
        if base == "ipv4" and near:  # 11.2.3.45 when 1.2.3.4 is listed
            first, *middle, last = value.split(".")
            ok = int(f"1{first}") < 256 and int(f"{last}5") < 256
            text = ".".join([f"1{first}", *middle, f"{last}5"]) if ok else None
        elif base.startswith("cidr"):
            network = ipaddress.ip_network(value)
            if near:  # the address just past the network
                after = int(network.broadcast_address) + 1
                text = str(ipaddress.ip_address(after)) if after < 2**32 else None
            else:
                text = str(network[rng.randrange(network.num_addresses)])
        elif base == "ipv6":
            text = ipaddress.IPv6Address(value).exploded.upper()
        elif base == "domain":
            text = f"not{value}" if near else value
        elif base == "subdomain":
            text = "".join(
                c.upper() if i % 2 else c for i, c in enumerate(f"Cdn{rng.randrange(99)}.{value}")
            )
        elif base == "url":
            scheme, _, rest = value.partition("://")
            host, slash, path = rest.partition("/")
            port = {"http": ":80", "https": ":443"}.get(scheme)
            plain = port and not re.search(r"[\s\"'<>`|\\{}^@\[]", value)
            path = f"zz-{rng.getrandbits(32):08x}.html" if near else path
            text = f"{scheme.upper()}://{host.upper()}{port}{slash}{path}" if plain else None
        elif base in ("md5", "sha1", "sha256"):
            text = f"{value}{rng.choice('0123456789abcdef')}" if near else value.upper()
        elif base == "email":
            text = f"x{value}" if near else value[0].upper() + value[1:]
        if text is not None:
            indicator = None if near else value
            yield indicator, text


def plan(
    values: list[Value],
    oracle: Oracle,
    sources: dict[str, Source],
    rng: random.Random,
    planted: int,
) -> tuple[dict[str, list[tuple[str, str | None, str, str]]], dict[str, int]]:
    """The planted lines of each file: (label, indicator, text, line); and what was rejected."""
    by_kind: dict[K, list[str]] = {}
    for value in values:
        by_kind.setdefault(value.kind, []).append(value.value)
    misses = planted // 4
    wanted = {
        label: planted // len(LABELS) + (n < planted % len(LABELS))
        for n, label in enumerate(LABELS)
    }
    wanted |= {
        label: misses // len(NEAR_MISSES) + (n < misses % len(NEAR_MISSES))
        for n, label in enumerate(NEAR_MISSES)
    }
    plans: dict[str, list[tuple[str, str | None, str, str]]] = {name: [] for name in sources}
    rejected: dict[str, int] = {}
    for label, count in wanted.items():
        used = 0
        category = LABELS[label.removeprefix("near-")][1]
        for indicator, text in candidates(label, by_kind, rng):
            # Files in a random order weighted by their share: the planted lines spread evenly.
            for name in sorted(sources, key=lambda name: -(rng.random() ** (1 / SHARES[name]))):
                line = sources[name].plant(category, text)
                if line is None:
                    continue
                if oracle.find(line) == ({indicator} if indicator else set()):
                    plans[name].append((label, indicator, text, line))
                    used += 1
                else:
                    rejected[label] = rejected.get(label, 0) + 1
                break
            if used == count:
                break
    return plans, rejected


def write_file(
    path: Path,
    source: Source,
    target: int,
    plans: list[tuple[str, str | None, str, str]],
    rng: random.Random,
) -> tuple[dict[str, Any], list[Plant]]:
    """Filler lines up to `target` bytes (uncompressed), the planted ones at random places."""
    average = sum(len(source.line()) + 1 for _ in range(2000)) / 2000
    estimate = max(int(target / average * 0.97), len(plans) + 1)
    queue = dict(zip(sorted(rng.sample(range(estimate), len(plans))), plans, strict=True))
    placed: list[Plant] = []
    size = lines = 0
    with (
        gzip.open(path, "wb", compresslevel=6)
        if path.suffix == ".gz"
        else path.open("wb") as stream
    ):
        batch = list(source.header)
        index = 0
        while size < target or queue:
            plant = queue.pop(index, None) if size < target else queue.pop(min(queue))
            if plant is not None:
                label, indicator, text, line = plant
                placed.append(Plant(path.name, len(batch) + lines + 1, label, indicator, text))
            else:
                line = source.line()
            batch.append(line)
            index += 1
            if len(batch) >= 10_000 or (size >= target and not queue):
                data = ("\n".join(batch) + "\n").encode()
                stream.write(data)
                size, lines, batch = size + len(data), lines + len(batch), []
    info = {"name": path.name, "bytes": size, "disk_bytes": path.stat().st_size, "lines": lines}
    return info, placed


def rows(values: list[Value]) -> Iterator[dict[str, Any]]:
    """Cache rows as the platform's export gives them."""
    for n, value in enumerate(values):
        yield {
            "kind": value.kind.value,
            "value": value.value,
            "stix_id": f"indicator--{hashlib.md5(str(n).encode()).hexdigest()}",  # noqa: S324  # an id, not security
            "name": f"bench {value.kind.value}",
            "tlp": "green",
            "score": 50.0,
            "pap": "clear",
            "valid_until": None,
        }


def build(work: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Indicators, cache, logs and planted lines; their description (the manifest)."""
    rng = random.Random(SEED)
    console.print(f"indicators: maltrail and generated, {params['indicators']:,} …")
    values = indicator_values(params["indicators"])
    (work / "values.txt").write_text("".join(f"{v.value}\n" for v in values))  # for grep
    (work / "indicators.tsv").write_text("".join(f"{v.kind}\t{v.value}\n" for v in values))
    oracle = Oracle(values)
    console.print("pools and real lines, checked against the indicators …")
    pools = make_pools(oracle, rng)
    shapes = {kind: templates(kind, oracle) for _, _, kind in FILES if "." in kind}
    sources = {name: make_source(kind, shapes, pools, rng) for name, _, kind in FILES}
    plans, rejected = plan(values, oracle, sources, rng, params["planted"])
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    files, plants = [], []
    for name, share, _ in FILES:
        console.print(f"writing {name} …")
        target = int(params["size_gb"] * 1e9 * share)
        info, placed = write_file(logs / name, sources[name], target, plans[name], rng)
        files.append(info)
        plants.extend(placed)
    kinds: dict[str, int] = {}
    for value in values:
        kinds[value.kind.value] = kinds.get(value.kind.value, 0) + 1
    return {
        "params": params,
        "indicator_kinds": kinds,
        "pools": {
            "internal": len(pools.internal),
            "external": len(pools.external),
            "hosts": len(pools.hosts),
            "paths": len(pools.paths),
        },
        "real_lines_dropped": {kind: shape[2] for kind, shape in shapes.items()},
        "planted_rejected": rejected,
        "files": files,
        "plants": [asdict(plant) for plant in plants],
    }


# Measuring


class PeakMemory(threading.Thread):
    """The largest sums of RSS (every 0.2 s) and PSS (every second) over a process and its
    descendants. PSS counts pages shared by the forked workers once; reading it walks the
    page tables (about 10 ms for 800 MB), so it is read less often, not to slow the scan."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.pss, self.rss = pid, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        for sample in itertools.count():
            if self.done.wait(0.2):
                return
            name, field = ("smaps_rollup", "Pss:") if sample % 5 == 0 else ("status", "VmRSS:")
            total = 0
            for pid in _tree(self.pid):
                try:
                    text = Path(f"/proc/{pid}/{name}").read_text()
                except OSError:
                    continue
                start = text.find(field)
                total += int(text[start:].split()[1]) * 1024 if start >= 0 else 0
            if field == "Pss:":
                self.pss = max(self.pss, total)
            else:
                self.rss = max(self.rss, total)


def _tree(root: int) -> list[int]:
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def child(spec: dict[str, Any]) -> None:
    """In a fresh process, as `balai scan` does: load the cache, then scan the files."""
    started = time.perf_counter()
    loaded = cache.load(Path(spec["cache"]))
    loaded_at = time.perf_counter()
    files = engine.find_files(spec["paths"])
    profile = cProfile.Profile() if spec.get("profile") else None
    if profile is not None:
        profile.enable()
    hits = list(engine.scan_files(loaded.indicators, files, jobs=spec["jobs"]))
    done = time.perf_counter()
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    found = [[hit.file, hit.hit.line, hit.hit.indicator, hit.hit.kind.value] for hit in hits]
    result = {"load_s": loaded_at - started, "scan_s": done - loaded_at, "values": loaded.values}
    Path(spec["out"]).write_text(json.dumps(result | {"hits": found}))


def busy_seconds() -> float:
    """CPU seconds the machine has been busy since it started, all processors together."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """`child` in a subprocess, with the peak memory of its process tree and how many
    processors other work on the machine kept busy meanwhile (the noise)."""
    command = [sys.executable, "-m", "bench.scan_bench", "--child", json.dumps(spec)]
    busy, own, started = busy_seconds(), own_seconds(), time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).parents[1])
    sampler = PeakMemory(process.pid)
    sampler.start()
    if process.wait() != 0:
        sys.exit(f"the scan failed: {command}")
    sampler.done.set()
    sampler.join()
    others = busy_seconds() - busy - (own_seconds() - own)
    result: dict[str, Any] = json.loads(Path(spec["out"]).read_text())
    return result | {
        "peak_pss_mb": sampler.pss / 1e6,
        "peak_rss_mb": sampler.rss / 1e6,
        "other_cpus": max(others, 0) / (time.perf_counter() - started),
    }


def timed(command: list[str], *, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Seconds a command takes, and its output. The output goes to a pipe, not /dev/null:
    GNU grep stops at the first match when its output is /dev/null."""
    env = dict(os.environ, LC_ALL="C")
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, env=env, check=False, text=True)
    if done.returncode not in ok:
        sys.exit(f"{command[0]} failed with status {done.returncode}")
    return time.perf_counter() - started, done.stdout


def read_all(files: list[Path]) -> float:
    """Seconds to read the files in 8 MB blocks, decompressing as the scanner does."""
    started = time.perf_counter()
    for path in files:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as stream:
            while stream.read(8 << 20):
                pass
    return time.perf_counter() - started


def sample_of(work: Path, plain: list[Path], megabytes: float) -> Path:
    """The first part of each plain file, `megabytes` in all, in one file."""
    total = sum(path.stat().st_size for path in plain)
    sample = work / "sample" / "sample.log"
    sample.parent.mkdir(exist_ok=True)
    with sample.open("wb") as out:
        for path in plain:
            with path.open("rb") as stream:
                out.write(stream.read(int(megabytes * 1e6 * path.stat().st_size / total)))
                out.write(stream.readline())
    return sample


def check(result: dict[str, Any], plants: list[dict[str, Any]], logs: Path) -> dict[str, Any]:
    """Planted hits found, missed and hits that should not be there."""
    expected = {(p["file"], p["line"], p["indicator"]) for p in plants if p["indicator"]}
    got = {(Path(f).relative_to(logs).as_posix(), line, ind) for f, line, ind, _ in result["hits"]}
    by_place = {(p["file"], p["line"]): p for p in plants}
    missed = sorted(expected - got)
    false = sorted(got - expected)
    return {
        "expected": len(expected),
        "found": len(expected & got),
        "missed": [[*m, by_place[m[:2]]["label"], by_place[m[:2]]["text"]] for m in missed],
        "false": [[*f, by_place.get(f[:2], {}).get("label", "filler")] for f in false],
    }


def prepare(work: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The work folder's data, made again unless it was made with the same parameters."""
    manifest_file = work / "manifest.json"
    if manifest_file.exists():
        manifest: dict[str, Any] = json.loads(manifest_file.read_text())
        if manifest["params"] == params and all(
            (work / "logs" / f["name"]).exists() for f in manifest["files"]
        ):
            console.print(f"reusing the data in {work}")
            return manifest
        manifest_file.unlink()
    work.mkdir(parents=True, exist_ok=True)
    for old in (work / "logs").glob("*"):
        old.unlink()
    manifest = build(work, params)
    manifest_file.write_text(json.dumps(manifest, indent=1))
    return manifest


def scan_once(spec: dict[str, Any], label: str) -> dict[str, Any]:
    result = run_child(spec)
    console.print(
        f"{label}: load {result['load_s']:.2f} s, scan {result['scan_s']:.2f} s,"
        f" peak PSS {result['peak_pss_mb']:.0f} MB, {len(result['hits']):,} hits;"
        f" other work kept {result['other_cpus']:.2f} processors busy"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="uncompressed size of the logs")
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/balai-scan-bench"))  # noqa: S108  # a scratch folder, reused on purpose
    parser.add_argument("--planted", type=int, default=2000, help="lines planted to hit")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-grep", action="store_true")
    parser.add_argument(
        "--grep-sample-mb",
        type=float,
        default=0,
        help="grep (and the scanner, to"
        " compare) the first N MB of the plain files only; 0: all of them",
    )
    parser.add_argument(
        "--profile-mb",
        type=float,
        default=0,
        help="also profile a one-process scan of the first N MB of the plain files",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    work: Path = args.work_dir
    params = {
        "version": VERSION,
        "seed": SEED,
        "size_gb": args.size_gb,
        "indicators": args.indicators,
        "planted": args.planted,
    }
    manifest = prepare(work, params)
    logs = work / "logs"
    files = engine.find_files([str(logs)])
    plain = [path for path in files if path.suffix != ".gz"]
    size = sum(f["bytes"] for f in manifest["files"])
    lines = sum(f["lines"] for f in manifest["files"])
    # The cache is written anew each time, as a download would: its format is the code's.
    console.print("filling the scanner's cache …")
    cache_file = cache.cache_path(work / "cache", SERVER, API_KEY)
    listed = (line.split("\t") for line in (work / "indicators.tsv").read_text().splitlines())
    cache.write(cache_file, SERVER, rows([Value(K(kind), value) for kind, value in listed]))
    spec = {
        "cache": str(cache_file),
        "paths": [str(logs)],
        "jobs": args.jobs,
        "out": str(work / "run.json"),
    }
    figures: dict[str, Any] = {
        "corpus_files": len(files),
        "corpus_mb": round(size / 1e6),
        "corpus_lines": lines,
        "corpus_mb_on_disk": round(sum(path.stat().st_size for path in files) / 1e6),
        "indicators_in_cache": sum(manifest["indicator_kinds"].values()),
        "jobs": args.jobs,
    }

    console.print("reading the files (the floor; this also warms the page cache) …")
    floor = statistics.median(read_all(files) for _ in range(3))
    runs = [scan_once(spec, f"scan {n + 1}/{args.runs}") for n in range(args.runs)]
    verdicts = [check(run, manifest["plants"], logs) for run in runs]
    scan_s = statistics.median(run["scan_s"] for run in runs)
    figures |= {
        "indicators_loaded": runs[0]["values"],
        "load_s_median": round(statistics.median(run["load_s"] for run in runs), 2),
        "scan_s_median": round(scan_s, 2),
        "scan_mb_per_s": round(size / 1e6 / scan_s, 1),
        "scan_lines_per_s": round(lines / scan_s),
        "peak_pss_mb_max": round(max(run["peak_pss_mb"] for run in runs)),
        "peak_rss_sum_mb_max": round(max(run["peak_rss_mb"] for run in runs)),
        "read_floor_mb_per_s": round(size / 1e6 / floor, 1),
        "scan_vs_read_floor": round(floor / scan_s, 3),
        "planted_found": f"{verdicts[0]['found']}/{verdicts[0]['expected']}",
        "near_misses": sum(1 for p in manifest["plants"] if not p["indicator"]),
        "false_hits": len(verdicts[0]["false"]),
        "runs_agree": all(v == verdicts[0] for v in verdicts),
        "scan_s_runs": [round(run["scan_s"], 1) for run in runs],
        "other_cpus_during_runs": [round(run["other_cpus"], 2) for run in runs],
    }

    if not args.skip_grep:
        figures |= versus_grep(work, spec, plain, args.grep_sample_mb, args.runs)
    figures |= cli_run(work, args.jobs, runs[0]["hits"])

    if args.profile_mb:
        sample = sample_of(work, plain, args.profile_mb)
        console.print(f"profile: one process, {sample.stat().st_size / 1e6:.0f} MB")
        run_child(spec | {"paths": [str(sample)], "jobs": 1, "profile": True})
    report(figures, verdicts[0], manifest)
    (work / "results.json").write_text(json.dumps(figures | {"check": verdicts[0]}, indent=1))
    if RESULTS.is_dir():
        (RESULTS / "scan.json").write_text(json.dumps(figures, indent=1))


def versus_grep(
    work: Path, spec: dict[str, Any], plain: list[Path], sample_mb: float, runs: int
) -> dict[str, Any]:
    """grep -F with the same values on the plain files (or a sample), and the scanner on them."""
    target = [sample_of(work, plain, sample_mb)] if sample_mb else plain
    target_mb = sum(path.stat().st_size for path in target) / 1e6
    grep = ["grep", "-F", "-c", "-f", str(work / "values.txt")]
    setup, counts = timed([*grep, "/dev/null"], ok=(0, 1))
    grep_runs: list[float] = []
    same = []
    # Turn about, so that a slower spell of the machine does not fall on one side only.
    for n in range(runs):
        same.append(
            scan_once(spec | {"paths": list(map(str, target))}, f"scan, grep's files {n + 1}")
        )
        if sum(grep_runs) < 300:  # at most about 5 minutes of grep
            seconds, counts = timed([*grep, *map(str, target)], ok=(0, 1))
            grep_runs.append(seconds)
            console.print(f"grep -F {n + 1}: {seconds:.1f} s")
    grep_s = statistics.median(grep_runs)
    same_s = statistics.median(run["scan_s"] for run in same)
    net = grep_s > 2 * setup  # grep's start (building its automaton) can be told apart
    return {
        "grep_files_mb": round(target_mb),
        "grep_setup_s": round(setup, 2),
        "grep_s_median": round(grep_s, 2),
        "grep_runs": len(grep_runs),
        "grep_matching_lines": sum(int(n.rpartition(":")[2]) for n in counts.split()),
        "grep_mb_per_s": round(target_mb / grep_s, 1),
        "grep_mb_per_s_without_setup": round(target_mb / (grep_s - setup), 1) if net else None,
        "scan_same_files_mb_per_s": round(target_mb / same_s, 1),
        "scan_vs_grep": round(grep_s / same_s, 2),
        "scan_vs_grep_without_setup": round((grep_s - setup) / same_s, 2) if net else None,
    }


def cli_run(work: Path, jobs: int, engine_hits: list[list[Any]]) -> dict[str, Any]:
    """`balai scan` itself, once, from the cache; whether it finds what the engine found."""
    console.print("the CLI, once: balai scan --offline (the cache) --format jsonl …")
    out, logs = work / "cli-hits.jsonl", work / "logs"
    server = ["--server", SERVER, "--api-key", API_KEY, "--offline", "--jobs", str(jobs)]
    command = [sys.executable, "-m", "balai", "scan", *server, "--format", "jsonl"]
    os.environ["BALAI_CACHE_DIR"] = str(work / "cache")
    seconds, _ = timed([*command, "-o", str(out), str(logs)], ok=(1,))
    found = {(r["file"], r["line"], r["indicator"]) for r in map(json.loads, out.open())}
    same = found == {(f, line, indicator) for f, line, indicator, _ in engine_hits}
    return {"cli_wall_s": round(seconds, 1), "cli_hits_same_as_engine": same}


def report(figures: dict[str, Any], verdict: dict[str, Any], manifest: dict[str, Any]) -> None:
    table = Table(title="Log scanner benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value),
        )
    console.print(table)
    console.print(f"indicator kinds: {manifest['indicator_kinds']}")
    console.print(f"real lines left out for holding an indicator: {manifest['real_lines_dropped']}")
    for title, rows in (("missed", verdict["missed"]), ("false hits", verdict["false"])):
        if rows:
            console.print(f"[red]{title}: {len(rows)}[/red]", *rows[:20], sep="\n")


if __name__ == "__main__":
    main()
