"""What every command shares: settings, a unit of work, and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.orm import Session

from balai.config import Settings, load_settings
from balai.db import make_engine, make_sessionmaker, transaction
from balai.errors import BalaiError, ValidationFailed

console = Console()
err = Console(stderr=True)


def settings() -> Settings:
    """Settings from the environment; a bad value stops the command with its name."""
    try:
        return load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            where = ".".join(str(p) for p in error["loc"])
            prefix = f"BALAI_{where.upper()}: " if where else ""
            err.print("[red]error:[/red] ", end="")
            err.print(f"{prefix}{message}", markup=False)
        raise typer.Exit(2) from None


@contextmanager
def unit_of_work(config: Settings) -> Iterator[Session]:
    """One transaction for the command; a domain error prints and exits with status 1."""
    engine = make_engine(config.database_url, pool=False)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except ValidationFailed as exc:
        err.print(f"[red]error:[/red] {len(exc.problems)} problem(s); nothing was changed")
        for problem in exc.problems:
            err.print(f"  {problem.loc}: {problem.msg}", markup=False)
        raise typer.Exit(1) from None
    except BalaiError as exc:
        err.print("[red]error:[/red] ", end="")
        err.print(exc.message, markup=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
