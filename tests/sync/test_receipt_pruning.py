"""Receipts, and the change feed, past their retention are pruned while the sync service
runs, not only when it starts: a real ``producersync sync run`` (no API needed: an empty
mirror has nothing to catch up) with the daily catch-up scheduled every second."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.sync import mirror
from producersync.sync.mirror.feed import append_changes
from producersync.sync.mirror.tables import changes, events, receipts
from producersync.webhooks import generate_secret
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(20)


def test_a_running_service_prunes_receipts_and_changes_past_their_retention(
    tmp_path: Path, sqlite_mirror: str
) -> None:
    env = {
        **offline_env(sqlite_mirror, generate_secret(), "prune"),
        "PRODUCERSYNC_CATCH_UP_CRON": "* * * * * *",
        "PRODUCERSYNC_CHANGE_RETENTION_DAYS": "7",
    }
    sync = SyncProcess(free_port(), env, tmp_path)
    sync.start()
    engine = mirror.open_mirror(sqlite_mirror)
    try:
        # Received 40 days ago, once the process is up (its start-up is past).
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        with mirror.write_transaction(engine) as conn:
            for event_id in ("evt_done", "evt_owed"):
                receipt = mirror.Receipt(event_id, "x", long_ago, {}, b"{}", mirror.ACCEPTED)
                mirror.record_receipt(conn, receipt)
            mirror.mark_processed(conn, "evt_done", long_ago)
            # The feed grew for good: nothing deleted a change.
            now = dt.datetime.now(dt.UTC)
            rows = [("addresses", n, "1", "update", ["a"], None, long_ago) for n in range(3)]
            recent = append_changes(
                conn, [*rows, ("addresses", 3, "1", "update", ["a"], None, now)]
            )

        def kept() -> set[str | None]:
            with engine.connect() as conn:
                return set(conn.execute(sa.select(receipts.c.event_id)).scalars())

        def feed() -> list[int]:
            with engine.connect() as conn:
                return list(conn.execute(sa.select(changes.c.id)).scalars())

        eventually(lambda: kept() == {"evt_owed"}, timeout=30, what=kept)
        eventually(lambda: feed() == [recent[-1].id], timeout=30, what=feed)
        with engine.connect() as conn:
            # An unprocessed event keeps its receipt and its dedupe row, whatever its age.
            assert set(conn.execute(sa.select(events.c.event_id)).scalars()) == {"evt_owed"}
    finally:
        engine.dispose()
        sync.stop()
