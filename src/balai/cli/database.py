"""`balai db`: migrate and check the schema."""

from __future__ import annotations

import typer

from balai.cli.common import console, err, settings
from balai.db import make_engine
from balai.migrate import drift, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration the database lacks."""
    engine = make_engine(settings().database_url, pool=False)
    upgrade(engine)
    engine.dispose()
    console.print("database is up to date")


@app.command("check")
def db_check() -> None:
    """Fail when the models and the migrated schema differ (a migration is missing)."""
    engine = make_engine(settings().database_url, pool=False)
    differences = drift(engine)
    engine.dispose()
    if differences:
        for difference in differences:
            err.print(f"  {difference}")
        err.print("[red]error:[/red] the models differ from the migrations")
        raise typer.Exit(1)
    console.print("models and migrations agree")
