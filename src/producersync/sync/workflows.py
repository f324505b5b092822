"""What each event does, as DBOS workflows: thin and deterministic; steps do the I/O.

- ``updates_available(runDate)``: pull every resource updated since
  ``min(runDate, last synced runDate)`` (a missed day is never skipped; before the first
  daily sync, the day before the first fetch: ``mirror.sync_start``), one step per
  page, so the continuation token is checkpointed page by page and a crash resumes
  where it stopped; the last synced runDate moves only when every resource is done, and
  never past the day the sync started (a runDate after it names no run the API can
  have served, and moves it to the day before: ``mirror.synced_through_bound``).
  Runs on the sync queue, one sync at a time across every process; one that failed is
  run again ``sync_retry_seconds`` later.
- ``npn.activated`` and ``npn.deactivated``: no workflow of their own. The receipt is
  the record of what is owed; the event nudges a collector workflow that starts
  ``coalesce_seconds`` later (an activation while no NPN is active: at once, its pass
  is over the whole population) and takes every such event not yet processed from the
  mirror. It applies them in one transaction, each at its own time (deactivated NPNs
  keep their records unless purging is on), and fetches the active NPNs whose records
  are owed in bulk (``npns=``, ``coalesce_max`` per fetch) — never one request per NPN,
  and a storm of 100,000 events costs a handful of workflows, not 100,000. When most of
  the population is owed, one pass over all of it instead, from the subscriptions list,
  whose NPNs it makes active at once (a storm's events take minutes to be delivered).
  Every run marks the activations it covers; once it has finished without error, their
  events fetch nothing more, and a run that failed leaves them owed for the next
  collector.
- ``catch_up()``: at start and on the daily schedule, when the last synced runDate is
  older than yesterday, pull from it anyway (a lost ``updates_available``).

Workflow ids: the event id for events (so a redelivery starts nothing new); the
collector's are DBOS's, deduplicated per slot.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa
from dbos import (
    DBOS,
    DBOSConfiguredInstance,
    EnqueueOptions,
    ScheduleInput,
    SetEnqueueOptions,
    SetWorkflowID,
)

from producersync.db_outage import STEP_RETRIES
from producersync.model.events import (
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    Event,
    NpnActivated,
    NpnDeactivated,
    UpdatesAvailable,
)
from producersync.sync import mirror
from producersync.sync.failure import run_failure
from producersync.sync.metrics import Metrics
from producersync.sync.pull import (
    PageResult,
    PopulationGrew,
    Puller,
    Stream,
    batches_of,
    pull_stream,
    streams,
)
from producersync.sync.settings import SyncSettings
from producersync.webhooks import parse_event

__all__ = [
    "ACTIVATION_QUEUE",
    "APP_NAME",
    "CATCH_UP_SCHEDULE",
    "INSTANCE_NAME",
    "PULL_QUEUE",
    "SYNC_QUEUE",
    "SyncWorkflows",
    "by_name",
    "catch_up_schedule",
    "event_call",
]

APP_NAME: Final = "producersync-sync"
SYNC_QUEUE: Final = "producersync-mirror-sync"
ACTIVATION_QUEUE: Final = "producersync-npn-activation"
PULL_QUEUE: Final = "producersync-pull-stream"
CATCH_UP_SCHEDULE: Final = "producersync-sync-catch-up"
INSTANCE_NAME: Final = "mirror"
# Two collector slots: while one collector runs (it may have read the mirror already),
# the other waits in the queue and takes what arrives meanwhile.
_COLLECTORS: Final = ("npn-collector-a", "npn-collector-b")
_NOT_STARTED: Final = frozenset({"ENQUEUED", "DELAYED"})
# (event id, NPN, time, active after it): one activation or deactivation.
NpnChange = tuple[str, str, str, bool]
_MARGIN: Final = 0.25  # seconds before a delayed collector may start: no longer counted on
_PRUNED_AT_ONCE: Final = 10_000  # rows deleted a transaction (``delete_in_batches``)
# Between two looks of a run at its streams' workflows for their results. DBOS's default,
# a second, would end every run up to a second after its last page, and a run whose
# nested lists wait for their parents up to two: a run with nothing to fetch took 1.2 s.
_RESULT_POLL_SECONDS: Final = 0.1
# The steps that touch the mirror wait out its outages (a restart, connections cut): a
# step that failed on one would be recorded failed, and its sync with it, until the next
# day.
_mirror_step = DBOS.step(**STEP_RETRIES)
# What happens after a run of each kind failed, for its log line.
_AGAIN: Final = "PRODUCERSYNC_SYNC_RETRY_SECONDS later"
_FROM_LAST: Final = (
    "the mirror keeps what it had; the next sync starts again from the last synced runDate"
)
_AFTER_FAILURE: Final = {
    "updates": f"{_FROM_LAST}, and this one runs again {_AGAIN}",
    "catch-up": f"{_FROM_LAST} (the next updates_available, the daily catch-up, or "
    "`producersync sync now`)",
    "activation": f"its NPNs stay owed, fetched by the collector's next pass, {_AGAIN} at most",
    "population": f"its NPNs stay owed, fetched by the collector's next pass, {_AGAIN} at most",
}

log = logging.getLogger(__name__)


@DBOS.dbos_class()
class SyncWorkflows(DBOSConfiguredInstance):
    """The workflows of one sync process, over its mirror and its API client."""

    def __init__(
        self, puller: Puller, engine: sa.Engine, settings: SyncSettings, metrics: Metrics
    ) -> None:
        super().__init__(INSTANCE_NAME)
        self._puller, self._engine, self._settings = puller, engine, settings
        self._metrics = metrics
        self._covered_until = 0.0  # until then a waiting collector reads what arrives
        self._populated = False  # once the mirror has an active NPN (it stays a hint)

    # --- starting them -----------------------------------------------------------------

    def start(self, batch: list[tuple[Event, str]]) -> None:
        """Start each event's workflow under its id; idempotent (DBOS returns the
        existing workflow for a known id). Activations nudge the collector once for the
        whole batch; events without work (``webhook.test``) start nothing."""
        nudge = activates = False
        for event, workflow_id in batch:
            call = event_call(event)
            if call is None:
                continue
            name, args = call
            if name == "collect_npn_changes":
                nudge, activates = True, activates or isinstance(event, NpnActivated)
                continue
            with SetWorkflowID(workflow_id):
                if name == "updates_available":
                    handle = DBOS.enqueue_workflow(SYNC_QUEUE, self.updates_available, *args)
                else:
                    handle = DBOS.start_workflow(getattr(self, name), *args)
            # Delivered again after its rows were pruned (``receipt_retention_days``): it is
            # recorded anew, and DBOS answers its id with the workflow that did its work long
            # ago. Unmarked, it would stay owed, and be submitted again at every launch.
            if handle.get_status().status == "SUCCESS":
                self._mark_processed([event.id])
        if nudge:
            self._nudge_collector(activates)

    def _nudge_collector(self, activates: bool) -> None:
        """Make sure a collector will start after the (de)activations recorded so far."""
        if time.time() < self._covered_until:
            return  # a collector seen waiting out its delay will read them: no DBOS call
        # An activation on a mirror with no active NPN makes most of the population owed:
        # the collector will pass over it all, from the subscriptions list, which it reads
        # on until the list settles. Waiting would gather nothing the list does not name,
        # and a storm's pass would start 2 s later. Deactivations alone still wait: a
        # collector at once for each kept the process busy and every nudge making DBOS
        # calls (the receiver's p99 at 200 deactivations/s went from 7.1 to 18.4 ms).
        first = activates and not self._has_population()
        delay = 0.0 if first else self._settings.coalesce_seconds
        for slot in _COLLECTORS:
            with SetEnqueueOptions(
                deduplication_id=slot,
                duplication_policy="return-existing",
                delay_seconds=delay,
            ):
                handle = DBOS.enqueue_workflow(ACTIVATION_QUEUE, self.collect_npn_changes)
            # One that has not started will read the mirror when it does. One already
            # running may have read it before our events: then the other slot.
            status = DBOS.get_workflow_status(handle.workflow_id)
            if status is not None and status.status in _NOT_STARTED:
                if status.status == "DELAYED" and status.delay_until_epoch_ms:
                    self._covered_until = status.delay_until_epoch_ms / 1000 - _MARGIN
                return

    def _has_population(self) -> bool:
        """Whether the mirror has an active NPN; once it has, not asked again (it only
        decides a wait, never what is fetched)."""
        if not self._populated:
            with self._engine.connect() as conn:
                self._populated = mirror.any_active(conn)
        return self._populated

    # --- the workflows -----------------------------------------------------------------

    @DBOS.workflow()
    def updates_available(self, run_date: str, event_id: str | None = None) -> dict[str, int]:
        day = dt.date.fromisoformat(run_date)
        start = self.sync_start()
        since = day if start is None else min(day, dt.date.fromisoformat(start))
        try:
            counts = self._pull("updates", streams(since=since), since=since, run_date=day)
        except Exception:
            # DBOS keeps this workflow failed for good (a restart replays its failure), and
            # the day would wait for the next day's event: a new run of it, later, which
            # does the same if it fails too.
            with SetEnqueueOptions(delay_seconds=self._settings.sync_retry_seconds):
                DBOS.enqueue_workflow(SYNC_QUEUE, self.updates_available, run_date, event_id)
            raise
        self.processed(event_id)
        return counts

    @DBOS.workflow()
    def catch_up(self) -> dict[str, int] | None:
        # Here, not only at start-up: a process that ran for months never pruned, and
        # its receipts (each with its body, forged ones included) grew without end.
        self.prune_receipts()
        yesterday = dt.date.fromisoformat(self.today()) - dt.timedelta(days=1)
        start = self.sync_start()
        counts = None
        # Unless nothing was fetched yet (activations bring the data), or it is current.
        if start is not None and dt.date.fromisoformat(start) < yesterday:
            since = dt.date.fromisoformat(start)
            counts = self._pull("catch-up", streams(since=since), since=since, run_date=yesterday)
        # Last: a catch-up begun by a version without this step is taken back step by
        # step as it was recorded.
        self.prune_changes()
        return counts

    @DBOS.workflow()
    def collect_npn_changes(self) -> int:
        # A full batch may have left events behind, and theirs nudged no one: pass again.
        # A short one took all there were; those arriving since nudged the other slot,
        # which waits out its own delay (under a steady stream, passing again at once
        # would make every pass a small one, and the collector never idle).
        collected = 0
        try:
            while pending := self.pending_npn_changes():
                self._collect(pending)
                collected += len(pending)
                if len(pending) < self._settings.collect_max:
                    break
        except Exception:
            # Its events stay unprocessed, their NPNs owed; without another event to nudge
            # a collector they waited for the next one, or a restart. One collector later,
            # outside the two slots: a slot's collector delayed this long would hold back
            # the new events that find it waiting (``_nudge_collector``).
            with SetEnqueueOptions(delay_seconds=self._settings.sync_retry_seconds):
                DBOS.enqueue_workflow(ACTIVATION_QUEUE, self.collect_npn_changes)
            raise
        return collected

    def _collect(self, pending: list[NpnChange]) -> None:
        """Apply one batch of (de)activations and fetch the NPNs whose records are owed
        (called from the workflow, so: steps only)."""
        owed, active = self.apply_npn_changes(pending)
        if owed and 2 * len(owed) >= active:
            # Most of the population is owed (a first subscription, a storm): one pass
            # over the whole population beats a partition of `npns=` streams per 500
            # NPNs. It starts from the subscriptions list: every NPN listed was
            # subscribed before any page of the pass was read, so the pass covers that
            # activation of it, and the NPN is marked so (valid once the run has
            # finished without error), and active: the events not delivered yet will
            # find nothing to do.
            while True:
                run_id = self._open_run("population", None, None)
                try:
                    self.mark_population(run_id)
                except Exception as exc:  # the API: the run ends, and is told, here
                    self.finish_run("population", run_id, {}, None, run_failure(exc))
                    raise
                try:
                    self._pull("population", streams(), since=None, run_date=None, run_id=run_id)
                    break
                except PopulationGrew:
                    continue  # a job committed after the list was read: from the list again
        else:
            for batch in batches_of(owed, self._settings.coalesce_max):
                run_id = self._open_run("activation", None, None)
                self.mark_batch(run_id, batch)
                todo = streams(npns=batch)
                self._pull("activation", todo, since=None, run_date=None, run_id=run_id)
        self.processed_all([change[0] for change in pending])

    def _open_run(self, kind: str, since: dt.date | None, run_date: dt.date | None) -> int:
        """A new run, shown alive by this process while it goes on (called from
        workflows): its id comes from a step, which a workflow taken back after a
        restart does not run again, so this process's heartbeat is told here."""
        run_id = self.start_run(kind, since, run_date)
        self._puller.attend(run_id)
        return run_id

    def _pull(
        self,
        kind: str,
        todo: list[Stream],
        *,
        since: dt.date | None,
        run_date: dt.date | None,
        run_id: int | None = None,
    ) -> dict[str, int]:
        """One recorded run of pages, ``run_id`` if it is started already (called from
        workflows, so: steps only)."""
        if run_id is None:
            run_id = self._open_run(kind, since, run_date)
        try:
            # A child workflow per stream, `pull_concurrency` at a time (the pull queue):
            # durable page by page each, and together they keep the API's rate limit
            # busy instead of its latency. A list of whole NPNs that comes nested in
            # another of the same NPNs waits for that one, and is read only if it did not
            # come whole (an activation's LOAs too: a third of its pages).
            nested = [stream for stream in todo if stream.comes_nested]
            handles = {
                stream: DBOS.enqueue_workflow(PULL_QUEUE, self.pull_stream, stream, run_id)
                for stream in todo
                if stream not in nested
            }
            counts = dict.fromkeys(mirror.RESOURCES, 0)
            for stream in nested:
                for parent in [s for s in handles if stream.nested_in(s)]:
                    counts[parent.resource] += handles.pop(parent).get_result(
                        polling_interval_sec=_RESULT_POLL_SECONDS
                    )
                if not self.nested_whole(run_id, stream):
                    handles[stream] = DBOS.enqueue_workflow(
                        PULL_QUEUE, self.pull_stream, stream, run_id
                    )
            for stream, handle in handles.items():
                counts[stream.resource] += handle.get_result(
                    polling_interval_sec=_RESULT_POLL_SECONDS
                )
        except Exception as exc:
            error = run_failure(exc)
            self.finish_run(kind, run_id, {}, run_date, error, isinstance(exc, PopulationGrew))
            raise
        self.finish_run(kind, run_id, counts, run_date, None)
        return counts

    @DBOS.workflow()
    def pull_stream(self, stream: Stream, run_id: int) -> int:
        return pull_stream(stream, self.page, run_id)

    # --- the steps ---------------------------------------------------------------------

    @_mirror_step
    def page(self, stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        return self._puller.page(stream, path, run_id)

    @_mirror_step
    def nested_whole(self, run_id: int, stream: Stream) -> bool:
        return self._puller.nested_whole(run_id, stream)

    @_mirror_step
    def start_run(self, kind: str, since: dt.date | None, run_date: dt.date | None) -> int:
        step = f"{DBOS.workflow_id}:{DBOS.step_id}"
        return self._puller.start(kind, run_date=run_date, since=since, started_by=step)

    @_mirror_step
    def finish_run(
        self,
        kind: str,
        run_id: int,
        counts: Mapping[str, int],
        synced_through: dt.date | None,
        error: str | None,
        again: bool = False,
    ) -> None:
        """Close run ``run_id``: ``synced_through`` is its runDate (the position moves
        there only if there is no ``error``, and never past the day before the run
        started); ``again``: stopped to start over at once (the population grew), not a
        failure. Counted, timed, and logged once: a step is not run again on recovery."""
        finished = self._puller.finish(
            run_id, counts, synced_through=synced_through, error=error, restarted=again
        )
        seconds = finished.seconds
        self._metrics.run_seconds.labels(kind).observe(seconds)
        run_date = synced_through.isoformat() if synced_through else None
        what = f"sync run {run_id} ({kind}" + (f", runDate {run_date})" if run_date else ")")
        # The same as fields of their own, for the JSON format.
        fields = {
            "run_id": run_id,
            "kind": kind,
            "run_date": run_date,
            "seconds": round(seconds, 3),
        }
        recorded = finished.synced_through
        if synced_through is not None and recorded is not None and recorded != synced_through:
            log.warning(
                "%s: that runDate is after the day the run started (UTC), and no NIPR run "
                "of it can have been served by then: the last synced runDate moves to %s at "
                "most, the day before, so that the next sync pulls from there (a sender's "
                "mistake or an event replayed ahead of its day; a synthetic service moved "
                "days ahead does this too)",
                what,
                recorded.isoformat(),
                extra={**fields, "synced_through": recorded.isoformat()},
            )
        if again:
            log.info(
                "%s stopped after %.1f s: %s; passing again", what, seconds, error, extra=fields
            )
        elif error is not None:
            self._metrics.workflows_failed.labels(kind).inc()
            log.error(
                "%s failed after %.1f s: %s; %s",
                what,
                seconds,
                error,
                _AFTER_FAILURE[kind],
                extra={**fields, "error": error},
            )
        else:
            records = sum(counts.values())
            log.log(
                logging.DEBUG if kind == "activation" else logging.INFO,
                "%s finished in %.1f s: %d records",
                what,
                seconds,
                records,
                extra={**fields, "records": records},
            )

    @_mirror_step
    def sync_start(self) -> str | None:
        start = self._puller.sync_start()
        return None if start is None else start.isoformat()

    @_mirror_step
    def prune_receipts(self) -> int:
        """Receipts and processed events past the retention (the dedupe window), a
        transaction a batch (``prune_changes``): a flood of forged deliveries leaves a
        million."""
        retention = dt.timedelta(days=self._settings.receipt_retention_days)
        older_than = dt.datetime.now(dt.UTC) - retention
        return mirror.delete_in_batches(
            self._engine,
            lambda conn, most: mirror.prune_receipts(conn, older_than, most=most),
            most=_PRUNED_AT_ONCE,
        )

    @_mirror_step
    def prune_changes(self) -> int:
        """The change feed's changes past the retention, a transaction a batch: one
        deletion of a million would hold the mirror's writers (a SQLite's receiver
        answering a delivery among them) for seconds."""
        retention = dt.timedelta(days=self._settings.change_retention_days)
        older_than = dt.datetime.now(dt.UTC) - retention
        return mirror.delete_in_batches(
            self._engine,
            lambda conn, most: mirror.prune_changes(conn, older_than, most=most),
            most=_PRUNED_AT_ONCE,
        )

    @DBOS.step()
    def today(self) -> str:
        return dt.datetime.now(dt.UTC).date().isoformat()

    @_mirror_step
    def pending_npn_changes(self) -> list[NpnChange]:
        """The (de)activations not processed yet, oldest first, at most
        ``collect_max``."""
        with self._engine.connect() as conn:
            found = mirror.unprocessed_events(
                conn, [NPN_ACTIVATED, NPN_DEACTIVATED], limit=self._settings.collect_max
            )
        pending: list[NpnChange] = []
        for event_id, body in found:
            event = parse_event(body)
            if isinstance(event, NpnActivated):
                at, active = event.data.activated_at, True
            elif isinstance(event, NpnDeactivated):
                at, active = event.data.deactivated_at, False
            else:
                continue
            pending.append((event_id, event.data.npn, at.isoformat(), active))
        return pending

    @_mirror_step
    def apply_npn_changes(self, pending: list[NpnChange]) -> tuple[list[str], int]:
        """Each NPN (de)activated at its own event's time, the later change winning
        whatever the order of arrival; the NPNs of ``pending`` active now whose records
        are owed (no finished run fetched them since their activation), and how many
        are active now."""
        # Round k holds each NPN's k-th change in time order: one NPN changes once a
        # round, so a round is two set-based statements however many times it holds.
        by_npn: dict[str, list[tuple[dt.datetime, bool]]] = {}
        for _, npn, stamp, activates in pending:
            by_npn.setdefault(npn, []).append((dt.datetime.fromisoformat(stamp), activates))
        rounds: list[tuple[dict[str, dt.datetime], dict[str, dt.datetime]]] = []
        for npn, changes in by_npn.items():
            for k, (when, activates) in enumerate(sorted(changes)):
                if k == len(rounds):
                    rounds.append(({}, {}))
                rounds[k][0 if activates else 1][npn] = when
        purged: list[mirror.Change] = []
        # The hooks learn of deletions as of upserts.
        with self._puller.batch() as batch, mirror.write_transaction(self._engine) as conn:
            for on, off in rounds:
                mirror.activate_npns(conn, list(on), on)
                mirror.deactivate_npns(conn, list(off), off, purge=False)
                if self._settings.purge_deactivated:
                    purged += mirror.purge_inactive(conn, list(off), off)
            owed = mirror.owed_fetches(conn, list(by_npn)), mirror.count_active(conn)
            batch.hold(purged)  # after the purges' appends: in commit order
        return owed

    @_mirror_step
    def mark_population(self, run_id: int) -> None:
        """Every NPN the API has subscribed: active from its activation time, and covered
        by run ``run_id`` from then. The list is the account's own word, so its event,
        whenever it comes (a storm's 100,000 take minutes to deliver), changes nothing;
        an NPN whose event never comes is monitored all the same."""

        def mark(subscribed: Mapping[str, dt.datetime]) -> None:
            with mirror.write_transaction(self._engine) as conn:
                mirror.activate_listed(conn, subscribed, run_id)

        # Page by page as they come: 100,000 NPNs marked at the end would be 2.6 s in
        # which the pass could not start.
        self._puller.population(run_id, on_page=mark)

    @_mirror_step
    def mark_batch(self, run_id: int, npns: list[str]) -> None:
        """``npns``, fetched by NPN in run ``run_id``: covered from their activation."""
        with mirror.write_transaction(self._engine) as conn:
            mirror.mark_activations_fetched(conn, npns, run_id)

    @_mirror_step
    def processed(self, event_id: str | None) -> None:
        if event_id is not None:
            self._mark_processed([event_id])

    @_mirror_step
    def processed_all(self, event_ids: list[str]) -> None:
        self._mark_processed(event_ids)

    def _mark_processed(self, event_ids: list[str]) -> None:
        with mirror.write_transaction(self._engine) as conn:
            mirror.mark_all_processed(conn, event_ids, dt.datetime.now(dt.UTC))


def event_call(event: Event) -> tuple[str, tuple[str, ...]] | None:
    """The ``SyncWorkflows`` workflow an event runs, and its arguments."""
    if isinstance(event, UpdatesAvailable):
        return "updates_available", (event.data.run_date.isoformat(), event.id)
    if isinstance(event, NpnActivated | NpnDeactivated):
        return "collect_npn_changes", ()  # the collector finds the event in the mirror
    return None


def by_name(workflow: str, workflow_id: str) -> EnqueueOptions:
    """Options that enqueue ``SyncWorkflows.<workflow>`` on its queue by name: how a
    schedule, or another process (``sync replay``), reaches the sync process's
    instance."""
    return {
        "workflow_name": getattr(SyncWorkflows, workflow).dbos_function_name,
        "class_name": SyncWorkflows.__qualname__,
        "instance_name": INSTANCE_NAME,
        "queue_name": ACTIVATION_QUEUE if workflow == "collect_npn_changes" else SYNC_QUEUE,
        "workflow_id": workflow_id,
        "application_name": APP_NAME,
    }


@DBOS.workflow()
def scheduled_catch_up(scheduled_at: dt.datetime, context: Any) -> None:
    """The daily schedule's workflow (DBOS cannot schedule an instance's method)."""
    at = scheduled_at.astimezone(dt.UTC).isoformat()
    DBOS.enqueue_workflow_with_options(by_name("catch_up", f"catch-up-{at}"))


def catch_up_schedule(cron: str) -> ScheduleInput:
    """The schedule entry for ``DBOS.apply_schedules``."""
    return {"schedule_name": CATCH_UP_SCHEDULE, "workflow_fn": scheduled_catch_up, "schedule": cron}
