"""Networks containing an address, found by exact look-ups of its supernets.

CIDR blocks nest or are disjoint, so a network that contains an address (or a smaller
network) is one of its supernets. Looking up the supernet at each prefix length that stored
networks use turns "which networks contain this" into a handful of index probes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from balai.intel.models import NetworkLength, ValueKind
from balai.intel.observables import Value

Lengths = dict[int, set[int]]


def lengths(session: Session) -> Lengths:
    """The prefix lengths in use, per IP version (at most 33 + 129 rows)."""
    found: Lengths = {4: set(), 6: set()}
    for version, length in session.execute(select(NetworkLength.version, NetworkLength.length)):
        found[version].add(length)
    return found


def record(session: Session, values: Iterable[Value]) -> None:
    """Remember the prefix lengths of some networks about to be indexed."""
    wanted = set()
    for value in values:
        if value.kind == ValueKind.CIDR:
            network = ipaddress.ip_network(value.value, strict=False)
            wanted.add((network.version, network.prefixlen))
    if not wanted:
        return
    known = lengths(session)
    missing = [(v, n) for v, n in wanted if n not in known[v]]
    if not missing:
        return
    rows = [{"version": v, "length": n} for v, n in sorted(missing)]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(NetworkLength).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(NetworkLength).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - Balai runs on SQLite and PostgreSQL only
        session.execute(insert(NetworkLength), rows)


def containing(value: Value, known: Lengths) -> list[str]:
    """The canonical texts of the networks, at the lengths in use, that contain a value
    (an address or a network), shortest prefix first."""
    if value.kind not in (ValueKind.IPV4, ValueKind.IPV6, ValueKind.CIDR):
        return []
    network = ipaddress.ip_network(value.value, strict=False)
    return [
        str(network.supernet(new_prefix=length))
        for length in sorted(known[network.version])
        if length < network.prefixlen
    ]
