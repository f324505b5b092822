"""`sync status` and the receiver's `/metrics` over a mirror holding a storm of receipts.

    python -m bench.receipts_status [--receipts 100000,1000000] [--backends sqlite,postgres]
        [--replayed 0.0] [--repeat 7]

A mirror kept ``receipt_retention_days`` (30 by default) holds every delivery of those
days: a few real events a day, and whatever a bad sender or a replay sent. Each mirror
here holds ``--receipts`` receipts: a real sender's over the last 30 days (one
``updates_available`` a day, twenty NPN events, one in ten redelivered, an endpoint test
a week, an event type we do not know), and the rest a storm since today's midnight (UTC):
forged deliveries refused (``rejected``, the first 4 KiB of their bodies kept), or a
share ``--replayed`` of them one captured delivery replayed within the signature's
tolerance (``accepted``: duplicates, verified). The storm is today's: the lag gauge reads
today's receipts.

Timed, the store warm, the median of ``--repeat`` runs: ``mirror.sync_status`` (what
`producersync sync status` prints) and a GET of ``/metrics`` through the sync app (its
gauges read the mirror at each scrape), each statement they run too, with its plan
(SQLite's ``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``).

Baseline: the same command at the commit before, on the same rows (each run fills its
own mirror at its own head).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import console, fresh_database, print_table
from producersync.model.events import (
    ENDPOINT_TEST,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
)
from producersync.sync import mirror
from producersync.sync.app import create_app
from producersync.sync.mirror.tables import receipts
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret

_DAYS = 30
_CHUNK = 5_000
_FORGED = b'{"type": "producersync.updates_available", "data": {"runDate": "2026-12-06"}}' * 4
_HEADERS = {
    "webhook-id": "msg_2kQ7x",
    "webhook-timestamp": "1765000000",
    "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
    "content-type": "application/json",
    "user-agent": "storm/1.0",
}
_REJECTED = "rejected: no signature matches (webhook-signature)"


def _real(now: dt.datetime) -> Iterator[dict[str, Any]]:
    """A real sender's receipts over the retention: accepted, redelivered, ignored."""
    n = 0
    for day in range(_DAYS, -1, -1):
        at = now - dt.timedelta(days=day)
        day_events = [(UPDATES_AVAILABLE, 1)] + [
            (NPN_ACTIVATED if i % 2 else NPN_DEACTIVATED, 2 if i % 10 == 0 else 1)
            for i in range(20)
        ]
        if day % 7 == 0:
            day_events.append((ENDPOINT_TEST, 1))
        for event_type, deliveries in day_events:
            n += 1
            event_id = f"evt_real_{n}"
            body = (
                f'{{"id": "{event_id}", "type": "{event_type}", '
                f'"data": {{"runDate": "{at.date().isoformat()}"}}}}'
            ).encode()
            for _ in range(deliveries):
                yield _row(event_id, event_type, at, body, mirror.ACCEPTED)
        yield _row(f"evt_new_{day}", None, at, b"{}", f"{mirror.IGNORED}unknown event type")


def _storm(count: int, replayed: float, now: dt.datetime) -> Iterator[dict[str, Any]]:
    """``count`` receipts since today's midnight: forged, or one delivery replayed."""
    midnight = dt.datetime.combine(now.date(), dt.time(), dt.UTC)
    span = (now - midnight) / max(count, 1)
    replays = int(count * replayed)
    body = b'{"id": "evt_captured", "type": "producersync.npn.activated"}'
    for i in range(count):
        at = midnight + span * i
        if i < replays:
            yield _row("evt_captured", NPN_ACTIVATED, at, body, mirror.ACCEPTED)
        else:
            yield _row(f"msg_forged_{i}", None, at, _FORGED, _REJECTED)


def _row(
    event_id: str, event_type: str | None, at: dt.datetime, body: bytes, verdict: str
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "received_at": at,
        "headers": _HEADERS,
        "body": body,
        "verdict": verdict,
    }


def fill(engine: sa.Engine, count: int, replayed: float) -> None:
    now = dt.datetime.now(dt.UTC)
    real = list(_real(now))
    rows = [*real, *_storm(count - len(real), replayed, now)]
    for start in range(0, len(rows), _CHUNK):
        with mirror.write_transaction(engine) as conn:
            conn.execute(sa.insert(receipts), rows[start : start + _CHUNK])
    with engine.connect() as conn:
        # What autovacuum does to a table that grew (PostgreSQL); SQLite is as written.
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE receipts"
            )


class Statements:
    """Each statement run while ``watch`` is on: its times and its last parameters."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.parameters: dict[str, Any] = {}
        self._on = False

    @contextmanager
    def watch(self) -> Iterator[None]:
        self._on = True
        try:
            yield
        finally:
            self._on = False

    @classmethod
    def listening(cls) -> Statements:
        """One that every engine's statements are told to from now on."""
        statements = cls()
        sa.event.listen(sa.Engine, "before_cursor_execute", statements.before)
        sa.event.listen(sa.Engine, "after_cursor_execute", statements.after)
        return statements

    def stop(self) -> None:
        sa.event.remove(sa.Engine, "before_cursor_execute", self.before)
        sa.event.remove(sa.Engine, "after_cursor_execute", self.after)

    def slowest(self) -> Iterator[tuple[str, str, float]]:
        """(statement, its first 110 characters on one line, median) of each watched whose
        median (the first run left out, as warming) is 0.5 ms or more, slowest first: a
        row read by key has nothing to tell."""
        for statement, times in sorted(self.times.items(), key=lambda s: -max(s[1])):
            median = statistics.median(times[1:] or times)
            if median >= 0.0005:
                yield statement, " ".join(statement.split())[:110], median

    def before(self, conn: sa.Connection, _c: Any, _s: str, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    def after(self, conn: sa.Connection, _c: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self._on:
            self.times[statement].append(time.perf_counter() - conn.info["started"])
            self.parameters[statement] = parameters


def timed(call: Callable[[], object], repeat: int) -> float:
    call()  # warm
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def plan(engine: sa.Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


def run(backend: str, count: int, replayed: float, repeat: int) -> list[list[str]]:
    results = []
    with fresh_database(backend, f"bench_receipts_{count}") as url:
        engine = mirror.open_mirror(url)
        start = time.perf_counter()
        fill(engine, count, replayed)
        console.print(f"[{backend}] {count:,} receipts in {time.perf_counter() - start:.0f} s")
        statements = Statements.listening()
        settings = SyncSettings(webhook_secrets=[SecretStr(generate_secret())], mirror_url=url)
        app = create_app(settings, start=lambda _event, _id: None)

        def status() -> None:
            with engine.connect() as conn:
                mirror.sync_status(conn)

        def scrape() -> None:
            async def get() -> None:
                transport = httpx2.ASGITransport(app=app)
                async with httpx2.AsyncClient(transport=transport, base_url="http://s") as http:
                    (await http.get("/metrics")).raise_for_status()

            asyncio.run(get())

        try:
            for name, call in (("sync status", status), ("GET /metrics", scrape)):
                statements.times.clear()
                with statements.watch():
                    whole = timed(call, repeat)
                results.append([backend, f"{count:,}", name, f"{whole * 1000:.2f} ms", ""])
                for statement, shown, median in statements.slowest():
                    results.append(["", "", "", f"{median * 1000:.2f} ms", shown])
                    console.print(f"[{backend} {count:,}] {name}: {shown}")
                    console.print(plan(engine, statement, statements.parameters[statement]))
        finally:
            statements.stop()
            engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--replayed", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = [
        row
        for backend in args.backends.split(",")
        for count in (int(n) for n in args.receipts.split(","))
        for row in run(backend, count, args.replayed, args.repeat)
    ]
    print_table(
        "sync status and /metrics over the receipts (median; statements over 0.5 ms)",
        ["backend", "receipts", "call", "time", "statement"],
        rows,
    )


if __name__ == "__main__":
    main()
