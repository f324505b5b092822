"""The sync process's metrics."""

from __future__ import annotations

import datetime as dt

from producersync.model.events import EVENT_TYPES
from producersync.sync import mirror
from producersync.sync.metrics import Metrics
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.tables import RESOURCES
from tests.support.metrics import samples


def test_the_last_synced_gauge_reads_nan_while_the_mirror_is_out_of_reach() -> None:
    # Nothing listens on port 9 (discard) here.
    engine = make_engine("postgresql://postgres@127.0.0.1:9/x")

    def last_synced() -> dt.date | None:
        with engine.connect() as conn:
            return mirror.last_synced_run_date(conn)

    metrics = Metrics(last_synced)
    metrics.receipts.labels("accepted").inc()
    try:
        text = metrics.render().decode()
    finally:
        engine.dispose()
    assert "producersync_sync_last_synced_run_date_timestamp_seconds NaN" in text
    assert 'producersync_sync_receipts_total{verdict="accepted"} 1.0' in text


def test_the_malformed_fields_gauge_reads_what_the_mirror_lists() -> None:
    text = Metrics(lambda: None, lambda: 3, lambda: 2).render().decode()
    assert "producersync_sync_malformed_fields 3.0" in text
    assert "producersync_sync_records_not_stored 2.0" in text


def test_the_lag_gauge_reads_the_run_days_missed_and_nan_before_any_sync() -> None:
    assert (
        "producersync_sync_lag_days 2.0"
        in Metrics(lambda: None, lag_days=lambda: 2).render().decode()
    )
    assert "producersync_sync_lag_days NaN" in Metrics(lambda: None).render().decode()


def test_the_hooks_gauge_reads_each_hook_s_changes_behind() -> None:
    text = Metrics(lambda: None, hooks_behind=lambda: {"crm": 42, "alerts": 0}).render().decode()
    assert 'producersync_sync_hook_changes_behind{hook="crm"} 42.0' in text
    assert 'producersync_sync_hook_changes_behind{hook="alerts"} 0.0' in text


def test_every_label_a_counter_takes_is_at_0_from_the_start() -> None:
    # Born at their first value, records upserted and events accepted hid that value
    # from increase(): a restarted process's first sync counted for nothing.
    found = samples(Metrics(lambda: None).render().decode())
    for label, values, name in [
        ("resource", RESOURCES, "producersync_sync_records_upserted_total"),
        ("type", EVENT_TYPES, "producersync_sync_workflows_started_total"),
    ]:
        for value in values:
            assert found[(name, frozenset({(label, value)}))] == 0
