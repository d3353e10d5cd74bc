"""`balai intel`: import intelligence files from the command line."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import select

from balai.access.actor import Actor, Via
from balai.accounts.models import User
from balai.cli.common import console, err, settings, unit_of_work
from balai.db import make_engine, make_sessionmaker
from balai.errors import NotFound
from balai.intel import imports
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import UploadFormat
from balai.intel.schemas import Marking
from balai.web.forms import build

app = typer.Typer(help="Threat intelligence.", no_args_is_help=True)


@app.command("import")
def intel_import(
    file: Annotated[Path, typer.Argument(help="The file to import.", exists=True, dir_okay=False)],
    user: Annotated[str, typer.Option(help="E-mail of the user whose organisation shares it.")],
    tlp: Annotated[Tlp, typer.Option(help="TLP 2.0 marking.")] = Tlp.AMBER,
    distribution: Annotated[
        Distribution, typer.Option(help="Who receives it.")
    ] = Distribution.COMMUNITY,
    sharing_group: Annotated[
        uuid.UUID | None, typer.Option(help="Sharing group id, with --distribution sharing_group.")
    ] = None,
    format: Annotated[UploadFormat, typer.Option(help="What the file is.")] = UploadFormat.STIX,
) -> None:
    """Import a file of intelligence as a user's organisation: all of it, or nothing."""
    data = file.read_bytes()
    with (
        Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
        ) as bar,
        unit_of_work(settings()) as session,
    ):
        marking = build(
            Marking, {"tlp": tlp, "distribution": distribution, "sharing_group_id": sharing_group}
        )
        owner = session.scalar(select(User).where(User.email == user.strip().lower()))
        if owner is None or not owner.active:
            raise NotFound(f"no active user with the e-mail address {user}")
        actor = Actor(via=Via.CLI, user=owner)
        task = bar.add_task("objects", total=None)
        batch = imports.import_file(
            session,
            actor=actor,
            fmt=format.import_format,
            data=data,
            marking=marking,
            filename=file.name,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        counts = batch.report["counts"]
    created = sum(counts["created"].values())
    versions = sum(counts["new_versions"].values())
    present = sum(counts["already_present"].values())
    console.print(
        f"imported {created} new objects and {versions} new versions; {present} already here; "
        f"{counts['values_indexed']} values indexed (import {batch.id})"
    )


warninglists_app = typer.Typer(help="MISP warninglists.", no_args_is_help=True)


@warninglists_app.command("load")
def warninglists_load(
    only: Annotated[
        list[str] | None, typer.Option("--list", help="Load only this list (repeat for more).")
    ] = None,
) -> None:
    """Load the MISP warninglists shipped with pymispwarninglists, replacing those stored."""
    from balai.intel import warninglists

    engine = make_engine(settings().database_url, pool=False)
    with Progress(
        TextColumn("loading warninglists"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("entries", total=None)
        count = warninglists.load(
            make_sessionmaker(engine),
            only=only,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    engine.dispose()
    if only and count < len(set(only)):
        err.print("[yellow]warning:[/yellow] some named lists do not exist in the package")
    console.print(f"loaded {count} warninglists")
