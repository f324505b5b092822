"""Keeping the sync runs a process is running shown alive, so that one whose process
has died is shown interrupted, not running for good.

A run is a row in the mirror from its start to its finish. A process killed in between
(SIGKILL, a machine gone, `sync backfill` stopped by hand) never finishes it. Whether a
run is still going cannot be told from the mirror alone: `sync now` and `sync backfill`
run beside `sync run`'s own syncs, in other processes, on other machines. So the process
running a run renews its lease, one statement every ``interval`` seconds for all of its
runs, and a run not finished whose lease has run out (``LEASE_BEATS`` beats missed) is
shown interrupted (``mirror.runs``). A run still going is never shown interrupted
while its process can reach the mirror; one shown so during a longer outage of the
mirror is shown running again at the next beat.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Final

import sqlalchemy as sa

from producersync.db_outage import unavailable
from producersync.repeated_errors import RepeatedErrorLog
from producersync.sync import mirror

__all__ = ["DEFAULT_INTERVAL", "LEASE_BEATS", "Heartbeat"]

DEFAULT_INTERVAL: Final = 10.0  # seconds between two beats
# Beats a run may miss before it is shown interrupted: a minute at the default, far
# longer than a loaded machine or a busy mirror delays one, and what `sync status`
# waits before it tells a killed run.
LEASE_BEATS: Final = 6

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews the lease of each run ``attend``-ed, from a thread of its own that runs
    while there is one (so a process with none has no thread)."""

    def __init__(self, engine: sa.Engine, interval: float = DEFAULT_INTERVAL) -> None:
        if not interval > 0:
            raise ValueError(f"a heartbeat interval of {interval} s: give more than 0")
        self._engine, self._interval = engine, interval
        self._runs: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # A beat every interval would repeat an error: the traceback once, then in a line.
        self._errors = RepeatedErrorLog(log, "run heartbeat")

    @property
    def lease(self) -> dt.timedelta:
        """How long a run is shown running after a beat."""
        return dt.timedelta(seconds=self._interval * LEASE_BEATS)

    def attend(self, run_id: int, *, leased: bool = False) -> None:
        """Keep run ``run_id`` shown alive until ``release`` (or until it is found
        finished); idempotent. A run new to this process is beaten at once: one taken
        back after a restart may have been shown interrupted meanwhile. ``leased``: its
        lease was written just now (``mirror.start_run``), so its first beat is due an
        interval later; a day's sync is over in well under one, and a beat at its start
        was a write that its first pages waited behind on SQLite."""
        with self._lock:
            if run_id in self._runs:
                return
            self._runs.add(run_id)
            if not leased:
                self._wake.set()
            if self._thread is None:
                if leased:
                    self._wake.clear()  # a release's wake-up, left by the last thread
                self._thread = threading.Thread(
                    target=self._beat_while_attended,
                    args=(leased,),
                    name="run-heartbeat",
                    daemon=True,
                )
                self._thread.start()

    def release(self, run_id: int) -> None:
        with self._lock:
            self._runs.discard(run_id)
            if not self._runs:
                self._wake.set()  # the thread ends now, not after its wait

    def attended(self) -> set[int]:
        with self._lock:
            return set(self._runs)

    def _beat_while_attended(self, leased: bool) -> None:
        if leased:
            self._wake.wait(self._interval)  # ended early by a release, or a run to beat now
        while True:
            self._wake.clear()
            with self._lock:
                runs = sorted(self._runs)
                if not runs:
                    self._thread = None
                    return
            self._beat(runs)
            self._wake.wait(self._interval)

    def _beat(self, runs: list[int]) -> None:
        try:
            with mirror.write_transaction(self._engine) as conn:
                unfinished = mirror.beat_runs(conn, runs, self.lease)
        except Exception as exc:
            # The next beat tries again; meanwhile the leases may run out, and the runs
            # are shown interrupted until a beat reaches the mirror. Caught whatever it
            # is: the thread ended on the pool's timeout (no DBAPIError), every run of the
            # process shown interrupted from then on, its syncs going on unseen.
            if unavailable(exc) or isinstance(exc, sa.exc.DBAPIError):
                # The syncs' own steps wait the outage out and log it.
                log.debug("run heartbeat: the mirror is unavailable: %s", type(exc).__name__)
            else:
                self._errors.failed(exc, "the runs' leases not renewed; again next beat")
            return
        self._errors.succeeded()
        with self._lock:
            # Finished (here, or by a workflow replayed after a restart, whose finish
            # step did not run again to release it): nothing more to show.
            self._runs.difference_update(set(runs) - unfinished)
