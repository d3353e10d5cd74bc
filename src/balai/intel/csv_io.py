"""CSV in and out: lists of values with their types, and values for a report or a search.

In, a value column (or the first column) with optional type and comment columns, in
Balai's, STIX's, OpenCTI's or MISP's names of the types; every bad row is reported with its
line and column and nothing is written. Out, one line per value of each object.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from itertools import islice

from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.errors import Problem, ValidationFailed
from balai.intel.models import ImportFormat, IntelImport, ObservableValue, StixObject, ValueKind
from balai.intel.observables import Value, classify, hash_value, ip_value, normalise, refang
from balai.intel.schemas import Marking
from balai.intel.stix_io import Progress, check_upload, import_objects
from balai.intel.text_io import MAX_VALUE, Item, decode, iana_tlds, report_name, stix_objects

# CSV in

VALUE_COLUMNS = ("value", "indicator", "ioc", "observable")
TYPE_COLUMNS = ("type", "kind", "ioc-type")
COMMENT_COLUMNS = ("comment", "description")

# Balai's CSV types, what each accepts, and how a refusal names it.
TYPES: dict[str, str] = {
    "ip": "an IP address or network",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "cidr": "a network (CIDR)",
    "domain": "a domain name",
    "url": "a URL (with its scheme, such as http://)",
    "email": "an e-mail address",
    "md5": "an MD5 hash (32 hex digits)",
    "sha1": "a SHA-1 hash (40 hex digits)",
    "sha256": "a SHA-256 hash (64 hex digits)",
    "hash": "an MD5, SHA-1 or SHA-256 hash",
    "asn": "an AS number",
}
# Other names of those types: STIX and OpenCTI observable types, MISP attribute types.
ALIASES = {
    "ip-addr": "ip",
    "ip-address": "ip",
    "ip-src": "ip",
    "ip-dst": "ip",
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "network": "cidr",
    "subnet": "cidr",
    "hostname": "domain",
    "domain-name": "domain",
    "fqdn": "domain",
    "uri": "url",
    "e-mail": "email",
    "email-addr": "email",
    "email-address": "email",
    "email-src": "email",
    "email-dst": "email",
    "whois-registrant-email": "email",
    "sha-1": "sha1",
    "sha-256": "sha256",
    "file": "hash",
    "stixfile": "hash",
    "as": "asn",
    "autonomous-system": "asn",
}
# Parts of MISP's two-part types ("ip-dst|port", "filename|sha256") that are no indicator.
SKIPPED_PARTS = frozenset({"port", "filename"})


def _column_name(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def _type_of(text: str) -> str | None:
    name = _column_name(text)
    return name if name in TYPES else ALIASES.get(name)


def _typed(kind: str, text: str) -> Value | None:
    """A value of a CSV type, defanged or not, in its canonical form; None when it is not."""
    text = refang(text.strip())
    if kind in ("ip", "ipv4", "ipv6", "cidr"):
        value = ip_value(text)
        if value is None or (kind == "cidr" and "/" not in text):
            return None
        version = 6 if ":" in value.value else 4
        return None if {"ipv4": 6, "ipv6": 4}.get(kind) == version else value
    if kind == "hash":
        return hash_value(text)
    return normalise(ValueKind(kind), text)


def _untyped(text: str) -> Value | None:
    value = classify(text)
    if value is not None and value.kind == ValueKind.DOMAIN:
        return value if value.value.rpartition(".")[2] in iana_tlds() else None
    return value


@dataclass
class _Columns:
    value: int = 0
    kind: int | None = None
    comment: int | None = None
    names: list[str] = field(default_factory=list)

    def name(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else str(index + 1)


def _header(row: list[str]) -> _Columns | None:
    names = [_column_name(cell) for cell in row]

    def first(wanted: tuple[str, ...]) -> int | None:
        return next((i for i, name in enumerate(names) if name in wanted), None)

    kind, comment = first(TYPE_COLUMNS), first(COMMENT_COLUMNS)
    value = first(VALUE_COLUMNS)
    if value is None and kind is None and comment is None:
        return None
    if value is None:
        value = next(i for i in range(len(names) + 1) if i not in (kind, comment))
    return _Columns(value, kind, comment, [cell.strip() for cell in row])


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """The rows of a CSV file with the line each starts on; blank and # lines left out."""
    # The separator is guessed from the first rows that hold data, comments aside.
    lines = (line for line in text.splitlines() if line.strip() and line.lstrip()[0] != "#")
    sample = "\n".join(islice(lines, 50))
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows, line = [], 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#"):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ValidationFailed.one(f"line {line}", f"not valid CSV: {exc}") from None
    return rows


def read_csv(text: str) -> tuple[list[Item], list[str]]:
    """The values of a CSV file, each once; every bad row is a located problem."""
    rows = _rows(text)
    columns = _header(rows[0][1]) if rows else None
    notes: list[str] = []
    if columns is None:
        columns = _Columns()
        if any(len(row) > 1 for _, row in rows):
            notes.append("No header row: only the first column was read.")
    else:
        rows = rows[1:]
    problems: list[Problem] = []
    items: dict[tuple[ValueKind, str], Item] = {}
    repeats = 0
    for line, row in rows:
        values, problem = _read_row(row, columns)
        if problem is not None:
            column, message = problem
            problems.append(Problem(f"line {line}, column {columns.name(column)}", message))
            continue
        comment = _cell(row, columns.comment) or None
        for value in values:
            if (value.kind, value.value) in items:
                repeats += 1
            else:
                items[value.kind, value.value] = Item(value, comment)
    if problems:
        raise ValidationFailed(problems)
    if not items:
        raise ValidationFailed.one("file", "no indicator found in the file")
    if repeats:
        notes.append(f"{repeats} rows repeat a value of an earlier row and were read once.")
    return list(items.values()), notes


def _cell(row: list[str], index: int | None) -> str:
    """A cell as written, without the quote that defuses a spreadsheet formula (see to_csv)."""
    text = row[index].strip() if index is not None and index < len(row) else ""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


def _read_row(row: list[str], columns: _Columns) -> tuple[list[Value], tuple[int, str] | None]:
    """The values of one row, or which column is wrong and why."""
    raw, kind_text = _cell(row, columns.value), _cell(row, columns.kind)
    if not raw:
        return [], (columns.value, "is empty")
    shown = repr(raw if len(raw) <= 100 else raw[:100] + "…")
    if len(raw) > MAX_VALUE:
        return [], (columns.value, f"{shown} is longer than {MAX_VALUE} characters")
    if not kind_text:
        value = _untyped(raw)
        if value is None:
            return [], (columns.value, f"{shown} is not a recognised indicator (add a type column)")
        return [value], None
    names = [_column_name(part) for part in kind_text.split("|")]
    kinds = [_type_of(name) for name in names]
    if all(name in SKIPPED_PARTS for name in names) or any(
        kind is None and name not in SKIPPED_PARTS for kind, name in zip(kinds, names, strict=True)
    ):
        known = ", ".join(TYPES)
        message = f"unknown type {kind_text!r} (known: {known}, and their MISP and STIX names)"
        return [], (columns.kind or 0, message)
    parts = raw.split("|") if len(kinds) > 1 else [raw]
    if len(parts) != len(kinds):
        return [], (columns.value, f"{shown} is not a {kind_text} pair (two values joined by |)")
    values = []
    for kind, part in zip(kinds, parts, strict=True):
        if kind is None:
            continue
        value = _typed(kind, part)
        if value is None:
            part_shown = repr(part.strip()) if len(parts) > 1 else shown
            return [], (columns.value, f"{part_shown} is not {TYPES[kind]}")
        values.append(value)
    return values, None


def import_csv(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    marking: Marking,
    filename: str | None = None,
    progress: Progress | None = None,
) -> IntelImport:
    """Import a CSV file of values (a value column, optional type and comment columns)."""
    owner = check_upload(session, actor=actor, marking=marking)
    items, notes = read_csv(decode(data, "file"))
    objects = stix_objects(
        session,
        owner=owner,
        items=items,
        report_name=report_name(filename, "CSV"),
        about="Indicators read from a CSV file.",
    )
    return import_objects(
        session,
        actor=actor,
        owner=owner,
        objects=objects,
        marking=marking,
        fmt=ImportFormat.CSV,
        filename=filename,
        progress=progress,
        not_mapped=notes,
    )


# CSV out

CSV_COLUMNS = ("value", "kind", "stix_id", "type", "name", "tlp", "owner", "date_added")
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _defused(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: Sequence[StixObject], values: Mapping[int, Sequence[ObservableValue]]) -> str:
    """One line per normalised value of each object (values keyed by the object's row pk).

    RFC 4180 (quoted where needed, CRLF line ends); a cell that a spreadsheet would run as a
    formula is prefixed with a quote.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    seen: set[int] = set()
    for row in rows:
        if row.pk in seen:
            continue
        seen.add(row.pk)
        added = row.date_added.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for value in values.get(row.pk, ()):
            cells = [value.value, value.kind.value, row.stix_id, row.type, row.name or ""]
            cells += [row.tlp.label, row.owner.name, added]
            writer.writerow([_defused(cell) for cell in cells])
    return out.getvalue()
