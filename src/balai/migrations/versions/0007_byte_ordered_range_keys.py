"""byte-ordered range keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:10:00

The hex bounds of addresses and the reversed labels of domains are searched by range;
on PostgreSQL they take the C collation so that the ranges hold under any database
locale. SQLite compares bytes already, so nothing changes there.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = [
    ("observable_values", "ip_first", 32),
    ("observable_values", "ip_last", 32),
    ("observable_values", "rev", 260),
    ("warninglist_entries", "ip_first", 32),
    ("warninglist_entries", "ip_last", 32),
]


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        kind = f'varchar({length}) COLLATE "{collation}"'
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
