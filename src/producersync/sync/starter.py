"""Starting the events' workflows off the request path.

The receiver acknowledges a delivery once its receipt is durable; starting the workflow
(a DBOS write of its own, then the workflow's steps competing for the mirror) would
otherwise sit in every acknowledgement. Here one thread starts them in order of arrival,
handing over everything waiting at once (a storm of activations becomes one nudge of the
collector, not one start each). An event acknowledged but not yet started when the
process dies is unprocessed in the mirror, and ``resume`` starts it again at the next
launch; a start is idempotent (the workflow id is the event id), so one started twice
runs once. A start that finds the database unavailable is tried again until it is back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from producersync.db_outage import OutageLog, unavailable
from producersync.model.events import Event

__all__ = ["Starter"]

log = logging.getLogger(__name__)

StartBatch = Callable[[list[tuple[Event, str]]], None]
_BATCH = 1000  # events handed over at once: a storm of activations is one hand-over
_FIRST_WAIT_SECONDS = 0.5
_MAX_WAIT_SECONDS = 30.0


class Starter:
    def __init__(self, start: StartBatch) -> None:
        self._start = start
        self._queue: queue.SimpleQueue[tuple[Event, str] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workflow-starter", daemon=True)
        self._outage = OutageLog(log, "workflow starter")

    def submit(self, event: Event, workflow_id: str) -> None:
        """Have ``event``'s workflow started under ``workflow_id`` (returns at once)."""
        self._queue.put((event, workflow_id))

    def launch(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the start under way; what is still waiting is unprocessed in the
        mirror, resumed at the next launch."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None and not self._stopping.is_set():
            batch = [item]
            while len(batch) < _BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._stopping.set()
                    break
                batch.append(more)
            self._start_batch(batch)

    def _start_batch(self, batch: list[tuple[Event, str]]) -> None:
        """Start ``batch``, trying again while the database is unavailable (DBOS waits out
        a PostgreSQL outage itself, not a SQLite file on a full disk): acknowledged events
        left unstarted waited for the next launch."""
        wait = _FIRST_WAIT_SECONDS
        while True:
            try:
                self._start(batch)
            except Exception as exc:
                if not unavailable(exc):
                    # Unprocessed in the mirror: started again at the next launch.
                    log.exception("starting the workflows of %d events failed", len(batch))
                    return
                self._outage.failed(exc)
            else:
                self._outage.succeeded()
                return
            if self._stopping.wait(wait):
                return  # unprocessed in the mirror: started again at the next launch
            wait = min(2 * wait, _MAX_WAIT_SECONDS)
