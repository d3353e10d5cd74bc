"""Early warning at scale: how long from submitting an incident to its webhook alerts
arriving, with 1,000 subscriptions of which 100 match; and how long one incident takes to
reach 1,000 webhook subscribers.

    .venv/bin/python -m bench.alerts_bench                       # SQLite
    .venv/bin/python -m bench.alerts_bench --database postgresql # PostgreSQL on 127.0.0.1

A real `balai serve` and `balai worker` run against a fresh database; incidents are submitted
through the REST API; a webhook receiver on loopback (a threaded HTTP/1.1 server, as simple as
a receiver gets) records when each call arrives. Latency is arrival minus the moment the
submission was sent, for every alert. Between incidents the bench waits a random 0-1 s, so
that submissions fall anywhere in the worker's polling cycle. The baseline, in the same run,
is the same receiver taking the same number of calls from a plain httpx client (one
keep-alive connection, and eight threads), the floor of what any sender could do here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import update

from balai.access.actor import Actor, Via
from balai.accounts.models import Role, User
from balai.accounts.schemas import ApiKeyCreate
from balai.accounts.service import create_api_key
from balai.alerts.models import Subscription
from balai.alerts.schemas import SubscriptionIn
from balai.alerts.service import create as subscribe
from balai.config import load_settings
from balai.db import make_engine, make_sessionmaker, transaction
from balai.directory.models import Organisation, OrgKind

SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105  # a throwaway instance
RESULTS = Path(__file__).parent / "results"


class Receiver:
    """Records the arrival time of every call, by path and webhook-id."""

    def __init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's hook name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.take(self.headers.get("webhook-id", ""), body)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # http.server's
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = {}  # incident reference -> arrival times
        self.ids: set[str] = set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, msg_id: str, body: bytes) -> None:
        """Note one call's arrival (once per webhook-id)."""
        now = time.perf_counter()
        try:
            data = json.loads(body)["data"]
            reference = data["incident"]["reference"]
        except (ValueError, KeyError):
            reference = "baseline"
        with self.lock:
            if msg_id and msg_id in self.ids:
                return
            self.ids.add(msg_id)
            self.arrivals.setdefault(reference, []).append(now)

    def count(self, reference: str) -> int:
        """Calls that arrived about one incident."""
        with self.lock:
            return len(self.arrivals.get(reference, []))


def database(kind: str) -> str:
    """A fresh database URL."""
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='balai-alerts-')}/bench.sqlite3"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS balai_bench_alerts")
        c.execute("CREATE DATABASE balai_bench_alerts")
    return "postgresql+psycopg://postgres@127.0.0.1/balai_bench_alerts"


def seed(url: str, receiver: Receiver, subscriptions: int, matching: int) -> str:
    """A reporter with an API key, and `subscriptions` webhook subscribers spread over
    organisations, of which `matching` watch Malaysia (the incidents' country)."""
    settings = load_settings(
        database_url=url, secret_key=SECRET, webhook_allow_http=True, webhook_allow_private=True
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as db:

        def org(name: str, country: str) -> Organisation:
            found = Organisation(name=name, kind=OrgKind.NATIONAL_CERT, country=country)
            db.add(found)
            db.flush()
            return found

        def user(of: Organisation, n: int, role: Role = Role.ANALYST) -> User:
            found = User(
                email=f"u{n}@{of.country.lower()}.example",
                name=f"User {n}",
                organisation_id=of.id,
                role=role,
                password_hash="x",  # noqa: S106  # nobody logs in: the bench uses a key
                active=True,
            )
            db.add(found)
            db.flush()
            return found

        reporter = user(org("ThaiCERT", "TH"), 0)
        key, _ = create_api_key(
            db, actor=Actor(via=Via.CLI, user=reporter), data=ApiKeyCreate(name="bench")
        )
        members = [org(f"Member {n}", "MY") for n in range(100)]
        for n in range(subscriptions):
            owner = user(members[n % len(members)], n + 1)
            subscribe(
                db,
                actor=Actor(via=Via.SESSION, user=owner),
                settings=settings,
                data=SubscriptionIn(
                    name=f"Watch {n}",
                    webhook_url=f"http://127.0.0.1:{receiver.port}/s/{n}",
                    countries=["MY"] if n < matching else ["VN"],
                ),
            )
    engine.dispose()
    return key


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`balai ARGS` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "balai", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def submit(client: httpx.Client, n: int) -> tuple[str, float]:
    """Report one incident through the API; returns its reference and when it was sent."""
    sent = time.perf_counter()
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": f"Bench incident {n}",
            "description": "Ransomware.",
            "rsit_class": "malicious-code",
            "rsit_type": "infected-system",
            "severity": "high",
            "countries": ["TH", "MY"],
            "tlp": "amber",
            "distribution": "community",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["reference"], sent


def wait_for(receiver: Receiver, reference: str, count: int, timeout: float = 300) -> None:
    """Until `count` calls about the incident have arrived."""
    deadline = time.monotonic() + timeout
    while receiver.count(reference) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{reference}: {receiver.count(reference)} of {count} calls arrived")
        time.sleep(0.005)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def baseline(port: int, calls: int, threads: int) -> float:
    """Seconds a plain httpx client takes to make `calls` POSTs to the receiver."""
    body = json.dumps({"type": "x", "data": {}}).encode()

    def run(indices: range) -> None:
        with httpx.Client() as client:
            for i in indices:
                client.post(
                    f"http://127.0.0.1:{port}/base/{i}",
                    content=body,
                    headers={"webhook-id": f"base-{threads}-{i}"},
                )

    started = time.perf_counter()
    share = -(-calls // threads)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [range(t * share, min(calls, (t + 1) * share)) for t in range(threads)]))
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--matching", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=30)
    parser.add_argument("--poll", type=float, default=0.5, help="BALAI_WORKER_POLL_SECONDS")
    args = parser.parse_args()

    receiver = Receiver()
    url = database(args.database)
    env = dict(
        os.environ,
        BALAI_DATABASE_URL=url,
        BALAI_SECRET_KEY=SECRET,
        BALAI_LOG_LEVEL="WARNING",
        BALAI_WEBHOOK_ALLOW_HTTP="true",
        BALAI_WEBHOOK_ALLOW_PRIVATE="true",
        BALAI_WORKER_POLL_SECONDS=str(args.poll),
    )
    subprocess.run(
        [sys.executable, "-m", "balai", "db", "upgrade"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    key = seed(url, receiver, args.subscriptions, args.matching)
    port = 18500 + os.getpid() % 400
    server = start(["serve", "--port", str(port)], env)
    worker = start(["worker"], env)
    figures: dict[str, object] = {
        "database": args.database,
        "subscriptions": args.subscriptions,
        "matching": args.matching,
        "worker_poll_seconds": args.poll,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        rng = random.Random(7)
        latencies: list[float] = []
        last: list[float] = []
        submits: list[float] = []
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            reference, _ = submit(client, -1)  # warm-up: imports, connections, caches
            wait_for(receiver, reference, args.matching)
            for n in range(args.incidents):
                time.sleep(rng.random())
                reference, sent = submit(client, n)
                submits.append(time.perf_counter() - sent)
                wait_for(receiver, reference, args.matching)
                arrivals = [t - sent for t in receiver.arrivals[reference]]
                latencies.extend(arrivals)
                last.append(max(arrivals))
        figures |= {
            "incidents": args.incidents,
            "alerts_measured": len(latencies),
            "submit_p50_ms": round(statistics.median(submits) * 1000, 1),
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "last_of_100_p50_ms": round(statistics.median(last) * 1000, 1),
            "last_of_100_p99_ms": round(percentile(last, 0.99) * 1000, 1),
        }

        # Fan-out: every subscription matches one more incident.
        engine = make_engine(url)
        with transaction(make_sessionmaker(engine)) as db:
            db.execute(update(Subscription).values(countries=[]))
        engine.dispose()
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client:
            time.sleep(args.poll + 0.5)  # let the worker go idle, as it would be
            reference, sent = submit(client, 9999)
            wait_for(receiver, reference, args.subscriptions)
            arrivals = sorted(t - sent for t in receiver.arrivals[reference])
        figures |= {
            "fanout_calls": len(arrivals),
            "fanout_first_ms": round(arrivals[0] * 1000, 1),
            "fanout_last_s": round(arrivals[-1], 2),
            "fanout_calls_per_s": round(len(arrivals) / (arrivals[-1] - arrivals[0]), 1),
        }
        one = baseline(receiver.port, args.subscriptions, 1)
        eight = baseline(receiver.port, args.subscriptions, 8)
        figures |= {
            "baseline_httpx_1_connection_s": round(one, 2),
            "baseline_httpx_8_threads_s": round(eight, 2),
        }
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=20)
    print(json.dumps(figures, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"alerts_{args.database}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
