"""An endpoint's Message Attempts list, filtered by time, over 600,000 attempts.

    python -m bench.attempts_list [--attempts 600000] [--days 60] [--backends sqlite,postgres]

One endpoint holds ``--attempts`` attempts spread evenly over ``--days`` days (one message
and delivery each; one in 20 failed; one ``updates_available`` a day, the rest NPN
events). Each case reads a first page of 50 (the API's default) through the store, as
the API, the portal and the CLI do, and then the page after it as a client asks for it,
by the first page's ``nextBefore`` (an opaque ``pos_<µs>_<id>``, the last attempt's
place, read back as the API reads it: no look-up of that attempt): the newest
page unfiltered, a one-day window at the start of the history, in the middle and at the
end, the start's window with the outcome ``failed``, with the event type
``updates_available`` (since the first day, no end), with it or ``npn.deactivated`` (a
third of the attempts), and the middle day's failed ``npn.activated``.

Baseline, same run: the query as it was before migration 0010 (attempt ids newest first,
the ``(endpoint_id, id)`` index, the type read from each attempt's message, the next page
after the last attempt's id, the cursor then), on the same
rows with the schema at 0009; then the store is migrated to head (the time this takes is
printed too: from 0012 on, it fills in each attempt's event type) and ``list_attempts`` is
timed.
Figures are the median of ``--repeat`` runs of each page, the store warm.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from bench._common import console, fresh_database, print_table
from producersync.model.events import NPN_ACTIVATED, NPN_DEACTIVATED, UPDATES_AVAILABLE
from producersync.service.api.webhook_models import AttemptPage, AttemptQuery
from producersync.service.store import outbox
from producersync.service.store.bulk import insert_rows
from producersync.service.store.engine import make_engine, write_transaction
from producersync.service.store.migrate import upgrade
from producersync.service.store.tables import (
    accounts,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ENDPOINT = "ep_bench"
PAGE = 50
BATCH = 20_000
BEFORE_0010 = "0009"


def _rows(n: int, step: dt.timedelta, per_day: int) -> dict[sa.Table, dict[str, object]]:
    """The nth message, its delivery and its one attempt (one in 20 failed)."""
    at, message, ok = START + n * step, f"evt_{n:09d}", n % 20 != 0
    event_type = NPN_ACTIVATED if n % 3 else NPN_DEACTIVATED
    return {
        webhook_messages: {
            "id": message,
            "account_id": 1,
            "event_type": UPDATES_AVAILABLE if n % per_day == 0 else event_type,
            "payload": "{}",
            "created_at": at,
        },
        webhook_deliveries: {
            "id": n + 1,
            "message_id": message,
            "endpoint_id": ENDPOINT,
            "state": "succeeded" if ok else "failed",
            "attempts": 1,
            "manual": False,
            "next_attempt_at": None,
            "created_at": at,
            "updated_at": at,
        },
        webhook_attempts: {
            "id": n + 1,
            "delivery_id": n + 1,
            "message_id": message,
            "endpoint_id": ENDPOINT,
            "attempt_number": 1,
            "trigger": "scheduled",
            "attempted_at": at,
            "succeeded": ok,
            "status_code": 200 if ok else 503,
            "duration_ms": 12,
            "response": "ok",
            "error": None,
            "next_attempt_at": None,
        },
    }


def fill(engine: sa.Engine, attempts: int, days: int) -> None:
    step = dt.timedelta(days=days) / attempts
    per_day = attempts // days
    with write_transaction(engine) as conn:
        conn.execute(accounts.insert().values(id=1, name="bench", sandbox=False, created_at=START))
        # Its columns alone (the rows are written at 0009): the table's default for seq,
        # a column of later migrations, is not in that schema.
        endpoint = {
            "id": ENDPOINT,
            "account_id": 1,
            "url": "https://example.com/hook",
            "enabled": True,
            "created_at": START,
            "updated_at": START,
        }
        insert_rows(conn, webhook_endpoints, [endpoint])
    tables = (webhook_messages, webhook_deliveries, webhook_attempts)
    for low in range(0, attempts, BATCH):
        built = [_rows(n, step, per_day) for n in range(low, min(low + BATCH, attempts))]
        with write_transaction(engine) as conn:
            for table in tables:
                insert_rows(conn, table, [rows[table] for rows in built])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def main_query(
    conn: sa.Connection,
    *,
    columns: frozenset[str],
    limit: int,
    before: int | None = None,
    succeeded: bool | None = None,
    narrowed: outbox.LogFilter = outbox.EVERYTHING,
) -> list[sa.Row[tuple[object, ...]]]:
    """The endpoint's page as ``list_attempts`` read it before migration 0010: attempt
    ids newest first, the window and the type as filters on what that order reads (the
    same columns as ``list_attempts``, of those stored then: ``columns``)."""
    a, m, e = webhook_attempts, webhook_messages, webhook_endpoints
    then = [c for c in a.c if c.name in columns and c.name != "event_type"]
    query = (
        sa.select(*then, m.c.event_type)
        .join(m, m.c.id == a.c.message_id)
        .where(a.c.endpoint_id == ENDPOINT)
        .order_by(a.c.id.desc())
        .limit(limit)
    )
    if narrowed.event_types is not None:
        account = sa.select(e.c.account_id).where(e.c.id == ENDPOINT).scalar_subquery()
        query = query.where(m.c.account_id == account)
    if before is not None:
        query = query.where(a.c.id < before)
    if succeeded is not None:
        query = query.where(a.c.succeeded.is_(succeeded))
    query = query.where(*narrowed.conditions(m.c.event_type, a.c.attempted_at))
    return list(conn.execute(query))


ours = functools.partial(outbox.list_attempts, endpoint_id=ENDPOINT)


Query = Callable[..., Sequence[Any]]  # rows with an id
Cursor = Callable[[Sequence[Any]], object | None]  # a first page's rows -> the next
# page's before, None when it has none (a small --attempts: a window of one page)


def next_before(rows: Sequence[Any]) -> object | None:
    """The ``before`` of the page after ``rows`` as the API's clients page: the page's
    ``nextBefore``, sent back and read as the API reads it; None: no page after."""
    position = AttemptPage.of(list(rows), PAGE).next_before
    return None if position is None else AttemptQuery(before=position).before


def last_id(rows: Sequence[Any]) -> object | None:
    """The cursor before migration 0010's query: the full page's last attempt id."""
    return rows[-1].id if len(rows) == PAGE else None


def cases(days: int) -> list[tuple[str, dict[str, object]]]:
    def day(n: int) -> outbox.LogFilter:
        return outbox.LogFilter(
            since=START + dt.timedelta(days=n), until=START + dt.timedelta(days=n + 1)
        )

    return [
        ("newest, unfiltered", {}),
        ("1st day", {"narrowed": day(0)}),
        ("middle day", {"narrowed": day(days // 2)}),
        ("last day", {"narrowed": day(days - 1)}),
        ("1st day, failed", {"narrowed": day(0), "succeeded": False}),
        (
            "updates_available since the 1st day",
            {"narrowed": outbox.LogFilter(frozenset({UPDATES_AVAILABLE}), since=START)},
        ),
        (
            "updates_available or npn.deactivated since the 1st day",
            {
                "narrowed": outbox.LogFilter(
                    frozenset({UPDATES_AVAILABLE, NPN_DEACTIVATED}), since=START
                )
            },
        ),
        (
            "npn.activated, the middle day, failed",
            {
                "narrowed": dataclasses.replace(
                    day(days // 2), event_types=frozenset({NPN_ACTIVATED})
                ),
                "succeeded": False,
            },
        ),
    ]


def timed(
    engine: sa.Engine, query: Query, cursor: Cursor, args: dict[str, object], repeat: int
) -> tuple[list[float], list[list[int]]]:
    """The first page's and the next page's (after ``cursor`` of the first) median times
    (s), and the pages; the first page's alone when it is the last."""
    with engine.connect() as conn:
        first = query(conn, limit=PAGE, **args)
        assert first, args
        figures: list[float] = []
        pages: list[list[int]] = []
        after = cursor(first)
        for before in (None,) if after is None else (None, after):
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                page = query(conn, limit=PAGE, before=before, **args)
                times.append(time.perf_counter() - began)
            figures.append(statistics.median(times))
            pages.append([row.id for row in page])
    return figures, pages


def _cells(figures: list[float]) -> list[str]:
    """A first and a next page's times; "none" where the first page was the last."""
    return [f"{t * 1e3:.2f} ms" for t in figures] + ["none"] * (2 - len(figures))


def run(backend: str, attempts: int, days: int, repeat: int) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = []
    with fresh_database(backend, f"bench_attempts_{attempts}") as url:
        engine = make_engine(url)
        upgrade(engine, BEFORE_0010)
        began = time.perf_counter()
        fill(engine, attempts, days)
        console.print(
            f"[{backend}] {attempts:,} attempts written in {time.perf_counter() - began:.0f} s"
        )
        with engine.connect() as conn:  # the attempts' columns at 0009
            stored = {c["name"] for c in sa.inspect(conn).get_columns(webhook_attempts.name)}
        main = functools.partial(main_query, columns=frozenset(stored))
        before = {name: timed(engine, main, last_id, args, repeat) for name, args in cases(days)}
        began = time.perf_counter()
        upgrade(engine)
        console.print(f"[{backend}] migrated to head in {time.perf_counter() - began:.1f} s")
        for name, args in cases(days):
            after, pages = timed(engine, ours, next_before, args, repeat)
            # The rows are written in time order: both orders list the same attempts.
            assert pages == before[name][1], name
            rows.append(
                [
                    backend,
                    name,
                    *_cells(after),
                    *_cells(before[name][0]),
                    f"{before[name][0][0] / after[0]:.1f}x",
                ]
            )
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=600_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        rows += run(backend, args.attempts, args.days, args.repeat)
    print_table(
        f"{args.attempts:,} attempts to one endpoint over {args.days} days, pages of {PAGE}",
        ["backend", "list", "ours: 1st page", "next page", "main: 1st page", "next page", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
