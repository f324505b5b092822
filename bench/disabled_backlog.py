"""What a disabled endpoint's backlog costs the sender's claims.

    python -m bench.disabled_backlog [--waiting 50000] [--due 100] [--claims 60]
        [--rounds 3] [--backends sqlite,postgres]

One account, a disabled endpoint with ``--waiting`` deliveries queued to it, all due,
older than the ``--due`` deliveries due to an enabled one. Timed on a fresh store of each
backend, as the dispatcher's thread runs them (``Batches``: its claim of 100 deliveries,
at most 50 to an endpoint, in a write transaction, the store's clock read): a claim
(median and p90 of ``--claims``, each rolled back, so each finds the same rows), and the
enabled endpoint's deliveries claimed and recorded as sent until none is left (the
attempts not made: the claim is what is measured, not a receiver; median of the rounds).
Ours and the baseline take turns, ``--rounds`` times each, so a machine whose load
changes meanwhile weighs on both alike.

The baseline, in the same run on the same rows: the backlog unparked, in the due index as
every delivery pending was before migration 0018 (the claim read past it, its endpoint
disabled, to the due deliveries of the others); and the floor, the backlog deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import sqlalchemy as sa

from bench._common import fresh_database, percentile, print_table
from producersync.model.events import NpnActivated
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import webhook_deliveries

_BATCH, _PER_ENDPOINT = 100, 50  # the dispatcher's defaults (claim size, its half)
_LEASE = dt.timedelta(seconds=60)
_URL = "https://93.184.216.34/hook"


def _publish(conn: sa.Connection, account: int, count: int) -> None:
    events = [NpnActivated.create("15645555") for _ in range(count)]
    messages = [outbox.Message(e.id, account, e.type, e.to_json()) for e in events]
    outbox.publish(conn, messages)


def _fill(engine: sa.Engine, waiting: int, due: int) -> str:
    """The disabled endpoint's backlog, then the enabled one's due deliveries; the
    disabled endpoint's id."""
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "backlog", sandbox=False).id
        off = endpoints.create_endpoint(conn, account, _URL)[0].id
    for start in range(0, waiting, 10_000):
        with write_transaction(engine) as conn:
            _publish(conn, account, min(10_000, waiting - start))
    with write_transaction(engine) as conn:
        endpoints.disable_endpoint(conn, account, off, "receiver down")
        endpoints.create_endpoint(conn, account, _URL)
        _publish(conn, account, due)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return off


def _claim(conn: sa.Connection) -> list[outbox.Claimed]:
    now = outbox.store_clock(conn)
    return outbox.claim_due(conn, now, _BATCH, _LEASE, per_endpoint=_PER_ENDPOINT)


def _claim_ms(engine: sa.Engine, claims: int) -> list[float]:
    times = []
    for _ in range(claims):
        with engine.connect() as conn, conn.begin() as transaction:
            started = time.perf_counter()
            _claim(conn)
            times.append((time.perf_counter() - started) * 1000)
            transaction.rollback()
    return times


def _drain_ms(engine: sa.Engine) -> tuple[float, int]:
    """How long the enabled endpoint's deliveries take to be claimed and recorded, and
    how many; rolled back after (recorded, they would not be found again)."""
    sent = 0
    with engine.connect() as conn, conn.begin() as transaction:
        started = time.perf_counter()
        while claimed := _claim(conn):
            at = outbox.store_clock(conn)
            outbox.record(
                conn, [outbox.Outcome(c, at, True, 200, 0, None, None, None) for c in claimed]
            )
            sent += len(claimed)
        elapsed = (time.perf_counter() - started) * 1000
        transaction.rollback()
    return elapsed, sent


def _backlog(engine: sa.Engine, endpoint_id: str, *, parked: bool | None) -> None:
    """The disabled endpoint's backlog parked or not; ``None``: deleted."""
    d = webhook_deliveries
    with write_transaction(engine) as conn:
        waiting = d.c.endpoint_id == endpoint_id
        if parked is None:
            conn.execute(d.delete().where(waiting))
        else:
            conn.execute(d.update().where(waiting).values(parked=parked))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE webhook_deliveries")


class _Figures:
    """One case's claims and drains, over its rounds."""

    def __init__(self) -> None:
        self.claims: list[float] = []
        self.drains: list[float] = []
        self.sent = 0

    def measure(self, engine: sa.Engine, claims: int) -> None:
        _claim_ms(engine, 3)  # warm
        self.claims += _claim_ms(engine, claims)
        drained, self.sent = _drain_ms(engine)
        self.drains.append(drained)

    def row(self) -> list[str]:
        return [
            f"{statistics.median(self.claims):.2f} ms",
            f"{percentile(self.claims, 90):.2f} ms",
            f"{statistics.median(self.drains):.1f} ms ({self.sent})",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=50_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--claims", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        with fresh_database(backend, "disabled_backlog") as url:
            engine = open_store(url)
            off = _fill(engine, args.waiting, args.due)
            parked, unparked, none = _Figures(), _Figures(), _Figures()
            each = max(1, args.claims // args.rounds)
            for _ in range(args.rounds):
                _backlog(engine, off, parked=True)
                parked.measure(engine, each)
                _backlog(engine, off, parked=False)  # the baseline: as before migration 0018
                unparked.measure(engine, each)
            _backlog(engine, off, parked=None)
            none.measure(engine, args.claims)
            engine.dispose()
        rows.append([backend, "parked (ours)", *parked.row()])
        rows.append([backend, "in the due index (before)", *unparked.row()])
        rows.append([backend, "none (the floor)", *none.row()])
    print_table(
        f"{args.waiting:,} waiting on a disabled endpoint, {args.due} due to an enabled one",
        ["backend", "backlog", "claim p50", "claim p90", "enabled one's sent (deliveries)"],
        rows,
    )


if __name__ == "__main__":
    main()
