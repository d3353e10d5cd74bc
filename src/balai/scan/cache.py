"""The scanner's local copy of the platform's indicators, for scanning offline.

One SQLite file per server and key: the values with what is known of them (indicator id,
name, marking, decay score, PAP, validity) and, worked out once at download, the warninglist
each value is on. A download writes a new file and renames it over the old one, so a failed
download leaves the previous copy whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from balai.intel.models import ValueKind
from balai.intel.observables import Value
from balai.scan.indicators import EXAMPLES, IndicatorError, Info, Loaded, benign
from balai.scan.matcher import IndicatorSet

COLUMNS = ("kind", "value", "stix_id", "name", "tlp", "score", "pap", "valid_until", "reports")
_EXACT = {
    kind.value: kind
    for kind in ValueKind
    if kind not in (ValueKind.CIDR, ValueKind.URL, ValueKind.ASN)
}


def default_dir() -> Path:
    """$BALAI_CACHE_DIR, else $XDG_CACHE_HOME/balai, else ~/.cache/balai."""
    configured = os.environ.get("BALAI_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "balai"


def cache_path(folder: Path, server: str, api_key: str) -> Path:
    """The cache file of one server and key (a hash of both: the key itself is not stored)."""
    digest = hashlib.sha256(f"{server.rstrip('/')}\n{api_key}".encode()).hexdigest()[:20]
    return folder / f"indicators-{digest}.sqlite3"


@dataclass(frozen=True)
class CacheInfo:
    """When and from where a cache was filled, and how many values it holds."""

    server: str
    downloaded_at: datetime
    values: int


def write(path: Path, server: str, rows: Iterable[dict[str, Any]]) -> CacheInfo:
    """Fill a new cache file from the server's rows, then put it in place."""
    # The copy holds TLP:AMBER and TLP:RED values: readable by its owner only.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    temporary.unlink(missing_ok=True)
    temporary.touch(mode=0o600)
    check = benign().check
    count = 0
    # Values compared whole, by whether a warninglist holds them, with their kinds: stored
    # again as one text each, one value a line, which loads in a single split.
    whole: dict[bool, set[str]] = {False: set(), True: set()}
    listed_values: dict[str, str] = {}
    kinds: dict[bool, set[str]] = {False: set(), True: set()}
    with sqlite3.connect(temporary) as db:
        db.execute(f"CREATE TABLE indicators ({', '.join(COLUMNS)}, warninglist)")
        db.execute("CREATE TABLE meta (key PRIMARY KEY, value)")

        def records() -> Iterable[tuple[Any, ...]]:
            nonlocal count
            for row in rows:
                count += 1
                listed = check(Value(ValueKind(row["kind"]), row["value"]))
                if listed is not None:
                    listed_values.setdefault(row["value"], listed)
                if row["kind"] in _EXACT:
                    whole[listed is not None].add(row["value"])
                    kinds[listed is not None].add(row["kind"])
                yield (*(row.get(column) for column in COLUMNS[:-1]), _names(row), listed)

        db.executemany("INSERT INTO indicators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records())
        db.execute("CREATE INDEX ix_value ON indicators (value, kind)")
        now = datetime.now(UTC)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("server", server),
                ("downloaded_at", now.isoformat()),
                ("values", count),
                ("listed", len(listed_values)),
                (
                    "listed_examples",
                    json.dumps([f"{v} ({n})" for v, n in list(listed_values.items())[:EXAMPLES]]),
                ),
                *(
                    (f"{name}{'_listed' if listed else ''}", content)
                    for listed in (False, True)
                    for name, content in (
                        ("whole", "\n".join(sorted(whole[listed])).encode()),
                        ("kinds", ",".join(sorted(kinds[listed]))),
                    )
                ),
            ],
        )
    os.replace(temporary, path)
    return CacheInfo(server, now, count)


def _names(row: dict[str, Any]) -> str | None:
    """A value's reports, as one text ("; " between names)."""
    names = row.get("reports") or []
    return "; ".join(str(name) for name in names) if isinstance(names, list) and names else None


def info(path: Path) -> CacheInfo | None:
    """What a cache holds, or None when there is none."""
    if not path.is_file():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        meta = dict(db.execute("SELECT key, value FROM meta"))
    return CacheInfo(
        str(meta["server"]), datetime.fromisoformat(str(meta["downloaded_at"])), int(meta["values"])
    )


def load(path: Path, *, include_warninglisted: bool = False) -> Loaded:
    """The cached indicators as a set to scan with; what is known of a hit is read on demand."""
    indicators = IndicatorSet()
    loaded = Loaded(indicators, str(path))
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    if "whole" not in meta:
        raise IndicatorError(f"{path}: made by an older version of Balai; run balai scan --refresh")
    parts = ["", "_listed"] if include_warninglisted else [""]
    joined = b"\n".join(meta[f"whole{part}"] for part in parts if meta[f"whole{part}"])
    indicators.exact = set(joined.split(b"\n")) if joined else set()
    indicators.kinds = {
        ValueKind(k) for part in parts for k in meta[f"kinds{part}"].split(",") if k
    }
    listed_clause = "" if include_warninglisted else "AND warninglist IS NULL"
    rows = db.execute(
        f"SELECT kind, value FROM indicators WHERE kind IN ('cidr', 'url') {listed_clause}"  # noqa: S608  # fixed text
    )
    for kind, value in rows:
        indicators.add(Value(ValueKind(kind), value))
    indicators.joined = joined  # after add(), which forgets it
    loaded.values = len(indicators)
    if not include_warninglisted:
        loaded.warninglisted = int(meta["listed"])
        loaded.warninglisted_examples = list(json.loads(meta["listed_examples"]))
    loaded.lookup = _lookup(db)
    return loaded


def _lookup(db: sqlite3.Connection) -> Callable[[ValueKind, str], list[Info]]:
    def lookup(kind: ValueKind, value: str) -> list[Info]:
        rows = db.execute(
            "SELECT stix_id, name, tlp, score, reports FROM indicators"
            " WHERE value = ? AND kind = ?",
            (value, kind.value),
        )
        return [
            Info(stix_id, name, tlp, score, reports or None)
            for stix_id, name, tlp, score, reports in rows
        ]

    return lookup
