"""One log format for every line a long-running process writes: ours, uvicorn's, DBOS's
and any library's (``producersync.log_format``, as docs/operations.md shows it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.databases import store_url
from tests.support.processes import service_process

_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)


def test_a_process_logs_every_line_in_the_format(tmp_path: Path) -> None:
    with (
        store_url("sqlite", tmp_path) as url,
        service_process(url, tmp_path, command="worker") as worker,
    ):
        pass
    lines = worker.log.read_text().splitlines()
    assert any("uvicorn.error: Uvicorn running on" in line for line in lines), lines
    assert all(_LINE.match(line) for line in lines), lines


# What DBOS() does: it adds its own handler to a logger that has none; and two warnings
# from one line of DBOS's while PostgreSQL is down, of which only the first is logged.
_SNIPPET = """
import logging, logging.config
import psycopg
from dbos._logger import init_logger
from producersync.log_format import log_config
logging.config.dictConfig(log_config("info"))
init_logger()
logging.getLogger("dbos").warning("from dbos")
for _ in range(2):
    try:
        raise psycopg.OperationalError("connection failed")
    except psycopg.OperationalError as e:
        logging.getLogger("dbos").warning(f"Notification listener error: {e}")
logging.getLogger("producersync.sync.app").info("from us")
logging.getLogger("producersync.sync.app").debug("not at info")
logging.getLogger("sqlalchemy.pool").warning("from a library")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("producersync.x").exception("with a traceback")
"""


def test_dbos_ours_and_libraries_share_the_format() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SNIPPET], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stderr.splitlines()
    heads = [line for line in lines if _LINE.match(line)]
    assert [line.split(" ", 2)[2] for line in heads] == [
        "dbos: from dbos",
        "dbos: Notification listener error: connection failed",
        "producersync.sync.app: from us",
        "sqlalchemy.pool: from a library",
        "producersync.x: with a traceback",
    ]
    assert lines[len(heads) - 1 :][1] == "Traceback (most recent call last):"
