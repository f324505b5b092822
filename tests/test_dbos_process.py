"""DBOS set up as our processes set it up (``DbosProcess``): its own writes to a SQLite
system database wait out a full disk. DBOS is a process singleton, so the case runs in a
process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The system database is made full the cheap way: every connection DBOS takes from its
# pool gets SQLite's page limit, pinned to the file's size while ``full`` is set (SQLite
# raises a lower limit to the pages in use), so a write that needs a page more fails with
# SQLITE_FULL ("database or disk is full"), as on a disk with no room left.
_SCRIPT = """
import logging, secrets, sys, threading
import sqlalchemy as sa
from dbos import DBOS
from producersync.dbos_process import DbosProcess, process_lock
from producersync.executors import Role

full, failed, runs = threading.Event(), threading.Event(), []

@sa.event.listens_for(sa.pool.Pool, "checkout")
def page_limit(dbapi_connection, _record, _proxy):
    dbapi_connection.execute(f"PRAGMA max_page_count = {1 if full.is_set() else 2**31}")

class Told(logging.Handler):
    def emit(self, record):
        told = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        if "database or disk is full" in told:
            failed.set()

logging.getLogger("dbos").addHandler(Told(logging.WARNING))

url = "sqlite:///" + sys.argv[1]
ROLE = Role("test", "test", "--executor-id", "runs it again", "WAIT")
dbos = DbosProcess("full-disk-test", url, process_lock(ROLE, url, "test", 0), None)

@DBOS.step()
def fetched() -> str:
    runs.append(1)
    full.set()
    return secrets.token_hex(64 * 1024)  # a result whose row needs pages more

@DBOS.workflow()
def pulled() -> int:
    return len(fetched())

dbos.launch(5)
handle = DBOS.start_workflow(pulled)
failed.wait(60)  # DBOS could not record the step's result
full.clear()  # the disk has room again
waited = threading.Thread(target=handle.get_result, daemon=True)
waited.start()
waited.join(20)
print(handle.get_status().status, len(runs), flush=True)
"""


def test_a_steps_result_met_by_a_full_disk_is_recorded_once_there_is_room(
    tmp_path: Path,
) -> None:
    # DBOS retried its own writes on SQLite for "database is locked" alone: a step's
    # result it could not record ended the workflow's thread with a traceback, and the
    # workflow stayed PENDING once the disk had room (a sync "running" until a restart).
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "dbos.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["SUCCESS", "1"], result.stderr[-4000:]
