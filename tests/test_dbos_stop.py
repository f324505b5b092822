"""DBOS torn down at a stop (``destroy_dbos``): a workflow running is waited for, and
nothing else is waited out. DBOS is a process singleton, so each case runs in a process of
its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import sys, threading, time
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

waited = []  # the seconds of every sleep DBOS takes
sleep = time.sleep
def recorded(seconds: float) -> None:
    waited.append(seconds)
    sleep(seconds)
time.sleep = recorded  # DBOS's modules and ours call it through the module
DBOS.launch()
if sys.argv[2] == "busy":
    DBOS.start_workflow(held)
    running.wait()
stopping = threading.Thread(target=destroy_dbos, args=(60,))
stopping.start()
stopping.join(0.5)
print("stopping" if stopping.is_alive() else "stopped")
gate.set()
stopping.join()
print(max(waited, default=0))
"""


def _stopped(tmp_path: Path, case: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "dbos.db"), case],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_stop_waits_for_the_workflow_running(tmp_path: Path) -> None:
    assert _stopped(tmp_path, "busy")[0] == "stopping"


def test_a_stop_with_nothing_running_waits_out_no_poll_of_a_second(tmp_path: Path) -> None:
    # DBOS's own wait for workflows slept a second before it first looked, and its
    # notification poller (SQLite) a second between looks: each stop of the service and
    # of `sync run` took a second or two more than its work.
    assert float(_stopped(tmp_path, "idle")[1]) < 1
