"""Paging `/v2/licenses?size=1000` over a 10,000-NPN population, on SQLite and PostgreSQL.

    python bench/api_list.py [--producers 320000] [--backends sqlite,postgres]

The store holds at least 1,000,000 licenses (320,000 producers by default; generated once
and cached). A new account subscribes 10,000 NPNs through the API; the benchmark then pages
every license of the population with continuation tokens (keyset), and one day's changes
(`updatedSince`, after stamping 1 % of the store's licenses with that day as a daily NIPR
run does). It prints records/s, p50/p99 page latency and the last-to-first page latency
ratio, against the baseline of the same pages fetched by offset (the v1 page-based list),
whose deep pages get slower as the offset grows. Target: p99 under 50 ms.

One pass is ~37 pages, so its p99 is its slowest page; the passes are repeated
(``--rounds``, as a client syncing every day repeats them) and the p99 is over every
page of every pass, the first pass (the first read of those pages since the service
started) shown on its own as well.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time

import httpx2
import sqlalchemy as sa

from bench._common import (
    console,
    new_client,
    percentile,
    sample_population,
    service_process,
    summary,
    universe_url,
)
from producersync.service.store import documents
from producersync.service.store.engine import make_engine
from producersync.service.store.maintenance import after_bulk_write
from producersync.service.store.tables import licenses

RUN_DATE = dt.date(2025, 7, 24)
POPULATION = 10_000
PAGE = 1000


def stamp_one_day(url: str, seed: int) -> int:
    """Mark 1 % of licenses updated on RUN_DATE (idempotent: same sample every run)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        done = conn.execute(
            sa.select(sa.func.count()).where(licenses.c.updated_at == RUN_DATE)
        ).scalar_one()
        if not done:
            low, high = conn.execute(
                sa.select(sa.func.min(licenses.c.id), sa.func.max(licenses.c.id))
            ).one()
            rng = random.Random(seed)
            ids = rng.sample(range(low, high + 1), (high - low) // 100)
            for start in range(0, len(ids), 5000):
                conn.execute(
                    licenses.update()
                    .where(licenses.c.id.in_(ids[start : start + 5000]))
                    .values(updated_at=RUN_DATE)
                )
            documents.refresh(conn, licenses, ids)  # as every write of the store does
            done = conn.execute(
                sa.select(sa.func.count()).where(licenses.c.updated_at == RUN_DATE)
            ).scalar_one()
    after_bulk_write(engine, [licenses])  # as at the end of every daily run
    engine.dispose()
    return int(done)


def page_all(http: httpx2.Client, url: str) -> tuple[int, list[float], float]:
    """Follow links.next to the end: records, per-page latencies, elapsed seconds."""
    records, latencies = 0, []
    started = time.perf_counter()
    while True:
        t = time.perf_counter()
        response = http.get(url)
        latencies.append(time.perf_counter() - t)
        response.raise_for_status()
        body = response.json()
        if "embedded" not in body:
            return records, latencies, time.perf_counter() - started
        records += len(body["embedded"]["licenses"])
        url = body["links"]["next"]["href"]


def page_by_offset(http: httpx2.Client, query: str) -> tuple[int, list[float], float]:
    records, latencies, page = 0, [], 0
    started = time.perf_counter()
    while True:
        t = time.perf_counter()
        body = http.get(f"/v1/licenses?{query}&page={page}&size={PAGE}").json()
        latencies.append(time.perf_counter() - t)
        if "embedded" not in body:
            return records, latencies, time.perf_counter() - started
        records += len(body["embedded"]["licenses"])
        page += 1


def report(label: str, records: int, latencies: list[float], elapsed: float) -> None:
    data_pages = latencies[:-1] or latencies  # the final page is the empty end marker
    ratio = data_pages[-1] / data_pages[0]
    console.print(
        f"  {label:<34} {records:>7,} records in {len(latencies):>3} requests, "
        f"{records / elapsed:>8,.0f} records/s; {summary(latencies)}; "
        f"last/first page {ratio:.2f}"
    )


def run(backend: str, producers: int, seed: int, rounds: int) -> None:
    url = universe_url(backend, producers, seed)
    changed = stamp_one_day(url, seed)
    npns = sample_population(url, POPULATION, seed)
    creds = new_client(url, "bench-api-list")
    with service_process(url, "--rate-limit", "1000000") as base:
        token = httpx2.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        ).json()["access_token"]
        with httpx2.Client(
            base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            job = http.put("/v1/accounts/subscriptions", json=npns).json()["job_id"]
            while http.get(f"/v1/accounts/subscriptions/status/{job}").json()["status"] not in (
                "COMPLETED",
                "FAILED",
            ):
                time.sleep(0.2)
            http.get(f"/v2/licenses?size={PAGE}")  # warm the connection and caches
            console.print(
                f"[bold]{backend}[/bold]: {producers:,} producers, population "
                f"{POPULATION:,} NPNs, {changed:,} licenses changed on {RUN_DATE}"
            )
            passes = []
            for round_ in range(1, rounds + 1):
                full = page_all(http, f"/v2/licenses?size={PAGE}")
                report(f"keyset: all licenses, pass {round_}", *full)
                day = page_all(http, f"/v2/licenses?size={PAGE}&updatedSince={RUN_DATE}")
                report(f"keyset: updatedSince={RUN_DATE}, pass {round_}", *day)
                passes.append(full[1] + day[1])
            offset = page_by_offset(http, "")
            report("baseline, offset (v1): all licenses", *offset)
    latencies = [latency for one in passes for latency in one]
    p99 = percentile(latencies, 99) * 1e3
    verdict = "meets" if p99 < 50 else "misses"
    console.print(
        f"  => keyset p99 {p99:.1f} ms over {len(latencies)} pages of {rounds} passes "
        f"{verdict} the 50 ms target (first pass alone: p99 "
        f"{percentile(passes[0], 99) * 1e3:.1f} ms); keyset serves "
        f"{(full[0] / full[2]) / (offset[0] / offset[2]):.2f}x the records/s of "
        f"offset paging\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--producers", type=int, default=320_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend.strip(), args.producers, args.seed, args.rounds)


if __name__ == "__main__":
    main()
