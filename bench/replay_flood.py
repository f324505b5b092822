"""What a flood of replays of one delivery costs the mirror's storage.

    python -m bench.replay_flood [--replays 10000] [--kib 100] [--backends sqlite,postgres]
        [--senders 16]

One authentic delivery (signed ``npn.deactivated``, padded with ``--kib`` KiB of random
base64, which neither SQLite nor PostgreSQL's TOAST compresses) is sent once and then
``--replays`` times again, as captured: the same ``webhook-id``, timestamp, signature
and body, within the signature's 5-minute tolerance, by ``--senders`` concurrent
senders. Each is verified and recorded (a duplicate, acknowledged 200). Through the sync
app in process (its receiver, group commit and all; a recording starter instead of DBOS,
as the receiver tests have it), on a fresh mirror of each backend.

Printed: the receipts' stored bodies (their bytes, summed), the receipts table's size on
disk (SQLite: the database file after a checkpoint, less the empty mirror's; PostgreSQL:
``pg_total_relation_size('receipts')``, its TOAST and indexes with it), and the replays
acknowledged a second.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import sqlite3
import time
from pathlib import Path

import httpx2
import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import console, fresh_database, print_table
from producersync.model.events import NpnDeactivated
from producersync.sync import mirror
from producersync.sync.app import create_app
from producersync.sync.mirror.tables import receipts
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret
from producersync.webhooks import headers as signed_headers

_PATH = "/webhooks/psapi"


def _delivery(kib: int, secret: str) -> tuple[bytes, dict[str, str]]:
    event = NpnDeactivated.create("20000001")
    padding = base64.b64encode(os.urandom(kib * 1024 * 3 // 4)).decode()
    body = event.to_json()[:-1] + b', "padding": "' + padding.encode() + b'"}'
    sent = signed_headers(event.id, int(time.time()), body, [secret])
    sent["content-type"] = "application/json"
    return body, sent


async def _flood(url: str, replays: int, kib: int, senders: int) -> float:
    """Replays acknowledged a second, the first delivery sent before them."""
    secret = generate_secret()
    settings = SyncSettings(
        webhook_secrets=[SecretStr(secret)], mirror_url=url, max_body_bytes=2 * kib * 1024
    )
    app = create_app(settings, start=lambda _event, _wid: None)
    body, sent = _delivery(kib, secret)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sync") as http:
        first = await http.post(_PATH, content=body, headers=sent)
        assert first.json()["status"] == "accepted", first.text
        left = replays

        async def sender() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                answer = await http.post(_PATH, content=body, headers=sent)
                assert answer.json()["status"] == "duplicate", answer.text

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - started
    # The app's lifespan is not run by the transport: its receipt log is closed here.
    return replays / elapsed


def _stored(url: str) -> tuple[int, int]:
    """The receipts' body bytes, and the table's bytes on disk."""
    engine = mirror.open_mirror(url)
    with engine.connect() as conn:
        summed = sa.select(sa.func.sum(sa.func.length(receipts.c.body)))
        bodies = int(conn.execute(summed).scalar() or 0)
        if engine.dialect.name == "postgresql":
            size = conn.execute(sa.text("SELECT pg_total_relation_size('receipts')")).scalar_one()
    engine.dispose()
    if engine.dialect.name == "sqlite":
        path = engine.url.database or ""
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = Path(path).stat().st_size
    return bodies, int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=10_000)
    parser.add_argument("--kib", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--senders", type=int, default=16)
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        with fresh_database(backend, "replay_flood") as url:
            mirror.open_mirror(url).dispose()
            empty = _stored(url)[1] if backend == "sqlite" else 0
            rate = asyncio.run(_flood(url, args.replays, args.kib, args.senders))
            bodies, size = _stored(url)
        rows.append(
            (
                backend,
                f"{bodies / 2**20:,.1f} MiB",
                f"{(size - empty) / 2**20:,.1f} MiB",
                f"{rate:,.0f}/s",
            )
        )
    print_table(
        f"One {args.kib} KiB delivery, then {args.replays:,} replays of it",
        ("mirror", "bodies stored", "receipts on disk", "replays acknowledged"),
        rows,
    )
    console.print("(bodies: the sum of the receipts' body lengths)")


if __name__ == "__main__":
    main()
