"""The scanner benchmark's logs: pools of benign values and the sources that write filler
lines like the real logs (real lines with new addresses, web access and proxy lines)."""

from __future__ import annotations

import gzip
import ipaddress
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from balai.intel.models import ValueKind as K
from balai.intel.warninglists import package_lists
from bench.datasets import SHARED

if TYPE_CHECKING:
    from bench.scan_data import Oracle

LOGS = SHARED / "logs"
WORDS = [
    *("api", "static", "img", "cdn", "news", "shop", "blog", "docs", "media", "assets", "user"),
    *("login", "search", "account", "video", "images", "js", "css", "data", "files", "upload"),
    *("download", "help", "support", "cart", "checkout", "product", "item", "page"),
]


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
