"""Intelligence at scale: ingest, correlation and lookup with a million indicators.

    .venv/bin/python -m bench.intel_bench --count 1000000 --db sqlite
    .venv/bin/python -m bench.intel_bench --count 1000000 --db postgresql

Prints, for the chosen database: the stix2 library's parse rate on the same bundles (the
baseline), Balai's ingest rate in bundles of 10,000, the time to correlate a new report of
10,000 indicators against everything stored, and the latency of value look-ups through the
REST API of a real server process. Figures are medians unless said otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, select, text

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User
from balai.accounts.schemas import ApiKeyCreate
from balai.accounts.service import create_api_key
from balai.db import make_engine, make_sessionmaker, transaction
from balai.directory.models import Organisation, OrgKind
from balai.intel.correlation import correlate
from balai.intel.markings import Distribution, Tlp
from balai.intel.models import StixObject
from balai.intel.schemas import Marking
from balai.intel.stix_io import import_stix
from bench.datasets import TRAILS, bundles, mixed_values, synthetic_values

console = Console()
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"  # noqa: S105  # a throwaway instance
MARKING = Marking(tlp=Tlp.GREEN, distribution=Distribution.COMMUNITY)


def database(kind: str, workdir: Path) -> tuple[str, str | None]:
    """A fresh database URL (and, for PostgreSQL, the name to drop afterwards)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    name = f"balai_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop(name: str | None) -> None:
    if name is None:
        return
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def members(factory: object) -> tuple[User, User]:
    """Two analysts of two organisations: the sharer and a second member."""
    with transaction(factory) as session:  # type: ignore[arg-type]  # a sessionmaker
        users = []
        for n, country in enumerate(("TH", "MY")):
            org = Organisation(
                id=uuid.uuid4(), name=f"Bench CERT {n}", kind=OrgKind.NATIONAL_CERT, country=country
            )
            session.add(org)
            user = User(
                id=uuid.uuid4(),
                email=f"bench{n}@example.org",
                name=f"Bench {n}",
                organisation_id=org.id,
                role=Role.ANALYST,
                active=True,
            )
            session.add(user)
            users.append(user)
        session.flush()
        return users[0], users[1]


def stix2_rate(payloads: list[bytes]) -> float:
    """Objects per second that stix2.parse achieves on the same bundles (the baseline)."""
    import stix2

    objects, started = 0, time.perf_counter()
    for payload in payloads:
        parsed = stix2.parse(payload.decode(), allow_custom=True)
        objects += len(parsed.objects)
    return objects / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--bundle", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--baseline-bundles", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    if not TRAILS.exists():
        sys.exit(f"{TRAILS} is absent: the benchmark reads maltrail's trails from shared/data")

    console.print(f"generating {args.count:,} indicator values …")
    values = mixed_values(args.count)
    payloads = [json.dumps(b).encode() for b in bundles(values, args.bundle)]
    results: dict[str, object] = {
        "count": len(values),
        "bundle": args.bundle,
        "db": args.db,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    baseline = stix2_rate(payloads[: args.baseline_bundles])
    results["stix2_parse_objects_per_s"] = round(baseline)

    with tempfile.TemporaryDirectory() as workdir:
        url, dropname = database(args.db, Path(workdir))
        try:
            results |= run(url, values, payloads, args)
        finally:
            drop(dropname)
    results["ingest_vs_stix2_parse"] = round(
        float(results["ingest_objects_per_s"]) / baseline,
        2,  # type: ignore[arg-type]
    )
    table = Table(title=f"Intelligence benchmark ({args.db})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"intel-{args.db}.json").write_text(json.dumps(results, indent=2))


def run(
    url: str, values: list, payloads: list[bytes], args: argparse.Namespace
) -> dict[str, object]:  # type: ignore[type-arg]  # values of bench.datasets
    """Ingest, correlate and look up against one database."""
    from balai.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    sharer, other = members(factory)
    figures: dict[str, object] = {}

    with Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("bundles", total=len(payloads))
        started = time.perf_counter()
        for payload in payloads:
            with transaction(factory) as session:
                import_stix(
                    session, actor=Actor(via=Via.CLI, user=sharer), data=payload, marking=MARKING
                )
            bar.advance(task)
        elapsed = time.perf_counter() - started
    figures["ingest_seconds"] = round(elapsed, 1)
    figures["ingest_objects_per_s"] = round(len(values) / elapsed)

    # A new report from another organisation: half its values already stored, half new.
    fresh = list(synthetic_values(5_000, seed=77))
    known = values[:: max(1, len(values) // 5_000)][:5_000]
    report_bundle = next(bundles(known + fresh, 10_000))
    with transaction(factory) as session:
        import_stix(
            session,
            actor=Actor(via=Via.CLI, user=other),
            data=json.dumps(report_bundle).encode(),
            marking=MARKING,
        )
    ids = [o["id"] for o in report_bundle["objects"]]  # type: ignore[index, union-attr]
    timings, matched = [], 0
    for _ in range(5):
        with transaction(factory) as session:
            rows = list(session.scalars(select(StixObject).where(StixObject.stix_id.in_(ids))))
            actor = Actor(via=Via.SESSION, user=session.get(User, other.id))
            started = time.perf_counter()
            matches = correlate(session, actor=actor, rows=rows, cap=50)
            timings.append(time.perf_counter() - started)
            matched = sum(1 for m in matches if m.total)
    figures["correlate_10k_median_s"] = round(statistics.median(timings), 3)
    figures["correlate_10k_values_matched"] = matched

    figures |= lookups(url, factory, other, values, args.lookups)
    engine.dispose()
    return figures


def lookups(url: str, factory: object, user: User, values: list, count: int) -> dict[str, object]:  # type: ignore[type-arg]  # values of bench.datasets
    """p50 and p99 of GET /api/v1/intel/search through a real `balai serve` process."""
    with transaction(factory) as session:  # type: ignore[arg-type]  # a sessionmaker
        owner = session.get(User, user.id)
        plain, _ = create_api_key(
            session, actor=Actor(via=Via.CLI, user=owner), data=ApiKeyCreate(name="bench")
        )
    port = 18000 + os.getpid() % 1000
    env = dict(
        os.environ, BALAI_DATABASE_URL=url, BALAI_SECRET_KEY=SECRET, BALAI_LOG_LEVEL="WARNING"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "balai", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        sample = values[:: max(1, len(values) // count)][:count]
        latencies = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {plain}"}) as client:
            for value in sample[:50]:  # warm-up
                client.get("/api/v1/intel/search", params={"q": value.value})
            for value in sample:
                started = time.perf_counter()
                response = client.get("/api/v1/intel/search", params={"q": value.value})
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                assert response.json()["total"] >= 1, value
        latencies.sort()
        return {
            "lookup_requests": len(latencies),
            "lookup_p50_ms": round(statistics.median(latencies), 1),
            "lookup_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        }
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
