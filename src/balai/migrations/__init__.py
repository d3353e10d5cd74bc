"""Alembic migrations: every schema change is one."""
