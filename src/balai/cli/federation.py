"""`balai federation`: peers, and pulling from and pushing to them."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from balai.access.actor import Actor, Via
from balai.cli.common import console, err, settings, unit_of_work
from balai.federation import service
from balai.federation.schemas import PeerIn
from balai.intel.markings import Distribution
from balai.taxii.collections import COMMUNITY, CONNECTED
from balai.templating import utc_text
from balai.web.forms import build

app = typer.Typer(help="Federation with other Balai instances and TAXII 2.1 servers.")
CLI = Actor(via=Via.CLI)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the peer.")],
    url: Annotated[str, typer.Option(help="The peer's TAXII 2.1 API root URL.")],
    organisation: Annotated[
        uuid.UUID, typer.Option(help="Id of the organisation that stands for the peer here.")
    ],
    secret: Annotated[
        str,
        typer.Option(
            prompt="API key (or password) of this instance at the peer",
            hide_input=True,
            envvar="BALAI_PEER_SECRET",
            help="Read from BALAI_PEER_SECRET or asked for; never give it on the command line.",
            show_default=False,
        ),
    ],
    username: Annotated[
        str | None, typer.Option(help="User name for HTTP Basic (else the key goes as Bearer).")
    ] = None,
    pull: Annotated[
        str | None,
        typer.Option(
            help=f"Collection to pull from (a Balai peer: {CONNECTED}).", show_default=False
        ),
    ] = None,
    distribution: Annotated[
        Distribution, typer.Option(help="How pulled intelligence is shared here.")
    ] = Distribution.COMMUNITY,
    group: Annotated[
        uuid.UUID | None, typer.Option(help="Sharing group for --distribution sharing_group.")
    ] = None,
    open_feed: Annotated[
        bool, typer.Option(help="The pulled collection is a feed meant for wide sharing.")
    ] = False,
    push: Annotated[
        str | None,
        typer.Option(
            help=f"Collection that receives connected-communities intelligence "
            f"(a Balai peer: {COMMUNITY}).",
            show_default=False,
        ),
    ] = None,
    push_restricted: Annotated[
        str | None,
        typer.Option(
            help="Collection that receives intelligence shared with a sharing group the "
            "peer's organisation is in.",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        int | None, typer.Option(help="Sync every this many minutes (the worker does it).")
    ] = None,
) -> None:
    """Add a peer to pull from, push to, or both."""
    config = settings()
    with unit_of_work(config) as session:
        data = build(
            PeerIn,
            {
                "name": name,
                "api_root": url,
                "username": username,
                "secret": secret,
                "organisation_id": organisation,
                "pull_collection": pull,
                "pull_distribution": distribution,
                "pull_group_id": group,
                "open_feed": open_feed,
                "push_collection": push,
                "push_restricted_collection": push_restricted,
                "interval_minutes": interval,
            },
        )
        peer = service.add_peer(session, actor=CLI, settings=config, data=data)
        console.print(f"added peer {peer.name} ({peer.id})")


@app.command("list")
def list_() -> None:
    """Peers, their last sync and its outcome."""
    with unit_of_work(settings()) as session:
        table = Table("name", "API root", "pull", "push", "every", "last sync (UTC)", "last error")
        for peer in service.list_peers(session, actor=CLI):
            table.add_row(
                peer.name,
                peer.api_root,
                peer.pull_collection or "—",
                ", ".join(filter(None, [peer.push_collection, peer.push_restricted_collection]))
                or "—",
                f"{peer.interval_minutes} min" if peer.interval_minutes else "by hand",
                utc_text(peer.last_sync_at) if peer.last_sync_at else "never",
                peer.last_error or "",
            )
        console.print(table)


PeerName = Annotated[str, typer.Argument(help="The peer's name or id.")]
PageSize = Annotated[int, typer.Option(min=1, max=10_000, help="Objects a request.")]


def _run(name: str, page_size: int, direction: str) -> None:
    """Pull or push, committing each page; report how far it got, and fail on an error."""
    config = settings()
    act, verb, where = (
        (service.pull, "pulled", "from") if direction == "pull" else (service.push, "pushed", "to")
    )
    with unit_of_work(config) as session:
        peer = service.get_peer(session, actor=CLI, key=name)
        with console.status(f"{direction}ing {where} {peer.name}"):
            run = act(
                session, peer=peer, settings=config, checkpoint=session.commit, page_size=page_size
            )
    if run.error:
        err.print(f"[red]error:[/red] {verb} stopped after {run.objects} objects: ", end="")
        err.print(run.error, markup=False)
        raise typer.Exit(1)
    console.print(f"{verb} {run.objects} objects in {run.pages} pages")


@app.command("pull")
def pull_(name: PeerName, page_size: PageSize = 1000) -> None:
    """Pull what the peer added since the last pull (resumes where a crash stopped it)."""
    _run(name, page_size, "pull")


@app.command("push")
def push_(name: PeerName, page_size: PageSize = 1000) -> None:
    """Push what the peer may receive and has not yet."""
    _run(name, page_size, "push")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The peer's name or id.")]) -> None:
    """Remove a peer (what it sent stays, held by its organisation)."""
    with unit_of_work(settings()) as session:
        service.remove_peer(session, actor=CLI, key=name)
    console.print(f"removed peer {name}")
