"""network lengths

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:20:00

The prefix lengths that indexed networks use, so that the networks containing an address
are found by exact look-ups of its supernets instead of a range scan; backfilled from the
networks already indexed.
"""

from __future__ import annotations

import ipaddress

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lengths = op.create_table(
        "network_lengths",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("version", "length", name=op.f("pk_network_lengths")),
    )
    values = sa.table("observable_values", sa.column("kind"), sa.column("value"))
    found = set()
    for (text,) in op.get_bind().execute(
        sa.select(values.c.value).where(values.c.kind == "cidr").distinct()
    ):
        network = ipaddress.ip_network(text, strict=False)
        found.add((network.version, network.prefixlen))
    if found:
        op.bulk_insert(lengths, [{"version": v, "length": n} for v, n in sorted(found)])


def downgrade() -> None:
    op.drop_table("network_lengths")
