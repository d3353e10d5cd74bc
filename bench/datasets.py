"""Benchmark data: real indicators from maltrail's trails, topped up to a mixed million.

maltrail (../shared/data/indicators) gives about 1.8 million real domains, IPs and URLs;
hashes, e-mail addresses, IPv6 addresses and networks are added synthetically, from a fixed
seed, so that every run measures the same set.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from balai.intel.models import ValueKind
from balai.intel.observables import Value, classify

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAILS = SHARED / "indicators" / "maltrail-static-trails.tar.gz"
NOW = "2026-11-01T00:00:00.000Z"


def maltrail_values(limit: int) -> Iterator[Value]:
    """Real indicator values from maltrail's static trails, normalised, without duplicates."""
    seen: set[str] = set()
    with tarfile.open(TRAILS) as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            for raw in handle.read().decode("utf-8", "replace").splitlines():
                text = raw.split("#", 1)[0].strip()
                if not text:
                    continue
                value = classify(text)
                if value is None or value.value in seen:
                    continue
                seen.add(value.value)
                yield value
                if len(seen) >= limit:
                    return


def synthetic_values(count: int, seed: int = 2026) -> Iterator[Value]:
    """Hashes, e-mail addresses, IPv6 addresses and networks, from a fixed seed."""
    rng = random.Random(seed)
    for n in range(count):
        pick = n % 6
        digest = hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()
        if pick == 0:
            yield Value(ValueKind.SHA256, digest)
        elif pick == 1:
            yield Value(ValueKind.MD5, digest[:32])
        elif pick == 2:
            yield Value(ValueKind.SHA1, digest[:40])
        elif pick == 3:
            yield Value(ValueKind.EMAIL, f"user{n}@mail{rng.randrange(50000)}.example.net")
        elif pick == 4:
            address = ipaddress.IPv6Address(rng.getrandbits(64) << 64 | 0x2001 << 112)
            found = classify(str(address))
            if found:
                yield found
        else:
            network = ipaddress.IPv4Network((rng.getrandbits(24) << 8, 24))
            found = classify(str(network))
            if found:
                yield found


def mixed_values(total: int) -> list[Value]:
    """`total` distinct values: maltrail's first, the rest synthetic."""
    values = list(maltrail_values(int(total * 0.8)))
    values += list(synthetic_values(total - len(values)))
    return values[:total]


PATTERNS = {
    ValueKind.IPV4: "[ipv4-addr:value = '{}']",
    ValueKind.IPV6: "[ipv6-addr:value = '{}']",
    ValueKind.CIDR: "[ipv4-addr:value ISSUBSET '{}']",
    ValueKind.DOMAIN: "[domain-name:value = '{}']",
    ValueKind.URL: "[url:value = '{}']",
    ValueKind.EMAIL: "[email-addr:value = '{}']",
    ValueKind.MD5: "[file:hashes.MD5 = '{}']",
    ValueKind.SHA1: "[file:hashes.'SHA-1' = '{}']",
    ValueKind.SHA256: "[file:hashes.'SHA-256' = '{}']",
    ValueKind.ASN: "[autonomous-system:number = {}]",
}


def indicator(value: Value) -> dict[str, object]:
    """A STIX 2.1 indicator for a value."""
    literal = value.value.replace("\\", "\\\\").replace("'", "\\'")
    if value.kind == ValueKind.ASN:
        literal = value.value.removeprefix("AS")
    if value.kind == ValueKind.CIDR and ":" in value.value:
        pattern = f"[ipv6-addr:value ISSUBSET '{literal}']"
    else:
        pattern = PATTERNS[value.kind].format(literal)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": NOW,
        "modified": NOW,
        "name": value.value[:200],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": NOW,
        "indicator_types": ["malicious-activity"],
    }


def bundles(values: list[Value], size: int) -> Iterator[dict[str, object]]:
    """STIX bundles of `size` indicators each."""
    for start in range(0, len(values), size):
        yield {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid4()}",
            "objects": [indicator(v) for v in values[start : start + size]],
        }
