"""`producersync demo`: the whole system on one machine, end to end, on the embedded
defaults (SQLite, in-memory rate limits).

Two real processes, as two companies would run them: the ProducerSync service (with a
synthetic NIPR universe and the sandbox NPNs) and the sync service with its webhook
receiver, registered as the account's endpoint. The demo subscribes NPNs (activation
events flow and the mirror fills), runs two daily NIPR cycles (update events flow and the
mirror follows), then proves the mirror equals the API for the population, asks a
compliance question of the mirror and prints a portal login link.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from producersync.cli.check import as_of_line
from producersync.cli.common import (
    Terminated,
    console,
    fail,
    settings_from,
    terminated_as_interrupted,
)
from producersync.cli.quickstart import ensure_universe, keep_credentials
from producersync.cli.sync import comparison_table

__all__ = ["demo"]

_ACCOUNT = "demo-carrier"
_WAIT_SECONDS = 90.0  # for any one step; a healthy run needs a few seconds each
_DIR = Path(".producersync/demo")
T = TypeVar("T")

_MARK = ".producersync-demo"  # in a directory the demo made: the next demo may empty it
_CLIENT_FILE = "client.json"  # its API client's credentials, as quickstart keeps its own
# What a demo made before the mark: its directory is still emptied when run again.
_DEMO_FILES = ("service.db", "mirror.db", "service.log", "sync.log")


@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers will bind: a port left in TIME_WAIT by a previous run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def emptied(directory: Path) -> None:
    """``directory`` made, or emptied if a demo made it; refused if it holds anything
    else: emptied whatever it held, ``--dir .`` or ``--dir ~`` deleted the user's files."""
    if directory.exists() and not directory.is_dir():
        raise fail(f"--dir {directory} is not a directory", 2, field="--dir", value=str(directory))
    try:
        entries = sorted(directory.iterdir()) if directory.exists() else []
    except OSError as exc:
        raise fail(f"--dir {directory}: {exc.strerror or exc}", field="--dir") from None
    others = [e.name for e in entries if not e.name.startswith(_DEMO_FILES)]
    if others and not (directory / _MARK).exists():
        raise fail(
            f"--dir {directory} holds files a demo did not make ({', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}): give a new or empty directory, "
            "which the demo empties when run again",
            2,
            field="--dir",
            value=str(directory),
        )
    try:
        for entry in entries:  # its content, not the directory: it may be a link to one
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _MARK).write_text("made by `producersync demo`, which empties it\n")
    except OSError as exc:
        raise fail(f"--dir {directory}: {exc.strerror or exc}", field="--dir") from None


def _wait(what: str, check: Callable[[], T | None], logs: list[Path]) -> T:
    """``check()``'s first truthy value, polled; a clear failure after the deadline."""
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise fail(f"timed out waiting for {what}; see {', '.join(map(str, logs))}")
        time.sleep(0.2)


@contextmanager
def _started(
    name: str, args: list[str], env: dict[str, str], url: str, log: Path
) -> Iterator[_Process]:
    """A `producersync ...` process, started (not yet waited for: ``_wait_healthy``);
    stopped on exit. The variables no process reads the demo has told of, it does not
    repeat in its log."""
    from producersync.cli.variables import told

    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "producersync.cli.main", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **told(os.environ), **env},
        )
    try:
        yield _Process(name, process, url, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(started: _Process) -> None:
    """Once its /healthz answers; a clear failure if it exits first."""
    import httpx2

    def healthy() -> bool:
        if started.process.poll() is not None:
            raise fail(f"the {started.name} exited at start:\n{started.log.read_text()[-2000:]}")
        try:
            return httpx2.get(f"{started.url}/healthz", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    _wait(f"the {started.name} to start", healthy, [started.log])


def demo(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            # The path as one word would be wider than the help's column at 80 columns.
            help="Working directory: a new or empty one, or one a demo made before "
            "(emptied at start); one holding other files is refused (default: the "
            f"directory {_DIR.name} in {_DIR.parent}).",
            show_default=False,
        ),
    ] = _DIR,
    producers: Annotated[int, typer.Option(min=10, help="Producers in the NIPR universe.")] = 2_000,
    npns: Annotated[int, typer.Option(min=1, help="NPNs the demo account subscribes.")] = 300,
    service_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the service.")
    ] = 8000,
    sync_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the sync service.")
    ] = 8400,
    keep_running: Annotated[
        bool, typer.Option(help="Leave both services up to explore (Ctrl-C stops them).")
    ] = False,
) -> None:
    """Run the whole system end to end on this machine and show that it works.

    Starts the service (synthetic NIPR universe) and the sync service, subscribes NPNs,
    runs two daily NIPR cycles, and proves the mirror matches the service.
    """
    import sqlalchemy as sa

    from producersync.client import Client
    from producersync.service.delivery import management
    from producersync.service.nipr.bounds import DEFAULT_START_DATE
    from producersync.service.nipr.daily import run_day
    from producersync.service.portal.links import login_url
    from producersync.service.settings import ServiceSettings
    from producersync.service.store import accounts, outbox
    from producersync.service.store import portal as portal_store
    from producersync.service.store.engine import write_transaction
    from producersync.service.store.open import open_store
    from producersync.service.store.tables import entities
    from producersync.sync import compliance, mirror
    from producersync.sync.mirror.queries import sample_authority
    from producersync.sync.verify import compare
    from producersync.webhooks import generate_secret

    for port in (service_port, sync_port):
        if not _port_free(port):
            raise fail(f"port {port} is in use: pass --service-port / --sync-port")
    if service_port == sync_port:
        raise fail("--service-port and --sync-port must differ")
    started = time.monotonic()
    emptied(directory)
    store_url = f"sqlite:///{directory.resolve() / 'service.db'}"
    mirror_url = f"sqlite:///{directory.resolve() / 'mirror.db'}"
    service_url = f"http://127.0.0.1:{service_port}"
    settings = settings_from(
        ServiceSettings,
        None,
        {"database_url": store_url, "port": service_port, "allow_private_endpoints": True},
    )
    logs = [directory / "service.log", directory / "sync.log"]

    console.rule("[bold]ProducerSync end to end")
    engine = open_store(store_url)
    ensure_universe(engine, producers, seed=1)
    webhook_secret = generate_secret()
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, _ACCOUNT, sandbox=False)
        client_id, client_secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
        population = list(
            conn.execute(sa.select(entities.c.npn).order_by(entities.c.id).limit(npns)).scalars()
        )
    # Kept for the SDK and `sync verify` against the demo (`--keep-running`, or its store
    # served again), which otherwise took an `admin client create`.
    credentials = directory.resolve() / _CLIENT_FILE
    keep_credentials(
        credentials,
        {"account": _ACCOUNT, "client_id": client_id, "client_secret": client_secret},
    )

    # SIGTERM (`kill`, a supervisor) stops both services as Ctrl-C does: by default it
    # ended this process alone, and they ran on, holding the ports the next demo takes.
    with terminated_as_interrupted(), ExitStack() as stack:
        stack.callback(engine.dispose)
        # Both started at once: each takes seconds to start (its interpreter, DBOS).
        sync = stack.enter_context(
            _started(
                "sync service",
                ["sync", "run", "--port", str(sync_port)],
                {
                    "PRODUCERSYNC_API_URL": service_url,
                    "PRODUCERSYNC_CLIENT_ID": client_id,
                    "PRODUCERSYNC_CLIENT_SECRET": client_secret,
                    "PRODUCERSYNC_WEBHOOK_SECRETS": webhook_secret,
                    "PRODUCERSYNC_MIRROR_URL": mirror_url,
                    "PRODUCERSYNC_COALESCE_SECONDS": "1",
                },
                f"http://127.0.0.1:{sync_port}",
                logs[1],
            )
        )
        service = stack.enter_context(
            _started(
                "service",
                ["service", "run", "--port", str(service_port), "--database", store_url],
                {"PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true"},
                service_url,
                logs[0],
            )
        )
        for process in (sync, service):
            _wait_healthy(process)
        # The endpoint once the sync service answers: its test event goes out at once,
        # and a refused first attempt would wait out the retry schedule.
        with write_transaction(engine) as conn:
            endpoint, _ = management.create_endpoint(
                conn,
                settings,
                account.id,
                f"http://127.0.0.1:{sync_port}/webhooks/psapi",
                description="the demo's sync service",
                secret=webhook_secret,
            )
        console.print(
            f"account [bold]{_ACCOUNT}[/bold], client {client_id} (its secret is in "
            f"{escape(str(credentials))}, mode 0600), endpoint {endpoint.id}",
            soft_wrap=True,
        )
        console.print(f"service at {service.url}, sync service at {sync.url}")
        mirror_engine = mirror.open_mirror(mirror_url)
        stack.callback(mirror_engine.dispose)
        client = stack.enter_context(Client(client_id, client_secret, base_url=service_url))

        def status() -> dict[str, Any]:
            with mirror_engine.connect() as conn:
                return mirror.sync_status(conn)

        def synced(day: dt.date) -> Callable[[], bool]:
            return lambda: bool(status()["lastSyncedRunDate"] == day.isoformat())

        with console.status(f"subscribing {len(population)} NPNs: activations flow"):
            client.subscriptions.wait(client.subscriptions.add(population))
            _wait(
                "the mirror to hold the subscribed NPNs",
                lambda: (
                    status()["activeNpns"] == len(population)
                    and status()["lastRun"] is not None
                    and status()["receipts"]["unprocessed"] == 0
                ),
                logs,
            )
        console.print(f"[green]✓[/green] {len(population)} NPNs active in the mirror")

        today = dt.datetime.now(dt.UTC).date()
        # The first day's count is a hundred times the second's: without the reason a
        # newcomer reads it as the daily churn.
        catch_up = (
            "; the first run renews or lapses every license expired since the universe's "
            f"start ({DEFAULT_START_DATE}), hence its count"
        )
        for day, why in ((today - dt.timedelta(days=1), catch_up), (today, "")):
            with console.status(f"NIPR daily cycle of {day}: updates flow"):
                run = run_day(engine, day, churn_rate=0.02)
                _wait(f"the mirror to sync {day}", synced(day), logs)
            console.print(
                f"[green]✓[/green] NIPR run {day}: {run.total_changes:,} records changed, "
                f"mirror synced{why}"
            )

        def settled() -> dict[str, dict[str, int]] | None:
            with engine.connect() as conn:
                counts = outbox.delivery_counts(conn, account.id)
            return None if any(s.get("pending") for s in counts.values()) else counts

        # An attempt that timed out under load is retried in seconds: report the outcome.
        delivered = _wait("every webhook delivery to settle", settled, logs)
        with mirror_engine.connect() as conn:
            comparison = compare(client, conn)
            counts = mirror.record_counts(conn)
            sample = sample_authority(conn)
            verdict = (
                None if sample is None else compliance.check(conn, *sample[:3], carrier=sample[3])
            )
        with write_transaction(engine) as conn:
            token, _ = portal_store.issue_link(
                conn, account.id, dt.timedelta(seconds=settings.portal_link_ttl_seconds)
            )

        console.print(_events_table(delivered))
        console.print(_mirror_table(counts))
        console.print(comparison_table(comparison))
        if sample is not None and verdict is not None:
            npn, state, loa, carrier = sample
            answer = "[green]yes[/green]" if verdict.allowed else "[red]no[/red]"
            console.print(
                Panel(
                    "\n".join(
                        [
                            f"May NPN {npn} sell {loa} in {state}, appointed with {carrier}? "
                            f"{answer}",
                            *(f"- {escape(reason)}" for reason in verdict.reasons),
                            as_of_line(verdict.as_of, verdict.lag_days),
                            f"(producersync check {npn} --state {state} --loa '{loa}' "
                            f"--carrier {carrier} --mirror {mirror_url})",
                        ]
                    ),
                    title="A compliance check on the mirror",
                )
            )
        where = (
            ""
            if keep_running
            else f" (serve it again: producersync service run --port {service_port} "
            f"--database {store_url})"
        )
        console.print(
            f"Webhook portal, a one-time link valid 7 days: {login_url(settings, token)}{where}",
            soft_wrap=True,
        )
        console.print(f"finished in {time.monotonic() - started:.0f} s; logs in {directory}")
        # The commands' defaults are files in the working directory: `nipr run` there made
        # an empty store of its own and published nothing, and `sync status` found no mirror.
        # The client's secret is read from its file as the line runs, never printed.
        secret = f"import json;print(json.load(open('{credentials}'))['client_secret'])"
        console.print(
            f"to go on with its store, mirror and API client: export "
            f"PRODUCERSYNC_DATABASE_URL={store_url} PRODUCERSYNC_MIRROR_URL={mirror_url} "
            f"PRODUCERSYNC_API_URL={service_url} PRODUCERSYNC_CLIENT_ID={client_id} "
            f'PRODUCERSYNC_CLIENT_SECRET=$(python3 -c "{secret}")',
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        if not comparison.equal:
            raise fail("the mirror does not match the service")
        if keep_running:
            console.print("[bold]Both services are running.[/bold] Ctrl-C stops them.")
            try:
                signal.pause()
            except Terminated:
                raise  # both stopped all the same, and the exit status says SIGTERM
            except KeyboardInterrupt:
                pass  # Ctrl-C, as the line above says


def _events_table(delivered: dict[str, dict[str, int]]) -> Table:
    table = Table(title="Webhook events delivered to the sync service")
    for column in ("event type", "succeeded", "pending", "failed"):
        table.add_column(column, justify="left" if column == "event type" else "right")
    for event_type, states in sorted(delivered.items()):
        table.add_row(
            event_type,
            *(f"{states.get(state, 0):,}" for state in ("succeeded", "pending", "failed")),
        )
    return table


def _mirror_table(counts: dict[str, int]) -> Table:
    table = Table(title="Records in the mirror")
    table.add_column("resource")
    table.add_column("records", justify="right")
    for resource, count in counts.items():
        table.add_row(resource, f"{count:,}")
    return table
