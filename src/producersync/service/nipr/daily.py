"""The daily NIPR run: apply one day's changes, then tell every account.

One transaction holds the whole run: the ledger row that claims the date, the changes
(synthetic churn or a feed file), and an ``updates_available {runDate}`` event for every
account in the webhook outbox. A crash leaves nothing half-applied, an event exists
exactly when its changes do, and a date runs once: running it again changes nothing and
publishes nothing. Records are stamped with the run date, or with the latest date run
when that is later (``churn.stamp_date``): stamps never go back. Afterwards the changed
tables get fresh statistics (and a vacuum on PostgreSQL), so that the day's pages are
read from the indexes (``store.maintenance``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from producersync.model.events import UpdatesAvailable
from producersync.service.delivery.publish import publish_to_every_account
from producersync.service.nipr.feed import STDIN, FeedLimits, plan_feed, read_feed
from producersync.service.nipr.synthetic import plan_churn
from producersync.service.store import churn
from producersync.service.store import tables as t
from producersync.service.store.engine import write_transaction
from producersync.service.store.maintenance import after_bulk_write

__all__ = ["SYNTHETIC", "DailyRun", "run_day"]

SYNTHETIC = "synthetic"


@dataclass(frozen=True, slots=True)
class DailyRun:
    """What a run did; for a date run before, what that run did (and nothing published)."""

    run_date: dt.date
    source: str  # "synthetic", the feed file's name, or "stdin"
    changes: dict[str, int]  # records changed per table
    already_applied: bool
    events_published: int  # one per account
    deliveries_queued: int  # one per event and matching endpoint
    completed_at: dt.datetime

    @property
    def total_changes(self) -> int:
        return sum(self.changes.values())


def run_day(
    engine: sa.Engine,
    run_date: dt.date,
    *,
    churn_rate: float = 0.01,
    seed: int | None = None,
    feed: Path | None = None,
    feed_limits: FeedLimits | None = None,
) -> DailyRun:
    """Apply ``run_date``'s changes: those of the ``feed`` file if given, else synthetic
    churn over ``churn_rate`` of the producers (the same ``seed`` and date, the same
    changes). Raises ``FeedError`` for a bad feed file, or one past ``feed_limits``
    (default: the settings' defaults), before anything changes."""
    if not 0 <= churn_rate <= 1:
        raise ValueError(f"churn_rate must be between 0 and 1, not {churn_rate}")
    # The file alone is checked before the write lock is taken.
    lines = None if feed is None else read_feed(feed, feed_limits)
    source = SYNTHETIC if feed is None else _source(feed)
    with write_transaction(engine) as conn:
        if not churn.claim_run(conn, run_date, source):
            return _already_applied(conn, run_date)
        stamp = churn.stamp_date(conn, run_date)
        if lines is None:
            changes = plan_churn(conn, run_date, churn_rate, seed, stamp)
        else:
            changes = plan_feed(conn, lines, run_date)
        counts = churn.apply_changes(conn, changes, stamp)
        completed = churn.complete_run(conn, run_date, counts)
        events: list[UpdatesAvailable] = []

        def make_event() -> UpdatesAvailable:
            event = UpdatesAvailable.create(run_date)
            events.append(event)
            return event

        deliveries = publish_to_every_account(conn, make_event)
    after_bulk_write(engine, [t.metadata.tables[name] for name, n in counts.items() if n])
    return DailyRun(run_date, source, counts, False, len(events), deliveries, completed)


def _source(feed: Path) -> str:
    """The feed as the ledger names it: its file's name, or stdin."""
    return "stdin" if feed == STDIN else feed.name[:200]  # the ledger's column width


def _already_applied(conn: sa.Connection, run_date: dt.date) -> DailyRun:
    run = churn.find_run(conn, run_date)
    assert run is not None  # claim_run found it committed
    return DailyRun(run_date, run.source, run.changes, True, 0, 0, run.completed_at)
