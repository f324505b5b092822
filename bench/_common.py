"""What the benchmarks share: cached universes on each backend, a service process, timing."""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from producersync.service.nipr.loader import load
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.universe import generate
from producersync.service.store import accounts
from producersync.service.store.engine import make_engine, write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities

__all__ = [
    "CACHE",
    "Credentials",
    "console",
    "drop_database",
    "free_port",
    "fresh_database",
    "new_client",
    "percentile",
    "print_table",
    "sample_population",
    "service_process",
    "summary",
    "sync_process",
    "universe_url",
]

CACHE = Path(__file__).parent / ".cache"
console = Console()
PG_ADMIN = os.environ.get(
    "PRODUCERSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _has_universe(url: str) -> bool:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(entities.c.npn).where(entities.c.npn.not_in(SANDBOX_NPNS)).limit(1)
                ).first()
                is not None
            )
    finally:
        engine.dispose()


def sample_population(url: str, size: int, seed: int) -> list[str]:
    """``size`` NPNs of the store's universe (sandbox ones excluded), the same every run."""
    engine = make_engine(url)
    with engine.connect() as conn:
        npns = list(
            conn.execute(
                sa.select(entities.c.npn)
                .where(entities.c.npn.not_in(SANDBOX_NPNS))
                .order_by(entities.c.npn)
            ).scalars()
        )
    engine.dispose()
    return random.Random(seed).sample(npns, size)


def universe_url(backend: str, producers: int, seed: int) -> str:
    """A store holding the universe, generated once and cached between runs."""
    name = f"bench_{producers}_{seed}"
    if backend == "sqlite":
        CACHE.mkdir(exist_ok=True)
        url = f"sqlite:///{CACHE / (name + '.db')}"
    else:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        admin.dispose()
    if not _has_universe(url):
        console.print(f"[{backend}] generating {producers:,} producers (cached for next runs)")
        engine = open_store(url)
        stats = load(engine, generate(producers, seed=seed))
        engine.dispose()
        console.print(f"[{backend}] loaded {stats.total_rows:,} rows in {stats.elapsed:.0f} s")
    return url


@contextmanager
def fresh_database(backend: str, name: str) -> Iterator[str]:
    """An empty database named ``name`` (a SQLite file under the cache, or a Postgres
    database on the benchmark server), recreated on each run."""
    if backend == "sqlite":
        CACHE.mkdir(exist_ok=True)
        for leftover in CACHE.glob(f"{name}.db*"):
            # DBOS keeps a directory beside a SQLite file (``.db.executors``) too.
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        yield f"sqlite:///{CACHE / (name + '.db')}"
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield admin.url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()


def drop_database(backend: str, name: str) -> None:
    """The database ``fresh_database`` made as ``name``, gone: a run's millions of rows
    need not be kept for the next, which makes its own."""
    if backend == "sqlite":
        for file in CACHE.glob(f"{name}.db*"):
            file.unlink()
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def new_client(url: str, name: str) -> Credentials:
    engine = open_store(url)
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, f"{name}-{time.time_ns()}", sandbox=False)
        client_id, secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
    engine.dispose()
    return Credentials(client_id, secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
        time.sleep(0.1)


@contextmanager
def _cli_process(
    what: str, args: list[str], env: dict[str, str] | None, port: int | None = None
) -> Iterator[str]:
    """``producersync <args> --port P`` on ``port`` (default: a free one), healthy; its
    base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "producersync.cli.main", *args, "--port", str(port)],
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, what)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def service_process(
    url: str, *extra: str, env: dict[str, str] | None = None
) -> AbstractContextManager[str]:
    """`producersync service run` on a free port; its base URL."""
    args = ["service", "run", "--database", url, "--log-level", "warning", *extra]
    return _cli_process("the service", args, env)


def sync_process(env: dict[str, str], port: int | None = None) -> AbstractContextManager[str]:
    """`producersync sync run` on ``port`` (default: a free one), its settings from
    ``env``; its base URL."""
    return _cli_process("the sync service", ["sync", "run", "--log-level", "warning"], env, port)


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1e3:.1f} ms, p99 {percentile(values, 99) * 1e3:.1f}"
        f" ms, mean {statistics.fmean(values) * 1e3:.1f} ms"
    )
