"""TAXII 2.1 paging: Balai against medallion and OpenTAXII on the same objects and machine.

    bench/baselines.sh                       # once: medallion and OpenTAXII in bench/.venvs
    .venv/bin/python -m bench.taxii_bench --count 1000000 --db sqlite

Stores the same indicators in each server (Balai through its import; OpenTAXII by bulk insert
into its own tables; medallion in its memory back end, the only one it ships besides
MongoDB), serves each as a real process on loopback, and pages through one collection
`--limit` objects at a time with the same HTTP client. Every server is timed over the same
first `--pages` pages (objects per second, median and p99 page latency); Balai also pages
through the whole collection. The ratio is Balai's rate over the faster reference server's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from balai.access.actor import Actor, Via
from balai.accounts.models import User
from balai.accounts.schemas import ApiKeyCreate
from balai.accounts.service import create_api_key
from balai.db import make_engine, make_sessionmaker, transaction
from balai.intel.stix_io import import_stix
from balai.migrate import upgrade
from balai.taxii.collections import COMMUNITY
from bench.datasets import TRAILS, bundles, mixed_values
from bench.intel_bench import MARKING, SECRET, database, drop, members

console = Console()
HERE = Path(__file__).parent
VENVS = HERE / ".venvs"
TAXII = "application/taxii+json;version=2.1"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(
    command: list[str], health: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[None]:
    """A server process, up when `health` answers, stopped afterwards."""
    server = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {server.returncode}")
            try:
                httpx.get(health, timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def page_through(
    url: str, headers: dict[str, str], limit: int, pages: int | None, label: str
) -> dict[str, float]:
    """GET a collection's objects page after page; rate and page latencies."""
    latencies: list[float] = []
    objects = 0
    params = {"limit": str(limit)}
    seen: set[str] = set()
    with (
        httpx.Client(headers={"Accept": TAXII, **headers}, timeout=1800) as client,
        Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        task = bar.add_task("pages", total=pages)
        client.get(url, params={"limit": "1"})  # warm-up, untimed: connections, caches
        started = time.perf_counter()
        while True:
            begun = time.perf_counter()
            response = client.get(url, params=params)
            body = response.json()
            latencies.append((time.perf_counter() - begun) * 1000)
            assert response.status_code == 200, response.text[:500]
            got = [o["id"] for o in body.get("objects", [])]
            seen.update(got)
            objects += len(got)
            bar.advance(task)
            if not body.get("more") or (pages is not None and len(latencies) >= pages):
                break
            params = {"limit": str(limit), "next": str(body["next"])}
        elapsed = time.perf_counter() - started
    first = latencies[0]
    assert len(seen) == objects, f"{label}: {objects - len(seen)} objects came twice"
    latencies.sort()
    return {
        "pages": len(latencies),
        "objects": objects,
        "objects_per_s": round(objects / elapsed),
        "page_p50_ms": round(statistics.median(latencies), 1),
        "page_p99_ms": round(
            latencies[min(len(latencies) - 1, math.ceil(len(latencies) * 0.99) - 1)], 1
        ),
        "first_page_ms": round(first, 1),
    }


def balai(
    url: str, payloads: list[bytes], limit: int, pages: int
) -> tuple[dict[str, float], dict[str, float]]:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    sharer, reader = members(factory)
    with Progress(
        TextColumn("Balai: importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("bundles", total=len(payloads))
        for payload in payloads:
            with transaction(factory) as session:
                import_stix(
                    session, actor=Actor(via=Via.CLI, user=sharer), data=payload, marking=MARKING
                )
            bar.advance(task)
    with transaction(factory) as session:
        owner = session.get(User, reader.id)
        key, _ = create_api_key(
            session, actor=Actor(via=Via.CLI, user=owner), data=ApiKeyCreate(name="bench")
        )
    engine.dispose()
    port = free_port()
    env = {
        "BALAI_DATABASE_URL": url,
        "BALAI_SECRET_KEY": SECRET,
        "BALAI_LOG_LEVEL": "WARNING",
        "BALAI_BASE_URL": f"http://127.0.0.1:{port}",
    }
    command = [sys.executable, "-m", "balai", "serve", "--port", str(port)]
    objects = f"http://127.0.0.1:{port}/taxii2/api/collections/{COMMUNITY}/objects/"
    headers = {"Authorization": f"Bearer {key}"}
    with process(command, f"http://127.0.0.1:{port}/healthz", env):
        first = page_through(objects, headers, limit, pages, "Balai: first pages")
        whole = page_through(objects, headers, limit, None, "Balai: every page")
    return first, whole


def medallion(
    workdir: Path, objects: list[dict[str, object]], limit: int, pages: int
) -> dict[str, float]:
    collection = str(uuid.uuid4())
    added = "2026-11-01T00:00:00.000000Z"
    data = {
        "/discovery": {
            "title": "bench",
            "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"],
        },
        "api1": {
            "information": {
                "title": "bench",
                "versions": [TAXII],
                "max_content_length": 10_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "bench",
                    "can_read": True,
                    "can_write": False,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": [
                        {
                            "id": o["id"],
                            "date_added": added,
                            "version": o["modified"],
                            "media_type": "application/stix+json;version=2.1",
                        }
                        for o in objects
                    ],
                }
            ],
        },
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(workdir / "medallion-data.json"),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": limit},
    }
    (workdir / "medallion.json").write_text(json.dumps(config))
    port = free_port()
    command = [
        str(VENVS / "medallion" / "bin" / "medallion"),
        "--port",
        str(port),
        str(workdir / "medallion.json"),
    ]
    url = f"http://127.0.0.1:{port}/api1/collections/{collection}/objects/"
    auth = httpx.BasicAuth("bench", "bench")
    headers = {"Authorization": auth._auth_header}  # the header httpx would send
    with process(command, f"http://127.0.0.1:{port}/taxii2/"):
        return page_through(url, headers, limit, pages, "medallion")


def opentaxii(
    workdir: Path, objects: list[dict[str, object]], url: str, limit: int, pages: int
) -> dict[str, float]:
    python = VENVS / "opentaxii" / "bin" / "python"
    url = url.replace("+psycopg", "+psycopg2")  # OpenTAXII's SQLAlchemy speaks psycopg2
    jsonl = workdir / "objects.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for obj in objects:
            handle.write(json.dumps(obj) + "\n")
    loaded = subprocess.run(
        [str(python), str(HERE / "opentaxii_load.py"), url, str(jsonl)],
        check=False,
        capture_output=True,
        text=True,
    )
    if loaded.returncode != 0:
        raise RuntimeError(f"loading OpenTAXII failed: {loaded.stderr[-2000:]}")
    ids = json.loads(loaded.stdout.strip().splitlines()[-1])
    port = free_port()
    config = workdir / "opentaxii.yml"
    data_url = url
    config.write_text(
        f'domain: "127.0.0.1:{port}"\n'
        "support_basic_auth: yes\n"
        "return_server_error_details: no\n"
        "auth_api:\n"
        "  class: opentaxii.auth.sqldb.SQLDatabaseAPI\n"
        "  parameters:\n"
        f"    db_connection: sqlite:///{workdir / 'auth.db'}\n"
        "    create_tables: yes\n"
        "    secret: bench-secret-for-a-throwaway-server\n"
        "    token_ttl_secs: 3600\n"
        "taxii1: false\n"
        "taxii2:\n"
        "  persistence_api:\n"
        "    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI\n"
        "    parameters:\n"
        f"      db_connection: {data_url}\n"
        "      create_tables: no\n"
        "  max_content_length: 10000000\n"
        "  title: bench\n"
        "  public_discovery: true\n"
        "logging:\n"
        "  opentaxii: warning\n"
        "  root: warning\n"
    )
    server = (
        f"from opentaxii.http import app; app.run(host='127.0.0.1', port={port}, threaded=True)"
    )
    command = [str(python), "-c", server]
    objects_url = (
        f"http://127.0.0.1:{port}/taxii2/{ids['api_root']}/collections/{ids['collection']}/objects/"
    )
    with process(command, f"http://127.0.0.1:{port}/taxii2/", {"OPENTAXII_CONFIG": str(config)}):
        return page_through(objects_url, {}, limit, pages, "OpenTAXII")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="objects each server holds")
    parser.add_argument(
        "--medallion-count",
        type=int,
        default=5_000,
        help="objects medallion holds: its memory back end is quadratic in the collection",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--limit", type=int, default=1000, help="objects a page")
    parser.add_argument("--pages", type=int, default=20, help="first pages timed on each server")
    parser.add_argument("--skip", nargs="*", default=[], choices=["medallion", "opentaxii"])
    args = parser.parse_args()
    if not TRAILS.exists():
        sys.exit(f"{TRAILS} is absent: the benchmark reads maltrail's trails from shared/data")
    for name in {"medallion", "opentaxii"} - set(args.skip):
        if not (VENVS / name / "bin" / "python").exists():
            sys.exit(f"{name} is not installed: run bench/baselines.sh first")
    console.print(f"generating {args.count:,} indicators …")
    documents = list(bundles(mixed_values(args.count), 10_000))
    objects = [o for b in documents for o in b["objects"]]  # type: ignore[attr-defined]
    results: dict[str, object] = {
        "count": args.count,
        "medallion_count": args.medallion_count,
        "limit": args.limit,
        "pages_timed": args.pages,
        "db": args.db,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    saved = out / f"taxii-{args.db}.json"

    def save() -> None:  # after each server, so a server that never answers loses nothing
        saved.write_text(json.dumps(results, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, name = database(args.db, workdir)
        try:
            payloads = [json.dumps(b).encode() for b in documents]
            results["balai"], results["balai_every_page"] = balai(
                url, payloads, args.limit, args.pages
            )
        finally:
            drop(name)
        save()
        if "opentaxii" not in args.skip:
            (workdir / "opentaxii").mkdir()
            url, name = (
                database(args.db, workdir / "opentaxii")
                if args.db == "postgresql"
                else (f"sqlite:///{workdir / 'opentaxii.sqlite3'}", None)
            )
            try:
                results["opentaxii"] = opentaxii(workdir, objects, url, args.limit, args.pages)
            finally:
                drop(name)
            save()
        if "medallion" not in args.skip:
            small = objects[: args.medallion_count]
            results["medallion"] = medallion(workdir, small, args.limit, args.pages)
    if "opentaxii" in results:
        reference: dict[str, float] = results["opentaxii"]  # type: ignore[assignment]
        mine: dict[str, float] = results["balai"]  # type: ignore[assignment]
        results["balai_vs_opentaxii_objects_per_s"] = round(
            mine["objects_per_s"] / reference["objects_per_s"], 1
        )
        results["opentaxii_vs_balai_p99"] = round(reference["page_p99_ms"] / mine["page_p99_ms"], 1)
    table = Table(title=f"TAXII paging ({args.db}, {args.limit} a page)")
    for column in ("server", "held", "pages", "objects/s", "p50 ms", "p99 ms", "first ms"):
        table.add_column(column, justify="right")
    for key in ("balai", "balai_every_page", "opentaxii", "medallion"):
        if key in results:
            row: dict[str, float] = results[key]  # type: ignore[assignment]
            held = args.medallion_count if key == "medallion" else args.count
            fields = ("pages", "objects_per_s", "page_p50_ms", "page_p99_ms", "first_page_ms")
            table.add_row(key, f"{held:,}", *(str(row[k]) for k in fields))
    console.print(table)
    for key in ("balai_vs_opentaxii_objects_per_s", "opentaxii_vs_balai_p99"):
        if key in results:
            console.print(f"{key}: {results[key]}")
    save()


if __name__ == "__main__":
    main()
