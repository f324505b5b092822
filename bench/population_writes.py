"""The population's writes, as an activation storm and a pass over the population make
them, with the flag of the NPNs owed a fetch kept (``population.owed``).

    python -m bench.population_writes [--npns 100000] [--repeat 3]
        [--backends sqlite,postgres] [--revision head] [--database bench_population]

Each round, on a mirror at ``--revision`` (0018: the flag written by the sync's own
statements alone; 0019 on: by the database's triggers too), times in its own
transaction:

- ``storm``: ``--npns`` NPNs never seen activated at once (``activate_npns``, as the
  activation workflow records a storm's events);
- ``pass``: the storm's NPNs listed subscribed again by a pass, later, and fetched by it
  (``activate_listed``), then its finish, which clears their flags;
- ``activation``: 100 NPNs activated, fetched by their NPNs and the run finished (an
  activation event's run), the median of 20;
- ``storm, no flag``: as many NPNs as the storm, written as a sync process of the
  version before 0018 writes them (the flag left to the database, from 0019 on), then
  deactivated, untimed, so that the next round starts from the same flags.

The median of ``--repeat`` rounds, each on NPNs of its own: the time, and this process's
CPU time (on SQLite the whole of the work, which a loaded machine's time hides; on
PostgreSQL the client's share). The database is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import sqlalchemy as sa

from bench._common import drop_database, fresh_database, print_table
from producersync.sync import mirror
from producersync.sync.mirror.driver import converters, write_rows
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.migrate import upgrade
from producersync.sync.mirror.tables import population

_T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
_FEW = 100
_FEW_ROUNDS = 20


Timing = tuple[float, float]  # seconds: wall, and this process's CPU


def _timed(engine: sa.Engine, work: Callable[[sa.Connection], object]) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    with mirror.write_transaction(engine) as conn:
        work(conn)
    return time.perf_counter() - start, time.process_time() - cpu


def _round(engine: sa.Engine, first: int, npns: int) -> dict[str, Timing]:
    names = [str(first + n) for n in range(npns)]
    times = {"storm": _timed(engine, lambda conn: mirror.activate_npns(conn, names, _T0))}
    later = dict.fromkeys(names, _T0 + dt.timedelta(hours=1))
    with mirror.write_transaction(engine) as conn:
        run = mirror.start_run(conn, "population")
    times["pass"] = _timed(engine, lambda conn: mirror.activate_listed(conn, later, run))
    times["pass's finish"] = _timed(engine, lambda conn: mirror.finish_run(conn, run, {}))
    few = []
    for n in range(_FEW_ROUNDS):
        batch = [str(first + npns + n * _FEW + i) for i in range(_FEW)]

        def activation(conn: sa.Connection, batch: list[str] = batch) -> None:
            mirror.activate_npns(conn, batch, _T0)
            run = mirror.start_run(conn, "activation")
            mirror.mark_activations_fetched(conn, batch, run)
            mirror.finish_run(conn, run, {})

        few.append(_timed(engine, activation))
    times[f"activation ({_FEW})"] = (
        statistics.median(wall for wall, _ in few),
        statistics.median(cpu for _, cpu in few),
    )
    unflagged = [str(first + npns + _FEW * _FEW_ROUNDS + n) for n in range(npns)]

    def old_storm(conn: sa.Connection) -> None:
        at = converters(conn).timestamp(_T0)
        rows = [(npn, True, at) for npn in unflagged]
        write_rows(conn, population, ("npn", "active", "activated_at"), rows, upsert=True)

    times["storm, no flag"] = _timed(engine, old_storm)
    # Fetched since, as far as the next round knows: none of its NPNs flagged from it
    # (before 0019, none was), so that each round starts from the same flags.
    with mirror.write_transaction(engine) as conn:
        mirror.deactivate_npns(conn, unflagged, _T0 + dt.timedelta(hours=2), purge=False)
    return times


def run(backend: str, npns: int, repeat: int, revision: str, name: str) -> list[list[str]]:
    with fresh_database(backend, name) as url:
        engine = make_engine(url)
        try:
            upgrade(engine, revision)
            rounds = [
                _round(engine, 10_000_000 + r * (2 * npns + _FEW * _FEW_ROUNDS), npns)
                for r in range(repeat)
            ]
        finally:
            engine.dispose()
            drop_database(backend, name)
    return [
        [
            backend if i == 0 else "",
            what,
            *(f"{statistics.median(r[what][n] for r in rounds):.3f} s" for n in (0, 1)),
        ]
        for i, what in enumerate(rounds[0])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npns", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--revision", default="head", help="the mirror's (0018: no triggers)")
    parser.add_argument(
        "--database", default="bench_population", help="its name (made and dropped)"
    )
    args = parser.parse_args()
    rows: list[list[str]] = []
    for backend in args.backends.split(","):
        rows += run(backend, args.npns, args.repeat, args.revision, args.database)
    title = f"the population's writes, mirror at {args.revision} (median of {args.repeat})"
    print_table(title, ["backend", "write", "time", "CPU (this process)"], rows)


if __name__ == "__main__":
    main()
