"""The scanner benchmark's data: a million indicators from maltrail's trails and generated
kinds, and logs built from the real ones with planted hits and near misses, checked by a plain
reading of the matching rules (``Oracle``). Made once in a work folder and reused; see
bench/scan_bench.py for the measuring."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import itertools
import random
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from balai.intel.models import ValueKind as K
from balai.intel.observables import Value, classify, url_value
from balai.scan.indicators import benign
from bench.datasets import TRAILS
from bench.scan_logs import (
    FILES,
    LABELS,
    NEAR_MISSES,
    SHARES,
    WORDS,
    Source,
    make_pools,
    make_source,
    templates,
)

console = Console()
RESULTS = Path(__file__).parent / "results"
SEED = 2026
SERVER, API_KEY = "http://balai.invalid", "bench"
VERSION = 3  # of the generated data: a work folder made by another version is made again

# Synthetic top-up, in twentieths: the kinds maltrail has none (or few) of.
SYNTHETIC = [K.SHA256] * 5 + [K.MD5] * 4 + [K.SHA1] * 3 + [K.EMAIL] * 3 + [K.IPV6] * 3
SYNTHETIC += [K.CIDR, K.CIDR]
PREFIXES4 = [16, 20, 22, 24, 24, 24, 24, 24, 24, 26, 28, 29]


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
