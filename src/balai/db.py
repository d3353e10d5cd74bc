"""SQLAlchemy base, engine and session, and the column types every domain uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, String, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no zone, so naive values read back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Balai table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def enum_column(enum: type[StrEnum], name: str) -> Enum:
    """A portable enum column that stores the values, not the Python names."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        length=40,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def ordered_string(length: int) -> String:
    """A string compared byte by byte, as range queries over encoded keys need.

    Hex bounds and reversed domain labels are searched with `>=` and `<`; under a
    PostgreSQL database whose collation is linguistic (en_US.UTF-8), punctuation would be
    ignored at first and the ranges would be wrong, so the column takes the C collation.
    SQLite compares bytes already.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class UUIDPk:
    """A random UUID primary key: public identifiers reveal neither counts nor order."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN, so savepoints and transactional DDL work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: two deferred transactions that both read and
    # then write would otherwise fail with SQLITE_BUSY instead of waiting their turn.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """Create an engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            poolclass=None if pool else NullPool,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    # Prepared statements get generic plans after a few runs; for "id IN (500 values)" on a
    # table growing under a large import, a generic plan is a sequential scan. Plan each query.
    # JIT compiles any query whose estimated cost is high; for the short look-ups Balai runs,
    # compiling took 0.3 s against milliseconds of work, so it is off.
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "connect_args": {"options": "-c plan_cache_mode=force_custom_plan -c jit=off"},
    }
    if not pool:
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit (for rendering)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


SessionFactory = Callable[[], Session]


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def refresh_statistics(session: Session, tables: list[str]) -> list[str]:
    """ANALYZE the tables that grew or changed by a tenth since they were last analysed.

    Both planners need row statistics to prefer an object's id index over a sharing group's
    ten thousand rows. PostgreSQL's autovacuum keeps them if it runs, and SQLite has nobody
    to; so large imports call this, applying autovacuum's own rule (50 rows plus 10%).
    SQLite samples a thousand rows an index, which keeps this quick at any size. Answers
    the tables analysed.
    """
    bind = session.get_bind()
    stale: list[str] = []
    if bind.dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(:tables) "
                "AND n_mod_since_analyze > 50 + 0.1 * GREATEST(n_live_tup, 0)"
            ),
            {"tables": tables},
        )
        stale = [name for (name,) in rows]
    elif bind.dialect.name == "sqlite":
        has_stats = session.execute(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).scalar_one()
        for table in tables:
            count = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608  # our own table names
            counted = session.execute(count).scalar_one()
            known = None
            if has_stats:
                stat = session.execute(
                    text("SELECT stat FROM sqlite_stat1 WHERE tbl = :table LIMIT 1"),
                    {"table": table},
                ).scalar()
                known = int(stat.split()[0]) if stat else None
            if (known is None and counted > 1000) or (
                known is not None and (abs(counted - known) > 50 + 0.1 * known)
            ):
                stale.append(table)
        if stale:
            session.execute(text("PRAGMA analysis_limit = 1000"))
    for table in stale:
        session.execute(text(f'ANALYZE "{table}"'))
    return stale
