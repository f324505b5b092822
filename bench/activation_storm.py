"""An activation storm: N NPNs subscribed at once, until the mirror holds them all.

    python -m bench.activation_storm [--npns 100000] [--producers 320000]

A service process (the API's own rate limit: 300 requests a minute per credential) and
a ``producersync sync run`` process (SQLite mirror) listening on a webhook endpoint of
the same account. The benchmark subscribes ``--npns`` NPNs with a credential of its own,
in requests of at most 50,000 (the service's cap), all sent before waiting; the service
sends one ``npn.activated`` per NPN and the sync service coalesces them into bulk
``npns=`` fetches. Timed from the first subscription request until every NPN is active in
the mirror with its records (its entity there and no activation run still going).

The figure is that time over the bound the rate limit sets: the pages the mirror's
records need at 1,000 a page (plus each list's closing page), at 300 a minute
(target <= 1.1). A list whose records all come nested in another's (the licenses bring
every LOA) needs no page of its own, so it is left out of the bound; the bound with it
read as well is printed beside (what this benchmark divided by before the sync stopped
reading that list).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from bench._common import (
    console,
    free_port,
    sample_population,
    service_process,
    sync_process,
    universe_url,
)
from producersync.client import Client
from producersync.service.delivery import management
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, endpoints
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import accounts as account_table
from producersync.service.store.tables import webhook_endpoints
from producersync.sync import mirror
from producersync.sync.mirror.tables import MIRRORED, population, sync_runs
from producersync.sync.pull import NESTED_LISTS

RATE_PER_MINUTE = 300
PAGE = 1000
TARGET = 1.1
_SUBSCRIBE_CAP = 50_000  # NPNs per subscription request
_SERVICE_ENV = {
    "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
    "PRODUCERSYNC_WEBHOOK_POLL_SECONDS": "0.05",
}


def _sync_account(store: str, sync_url: str) -> dict[str, str]:
    """An account with an endpoint at ``sync_url``; the sync process's environment
    (minus the mirror)."""
    settings = ServiceSettings(database_url=store, allow_private_endpoints=True)
    engine = open_store(store)
    with write_transaction(engine) as conn:
        # An interrupted run leaves its deliveries owed to a sync process that is gone:
        # the service would spend this run retrying them.
        earlier = sa.select(webhook_endpoints.c.id).join(
            account_table, account_table.c.id == webhook_endpoints.c.account_id
        )
        for (endpoint_id,) in conn.execute(earlier.where(account_table.c.name.like("storm-%"))):
            endpoints.disable_endpoint(conn, None, endpoint_id, "an earlier benchmark run")
        account = accounts.create_account(conn, f"storm-{time.time_ns()}", sandbox=False)
        client_id, secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
        _, signing = management.create_endpoint(conn, settings, account.id, sync_url)
        # The benchmark's own credential: the sync process's rate limit is not ours.
        reader_id, reader_secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
    engine.dispose()
    return {
        "PRODUCERSYNC_CLIENT_ID": client_id,
        "PRODUCERSYNC_CLIENT_SECRET": secret,
        "PRODUCERSYNC_WEBHOOK_SECRETS": signing,
        "reader_id": reader_id,
        "reader_secret": reader_secret,
    }


def _progress(engine: sa.Engine) -> tuple[int, int, int]:
    """NPNs active, NPNs whose entity is mirrored, runs still going."""
    entities = MIRRORED["entities"].table
    with engine.connect() as conn:
        active = conn.execute(sa.select(sa.func.count()).where(population.c.active)).scalar_one()
        held = conn.execute(sa.select(sa.func.count(sa.distinct(entities.c.npn)))).scalar_one()
        running = conn.execute(
            sa.select(sa.func.count()).where(sync_runs.c.finished_at.is_(None))
        ).scalar_one()
    return int(active), int(held), int(running)


def _done(progress: tuple[int, int, int], count: int) -> bool:
    """Every NPN active, its entity mirrored, and no activation run still pulling (a
    batch's run pulls its entities first and every other resource after)."""
    active, held, running = progress
    return active >= count and held >= count and running == 0


def _bound_pages(engine: sa.Engine) -> tuple[int, int]:
    """Pages the mirror's records need: the lists a client must read, and every list."""
    with engine.connect() as conn:
        counts = mirror.record_counts(conn)
    pages = {resource: math.ceil(counts[resource] / PAGE) + 1 for resource in mirror.RESOURCES}
    needed = sum(count for resource, count in pages.items() if resource not in NESTED_LISTS)
    return needed, sum(pages.values())


def _seconds(pages: int) -> float:
    return pages / RATE_PER_MINUTE * 60


def _api_requests(base: str) -> int:
    """Every /v1 and /v2 request the service answered (the benchmark's own included)."""
    text = httpx2.get(f"{base}/metrics", timeout=10).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "producersync_http_requests_total"
            and sample.labels["route"].startswith(("/v1/", "/v2/"))
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npns", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=320_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()
    store = universe_url("sqlite", args.producers, args.seed)
    npns = sample_population(store, args.npns, args.seed)
    port = free_port()
    sync_env = _sync_account(store, f"http://127.0.0.1:{port}/webhooks/psapi")
    reader = (sync_env.pop("reader_id"), sync_env.pop("reader_secret"))
    with tempfile.TemporaryDirectory() as directory:
        mirror_url = f"sqlite:///{Path(directory) / 'mirror.db'}"
        engine = mirror.open_mirror(mirror_url)
        with service_process(store, env=_SERVICE_ENV) as base:
            env = {
                **sync_env,
                "PRODUCERSYNC_API_URL": base,
                "PRODUCERSYNC_MIRROR_URL": mirror_url,
            }
            with sync_process(env, port), Client(*reader, base_url=base) as client:
                started = time.perf_counter()
                jobs = [
                    client.subscriptions.add(npns[i : i + _SUBSCRIBE_CAP])
                    for i in range(0, len(npns), _SUBSCRIBE_CAP)
                ]
                for job in jobs:
                    client.subscriptions.wait(job)
                subscribed = time.perf_counter() - started
                shown = started
                while not _done(progress := _progress(engine), len(npns)):
                    now = time.perf_counter()
                    if now - started > args.timeout:
                        raise TimeoutError(f"the mirror did not fill in time: {progress}")
                    if now - shown > 10:
                        console.print(f"{now - started:.0f} s: active, held, running {progress}")
                        shown = now
                    time.sleep(0.5)
                elapsed = time.perf_counter() - started
            requests = _api_requests(base)
        pages, every_list = _bound_pages(engine)
        bound = _seconds(pages)
        with engine.connect() as conn:
            counts = mirror.record_counts(conn)
        engine.dispose()
    ratio = elapsed / bound
    table = Table(title=f"Activation storm: {args.npns:,} NPNs subscribed at once")
    for column in ("figure", "value"):
        table.add_column(column)
    table.add_row("subscription jobs done", f"{subscribed:.1f} s")
    table.add_row("until the mirror holds them all", f"{elapsed:.1f} s")
    table.add_row("records mirrored", f"{sum(counts.values()):,}")
    table.add_row("rate-limit bound", f"{pages:,} pages at {RATE_PER_MINUTE}/min = {bound:.1f} s")
    loose = _seconds(every_list)
    table.add_row(
        "the bound with every list read",
        f"{every_list:,} pages = {loose:.1f} s (ratio {elapsed / loose:.2f})",
    )
    table.add_row("API requests made (service's /metrics)", f"{requests:,}")
    met = "[green]yes[/green]" if ratio <= TARGET else "[red]no[/red]"
    table.add_row("ratio (target <= 1.1)", f"{ratio:.2f} {met}")
    console.print(table)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
