"""Processes started and stopped together, as a supervisor does it (replicas started at
once, a rolling update, SIGTERM): each start migrates a new database once and cleanly,
and each stop ends within a bound, losing nothing. Real processes on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NpnActivated
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import migrate as store_migrate
from producersync.service.store.indexes import drop_secondary_indexes
from producersync.service.store.migrate import PG_LOCK_ID
from producersync.service.store.open import open_store
from producersync.service.store.tables import (
    entities,
    licenses,
    service_keys,
)
from producersync.sync.mirror import migrate as mirror_migrate
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.migrate import VERSION_TABLE
from producersync.webhooks import generate_secret
from tests.support.databases import revisions, store_url
from tests.support.delivery import delivery_states, publish_to_one_endpoint
from tests.support.processes import (
    FAST,
    ServiceProcess,
    cli_together,
    foreground,
    service_process,
    services_together,
    wait_healthy,
)
from tests.support.receiver import Reply, receiver
from tests.support.service import free_port

pytestmark = pytest.mark.slow(90)

# Generous: a stop that hangs takes minutes (or for ever); one that works, seconds.
_STOP_WITHIN = 60


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path) as url:
        yield url


def _failures(results: list[subprocess.CompletedProcess[str]]) -> list[str]:
    return [f"exit {r.returncode}: {r.stderr}" for r in results if r.returncode != 0]


def _revisions(url: str, table: str = "alembic_version") -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())
    engine.dispose()
    return found


def test_commands_started_together_on_a_new_store_migrate_it_once(database: str) -> None:
    """Six commands on a store that does not exist yet: each waits for the one that
    migrates, none fails "database is locked" (SQLite) or on a table another created."""
    results = cli_together(*[["admin", "account", "list", "--database", database]] * 6)
    assert not _failures(results)
    assert _revisions(database) == revisions(store_migrate)[-1:]


def test_commands_started_together_on_an_old_mirror_migrate_it_once(tmp_path: Path) -> None:
    # A mirror at its first revision: the commands that only read one make none (an
    # empty file is refused), but bring an old one to head.
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    engine = make_engine(url)
    mirror_migrate.upgrade(engine, revisions(mirror_migrate)[0])
    engine.dispose()
    results = cli_together(*[["sync", "status"]] * 6, env={"PRODUCERSYNC_MIRROR_URL": url})
    assert not _failures(results)
    assert _revisions(url, VERSION_TABLE) == revisions(mirror_migrate)[-1:]


def test_replicas_started_together_on_a_new_store_all_start(database: str, tmp_path: Path) -> None:
    """API processes and workers started at once on a new store: all serve, and the
    sandbox producers are there once."""
    commands = ["run", "run", "run", "worker", "worker"]
    with services_together(database, tmp_path, commands, env=FAST):
        pass
    assert _revisions(database) == revisions(store_migrate)[-1:]
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        npns = list(conn.execute(sa.select(entities.c.npn).order_by(entities.c.npn)).scalars())
    engine.dispose()
    assert npns == sorted(SANDBOX_NPNS)


@contextmanager
def _migrating(url: str, seconds: float) -> Iterator[None]:
    """The store held as a process migrating it holds it (PostgreSQL's advisory lock,
    SQLite's write lock) for ``seconds``: the processes started meanwhile queue behind
    it, then go on together."""
    sqlite = url.startswith("sqlite")
    # Released from the timer's thread.
    threads = {"check_same_thread": False} if sqlite else {}
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=threads)
    conn = engine.connect()
    if sqlite:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": PG_LOCK_ID})
    # Closed, the connection ends its transaction (SQLite) or its session's lock.
    release = threading.Timer(seconds, conn.close)
    release.start()
    try:
        yield
    finally:
        release.join()
        engine.dispose()


def test_replicas_queued_behind_a_migration_all_start(database: str, tmp_path: Path) -> None:
    """A rolling start behind a process migrating: API processes and workers go on
    together once it is done, each building what is missing once (a bulk load killed
    half-way left the secondary indexes dropped) and sharing one token signing key."""
    engine = open_store(database)
    drop_secondary_indexes(engine)
    engine.dispose()
    commands = ["run", "run", "run", "worker", "worker"]
    with _migrating(database, 5), services_together(database, tmp_path, commands, env=FAST):
        pass
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        keys = conn.execute(sa.select(sa.func.count()).select_from(service_keys)).scalar_one()
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("licenses")}
    engine.dispose()
    assert keys == 1
    assert {str(i.name) for i in licenses.indexes} <= indexes


def test_a_stop_cuts_a_request_still_unanswered_after_the_grace_period(tmp_path: Path) -> None:
    """A client that sent half its request held a SIGTERMed process up for good; now the
    request is cut after the grace period, in one log line, not a traceback."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with service_process(url, tmp_path) as service:
        host, port = service.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as half:
            half.sendall(
                b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\ngrant_type"
            )
            # In flight once its headers are read: the token endpoint waits for the rest
            # of the body. Sent at once, the signal may come first: then nothing hangs.
            time.sleep(1)
            service.process.send_signal(signal.SIGTERM)
            code = service.process.wait(timeout=_STOP_WITHIN)
        log = service.log.read_text()
    assert code == -signal.SIGTERM
    assert "timeout graceful shutdown exceeded" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_worker_stopped_mid_fan_out_makes_no_more_attempts_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """SIGTERM while a receiver hangs: the attempts in flight run to their timeout, the
    deliveries claimed but not yet sent are handed back unsent (the stop waited for all
    of them, rounds of timeouts), and a worker started after delivers every one."""
    events = [NpnActivated.create(str(10_000_000 + i)) for i in range(60)]
    hanging = True
    with receiver(lambda _got: Reply(delay=30 if hanging else 0)) as rx:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = open_store(url)
        publish_to_one_endpoint(engine, url, rx.url, events)
        # Two attempts at a time, each timing out after 5 s: the stop waited 150 s for the
        # 60 claimed.
        slow = {**FAST, "PRODUCERSYNC_WEBHOOK_CONCURRENCY": "2"}
        slow["PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS"] = "5"
        with service_process(url, tmp_path, env=slow, command="worker") as worker:
            rx.wait_for(lambda got: len(got) >= 2)
            worker.process.send_signal(signal.SIGTERM)
            assert worker.process.wait(timeout=_STOP_WITHIN) == -signal.SIGTERM
            assert "Traceback" not in worker.log.read_text()
        # The two in flight, and at most the two whose slots came free as the stop began.
        assert len(rx.received) <= 4
        assert delivery_states(engine) == {"pending": len(events) + 1}  # and its test event
        hanging = False
        with service_process(url, tmp_path, env=FAST, command="worker"):
            # Generous: a loaded 2-core machine.
            rx.wait_for(
                lambda got: len({r.headers["webhook-id"] for r in got}) == len(events) + 1,
                timeout=120,
            )
        assert {e.id for e in events} <= set(rx.ids())
        engine.dispose()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("command", ["service run", "sync run"])
def test_a_served_process_stopped_shuts_down_then_ends_by_the_signal(
    tmp_path: Path, command: str, stop: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM: the app shuts down as it should (its lifespan ended), then the
    process ends by that signal, as a supervisor and a shell expect (130 or 143 in a
    shell). A Ctrl-C exited 0, as if the server had ended of its own accord."""
    env = {
        "PRODUCERSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{tmp_path / 'mirror.db'}",
        "PRODUCERSYNC_WEBHOOK_SECRETS": generate_secret(),
        "PRODUCERSYNC_CLIENT_ID": "client",
        "PRODUCERSYNC_CLIENT_SECRET": "secret",
    }
    port = free_port()
    log = tmp_path / "served.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            foreground(*command.split(), "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    try:
        wait_healthy(ServiceProcess(process, f"http://127.0.0.1:{port}", log))
        process.send_signal(stop)
        code = process.wait(timeout=_STOP_WITHIN)
    finally:
        process.kill()
    said = log.read_text()
    assert code == -stop, said
    assert "Application shutdown complete." in said
    assert "Traceback" not in said
