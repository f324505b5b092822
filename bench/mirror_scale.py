"""`sync status` over a large carrier's mirror: a million licenses and their LOAs.

    python -m bench.mirror_scale [--npns 250000] [--licenses 1000000]
        [--backends sqlite,postgres] [--repeat 5] [--database bench_mirror]

A carrier monitoring ``--npns`` NPNs holds ``--licenses`` licenses, as many license LOAs
and appointments, an entity per NPN, and a change in the feed per record; every NPN is
active and fetched but a hundred, whose activation is still owed its fetch. Rows are
inserted in bulk, as a backfill leaves them (``record`` a small JSON object); the NPNs
flagged owed as activated, then cleared as a finished run clears them (timed).

Baseline, same rows, same run: the count of the NPNs owed a fetch as it was read before
migration 0018, every active NPN's fetch. The database is removed at the end.

Timed, the mirror warm, the median of ``--repeat`` runs: ``mirror.sync_status`` (what
`producersync sync status` prints), each statement over 0.5 ms with its plan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

import sqlalchemy as sa

from bench._common import console, drop_database, fresh_database, print_table
from bench.receipts_status import Statements, plan, timed
from producersync.sync import mirror
from producersync.sync.mirror.population import activation_fetched, settle_owed
from producersync.sync.mirror.tables import MIRRORED, changes, fetched, population, sync_runs

_CHUNK = 20_000
# The count of the NPNs owed a fetch and the first ones, as before migration 0018: every
# active NPN's fetch read.
_BEFORE_0018 = (
    sa.select(population.c.npn, sa.func.count().over().label("owed"))
    .where(population.c.active, ~activation_fetched(population))
    .order_by(population.c.npn)
    .limit(5)
)
_OWED = 100  # NPNs whose activation no fetch has covered yet


def _chunks(rows: Any, table: sa.Table, engine: sa.Engine) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _CHUNK:
            with mirror.write_transaction(engine) as conn:
                conn.execute(sa.insert(table), batch)
            batch = []
    if batch:
        with mirror.write_transaction(engine) as conn:
            conn.execute(sa.insert(table), batch)


def fill(engine: sa.Engine, npns: int, licenses: int) -> None:
    now = dt.datetime.now(dt.UTC)
    day = now.date()
    with mirror.write_transaction(engine) as conn:
        run = conn.execute(
            sa.insert(sync_runs)
            .values(kind="backfill", started_at=now, finished_at=now, counts={})
            .returning(sync_runs.c.id)
        ).scalar_one()
    names = [f"{10_000_000 + i}" for i in range(npns)]
    # As their activations leave them: each flagged owed, until a run's finish clears it.
    activated = ({"npn": n, "active": True, "activated_at": now, "owed": True} for n in names)
    _chunks(activated, population, engine)
    _chunks(
        ({"npn": n, "activated_at": now, "run_id": run} for n in names[_OWED:]), fetched, engine
    )
    start = time.perf_counter()
    with mirror.write_transaction(engine) as conn:
        settle_owed(conn)
    console.print(
        f"a run's finish clears {npns - _OWED:,} flags: {time.perf_counter() - start:.2f} s"
    )
    common = {"updated_at": day, "record": {}, "synced_at": now}
    _chunks(
        ({"id": i, "npn": n, "type": "individual", **common} for i, n in enumerate(names)),
        MIRRORED["entities"].table,
        engine,
    )
    for resource in ("licenses", "licenseLoas", "appointments"):
        extra: dict[str, Any] = {
            "licenses": {"state": "CA", "active": True, "expiration_date": day},
            "licenseLoas": {"license_id": 1, "state": "CA", "loa": "Life"},
            "appointments": {"state": "CA"},
        }[resource]
        _chunks(
            ({"id": i, "npn": names[i % npns], **extra, **common} for i in range(licenses)),
            MIRRORED[resource].table,
            engine,
        )
    _chunks(
        (
            {
                "resource": "licenses",
                "record_id": i,
                "npn": names[i % npns],
                "action": "insert",
                "fields": ["id"],
                "run_id": run,
                "changed_at": now,
            }
            for i in range(licenses)
        ),
        changes,
        engine,
    )
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def run(backend: str, npns: int, licenses: int, repeat: int, name: str) -> list[list[str]]:
    results = []
    with fresh_database(backend, name) as url:
        engine = mirror.open_mirror(url)
        start = time.perf_counter()
        fill(engine, npns, licenses)
        console.print(f"[{backend}] filled in {time.perf_counter() - start:.0f} s")
        statements = Statements.listening()

        def status() -> None:
            with engine.connect() as conn:
                mirror.sync_status(conn)

        def before() -> None:
            with engine.connect() as conn:
                conn.execute(_BEFORE_0018).all()

        try:
            baseline = timed(before, repeat)
            with statements.watch():
                whole = timed(status, repeat)
            results.append([backend, f"{licenses:,}", f"{whole * 1000:.1f} ms", "sync status"])
            shown = "the NPNs owed a fetch as before 0018 (baseline)"
            results.append(["", "", f"{baseline * 1000:.1f} ms", shown])
            for statement, shown, median in statements.slowest():
                results.append(["", "", f"{median * 1000:.1f} ms", shown])
                console.print(f"[{backend}] {shown}")
                console.print(plan(engine, statement, statements.parameters[statement]))
        finally:
            statements.stop()
            engine.dispose()
            drop_database(backend, name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npns", type=int, default=250_000)
    parser.add_argument("--licenses", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default="bench_mirror", help="its name (made and dropped)")
    args = parser.parse_args()
    rows = [
        row
        for backend in args.backends.split(",")
        for row in run(backend, args.npns, args.licenses, args.repeat, args.database)
    ]
    print_table(
        "sync status over a large mirror (median; statements over 0.5 ms)",
        ["backend", "licenses", "time", "statement"],
        rows,
    )


if __name__ == "__main__":
    main()
