"""DBOS torn down at a process's stop, once the workflows running in it have ended.

``DBOS.destroy(workflow_completion_timeout_sec=N)`` sleeps a whole second before it first
looks for running workflows, even when there are none: every stop of the service and of
`sync run` took a second more than its work did (a Ctrl-C, a rolling update, each
process a test started). Here the same wait looks every ``_POLL_SECONDS``. And the
stop waits for DBOS's notification poller (on SQLite) to wake: by default once a second.
"""

from __future__ import annotations

import logging
import time

from dbos import DBOS
from dbos import _dbos as dbos_internals
from dbos._queue import queue_thread

__all__ = ["LISTENER_POLL_SECONDS", "destroy_dbos"]

_log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
# DBOS's ``notification_listener_polling_interval_sec``. Its poller only reads the system
# database for a ``DBOS.recv``, ``get_event`` or stream waiting, which nothing here does;
# otherwise it wakes and sleeps again.
LISTENER_POLL_SECONDS = 0.1


def destroy_dbos(workflow_completion_timeout: float) -> None:
    """Stop DBOS taking work (its queues, schedules and recovery threads), wait up to
    ``workflow_completion_timeout`` seconds for the workflows running here to end, then
    destroy it."""
    # DBOS keeps no public handle on its running instance or its running workflows; the
    # version is pinned, and tests/test_dbos_stop.py fails if these move.
    instance = dbos_internals._dbos_global_instance
    if instance is not None:
        # What destroy does first, so that no queue starts another workflow meanwhile.
        for event in instance.background_thread_stop_events:
            event.set()
        deadline = time.monotonic() + workflow_completion_timeout
        _claimed_started(instance, deadline)
        while instance._active_workflows_set.activeList() and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        # Said, as uvicorn says the requests it cuts: a stop that took its whole bound told
        # nothing of what it had waited for.
        if left := instance._active_workflows_set.activeList():
            _log.warning(
                "stopping with %d workflow%s still running after %.1f s (%s%s): each resumes "
                "from its last step at the next start, or in another process",
                len(left),
                "" if len(left) == 1 else "s",
                workflow_completion_timeout,
                ", ".join(left[:3]),
                ", ..." if len(left) > 3 else "",
            )
    DBOS.destroy()


def _claimed_started(instance: DBOS, deadline: float) -> None:
    """Wait, until ``deadline``, for the workflows DBOS's queue workers have claimed to be
    running: a worker hands the one it claims to the executor, whose thread lists it as
    running as it starts. Looked for at once, a workflow on its way was in no list, DBOS
    was destroyed under it, and it failed at its first step ("System database accessed
    before DBOS was launched"); ``DBOS.destroy`` first sleeps a second. The queue manager,
    stopped, joins its workers once their claims are handed on."""
    for thread in instance._background_threads:
        if getattr(thread, "_target", None) is queue_thread:
            thread.join(max(0.0, deadline - time.monotonic()))
    executor = instance._executor_field
    while executor is not None and not executor._work_queue.empty():
        if time.monotonic() >= deadline:
            return
        time.sleep(_POLL_SECONDS)
