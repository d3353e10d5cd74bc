"""The `balai` command's tree: each domain adds its commands here."""

from __future__ import annotations

import typer

from balai.cli import accounts, database, directory, federation, intel, scan, server

app = typer.Typer(
    name="balai",
    help="Balai: points of contact, communication checks and cooperation for a region.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(server.serve)
app.command("worker")(server.worker)
app.command("demo")(server.demo)
app.add_typer(database.app, name="db")
app.add_typer(accounts.users, name="user")
app.add_typer(accounts.keys, name="apikey")
app.add_typer(directory.orgs, name="org")
app.add_typer(directory.app, name="directory")
app.add_typer(intel.app, name="intel")
app.add_typer(intel.warninglists_app, name="warninglists")
app.add_typer(federation.app, name="federation")
app.command("scan")(scan.scan)
app.command("export")(scan.export)
