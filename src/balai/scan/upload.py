"""Scanning an uploaded log on the platform: the same matcher as `balai scan`, with only the
indicators that could match it, read through the visibility rule.

The log's tokens give the candidate values; one indexed look-up per batch finds which are
indicators the user may see (and which shared networks contain its addresses); the matcher
then scans the log with that small set, so the hits are those the command would find.
The upload is held in memory while it is scanned and never stored.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
from collections.abc import Iterable

from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.errors import ValidationFailed
from balai.intel import networks
from balai.intel.models import ObservableValue, ValueKind
from balai.intel.observables import Value
from balai.scan.engine import FileHit
from balai.scan.indicators import Info, Loaded, benign
from balai.scan.matcher import IndicatorSet, Matcher, candidates
from balai.scan.service import indicator_values

BATCH = 500


def _networks(texts: Iterable[str], known: networks.Lengths) -> set[str]:
    found: set[str] = set()
    if not (known[4] or known[6]):
        return found
    for text in texts:
        if not text[:1].isdigit() and ":" not in text:
            continue
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        kind = ValueKind.IPV4 if address.version == 4 else ValueKind.IPV6
        found.update(networks.containing(Value(kind, str(address)), known))
    return found


def indicators_in(
    session: Session, *, actor: Actor, data: bytes, include_warninglisted: bool = False
) -> Loaded:
    """The visible indicators that could match the log, ready to scan it with."""
    wanted = candidates(data)
    wanted |= _networks(list(wanted), networks.lengths(session))
    loaded = Loaded(IndicatorSet(), "the indicators you may see")
    check = None if include_warninglisted else benign().check
    texts = sorted(wanted)
    for start in range(0, len(texts), BATCH):
        rows = session.execute(
            indicator_values(actor).where(ObservableValue.value.in_(texts[start : start + BATCH]))
        )
        for _id, kind, value, stix_id, name, tlp, _data, score in rows:
            key = (kind, value)
            if kind == ValueKind.ASN:
                continue
            if key not in loaded.info:
                listed = check(Value(kind, value)) if check is not None else None
                if listed is not None:
                    loaded.warninglisted += 1
                    loaded.warninglisted_examples.append(f"{value} ({listed})")
                    continue
                loaded.indicators.add(Value(kind, value))
                loaded.values += 1
            loaded.info.setdefault(key, []).append(Info(stix_id, name, tlp.value, score))
    return loaded


def scan_upload(loaded: Loaded, data: bytes, name: str) -> list[FileHit]:
    """Every hit in the uploaded log."""
    if not loaded.values:
        return []
    return [FileHit(name, hit) for hit in Matcher(loaded.indicators).scan(data)]


def gunzip(data: bytes, limit: int) -> bytes:
    """A gzip upload, decompressed up to the size limit."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            plain = stream.read(limit + 1)
    except (OSError, EOFError) as error:
        raise ValidationFailed.one("file", f"not a readable gzip file ({error})") from None
    if len(plain) > limit:
        raise ValidationFailed.one("file", f"larger than {limit:,} bytes once decompressed")
    return plain
