"""`balai serve`, `balai worker` and `balai demo`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from balai.cli.common import console, settings
from balai.config import load_settings
from balai.db import make_engine, make_sessionmaker, transaction
from balai.intel import warninglists
from balai.migrate import upgrade
from balai.worker import Worker

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(help="Web worker processes.", min=1)] = 1,
) -> None:
    """Run the web server (pages, API). Run `balai worker` beside it to deliver mail."""
    config = settings()
    console.print(f"Balai on http://{host}:{port} (database {config.database_url.split(':')[0]})")
    uvicorn.run(
        "balai.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # balai.access logs route templates, never tokens in paths
        log_level=config.log_level.lower(),
        proxy_headers=True,
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def worker() -> None:
    """Deliver the outbox (e-mail, webhooks) with retries, and run periodic jobs, until stopped."""
    config = settings()
    console.print(f"worker delivering to SMTP {config.smtp_host}:{config.smtp_port}")
    Worker(config).run(_stop_on_signals())


def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database and mail.")
    ] = Path("balai-demo"),
    smtp_port: Annotated[
        int, typer.Option(help="Port of the demo's mail catcher on 127.0.0.1.", min=1)
    ] = 8025,
) -> None:
    """Run the demo region on SQLite: web server, delivery worker and a local mail catcher."""
    from balai.demo.mailcatcher import MailCatcher
    from balai.demo.region import load_demo_region

    data_dir.mkdir(parents=True, exist_ok=True)
    mail_dir = data_dir / "mail"
    public_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104  # compared, not bound
    config = load_settings(
        demo=True,
        database_url=f"sqlite:///{(data_dir / 'balai.sqlite3').resolve()}",
        base_url=f"http://{public_host}:{port}",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        demo_mailbox=mail_dir.resolve(),
        community_name="Balai ASEAN demo",
        log_level="WARNING",
    )
    engine = make_engine(config.database_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        logins = load_demo_region(session, settings=config, console=console)
        listed = bool(warninglists.stored(session))
    if not listed:
        console.print("loading a demo set of MISP warninglists (`balai warninglists load` for all)")
        warninglists.load(factory, lists=warninglists.package_lists(warninglists.DEMO_LISTS))
    engine.dispose()

    catcher = MailCatcher(mail_dir, port=smtp_port)
    catcher.start()
    stop = threading.Event()
    thread = threading.Thread(target=Worker(config).run, args=(stop,), daemon=True)
    thread.start()

    table = Table(title="Demo log-ins")
    table.add_column("E-mail (log-in)", no_wrap=True)
    table.add_column("Role", no_wrap=True)
    table.add_column("Who")
    for who, email, role in logins.accounts:
        table.add_row(email, role, who)
    console.print(table)
    console.print(f"Password for every demo account: [bold]{logins.password}[/bold]")
    console.print(
        f"Mail sent by the demo is caught on 127.0.0.1:{smtp_port} and shown at "
        f"http://{public_host}:{port}/demo/mailbox"
    )
    console.print(
        f"\n[bold green]Balai demo running at http://{public_host}:{port}[/bold green]"
        "  (Ctrl+C to stop)\n"
    )
    from balai.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host=host, port=port, access_log=False, log_level="warning"
        )
    )
    try:
        server.run()
    finally:
        stop.set()
        thread.join(timeout=10)
        catcher.stop()
