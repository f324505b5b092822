"""The sync into a mirror, end to end: a population's backfill, then days of changes.

    python -m bench.sync [--producers 320000] [--population 10000] [--days 5]
                         [--backfills 3] [--backend sqlite|postgres] [--latency-ms 0]

A new account subscribes ``--population`` NPNs of the cached universe; a service process
serves it (rate limit lifted: pacing would time the limit, not the sync). Then, into
SQLite and into PostgreSQL:

1. backfill: the whole population into an empty mirror (what ``sync backfill`` pulls),
   ``--backfills`` times, each contender into new databases each time: this 2-core
   machine is noisy (the same backfill's ratio ranged 4.1-5.5x over a day), so the line
   shows the run with the median ratio, and every run's ratio beside it;
2. days: ``producersync nipr run`` on the store, then every record updated since that
   day (what ``sync now --since`` and the ``updates_available`` workflow pull), for
   ``--days`` days in a row: a day is ~9 requests and some 200 records, a sample of tens
   of milliseconds, so the days' totals are compared.

Each against the baseline in the same run, written the way the public quick start shows:
``requests`` fetches every page (the same queries as ours) following
``links.next.href``, and each record is inserted row by row into a simple table, one
commit a page, on the same kind of database. Both store the same records; we print
records/s (records served by those queries, over each one's wall time) and our ratio to
the baseline (target >= 5x). Before each, an untimed fetch of the same pages warms the
service for both.

And the ceiling: the pages ours reads fetched and parsed as many at once as ours,
nothing stored. The service shares the machine, so that is the most any client could
reach here, and ceiling / baseline the highest ratio any could show.

``--latency-ms`` makes the service answer each API request that much later (its chaos
latency), as a service across the internet does: on loopback the service's own time is
all a request costs, and a client can gain only what the service can serve at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa
from pydantic import SecretStr

from bench._common import (
    Credentials,
    console,
    fresh_database,
    new_client,
    print_table,
    sample_population,
    service_process,
    universe_url,
)
from producersync.client import Client
from producersync.client.pagination import parse_raw_page
from producersync.gc_tuning import tune_gc
from producersync.service.nipr.universe import DEFAULT_START_DATE
from producersync.service.store.engine import make_engine
from producersync.service.store.tables import nipr_runs
from producersync.sync import mirror
from producersync.sync.pull import PageResult, Puller, Stream, pull, streams
from producersync.sync.settings import SyncSettings

TARGET = 5.0
_CLI = [sys.executable, "-m", "producersync.cli.main"]
_UNLIMITED = 1_000_000.0  # requests per minute


@dataclass(frozen=True)
class Api:
    base: str
    credentials: Credentials


class QuickStart:
    """The baseline: ``requests`` and row-by-row inserts into one simple table."""

    def __init__(self, api: Api, url: str) -> None:
        self._api = api
        self._engine = sa.create_engine(url)
        with self._engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS records (resource TEXT, id BIGINT, npn TEXT,"
                    " body TEXT, PRIMARY KEY (resource, id))"
                )
            )
        self._insert = sa.text(
            "INSERT INTO records (resource, id, npn, body) VALUES (:resource, :id, :npn, :body)"
            " ON CONFLICT (resource, id) DO UPDATE SET npn = excluded.npn, body = excluded.body"
        )

    def sync(self, todo: list[Stream]) -> int:
        """Every record of every stream, fetched and stored; how many."""
        session = requests.Session()
        token = session.post(
            f"{self._api.base}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._api.credentials.client_id,
                "client_secret": self._api.credentials.client_secret,
            },
        ).json()["access_token"]
        session.headers["authorization"] = f"Bearer {token}"
        stored = 0
        for stream in todo:
            url: str | None = f"{self._api.base}/v2/{stream.resource}"
            params: dict[str, str] | None = {**dict(stream.params), "size": "1000"}
            while url:
                response = session.get(url, params=params)
                response.raise_for_status()
                page = response.json()
                records = page.get("embedded", {}).get(stream.resource, [])
                with self._engine.begin() as conn:
                    for record in records:
                        row = {"resource": stream.resource, "id": record["id"]}
                        row |= {"npn": record.get("npn"), "body": json.dumps(record)}
                        conn.execute(self._insert, row)
                stored += len(records)
                url = page["links"]["next"]["href"] if records else None
                params = None  # the next link carries the query
        return stored

    def close(self) -> None:
        self._engine.dispose()


def _ours(settings: SyncSettings, engine: sa.Engine, todo: list[Stream]) -> float:
    """Wall time of our pull of ``todo`` into the mirror: what ``sync backfill`` and
    ``sync now`` run (and the workflows, a step a page), here in-process like the
    baseline, so that neither pays an interpreter's start."""
    with settings.client() as client:
        puller = Puller(client, engine, settings.page_size)
        started = time.perf_counter()
        run_id = puller.start("manual", run_date=None, since=None)
        counts = puller.pull(todo, run_id, concurrency=settings.pull_concurrency)
        puller.finish(run_id, counts)
        return time.perf_counter() - started


def _ceiling(settings: SyncSettings, todo: list[Stream]) -> float:
    """Wall time of fetching and parsing the pages of ``todo`` that ours reads, nothing
    stored, as many streams at once as ours: a whole-population list that comes nested
    in another (the LOAs, in their licenses) is not read, as ours does not read it."""
    size = settings.page_size
    with settings.client() as client:

        def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
            params = None if path else {**dict(stream.params), "size": str(size)}
            at = path or f"/v2/{stream.resource}"
            body = client.request("GET", at, params=params, raw=True)
            records, next_path = parse_raw_page(body, stream.resource, size, at=at)
            return PageResult(next_path, len(records))

        started = time.perf_counter()
        pull(todo, page, None, concurrency=settings.pull_concurrency, nested_whole=_nested)
        return time.perf_counter() - started


def _nested(stream: Stream) -> bool:
    return True  # ours finds every LOA nested in the licenses, and reads no more


def _timed(todo: list[Stream], baseline: QuickStart) -> tuple[int, float]:
    started = time.perf_counter()
    records = baseline.sync(todo)
    return records, time.perf_counter() - started


def _subscribe(api: Api, npns: list[str]) -> None:
    credentials = api.credentials
    with Client(
        credentials.client_id, credentials.client_secret, base_url=api.base, rate_limit=_UNLIMITED
    ) as client:
        for start in range(0, len(npns), 50_000):  # the service's cap per request
            client.subscriptions.wait(client.subscriptions.add(npns[start : start + 50_000]))


@dataclass
class Tally:
    """One scenario's totals for each contender, over the syncs it summed."""

    records: int = 0
    theirs: float = 0.0
    ours: float = 0.0
    ceiling: float = 0.0

    def add(self, other: Tally) -> None:
        self.records += other.records
        self.theirs += other.theirs
        self.ours += other.ours
        self.ceiling += other.ceiling

    @property
    def ratio(self) -> float:
        return self.theirs / self.ours


def _sync_once(
    settings: SyncSettings, engine: sa.Engine, baseline: QuickStart, since: dt.date | None
) -> Tally:
    # Untimed, the same pages once: whoever came first would otherwise pay alone for
    # what the service had cold (the queries not yet compiled, the pages a NIPR run
    # rewrote).
    _ceiling(settings, streams(since=since))
    records, theirs = _timed(streams(since=since), baseline)
    ours = _ours(settings, engine, streams(since=since))
    return Tally(records, theirs, ours, _ceiling(settings, streams(since=since)))


def _line(backend: str, name: str, runs: list[Tally]) -> tuple[str, ...]:
    """A scenario's line: the run with the median ratio, and every run's ratio."""
    middle = sorted(runs, key=lambda run: run.ratio)[len(runs) // 2]
    ratios = ", ".join(f"{run.ratio:.1f}x" for run in runs)
    return (
        backend,
        name,
        f"{middle.records:,}",
        f"{middle.records / middle.ours:,.0f}",
        f"{middle.records / middle.theirs:,.0f}",
        f"{middle.ratio:.1f}x" + (f" ({ratios})" if len(runs) > 1 else ""),
        "[green]yes[/green]" if middle.ratio >= TARGET else "[red]no[/red]",
        f"{middle.records / middle.ceiling:,.0f}",
        f"{middle.theirs / middle.ceiling:.1f}x",
    )


def run_backend(
    backend: str,
    producers: int,
    population: int,
    seed: int,
    days: int,
    backfills: int,
    latency_ms: int = 0,
) -> list[tuple[str, ...]]:
    store = universe_url(backend, producers, seed)
    npns = sample_population(store, population, seed)
    credentials = new_client(store, "bench-sync")
    rows: list[tuple[str, ...]] = []
    latency = ("--chaos-latency-ms", str(latency_ms))
    late = f", {latency_ms} ms latency" if latency_ms else ""
    with service_process(store, "--rate-limit", str(int(_UNLIMITED)), *latency) as base:
        api = Api(base, credentials)
        _subscribe(api, npns)
        # Each backfill into empty databases; the days into the last backfill's.
        backfilled: list[Tally] = []
        for attempt in range(backfills):
            last = attempt == backfills - 1
            with (
                fresh_database(backend, "bench_sync_mirror") as mirror_url,
                fresh_database(backend, "bench_sync_baseline") as baseline_url,
            ):
                settings = SyncSettings(
                    api_url=base,
                    client_id=credentials.client_id,
                    client_secret=SecretStr(credentials.client_secret),
                    mirror_url=mirror_url,
                    api_rate_limit_per_minute=_UNLIMITED,
                )
                engine = mirror.open_mirror(mirror_url)
                baseline = QuickStart(api, baseline_url)
                backfilled.append(_sync_once(settings, engine, baseline, None))
                done = backfilled[-1]
                console.print(
                    f"{backend}: backfill {attempt + 1}/{backfills}: ours {done.ours:.2f} s,"
                    f" baseline {done.theirs:.2f} s ({done.ratio:.1f}x)"
                )
                if last:
                    rows.append(_line(backend, f"backfill {population:,} NPNs{late}", backfilled))
                if last and days:
                    first = _next_day(store)
                    dates = [first + dt.timedelta(days=i) for i in range(days)]
                    total = Tally()
                    # A cached store benched often enough is run past today.
                    ahead = ["--allow-future", "--database", store]
                    for day in dates:
                        nipr = ["nipr", "run", "--date", day.isoformat(), *ahead]
                        subprocess.run([*_CLI, *nipr], check=True, stdout=subprocess.DEVNULL)
                        total.add(_sync_once(settings, engine, baseline, day))
                    name = f"{days} days, a sync each ({dates[0]} to {dates[-1]}){late}"
                    rows.append(_line(backend, name, [total]))
                baseline.close()
                engine.dispose()
    return rows


def _next_day(store: str) -> dt.date:
    """The day after the store's last NIPR run, or the universe's first day: a day run
    once is not run again, and ``updatedSince`` then selects that day's changes alone.
    Each is one day of NIPR's: a first run today, long after the universe's start, would
    renew or lapse every license whose date came in between, months of changes at once."""
    engine = make_engine(store)
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(nipr_runs.c.run_date))).scalar()
    engine.dispose()
    return DEFAULT_START_DATE if last is None else last + dt.timedelta(days=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--producers", type=int, default=320_000)
    parser.add_argument("--population", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--days", type=int, default=5, help="days synced one at a time (0: the backfills only)"
    )
    parser.add_argument(
        "--backfills",
        type=int,
        default=3,
        help="backfills, each into empty databases (the line shows the median ratio's)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="ms the service waits before answering each API request (default 0: loopback)",
    )
    args = parser.parse_args()
    if args.days < 0 or args.backfills < 1:
        parser.error(
            f"--days must be 0 or more and --backfills 1 or more,"
            f" not {args.days} and {args.backfills}"
        )
    # The collector as the sync service and `sync backfill` set it; the baseline runs in
    # this process too, and gains from it alike.
    tune_gc()
    rows: list[tuple[str, ...]] = []
    for backend in args.backend or ["sqlite", "postgres"]:
        rows += run_backend(
            backend,
            args.producers,
            args.population,
            args.seed,
            args.days,
            args.backfills,
            args.latency_ms,
        )
    print_table(
        "Sync into a mirror: ours vs the quick start (requests, row by row)",
        (
            "backend",
            "scenario",
            "records",
            "ours/s",
            "baseline/s",
            "ratio",
            ">= 5x",
            "ceiling/s (fetch only)",
            "highest ratio possible",
        ),
        rows,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
