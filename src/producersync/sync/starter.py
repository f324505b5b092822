"""Starting the events' workflows off the request path.

The receiver acknowledges a delivery once its receipt is durable; starting the workflow
(a DBOS write of its own, then the workflow's steps competing for the mirror) would
otherwise sit in every acknowledgement. Here one thread starts them in order of arrival,
handing over everything waiting at once (a storm of activations becomes one nudge of the
collector, not one start each). An event acknowledged but not yet started when the
process dies is unprocessed in the mirror, and ``resume`` starts it again at the next
launch; a start is idempotent (the workflow id is the event id), so one started twice
runs once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from producersync.model.events import Event

__all__ = ["Starter"]

log = logging.getLogger(__name__)

StartBatch = Callable[[list[tuple[Event, str]]], None]
_BATCH = 1000  # events handed over at once: a storm of activations is one hand-over


class Starter:
    def __init__(self, start: StartBatch) -> None:
        self._start = start
        self._queue: queue.SimpleQueue[tuple[Event, str] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workflow-starter", daemon=True)

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
            try:
                self._start(batch)
            except Exception:
                # Unprocessed in the mirror: started again at the next launch.
                log.exception("starting the workflows of %d events failed", len(batch))
