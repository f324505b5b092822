"""The retention pruner's first run over a year of rows, and the API beside it.

    python -m bench.retention [--days 365] [--job-npns 5000] [--messages 1000]
                              [--backends sqlite,postgres] [--seconds 10]

A store holds a year (``--days``) of one account's history: each day a finished
subscription job of ``--job-npns`` NPNs (its detail rows and NPN list) and ``--messages``
webhook messages (a 350-byte payload each), each with its delivery and one attempt whose
response body is 200 bytes. A carrier replacing 50,000 NPNs daily is ``--job-npns
50000``. Printed: each table's rows and the bytes its rows and index entries hold before
and after the first prune (SQLite: dbstat's pages less their unused bytes; PostgreSQL:
after VACUUM FULL; the writer's jobs, of an account of its own, left out), the prune's time, and the
API's latency while it runs against the same ``--seconds`` without it: a reader (the
newest page of 50 webhook messages) and a writer (a one-NPN subscription job, a write
transaction), each in a loop of its own against a `service run` process (prune off in
it: the bench prunes, with the service's code and settings, so that it is timed apart).
"""

from __future__ import annotations

import argparse
import datetime as dt
import threading
import time
from collections.abc import Callable

import httpx2
import sqlalchemy as sa

from bench._common import (
    console,
    fresh_database,
    new_client,
    print_table,
    service_process,
    summary,
)
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.retention import Retention, prune
from producersync.service.settings import ServiceSettings
from producersync.service.store.bulk import insert_rows
from producersync.service.store.creation_order import next_in_order
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import time_ordered_id
from producersync.service.store.open import open_store
from producersync.service.store.tables import (
    api_clients,
    job_items,
    jobs,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)

TABLES = (jobs, job_items, webhook_messages, webhook_deliveries, webhook_attempts)
PAYLOAD = '{"type":"producersync.npn.activated","data":{"npn":"%s","pad":"' + "x" * 280 + '"}}'
RESPONSE = "ok " * 66


def _load(engine: sa.Engine, account_id: int, days: int, job_npns: int, messages: int) -> None:
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with write_transaction(engine) as conn:
        endpoint = "ep_bench_retention"
        conn.execute(
            webhook_endpoints.insert().values(
                id=endpoint,
                account_id=account_id,
                url="https://93.184.216.34/hook",
                enabled=False,
                created_at=today,
                updated_at=today,
            )
        )
    npns = [str(10_000_000 + n) for n in range(job_npns)]
    for day in range(days, 0, -1):
        at = today - dt.timedelta(days=day)
        job_id = time_ordered_id(at)
        with write_transaction(engine) as conn:
            conn.execute(
                jobs.insert().values(
                    id=job_id,
                    account_id=account_id,
                    operation="REPLACE",
                    status="COMPLETED",
                    npns=npns,
                    requested=job_npns,
                    activated=job_npns,
                    created_at=at,
                    updated_at=at,
                )
            )
            item = {"job_id": job_id, "action": "ACTIVATE", "result": "SUCCESS", "reason": None}
            insert_rows(conn, job_items, [item | {"npn": npn} for npn in npns])
            ids = [f"evt_{day:04d}_{n:06d}" for n in range(messages)]
            seqs = next_in_order(conn, webhook_messages.name, messages)
            insert_rows(
                conn,
                webhook_messages,
                [
                    {
                        "id": message_id,
                        "account_id": account_id,
                        "event_type": "producersync.npn.activated",
                        "payload": PAYLOAD % n,
                        "created_at": at,
                        "seq": seq,
                    }
                    for n, (message_id, seq) in enumerate(zip(ids, seqs, strict=True))
                ],
            )
            delivery = {"endpoint_id": endpoint, "state": "succeeded", "attempts": 1}
            insert_rows(
                conn,
                webhook_deliveries,
                [delivery | {"message_id": m, "created_at": at, "updated_at": at} for m in ids],
            )
            delivered = conn.execute(
                sa.select(webhook_deliveries.c.id, webhook_deliveries.c.message_id).where(
                    webhook_deliveries.c.message_id.in_(ids)
                )
            ).all()
            insert_rows(
                conn,
                webhook_attempts,
                [
                    {
                        "delivery_id": delivery_id,
                        "message_id": message_id,
                        "endpoint_id": endpoint,
                        "event_type": "producersync.npn.activated",
                        "attempt_number": 1,
                        "trigger": "scheduled",
                        "attempted_at": at,
                        "succeeded": True,
                        "sent": True,
                        "status_code": 200,
                        "duration_ms": 12,
                        "response": RESPONSE,
                        "error": None,
                        "next_attempt_at": None,
                    }
                    for delivery_id, message_id in delivered
                ],
            )


def _sizes(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    """Each table's rows and bytes, its indexes included."""
    found: dict[str, tuple[int, int]] = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            if engine.dialect.name == "sqlite":
                size = conn.exec_driver_sql(
                    "SELECT coalesce(sum(pgsize - unused), 0) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name = ?)",
                    (table.name,),
                ).scalar_one()
            else:
                size = conn.exec_driver_sql(
                    f"SELECT pg_total_relation_size('{table.name}')"
                ).scalar_one()
            found[table.name] = (int(rows), int(size))
    return found


def _compact(engine: sa.Engine) -> None:
    """PostgreSQL: the space the rows left, given back (VACUUM FULL), so that sizes tell
    what is held; SQLite's dbstat tells it as it is."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TABLES:
            conn.exec_driver_sql(f"VACUUM FULL ANALYZE {table.name}")


def _forget_writer(engine: sa.Engine, client_id: str) -> None:
    """The writer's jobs (an account of its own) deleted, so that the sizes after are the
    year's."""
    with write_transaction(engine) as conn:
        account = sa.select(api_clients.c.account_id).where(api_clients.c.client_id == client_id)
        ids = sa.select(jobs.c.id).where(jobs.c.account_id == account.scalar_subquery())
        conn.execute(job_items.delete().where(job_items.c.job_id.in_(ids)))
        conn.execute(jobs.delete().where(jobs.c.account_id == account.scalar_subquery()))


class _Load:
    """A reader and a writer of the API (each its own account), each in a loop, their
    latencies noted."""

    def __init__(self, base: str, reader: str, writer: str) -> None:
        self.read: list[float] = []
        self.write: list[float] = []
        self._stop = threading.Event()
        reads = {"authorization": f"Bearer {reader}"}
        writes = {"authorization": f"Bearer {writer}"}
        self._threads = [
            threading.Thread(target=self._loop, args=(base, reads, self._reader, self.read)),
            threading.Thread(target=self._loop, args=(base, writes, self._writer, self.write)),
        ]

    @staticmethod
    def _reader(http: httpx2.Client) -> httpx2.Response:
        return http.get("/v1/webhooks/messages", params={"limit": 50})

    @staticmethod
    def _writer(http: httpx2.Client) -> httpx2.Response:
        return http.post("/v1/accounts/subscriptions", json=[SANDBOX_NPNS[0]])

    def _loop(
        self,
        base: str,
        headers: dict[str, str],
        call: Callable[[httpx2.Client], httpx2.Response],
        into: list[float],
    ) -> None:
        with httpx2.Client(base_url=base, headers=headers, timeout=120) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                response = call(http)
                into.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _summary(values: list[float]) -> str:
    return summary(values) if values else "none (the prune ended first)"


def _token(base: str, client_id: str, secret: str) -> str:
    response = httpx2.post(
        f"{base}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def run(backend: str, days: int, job_npns: int, messages: int, seconds: float) -> None:
    with fresh_database(backend, "bench_retention") as url:
        engine = open_store(url)
        creds = new_client(url, "retention")
        with engine.connect() as conn:
            account_id = conn.execute(
                sa.select(api_clients.c.account_id).where(
                    api_clients.c.client_id == creds.client_id
                )
            ).scalar_one()
        started = time.perf_counter()
        _load(engine, account_id, days, job_npns, messages)
        console.print(f"{backend}: loaded in {time.perf_counter() - started:.1f} s")
        _compact(engine)
        before = _sizes(engine)
        env = {
            "PRODUCERSYNC_PRUNE_ENABLED": "false",
            "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": "1000000",
            "PRODUCERSYNC_DELIVERY_ENABLED": "false",
        }
        writer = new_client(url, "retention-writer")
        with service_process(url, env=env) as base:
            tokens = (
                _token(base, creds.client_id, creds.client_secret),
                _token(base, writer.client_id, writer.client_secret),
            )
            with _Load(base, *tokens) as quiet:
                time.sleep(seconds)
            with _Load(base, *tokens) as busy:
                started = time.perf_counter()
                pruned = prune(engine, Retention.from_settings(ServiceSettings()))
                took = time.perf_counter() - started
        _forget_writer(engine, writer.client_id)
        _compact(engine)
        after = _sizes(engine)
        engine.dispose()
    console.print(
        f"{backend}: first prune {took:.1f} s: {pruned.payloads:,} payloads and "
        f"{pruned.responses:,} response bodies expired, {pruned.jobs:,} jobs and "
        f"{pruned.job_items:,} detail rows deleted"
    )
    print_table(
        f"{backend}: tables before and after",
        ["table", "rows before", "MB before", "rows after", "MB after"],
        [
            [
                name,
                f"{before[name][0]:,}",
                f"{before[name][1] / 2**20:,.1f}",
                f"{after[name][0]:,}",
                f"{after[name][1] / 2**20:,.1f}",
            ]
            for name in before
        ],
    )
    print_table(
        f"{backend}: API latency, {seconds:.0f} s without the pruner, then during its run",
        ["call", "without", "during"],
        [
            ["GET /v1/webhooks/messages (50)", _summary(quiet.read), _summary(busy.read)],
            ["POST /v1/accounts/subscriptions", _summary(quiet.write), _summary(busy.write)],
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--job-npns", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend, args.days, args.job_npns, args.messages, args.seconds)


if __name__ == "__main__":
    main()
