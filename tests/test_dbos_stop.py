"""DBOS torn down at a stop (``destroy_dbos``): a workflow running is waited for, and
nothing else is waited out. DBOS is a process singleton, so each case runs in a process of
its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import logging, sys, threading, time
from dbos import DBOS
from producersync.dbos_stop import LISTENER_POLL_SECONDS, destroy_dbos

gate, running = threading.Event(), threading.Event()
DBOS(config={
    "name": "stop-test",
    "system_database_url": "sqlite:///" + sys.argv[1],
    "notification_listener_polling_interval_sec": LISTENER_POLL_SECONDS,
})

@DBOS.workflow()
def held() -> None:
    running.set()
    gate.wait()

if sys.argv[2] == "dequeued":
    # A workflow a queue worker has just claimed, its start on its way to the executor
    # (slow on a loaded machine): it is in no list of running workflows yet.
    from dbos import _queue as queues

    claimed = threading.Event()
    dispatch = queues.execute_dequeued_workflow
    def slowly(*args, **kwargs):
        claimed.set()
        time.sleep(0.3)
        return dispatch(*args, **kwargs)
    queues.execute_dequeued_workflow = slowly

    @DBOS.workflow()
    def quick() -> None:
        DBOS.sleep(0)  # a step: it records its result in the system database
        print("ran")

waited = []  # the seconds of every sleep DBOS takes
sleep = time.sleep
def recorded(seconds: float) -> None:
    waited.append(seconds)
    sleep(seconds)
time.sleep = recorded  # DBOS's modules and ours call it through the module
DBOS.launch()
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
if sys.argv[2] == "dequeued":
    DBOS.register_queue("stop-test", polling_interval_sec=0.01)
    DBOS.enqueue_workflow("stop-test", quick)
    claimed.wait()
elif sys.argv[2] != "idle":
    DBOS.start_workflow(held)
    running.wait()
bound = 0.1 if sys.argv[2] == "cut" else 60
stopping = threading.Thread(target=destroy_dbos, args=(bound,))
stopping.start()
stopping.join(0.5)
print("stopping" if stopping.is_alive() else "stopped")
gate.set()
stopping.join()
print(max(waited, default=0))
"""


def _stopped(tmp_path: Path, case: str) -> list[str]:
    """What the stop printed (``stopping`` or ``stopped`` half a second in, then its
    longest sleep), then each line it logged."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "dbos.db"), case],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines() + result.stderr.splitlines()


def test_a_stop_waits_for_the_workflow_running(tmp_path: Path) -> None:
    assert _stopped(tmp_path, "busy")[0] == "stopping"


def test_a_stop_with_nothing_running_waits_out_no_poll_of_a_second(tmp_path: Path) -> None:
    # DBOS's own wait for workflows slept a second before it first looked, and its
    # notification poller (SQLite) a second between looks: each stop of the service and
    # of `sync run` took a second or two more than its work.
    assert float(_stopped(tmp_path, "idle")[1]) < 1


def test_a_stop_that_leaves_a_workflow_running_says_so(tmp_path: Path) -> None:
    # A stop that took its whole bound said nothing of what it had waited for.
    said = _stopped(tmp_path, "cut")
    assert said[0] == "stopped"
    assert any(
        line.startswith("WARNING stopping with 1 workflow still running after 0.1 s")
        for line in said
    ), said


def test_a_stop_waits_for_a_workflow_claimed_from_a_queue_and_not_yet_started(
    tmp_path: Path,
) -> None:
    # A queue worker registers the workflow it claims as it starts, in the executor's
    # thread: looked for at once, none was running, DBOS was destroyed, and the workflow
    # failed at its first step, "System database accessed before DBOS was launched".
    said = _stopped(tmp_path, "dequeued")
    assert "ran" in said, said
    assert not any("accessed before DBOS was launched" in line for line in said), said
