"""The sync process's metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from producersync.model.events import EVENT_TYPES
from producersync.sync import mirror
from producersync.sync.metrics import Metrics
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.hook_cursors import hook_lags
from producersync.sync.mirror.tables import RESOURCES
from tests.support.databases import unanswering_postgres_url
from tests.support.metrics import rendered_within, samples


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


def test_the_unprocessed_age_is_0_for_none_and_for_a_receipt_dated_ahead_of_this_clock() -> None:
    # Another process's receipt, its clock a little ahead: not a negative age.
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    name = "producersync_sync_oldest_unprocessed_event_age_seconds"
    for oldest in (None, ahead):
        text = Metrics(lambda: None, oldest_unprocessed=lambda at=oldest: at).render().decode()
        assert samples(text)[name, frozenset()] == 0


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


def test_a_scrape_answers_while_the_mirror_takes_connections_and_never_answers() -> None:
    # Each of the five gauges waited for the connect timeout (10 s by default) in turn.
    with unanswering_postgres_url() as url:
        engine = make_engine(url)

        def read(query: Callable[[sa.Connection], Any]) -> Any:
            with engine.connect() as conn:
                return query(conn)

        metrics = Metrics(
            lambda: read(mirror.last_synced_run_date),
            lambda: read(mirror.malformed_count),
            lambda: read(mirror.records_not_stored),
            lambda: read(mirror.malformed_count),  # any read: each waits for the server
            lambda: {lag["name"]: lag["behind"] for lag in read(hook_lags)},
        )
        text = rendered_within(metrics.render, 60)
    engine.dispose()
    assert "producersync_sync_last_synced_run_date_timestamp_seconds NaN" in text
    assert "producersync_sync_malformed_fields NaN" in text
    assert "producersync_sync_lag_days NaN" in text
    assert "producersync_sync_hook_changes_behind{" not in text
