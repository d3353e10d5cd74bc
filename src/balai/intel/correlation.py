"""Correlation: which objects of other organisations share a value with this one.

Computed when asked, from the value index (value -> objects), never stored as pairs: a value
held by n objects costs n index rows, not n² pair rows as in MISP's correlation table.
A value matches the same value; an address matches the networks that contain it and a
network the addresses and networks inside it; a domain matches its parent domains and its
subdomains. Values on a MISP warninglist do not correlate, and a
value shared by more than the cap of objects is reported as common instead of listed.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, bindparam, literal_column, select, union_all
from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.access.policy import visible
from balai.intel import networks, warninglists
from balai.intel.models import ObservableValue, StixObject, ValueKind
from balai.intel.observables import Value, parents, reversed_domain

Key = tuple[ValueKind, str]
SAME = {kind: frozenset({kind}) for kind in ValueKind}
NETWORK = frozenset({ValueKind.CIDR})
Lookups = dict[str, list[tuple[Key, frozenset[ValueKind]]]]


@dataclass
class Match:
    """One of this object's values and the other organisations' objects that share it."""

    value: Value
    objects: list[StixObject] = field(default_factory=list)
    total: int = 0
    common: bool = False
    warninglisted: list[warninglists.Hit] = field(default_factory=list)


def correlate(
    session: Session,
    *,
    actor: Actor,
    rows: Iterable[StixObject],
    cap: int,
) -> list[Match]:
    """Matches for every value of some (visible) objects, against other holders' objects."""
    sources = list(rows)
    own = {row.owner_org_id for row in sources}
    source_pks = [row.pk for row in sources]
    values: dict[Key, Value] = {}
    for start in range(0, len(source_pks), 500):
        for kind, text, first, last in session.execute(
            select(
                ObservableValue.kind,
                ObservableValue.value,
                ObservableValue.ip_first,
                ObservableValue.ip_last,
            ).where(ObservableValue.object_pk.in_(source_pks[start : start + 500]))
        ):
            values.setdefault((kind, text), Value(kind, text, first, last))
    hits = warninglists.check(session, values.values())
    matches = {key: Match(value, warninglisted=hits.get(key, [])) for key, value in values.items()}
    live = [m for m in matches.values() if not m.warninglisted]
    audience = visible(actor, StixObject)  # built once: the expression is not cheap to build
    wanted = _lookups(live, networks.lengths(session))
    found: dict[Key, set[int]] = {}
    texts = list(wanted)
    for start in range(0, len(texts), 500):
        query = (
            select(ObservableValue.value, ObservableValue.kind, StixObject.pk)
            .join(StixObject, StixObject.pk == ObservableValue.object_pk)
            .where(
                ObservableValue.value.in_(texts[start : start + 500]),
                StixObject.is_latest.is_(True),
                StixObject.owner_org_id.not_in(own),
                audience,
            )
        )
        for text, kind, pk in session.execute(query):
            for key, accepts in wanted[text]:
                if kind in accepts:
                    found.setdefault(key, set()).add(pk)
    _inside_networks(session, audience, own, live, found)
    _under_domains(session, audience, own, live, found)
    shown = {pk for pks in found.values() if len(pks) <= cap for pk in pks}
    objects = _load(session, shown)
    for key, match in matches.items():
        pks = found.get(key, set())
        match.total = len(pks)
        match.common = match.total > cap
        if not match.common:
            match.objects = sorted(
                (objects[pk] for pk in pks), key=lambda o: o.date_added, reverse=True
            )
    return sorted(matches.values(), key=lambda m: (-m.total, m.value.kind, m.value.value))


REVERSE_LIMIT = 10_000  # beyond this many objects inside one network, count no further
IP_KINDS = (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR)


def _others(audience: ColumnElement[bool], own: set[uuid.UUID]) -> list[ColumnElement[bool]]:
    return [StixObject.is_latest.is_(True), StixObject.owner_org_id.not_in(own), audience]


def _visible_pks(
    session: Session, audience: ColumnElement[bool], own: set[uuid.UUID], pks: set[int]
) -> set[int]:
    """Of some objects' row keys, those of other holders' latest versions the actor sees."""
    ordered = sorted(pks)
    kept: set[int] = set()
    for start in range(0, len(ordered), 500):
        kept.update(
            session.scalars(
                select(StixObject.pk).where(
                    StixObject.pk.in_(ordered[start : start + 500]), *_others(audience, own)
                )
            )
        )
    return kept


RANGES = 200  # index ranges a query, as branches of one UNION ALL


@functools.cache
def _network_ranges(size: int) -> CompoundSelect[Any]:
    """Addresses and networks inside `size` networks: branch n yields n and the row."""
    return union_all(
        *[
            select(
                literal_column(str(n)).label("n"),
                ObservableValue.value,
                ObservableValue.object_pk,
            )
            .where(
                ObservableValue.ip_first >= bindparam(f"low{n}"),
                ObservableValue.ip_first <= bindparam(f"high{n}"),
                ObservableValue.ip_last <= bindparam(f"high{n}"),
                ObservableValue.kind.in_(IP_KINDS),
            )
            .limit(REVERSE_LIMIT)
            .subquery()
            .select()
            for n in range(size)
        ]
    )


@functools.cache
def _domain_ranges(size: int) -> CompoundSelect[Any]:
    """Subdomains of `size` domains (ranges of reversed labels): branch n yields n and a row."""
    return union_all(
        *[
            select(literal_column(str(n)).label("n"), ObservableValue.object_pk)
            .where(
                ObservableValue.rev >= bindparam(f"low{n}"),
                ObservableValue.rev < bindparam(f"high{n}"),
                ObservableValue.kind == ValueKind.DOMAIN,
            )
            .limit(REVERSE_LIMIT)
            .subquery()
            .select()
            for n in range(size)
        ]
    )


def _inside_networks(
    session: Session,
    audience: ColumnElement[bool],
    own: set[uuid.UUID],
    live: list[Match],
    found: dict[Key, set[int]],
) -> None:
    """Others' addresses and smaller networks inside this object's networks.

    Range scans of the index over the 32-hex-digit bounds, one UNION ALL branch a network (an
    index range whatever a planner thinks of an OR of ranges; the statement is built once per
    size), then the candidates go through the visibility rule."""
    wanted = [
        (m.value.value, m.value.ip_first, m.value.ip_last)
        for m in live
        if m.value.kind == ValueKind.CIDR and m.value.ip_first and m.value.ip_last
    ]
    for start in range(0, len(wanted), RANGES):
        chunk = wanted[start : start + RANGES]
        params = {}
        for n, (_, low, high) in enumerate(chunk):
            params[f"low{n}"], params[f"high{n}"] = low, high
        inside = [
            (chunk[n][0], pk)
            for n, text, pk in session.execute(_network_ranges(len(chunk)), params)
            if text != chunk[n][0]
        ]
        kept = _visible_pks(session, audience, own, {pk for _, pk in inside})
        for network, pk in inside:
            if pk in kept:
                found.setdefault((ValueKind.CIDR, network), set()).add(pk)


def _under_domains(
    session: Session,
    audience: ColumnElement[bool],
    own: set[uuid.UUID],
    live: list[Match],
    found: dict[Key, set[int]],
) -> None:
    """Others' subdomains of this object's domains: ranges over the reversed labels, one
    UNION ALL branch a domain, then through the visibility rule."""
    domains = [m.value.value for m in live if m.value.kind == ValueKind.DOMAIN]
    for start in range(0, len(domains), RANGES):
        chunk = domains[start : start + RANGES]
        params = {}
        for n, domain in enumerate(chunk):
            prefix = reversed_domain(domain) + "."
            params[f"low{n}"], params[f"high{n}"] = prefix, prefix[:-1] + "/"
        under = [(chunk[n], pk) for n, pk in session.execute(_domain_ranges(len(chunk)), params)]
        kept = _visible_pks(session, audience, own, {pk for _, pk in under})
        for domain, pk in under:
            if pk in kept:
                found.setdefault((ValueKind.DOMAIN, domain), set()).add(pk)


def _lookups(live: list[Match], known: networks.Lengths) -> Lookups:
    """Index values to look up for each match, and which kinds of index row count."""
    wanted: Lookups = {}
    for match in live:
        value = match.value
        key = (value.kind, value.value)
        wanted.setdefault(value.value, []).append((key, SAME[value.kind]))
        if value.kind == ValueKind.DOMAIN:
            for parent in parents(value.value):
                wanted.setdefault(parent, []).append((key, SAME[ValueKind.DOMAIN]))
        for text in networks.containing(value, known):
            wanted.setdefault(text, []).append((key, NETWORK))
    return wanted


def _load(session: Session, pks: set[int]) -> dict[int, StixObject]:
    loaded: dict[int, StixObject] = {}
    ordered = sorted(pks)
    for start in range(0, len(ordered), 500):
        for obj in session.scalars(
            select(StixObject).where(StixObject.pk.in_(ordered[start : start + 500]))
        ):
            loaded[obj.pk] = obj
    return loaded
