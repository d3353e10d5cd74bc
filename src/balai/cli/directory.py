"""`balai org` and `balai directory`: organisations, import and export."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from balai.access.actor import CLI
from balai.cli.common import console, err, settings, unit_of_work
from balai.directory import io, service
from balai.directory.models import OrgKind, Sector
from balai.directory.schemas import OrganisationFilters, OrganisationIn
from balai.web.forms import problems_of

orgs = typer.Typer(help="Organisations.", no_args_is_help=True)
app = typer.Typer(help="Import and export the points-of-contact directory.", no_args_is_help=True)


@orgs.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[OrgKind, typer.Option(help="Kind of organisation.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code, for example TH.")],
    short_name: Annotated[str | None, typer.Option(help="Short name.")] = None,
    sector: Annotated[list[Sector] | None, typer.Option(help="A sector (repeat for more).")] = None,
    parent: Annotated[uuid.UUID | None, typer.Option(help="Id of the parent organisation.")] = None,
) -> None:
    """Create an organisation."""
    try:
        data = OrganisationIn(
            name=name,
            kind=kind,
            country=country,
            short_name=short_name,
            sectors=sector or [],
            parent_id=parent,
        )
    except ValidationError as exc:
        for problem in problems_of(exc):
            err.print(f"[red]error:[/red] --{problem.loc.replace('_', '-')}: {problem.msg}")
        raise typer.Exit(2) from None
    with unit_of_work(settings()) as session:
        org = service.create_organisation(session, actor=CLI, data=data)
        console.print(f"created {org.name} ({org.country}): {org.id}")


@orgs.command("list")
def org_list(
    country: Annotated[str | None, typer.Option(help="Only this country.")] = None,
) -> None:
    """List organisations."""
    with unit_of_work(settings()) as session:
        filters = OrganisationFilters(country=[country] if country else [])
        page = service.list_organisations(session, actor=CLI, filters=filters, per_page=500)
        table = Table("Id", "Country", "Name", "Kind", "Contacts")
        for org in page.items:
            table.add_row(
                str(org.id), org.country, org.name, org.kind.value, str(len(org.contacts))
            )
        console.print(table)


@app.command("import")
def directory_import(
    file: Annotated[
        Path, typer.Argument(help="Team-directory JSON file.", exists=True, dir_okay=False)
    ],
) -> None:
    """Import a team-directory file: all of it, or nothing, with every problem named."""
    data = file.read_bytes()
    with (
        Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
        ) as bar,
        unit_of_work(settings()) as session,
    ):
        task = bar.add_task("teams", total=None)
        report = io.import_directory(
            session,
            actor=CLI,
            data=data,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"organisations: {report.organisations_created} created, "
        f"{report.organisations_updated} updated; contacts: {report.contacts_created} created, "
        f"{report.contacts_updated} updated"
    )


@app.command("export")
def directory_export(
    format: Annotated[str, typer.Option(help="json or vcard.")] = "json",
    organisation: Annotated[uuid.UUID | None, typer.Option(help="Only this organisation.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Export the directory (or one organisation) as team-directory JSON or vCard."""
    if format not in {"json", "vcard"}:
        err.print("[red]error:[/red] --format: must be json or vcard")
        raise typer.Exit(2)
    with unit_of_work(settings()) as session:
        if organisation is not None:
            service.get_organisation(session, actor=CLI, organisation_id=organisation)
        if format == "vcard":
            text = io.export_vcards(session, actor=CLI, organisation_id=organisation)
        else:
            text = (
                json.dumps(
                    io.export_json(session, actor=CLI, organisation_id=organisation),
                    indent=2,
                    ensure_ascii=False,
                )
                + "\n"
            )
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
