"""`balai scan` and `balai export`: the platform's indicators where the logs and engines are.

Both talk to a Balai server through its API (``--server`` and ``--api-key``, or
BALAI_SERVER and BALAI_API_KEY), so anyone with an account can run them on their own machine.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from balai.cli.common import err
from balai.scan import cache, client, engine, report
from balai.scan.engine import FileHit, ScanError
from balai.scan.indicators import IndicatorError, Loaded, load_file
from balai.scan.report import Tally

EXIT_CLEAN, EXIT_HITS, EXIT_ERROR = 0, 1, 2

ServerOption = Annotated[
    str | None, typer.Option("--server", envvar="BALAI_SERVER", help="Balai server URL.")
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="BALAI_API_KEY", help="Your API key on that server."),
]


class OutputFormat(StrEnum):
    """How hits are written."""

    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"


class SendMode(StrEnum):
    """What a scan sends back to the platform, with the user's consent."""

    NONE = "none"
    COUNTS = "counts"
    FULL = "full"


def _fail(message: str) -> typer.Exit:
    err.print("[red]error:[/red] ", end="")
    err.print(message, markup=False)
    return typer.Exit(EXIT_ERROR)


def _server(url: str | None, key: str | None) -> client.Server | None:
    if not url and not key:
        return None
    if not url or not key:
        raise _fail("give both --server and --api-key (or BALAI_SERVER and BALAI_API_KEY)")
    return client.Server(url, key)


def _download(server: client.Server, path: Path) -> cache.CacheInfo:
    with Progress(
        TextColumn("downloading indicators"),
        TextColumn("{task.completed:,} values"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("download", total=None)
        rows = client.indicator_rows(server, lambda n: bar.advance(task, n))
        done = cache.write(path, server.url, rows)
    err.print(f"Downloaded {done.values:,} indicator values from {server.url}.")
    return done


def _indicators(
    indicators: Path | None,
    server: client.Server | None,
    *,
    refresh: bool,
    offline: bool,
    max_age_hours: float,
    include_warninglisted: bool,
) -> Loaded:
    if indicators is not None:
        return load_file(indicators, include_warninglisted=include_warninglisted)
    if server is None:
        raise _fail(
            "no indicators: give --indicators FILE, or --server and --api-key to use the"
            " platform's (BALAI_SERVER and BALAI_API_KEY)"
        )
    path = cache.cache_path(cache.default_dir(), server.url, server.api_key)
    held = cache.info(path)
    stale = held is None or datetime.now(UTC) - held.downloaded_at > timedelta(hours=max_age_hours)
    if refresh or (stale and not offline):
        try:
            _download(server, path)
        except ScanError as error:
            if held is None or refresh:
                raise
            err.print(
                f"[yellow]warning:[/yellow] {error}; using the copy from"
                f" {held.downloaded_at:%Y-%m-%d %H:%M} UTC"
            )
    elif held is None:
        raise _fail(f"no downloaded indicators for {server.url} yet: run once without --offline")
    return cache.load(path, include_warninglisted=include_warninglisted)


def _write_hits(out: TextIO, fmt: OutputFormat, hits: Iterable[FileHit], tally: Tally) -> None:
    if fmt == OutputFormat.JSONL:
        out.writelines(report.jsonl_lines(hits, tally))
    elif fmt == OutputFormat.CSV:
        out.writelines(report.csv_lines(hits, tally))
    else:
        for hit in hits:
            tally.add(hit)
        table = Table("Indicator", "Type", "Hits", "Files", "First hit", "About")
        for row in report.table_rows(tally):
            table.add_row(*row)
        if tally.found:
            Console(file=out, width=160).print(table)


def scan(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Log files and folders (plain, .gz, .bz2, .xz).")
    ] = None,
    indicators: Annotated[
        Path | None,
        typer.Option(
            "--indicators",
            help="A list (one value a line), type<TAB>value lines, a STIX 2.1 bundle, a MISP"
            " event or a MISP feed folder. Without it: the platform's, from --server.",
        ),
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="How hits are written.")] = (
        OutputFormat.TABLE
    ),
    jobs: Annotated[
        int, typer.Option("--jobs", min=0, help="Worker processes (0: one per processor).")
    ] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write hits to this file.")
    ] = None,
    include_warninglisted: Annotated[
        bool,
        typer.Option(help="Alert on values that are on MISP warninglists too."),
    ] = False,
    send: Annotated[
        SendMode,
        typer.Option(
            "--send",
            help="Report hits to the platform as sightings: counts (per indicator), full (counts"
            " with first and last seen). Never log lines or addresses.",
        ),
    ] = SendMode.NONE,
    server_url: ServerOption = None,
    api_key: KeyOption = None,
    refresh: Annotated[bool, typer.Option(help="Download the indicators again first.")] = False,
    offline: Annotated[
        bool, typer.Option(help="Use the downloaded copy, whatever its age.")
    ] = False,
    max_age_hours: Annotated[
        float, typer.Option(help="Download again when the copy is older than this.")
    ] = 24.0,
) -> None:
    """Scan logs for the shared indicators. Exit status: 0 nothing found, 1 hits, 2 error."""
    started = time.monotonic()
    server = _server(server_url, api_key)
    try:
        loaded = _indicators(
            indicators,
            server,
            refresh=refresh,
            offline=offline,
            max_age_hours=max_age_hours,
            include_warninglisted=include_warninglisted,
        )
        if not paths:
            if refresh:
                raise typer.Exit(EXIT_CLEAN)
            raise _fail("name at least one log file or folder")
        files = engine.find_files(str(p) for p in paths)
    except (ScanError, IndicatorError) as error:
        raise _fail(str(error)) from None
    if send != SendMode.NONE and server is None:
        raise _fail("--send needs the platform's indicators (--server and --api-key)")
    loaded_in = time.monotonic() - started
    _summarise_load(loaded, loaded_in)
    total = sum(path.stat().st_size for path in files)
    tally = Tally(loaded)
    scan_started = time.monotonic()
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("scan", total=total)
            hits = engine.scan_files(
                loaded.indicators,
                files,
                jobs=jobs or engine.cpu_count(),
                progress=lambda done: bar.advance(task, done),
            )
            _write_hits(out, format, hits, tally)
    except ScanError as error:
        raise _fail(str(error)) from None
    finally:
        if output:
            out.close()
    elapsed = time.monotonic() - scan_started
    err.print(
        f"Scanned {len(files):,} files, {total / 1e6:,.1f} MB in {elapsed:.1f} s"
        f" ({total / 1e6 / max(elapsed, 1e-9):,.0f} MB/s): {tally.hits:,} hits"
        f" of {len(tally.found):,} indicators."
    )
    if send != SendMode.NONE and server is not None:
        _send(server, tally, with_times=send == SendMode.FULL)
    raise typer.Exit(EXIT_HITS if tally.found else EXIT_CLEAN)


def _summarise_load(loaded: Loaded, seconds: float) -> None:
    err.print(f"Loaded {loaded.values:,} indicator values from {loaded.source} in {seconds:.1f} s.")
    if loaded.skipped:
        err.print(
            f"Skipped {loaded.skipped:,} entries that are no indicator values, such as: "
            + ", ".join(loaded.skipped_examples),
            markup=False,
        )
    if loaded.warninglisted:
        err.print(
            f"Left out {loaded.warninglisted:,} values on MISP warninglists"
            " (--include-warninglisted keeps them), such as: "
            + ", ".join(loaded.warninglisted_examples),
            markup=False,
        )


def _send(server: client.Server, tally: Tally, *, with_times: bool) -> None:
    now = datetime.now(UTC)
    by_id: dict[str, dict[str, Any]] = {}
    for entry in tally.found.values():
        for stix_id in sorted({info.stix_id for info in entry.info if info.stix_id}):
            held = by_id.setdefault(
                stix_id, {"stix_id": stix_id, "count": 0, "first_seen": None, "last_seen": None}
            )
            held["count"] += entry.count
            for name, pick in (("first_seen", min), ("last_seen", max)):
                moment = getattr(entry, name)
                if moment is not None and moment <= now:
                    held[name] = moment if held[name] is None else pick(held[name], moment)
    if not by_id:
        err.print("Nothing to send: no hit is of a platform indicator.")
        return
    try:
        sent = client.send_sightings(server, list(by_id.values()), with_times=with_times)
    except ScanError as error:
        raise _fail(f"the sightings were not sent: {error}") from None
    what = "counts with first and last seen" if sent.with_times else "counts only"
    err.print(
        f"Sent sightings of {sent.indicators:,} indicators to {server.url} ({what});"
        " no log lines, file names or addresses were sent."
    )


class ExportFormat(StrEnum):
    """Files for detection engines."""

    ZEEK = "zeek"
    SURICATA = "suricata"
    RPZ = "rpz"
    TEXT = "text"


def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="Which engine's files.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write (zeek, rpz), or folder to unpack into (suricata, text);"
            " a name ending in .zip keeps the archive. Default: the server's file name here.",
        ),
    ] = None,
    server_url: ServerOption = None,
    api_key: KeyOption = None,
    origin: Annotated[str, typer.Option(help="The RPZ zone's origin.")] = "rpz.balai",
) -> None:
    """Download the indicators you may see and act on (PAP) as Zeek intel, Suricata datasets
    and IP reputation, a DNS RPZ zone, or plain lists per type."""
    server = _server(server_url, api_key)
    if server is None:
        raise _fail("give --server and --api-key (or BALAI_SERVER and BALAI_API_KEY)")
    try:
        content, name = client.export_file(server, format.value, origin=origin)
    except ScanError as error:
        raise _fail(str(error)) from None
    target = output or Path(name)
    if name.endswith(".zip") and target.suffix != ".zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            archive.extractall(target)
        err.print(f"Wrote {len(names)} files to {target}/: {', '.join(names)}")
        return
    target.write_bytes(content)
    err.print(f"Wrote {target} ({len(content):,} bytes).")
