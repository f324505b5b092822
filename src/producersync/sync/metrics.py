"""The sync service's Prometheus metrics, in a registry of its own (one per app: tests
build many apps in one process, and the default registry refuses a name twice)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from producersync.db_outage import Readings
from producersync.model.events import EVENT_TYPES
from producersync.sync.mirror.tables import RESOURCES
from producersync.timestamps import day_timestamp

__all__ = ["Metrics"]

_VERDICTS = ("accepted", "duplicate", "ignored", "rejected", "unavailable")
# Receipts are committed in groups: a few ms each, the senders' deadline at 5 s.
_RECEIPT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RUN_KINDS = ("updates", "catch-up", "activation", "population")
# A day's updates take seconds, an activation batch a few, a storm's pass over 100,000
# NPNs about an hour at the API's rate limit.
_RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class Metrics:
    def __init__(
        self,
        last_synced: Callable[[], dt.date | None],
        malformed: Callable[[], int] = lambda: 0,
        not_stored: Callable[[], int] = lambda: 0,
        lag_days: Callable[[], int | None] = lambda: None,
        hooks_behind: Callable[[], dict[str, int]] = dict,
        pending_npns: Callable[[], int] = lambda: 0,
        failed_runs: Callable[[], int] = lambda: 0,
        oldest_unprocessed: Callable[[], dt.datetime | None] = lambda: None,
    ) -> None:
        self._readings = Readings()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_*: CPU, memory, start time
        self.receipts = Counter(
            "producersync_sync_receipts",
            "Webhook deliveries received, by verdict (accepted, duplicate, ignored: a test "
            "or an unknown type, rejected: refused with a 4xx, unavailable: answered 503, "
            "the mirror out of reach, not recorded, or the delivery cut by the stop).",
            ["verdict"],
            registry=self.registry,
        )
        self.receipt_seconds = Histogram(
            "producersync_sync_receipt_duration_seconds",
            "Time to answer a webhook delivery (read, verify, record), by verdict; the "
            "sender gives up on an answer after 5 s.",
            ["verdict"],
            buckets=_RECEIPT_BUCKETS,
            registry=self.registry,
        )
        for verdict in _VERDICTS:  # at 0 from the start: an alert sees the first rejection
            self.receipts.labels(verdict)
            self.receipt_seconds.labels(verdict)
        self.workflows_started = Counter(
            "producersync_sync_workflows_started",
            "Events accepted (first receipts), by event type: each starts its workflow, or "
            "is taken by the NPN collector's next pass.",
            ["type"],
            registry=self.registry,
        )
        for event_type in sorted(EVENT_TYPES):  # at 0 from the start, as the verdicts
            self.workflows_started.labels(event_type)
        self.workflows_failed = Counter(
            "producersync_sync_workflows_failed",
            "Sync runs (workflows) that ended in an error, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "producersync_sync_run_duration_seconds",
            "Time from the start of a sync run to its end (failed or not), by kind.",
            ["kind"],
            buckets=_RUN_BUCKETS,
            registry=self.registry,
        )
        for kind in _RUN_KINDS:  # at 0 from the start: an alert sees the first failure
            self.workflows_failed.labels(kind)
            self.run_seconds.labels(kind)
        self.records_upserted = Counter(
            "producersync_sync_records_upserted",
            "Records inserted or changed in the mirror, by resource.",
            ["resource"],
            registry=self.registry,
        )
        # At 0 from the start too: a series born at its first value hides that value from
        # increase(), and a restarted process's first sync counted for nothing.
        for resource in RESOURCES:
            self.records_upserted.labels(resource)
        self._read(
            "producersync_sync_last_synced_run_date_timestamp_seconds",
            "The last fully synced NIPR runDate, as Unix time at 00:00 UTC (0: none yet).",
            lambda: day_timestamp(last_synced()),
        )
        self._read(
            "producersync_sync_lag_days",
            "Run days the mirror lacks: from the NIPR run it holds as of (the last synced "
            "runDate, or before any, the day before its first complete fetch of NPNs) to "
            "the latest it could hold (the newest announced by an accepted "
            "updates_available, or yesterday, whichever is later, in UTC); 0 when current, "
            "NaN before any sync or fetch.",
            lambda: _number(lag_days()),
        )
        self._read(
            "producersync_sync_malformed_fields",
            "Fields of mirrored records their typed columns could not hold (stored NULL, "
            "the raw value kept), and nested records not stored for want of an id: "
            "`producersync sync status` lists them. 0 when the API's data is clean.",
            lambda: float(malformed()),
        )
        self._read(
            "producersync_sync_records_not_stored",
            "Records the latest sync run was served that have no key to be stored under "
            "(not an object, or no integer id): not in the mirror, and logged. 0 when the "
            "API's data is clean.",
            lambda: float(not_stored()),
        )

        self._read(
            "producersync_sync_pending_npns",
            "Active NPNs whose records are owed a fetch: activated (or subscribed again), "
            "and no run that finished without error has fetched them since, as `sync "
            "status` shows pendingNpns. A storm's rises and falls within minutes; one that "
            "stays up, the API failing or refusing the fetches (the failed activation "
            "runs say why).",
            lambda: float(pending_npns()),
        )
        self._read(
            "producersync_sync_failed_runs",
            "Sync runs that failed and that no later run of their family has made up for "
            "(one that succeeded), as `sync status` shows failedRuns: 0 when none is "
            "outstanding.",
            lambda: float(failed_runs()),
        )
        self._read(
            "producersync_sync_oldest_unprocessed_event_age_seconds",
            "Seconds since the oldest accepted event whose work is not done was received "
            "(its workflow not finished, or failed and waiting for its retry, or its NPN "
            "not fetched yet by the collector's pass), as `sync status` counts them "
            "unprocessed: 0 when every one is done. Seconds in the normal course, a "
            "storm's activations wait for its whole pass; one that keeps growing, the "
            "mirror falling behind (a workflow stuck, the API failing, the mirror "
            "refusing writes).",
            lambda: _age(oldest_unprocessed()),
        )

        self.registry.register(_HooksBehind(lambda: self._readings.read(hooks_behind, {})))

    def _read(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read from the mirror at each scrape (NaN when it
        cannot be read: ``Readings``)."""
        gauge = Gauge(name, documentation, registry=self.registry)
        gauge.set_function(self._readings.gauge(read))

    def upserted(self, resource: str, count: int) -> None:
        self.records_upserted.labels(resource).inc(count)

    def render(self) -> bytes:
        """The exposition text; reads the mirror (the gauges), so call it off the event
        loop."""
        return generate_latest(self.registry)


class _HooksBehind(Collector):
    """Each Python hook's changes committed after its cursor, read at each scrape (none
    while the mirror cannot be read)."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "producersync_sync_hook_changes_behind",
            "Changes committed to the feed that a Python hook has not handled yet, by "
            "hook: 0 when it is current; growing while it raises (it is tried again "
            "with a backoff, from its cursor) or is slower than the sync.",
            labels=["hook"],
        )
        for name, count in sorted(self._read().items()):
            gauge.add_metric([name], float(count))
        yield gauge


def _age(received: dt.datetime | None) -> float:
    """Seconds from ``received`` to now, 0 for none (or for a time ahead of this clock:
    another process's receipt, its clock a little ahead)."""
    if received is None:
        return 0.0
    return max(0.0, (dt.datetime.now(dt.UTC) - received).total_seconds())


def _number(value: int | None) -> float:
    return math.nan if value is None else float(value)
