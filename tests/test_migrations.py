"""Every schema change is a migration: the models and the migrated database agree."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from balai.migrate import drift


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    assert drift(engine) == []


def test_audit_log_refuses_updates_and_deletes_in_the_database(engine: Engine) -> None:
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(
            text(
                "INSERT INTO audit_events (at, action, actor_label, details) "
                "VALUES (CURRENT_TIMESTAMP, 'test:event:made', 'tester', '{}')"
            )
        )
        nested = conn.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit_events SET actor_label = 'forger'"))
        nested.rollback()
        nested = conn.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit_events"))
        nested.rollback()
        trans.rollback()


def test_audit_log_refuses_truncate_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    with engine.connect() as conn, conn.begin(), pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("TRUNCATE audit_events"))


def test_range_keys_compare_bytes_whatever_the_database_locale(engine: Engine) -> None:
    """Hex bounds and reversed domains are searched by range: a linguistic collation,
    which skips punctuation, would put 'com.example/' before 'com.example.www'."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite compares bytes; only PostgreSQL has per-column collations")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE column_name IN ('ip_first', 'ip_last', 'rev')"
            )
        ).all()
    assert {(t, c) for t, c, _ in rows} == {
        ("observable_values", "ip_first"),
        ("observable_values", "ip_last"),
        ("observable_values", "rev"),
        ("warninglist_entries", "ip_first"),
        ("warninglist_entries", "ip_last"),
    }
    assert {collation for _, _, collation in rows} == {"C"}
