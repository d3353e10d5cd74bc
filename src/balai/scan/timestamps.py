"""The time a log line was written, read off the line in the common log formats.

Used for a sighting's first and last seen: Zeek (epoch seconds, TSV or JSON ``ts``), ISO 8601,
the Common Log Format, Apache's error log and syslog (which has no year: the current one, or
last year's when that would put the line in the future). A time without a zone is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_EPOCH = re.compile(r'^(\d{9,10}(?:\.\d+)?)\t|"ts"\s*:\s*(\d{9,10}(?:\.\d+)?)')
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?"
)
_CLF = re.compile(r"\[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
_APACHE = re.compile(r"\[\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4})\]")
_SYSLOG = re.compile(r"^(\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b")


def _zone(text: str | None) -> timedelta:
    if not text or text == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))


def line_time(line: str, now: datetime | None = None) -> datetime | None:
    """The line's time in UTC, or None when no known format is found."""
    try:
        return _read(line, now)
    except (ValueError, OverflowError, KeyError):
        return None


def _at(year: str | int, month: str, day: str, hour: str, minute: str, second: str) -> datetime:
    """A UTC time from a log's fields; the month may be a number or a name (Jan)."""
    number = int(month) if month.isdigit() else _MONTHS[month.lower()]
    return datetime(int(year), number, int(day), int(hour), int(minute), int(second), tzinfo=UTC)


def _read(line: str, now: datetime | None) -> datetime | None:
    if found := _EPOCH.search(line):
        return datetime.fromtimestamp(float(found.group(1) or found.group(2)), UTC)
    if found := _ISO.search(line):
        year, month, day, hour, minute, second, zone = found.groups()
        return _at(year, month, day, hour, minute, second) - _zone(zone)
    if found := _CLF.search(line):
        day, month, year, hour, minute, second, zone = found.groups()
        return _at(year, month, day, hour, minute, second) - _zone(zone)
    if found := _APACHE.search(line):
        month, day, hour, minute, second, year = found.groups()
        return _at(year, month, day, hour, minute, second)
    if found := _SYSLOG.match(line):
        month, day, hour, minute, second = found.groups()
        current = now or datetime.now(UTC)
        moment = _at(current.year, month, day, hour, minute, second)
        if moment > current + timedelta(days=1):
            moment = moment.replace(year=current.year - 1)
        return moment
    return None
