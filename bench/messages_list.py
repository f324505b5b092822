"""The portal's Messages filtered by delivery state, over 100,000 messages of one account.

    python -m bench.messages_list [--messages 100000] [--repeat 15] [--backends sqlite,postgres]

Each message has one delivery. Four stores on each backend: a healthy endpoint's (all
succeeded but 100 failed and 100 pending, spread evenly), a down endpoint's (failed and
pending in turn but 100 succeeded), each state rare in one and common in the other, a
settled one's (all succeeded: none failed or pending), and the healthy one beside
another account whose endpoint is down (10,000 messages, all failed). Each case reads, through
``list_messages`` as the portal does, the newest page of 50 of that state, the page after
it and the oldest page (the portal's Oldest link); the newest alone where none is.

Baseline, same run, same rows: ``list_messages`` as before migration 0020, every state by
an EXISTS per message in the order of the account's messages, on the rows written with
the schema at 0019; then the store is migrated to head (the index build's time is
printed too) and ours is timed. Figures are the median of ``--repeat`` runs of each
page, the store warm. The PostgreSQL databases and the SQLite files are removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import sqlalchemy as sa

from bench._common import console, drop_database, fresh_database, print_table
from producersync.service.store import outbox
from producersync.service.store.bulk import insert_rows
from producersync.service.store.engine import make_engine, write_transaction
from producersync.service.store.migrate import upgrade
from producersync.service.store.tables import (
    accounts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PAGE = 50
BATCH = 20_000
RARE = 100  # messages of each rare state: two pages
BEFORE_0020 = "0019"
INDEX = "ix_webhook_deliveries_endpoint_id_state_message_id"
STATES = ("failed", "pending", "succeeded")
# Each store's state of the nth of ``total`` messages: those of ``rare`` (each of its
# states at RARE places spread evenly), otherwise one of ``common`` in turn.
STORES = {
    "healthy": (("failed", "pending"), ("succeeded",)),
    "down": (("succeeded",), ("failed", "pending")),
    "settled": ((), ("succeeded",)),  # none failed or pending
    # The healthy one beside another account whose endpoint is down: NEIGHBOUR failed.
    "healthy beside a down one": (("failed", "pending"), ("succeeded",)),
}
NEIGHBOUR = 10_000


def state_of(n: int, total: int, rare: tuple[str, ...], common: tuple[str, ...]) -> str:
    step = total // RARE
    for i, state in enumerate(rare):
        if n % step == i * step // len(rare) + step // 4:
            return state
    return common[n % len(common)]


def fill(engine: sa.Engine, total: int, store: str) -> None:
    rare, common = STORES[store]
    write(engine, 1, total, lambda n: state_of(n, total, rare, common))
    if "beside" in store:
        write(engine, 2, NEIGHBOUR, lambda _n: "failed")
    analyze(engine)


def write(engine: sa.Engine, account: int, total: int, state: Callable[[int], str]) -> None:
    """The account, its endpoint, and ``total`` messages a second apart, each delivered
    to it once, the nth in ``state(n)``."""
    endpoint = f"ep_{account}"
    with write_transaction(engine) as conn:
        conn.execute(
            accounts.insert().values(
                id=account, name=f"bench {account}", sandbox=False, created_at=START
            )
        )
        conn.execute(
            webhook_endpoints.insert().values(
                id=endpoint,
                account_id=account,
                url="https://example.com/hook",
                enabled=True,
                created_at=START,
                updated_at=START,
            )
        )
    for low in range(0, total, BATCH):
        numbers = range(low, min(low + BATCH, total))
        with write_transaction(engine) as conn:
            insert_rows(
                conn,
                webhook_messages,
                [
                    {
                        "id": f"evt_{account}_{n:09d}",
                        "account_id": account,
                        "event_type": "npn.activated",
                        "payload": "{}",
                        "created_at": START + dt.timedelta(seconds=n),
                    }
                    for n in numbers
                ],
            )
            insert_rows(
                conn,
                webhook_deliveries,
                [
                    {
                        "message_id": f"evt_{account}_{n:09d}",
                        "endpoint_id": endpoint,
                        "state": state(n),
                        "attempts": 1,
                        "created_at": START,
                        "updated_at": START,
                    }
                    for n in numbers
                ],
            )


def analyze(engine: sa.Engine) -> None:
    """The planners' statistics, as the store's maintenance keeps them."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


Page = Callable[[sa.Connection], list[outbox.Message]]


def pages(conn: sa.Connection, state: str) -> dict[str, Page]:
    """The newest page, the one after it and the oldest page of ``state``; the newest
    alone of a state none is in."""
    read = outbox.list_messages
    newest = read(conn, 1, limit=PAGE, delivery_state=state)
    if not newest:
        return {"newest": lambda c: read(c, 1, limit=PAGE, delivery_state=state)}
    return {
        "newest": lambda c: read(c, 1, limit=PAGE, delivery_state=state),
        "next": lambda c: read(c, 1, limit=PAGE, before=newest[-1], delivery_state=state),
        "oldest": lambda c: read(c, 1, limit=PAGE, oldest=True, delivery_state=state),
    }


def timed(conn: sa.Connection, page: Page, repeat: int) -> tuple[float, list[str]]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        found = page(conn)
        times.append(time.perf_counter() - began)
    return statistics.median(times), [m.id for m in found]


def each_message(
    _conn: sa.Connection, query: sa.Select[Any], _account_id: int, state: str
) -> sa.Select[Any]:
    """The state's filter before migration 0020: an EXISTS per message."""
    d, m = webhook_deliveries, webhook_messages
    return query.where(sa.exists().where(d.c.message_id == m.c.id, d.c.state == state))


def timed_cases(engine: sa.Engine, store: str, repeat: int) -> dict[str, tuple[float, list[str]]]:
    """Each case's median time and page, by its name."""
    figures = {}
    with engine.connect() as conn:
        for state in STATES:
            rare, common = STORES[store]
            rarity = "rare" if state in rare else "common" if state in common else "none"
            for which, page in pages(conn, state).items():
                figures[f"{state} ({rarity}), {which}"] = timed(conn, page, repeat)
    return figures


def sizes(engine: sa.Engine) -> tuple[int, int]:
    """Bytes of migration 0020's index and of the deliveries' table."""
    names = {"index": INDEX, "table": webhook_deliveries.name}
    if engine.dialect.name == "postgresql":
        read = "SELECT pg_relation_size(:index), pg_relation_size(:table)"
    else:
        read = (
            "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name = :index),"
            " (SELECT sum(pgsize) FROM dbstat WHERE name = :table)"
        )
    with engine.connect() as conn:
        index, table = conn.execute(sa.text(read), names).one()
    return int(index), int(table)


def run(backend: str, total: int, repeat: int) -> list[list[str]]:
    rows = []
    for store in STORES:
        name = f"bench_messages_{store.replace(' ', '_')}_{total}"
        with fresh_database(backend, name) as url:
            engine = make_engine(url)
            upgrade(engine, BEFORE_0020)
            began = time.perf_counter()
            fill(engine, total, store)
            console.print(
                f"{backend}, {store}: {total:,} messages in {time.perf_counter() - began:.0f} s"
            )
            with mock.patch.object(outbox, "_in_state", each_message):
                before = timed_cases(engine, store, repeat)
            began = time.perf_counter()
            upgrade(engine)
            console.print(
                f"{backend}, {store}: migrated to head in {time.perf_counter() - began:.1f} s"
            )
            analyze(engine)
            index, table = sizes(engine)
            console.print(
                f"{backend}, {store}: the index {index / 2**20:.1f} MiB,"
                f" the deliveries {table / 2**20:.1f} MiB"
            )
            for case, (ours, found) in timed_cases(engine, store, repeat).items():
                main, expected = before[case]
                assert found == expected, (store, case)
                rows.append(
                    [
                        backend,
                        store,
                        case,
                        str(len(found)),
                        f"{ours * 1e3:.2f} ms",
                        f"{main * 1e3:.2f} ms",
                        f"{main / ours:.1f}x",
                    ]
                )
            engine.dispose()
        drop_database(backend, name)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        rows += run(backend, args.messages, args.repeat)
    print_table(
        f"{args.messages:,} messages of one account, one delivery each, pages of {PAGE}",
        ["backend", "store", "state, page", "messages", "ours", "EXISTS only", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
