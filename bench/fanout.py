"""Webhook fan-out: our durable delivery against the loopback ceiling.

    python bench/fanout.py [--endpoints 1000] [--events 100000] [--backend sqlite|postgres]

Two scenarios, each on SQLite and on PostgreSQL, against a real service process that
delivers to a fast local receiver (``bench/_receiver.py``, its own process):

1. one ``updates_available`` event to ``--endpoints`` endpoints;
2. ``--events`` ``npn.activated`` events to one endpoint.

Each prints deliveries/s and the time from the publishing commit to the last 2xx. In the
same run, the ceiling: a plain async client (httpx2, the same concurrency as the service's
dispatcher, no store, no durability) POSTing the same signed bodies to the same receiver;
we print our ratio to it (target >= 0.5 on PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import sqlalchemy as sa

from bench._common import console, free_port, fresh_database, print_table, service_process
from producersync.model.events import NpnActivated, UpdatesAvailable
from producersync.service.delivery.publish import publish_events
from producersync.service.store import accounts
from producersync.service.store import endpoints as store_endpoints
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import webhook_deliveries
from producersync.webhooks import generate_secret
from producersync.webhooks import headers as signed_headers

CONCURRENCY = 100  # the dispatcher's default webhook_concurrency


@contextmanager
def receiver_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench._receiver", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{base}/stats", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _stats(base: str) -> dict[str, float]:
    value: dict[str, float] = httpx2.get(f"{base}/stats", timeout=10).json()
    return value


def _wait_for(base: str, count: int, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        stats = _stats(base)
        if stats["distinct"] >= count or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


async def _ceiling_async(url: str, bodies: list[tuple[str, bytes]], secret: str) -> float:
    slots = asyncio.Semaphore(CONCURRENCY)
    limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:

        async def post(msg_id: str, body: bytes) -> None:
            async with slots:
                sent = signed_headers(msg_id, int(time.time()), body, [secret])
                response = await client.post(url, content=body, headers=sent)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(i, b) for i, b in bodies))
        return len(bodies) / (time.perf_counter() - started)


def ceiling(base: str, bodies: list[tuple[str, bytes]]) -> float:
    """Deliveries/s of a plain async client over the same bodies: the loopback ceiling."""
    httpx2.get(f"{base}/reset")
    return asyncio.run(_ceiling_async(f"{base}/ceiling", bodies, generate_secret()))


def _succeeded(engine: sa.Engine) -> int:
    d = webhook_deliveries
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(d).where(d.c.state == "succeeded")
            ).scalar_one()
        )


def run_backend(backend: str, receiver: str, endpoints: int, events: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with fresh_database(backend, "bench_fanout") as url:
        engine = open_store(url)
        with write_transaction(engine) as conn:
            fan = accounts.create_account(conn, "fan-out", sandbox=False)
            one = accounts.create_account(conn, "one-endpoint", sandbox=False)
            for i in range(endpoints):
                store_endpoints.create_endpoint(conn, fan.id, f"{receiver}/ep/{i}")
            store_endpoints.create_endpoint(conn, one.id, f"{receiver}/one")
        env = {
            "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
            "PRODUCERSYNC_WEBHOOK_POLL_SECONDS": "0.05",
        }
        scenarios = [
            (
                f"1 event -> {endpoints:,} endpoints",
                fan.id,
                [UpdatesAvailable.create(dt.datetime.now(dt.UTC).date())],
            ),
            (
                f"{events:,} events -> 1 endpoint",
                one.id,
                [NpnActivated.create(str(10_000_000 + i)) for i in range(events)],
            ),
        ]
        with service_process(url, env=env):
            done = 0
            for name, account_id, batch in scenarios:
                bodies = [(e.id, e.to_json()) for e in batch]
                httpx2.get(f"{receiver}/reset")
                with write_transaction(engine) as conn:
                    expected = publish_events(conn, account_id, batch)
                published = time.time()
                stats = _wait_for(receiver, expected, timeout=3600)
                elapsed = stats["last"] - published
                done += expected
                ok = _succeeded(engine)
                while ok < done and time.time() - published < 3600:
                    time.sleep(0.1)
                    ok = _succeeded(engine)
                ours = expected / elapsed
                if len(bodies) < expected:  # the fan-out: one body, sent to every endpoint
                    bodies = bodies * expected
                top = ceiling(receiver, bodies)
                rows.append(
                    (
                        backend,
                        name,
                        f"{ok - (done - expected):,}/{expected:,}",
                        f"{ours:,.0f}",
                        f"{elapsed:.2f} s",
                        f"{top:,.0f}",
                        f"{ours / top:.2f}",
                    )
                )
                console.print(rows[-1])
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    with receiver_process() as receiver:
        for backend in args.backend or ["sqlite", "postgres"]:
            rows += run_backend(backend, receiver, args.endpoints, args.events)
    print_table(
        "Webhook delivery: ours (durable, DBOS) vs a plain async client",
        (
            "backend",
            "scenario",
            "recorded 2xx",
            "ours/s",
            "publish->last 2xx",
            "ceiling/s",
            "ratio",
        ),
        rows,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
