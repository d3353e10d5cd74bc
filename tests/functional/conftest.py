"""Real processes: a Balai server and worker started as `balai serve` and `balai worker`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from balai.db import make_engine, make_sessionmaker
from balai.migrate import upgrade
from tests.conftest import SECRET, Databases
from tests.smtp import SmtpSink, free_port


@dataclass
class Instance:
    """A Balai instance of real processes on its own database and SMTP sink."""

    database_url: str
    engine: Engine
    sink: SmtpSink
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # more BALAI_* for every process

    @property
    def url(self) -> str:
        """Base URL of the web server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def factory(self) -> sessionmaker[Session]:
        """Sessions on the instance's database, for seeding and inspecting."""
        return make_sessionmaker(self.engine)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment the processes run with."""
        env = dict(os.environ)
        env.update(
            BALAI_DATABASE_URL=self.database_url,
            BALAI_SECRET_KEY=SECRET,
            BALAI_BASE_URL=self.url,
            BALAI_SMTP_HOST="127.0.0.1",
            BALAI_SMTP_PORT=str(self.sink.port),
            BALAI_WORKER_POLL_SECONDS="0.2",
            BALAI_OUTBOX_BACKOFF_SECONDS="0.5",
            BALAI_OUTBOX_LEASE_SECONDS="5",
            BALAI_LOG_LEVEL="WARNING",
        )
        env.update(self.settings)
        env.update(extra)
        return env

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start `balai ARGS` as a child process."""
        process = subprocess.Popen(
            [sys.executable, "-m", "balai", *args],
            env=self.env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def serve(self) -> subprocess.Popen[bytes]:
        """Start the web server and wait until it answers."""
        process = self.spawn("serve", "--host", "127.0.0.1", "--port", str(self.port))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start within 30 s")

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start a delivery worker."""
        return self.spawn("worker", **env)

    def stop(self) -> None:
        """Stop every process."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def new_instance(databases: Databases, label: str) -> Instance:
    """A migrated empty instance with its SMTP sink running; end it with close_instance."""
    url = databases.new_url(label)
    engine = make_engine(url)
    upgrade(engine)
    sink = SmtpSink()
    sink.start()
    return Instance(database_url=url, engine=engine, sink=sink)


def close_instance(live: Instance) -> None:
    """Stop an instance's processes and sink, and let go of its database."""
    live.stop()
    live.sink.stop()
    live.engine.dispose()


@pytest.fixture
def instance(databases: Databases) -> Iterator[Instance]:
    """A migrated empty instance; the test starts the processes it needs."""
    live = new_instance(databases, "live")
    yield live
    close_instance(live)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Poll until `condition()` is true; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
