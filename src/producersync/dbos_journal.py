"""DBOS's system database on SQLite, journalled in WAL mode as the store and the mirror are.

DBOS opens its SQLite file in SQLite's default journal mode (a rollback journal, made and
deleted at every commit) and commits each workflow's start, each step's result and each
status change: a commit made and synced a journal, the database and its directory, 4.1 ms
and 0.4-0.6 ms of CPU each on the machine the tests run on; 1.5-1.9 ms and 0.1-0.2 ms in
WAL mode, as durable (DBOS's connections keep SQLite's ``synchronous=FULL``: the log is
synced at each commit). Readers no longer wait for a writer either. The mode is the
file's: every connection to it, DBOS's and a ``DBOSClient``'s, journals so from then on.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from producersync.database_url import sqlite_file

__all__ = ["journal_in_wal"]

_BUSY_SECONDS = 30  # as DBOS's own connections wait for another process's lock


def journal_in_wal(url: str) -> None:
    """The SQLite database at ``url`` (DBOS's system database, made empty if missing)
    journals in WAL mode from now on; any other database is left as it is."""
    path = sqlite_file(url)
    if path is None:
        return
    with closing(sqlite3.connect(path, timeout=_BUSY_SECONDS)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
