"""Alembic environment: the URL comes from the caller (balai db upgrade) or BALAI_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from balai.db import make_engine
from balai.models import metadata

config = context.config


def run_migrations_online() -> None:
    """Run migrations on a live connection (or one passed in by the caller)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from balai.config import load_settings

        url = load_settings(demo=True).database_url
    engine = make_engine(url, pool=False)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic accepts any Connection
        target_metadata=metadata,
        render_as_batch=True,  # SQLite changes columns by copying tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
