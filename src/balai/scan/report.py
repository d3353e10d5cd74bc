"""A scan's hits as JSON lines, CSV or a table grouped by indicator, and its summary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from balai.intel.models import ValueKind
from balai.scan.engine import FileHit
from balai.scan.indicators import Info, Loaded
from balai.scan.timestamps import line_time

FORMATS = ("table", "jsonl", "csv")
CSV_FIELDS = (
    "file",
    "line",
    "indicator",
    "type",
    "match",
    "stix_id",
    "name",
    "reports",
    "tlp",
    "score",
    "log_line",
)


@dataclass
class Found:
    """One indicator's hits across the scan."""

    kind: ValueKind
    indicator: str
    count: int = 0
    files: set[str] = field(default_factory=set)
    first_place: str = ""
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    info: list[Info] = field(default_factory=list)

    def saw(self, hit: FileHit) -> None:
        """Count one more hit; keep the earliest and latest time read off its lines."""
        if not self.count:
            self.first_place = f"{hit.file}:{hit.hit.line}"
        self.count += 1
        self.files.add(hit.file)
        moment = line_time(hit.hit.line_text)
        if moment is not None:
            if self.first_seen is None or moment < self.first_seen:
                self.first_seen = moment
            if self.last_seen is None or moment > self.last_seen:
                self.last_seen = moment


@dataclass
class Tally:
    """Every indicator found, in the order first found."""

    loaded: Loaded
    found: dict[tuple[ValueKind, str], Found] = field(default_factory=dict)

    def add(self, hit: FileHit) -> Found:
        """Count a hit; the first hit of an indicator looks up what is known of it."""
        key = (hit.hit.kind, hit.hit.indicator)
        entry = self.found.get(key)
        if entry is None:
            entry = Found(*key, info=self.loaded.describe(*key))
            self.found[key] = entry
        entry.saw(hit)
        return entry

    @property
    def hits(self) -> int:
        """Hits: an indicator written twice on a line counts twice."""
        return sum(entry.count for entry in self.found.values())


def _info_fields(info: list[Info]) -> dict[str, Any]:
    first = info[0] if info else Info()
    return {
        "stix_id": first.stix_id,
        "name": first.name,
        "reports": first.reports,
        "tlp": first.tlp,
        "score": first.score,
    }


def hit_record(hit: FileHit, entry: Found) -> dict[str, Any]:
    """A hit as one JSON object (one line of ``jsonl``)."""
    return {
        "file": hit.file,
        "line": hit.hit.line,
        "indicator": hit.hit.indicator,
        "type": hit.hit.kind.value,
        "match": hit.hit.text,
        **_info_fields(entry.info),
        "log_line": hit.hit.line_text,
    }


def jsonl_lines(hits: Iterable[FileHit], tally: Tally) -> Iterator[str]:
    """One JSON object a hit."""
    for hit in hits:
        yield json.dumps(hit_record(hit, tally.add(hit)), ensure_ascii=False) + "\n"


def csv_lines(hits: Iterable[FileHit], tally: Tally) -> Iterator[str]:
    """A header, then one row a hit; a cell a spreadsheet would run as a formula gets a '."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    yield buffer.getvalue()
    for hit in hits:
        buffer.seek(0)
        buffer.truncate()
        record = hit_record(hit, tally.add(hit))
        writer.writerow({key: _cell(value) for key, value in record.items()})
        yield buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _about(info: Info) -> str:
    marking = f"TLP:{info.tlp.upper()}" if info.tlp else ""
    reports = f"in {info.reports}" if info.reports else ""
    return " ".join(part for part in (info.name or "", reports, marking) if part)


def table_rows(tally: Tally) -> list[tuple[str, ...]]:
    """One row an indicator, most hits first: indicator, type, hits, files, first hit, about."""
    return [
        (
            entry.indicator,
            entry.kind.value,
            str(entry.count),
            str(len(entry.files)),
            entry.first_place,
            "; ".join(_about(info) for info in entry.info[:2]),
        )
        for entry in sorted(tally.found.values(), key=lambda e: (-e.count, e.indicator))
    ]
