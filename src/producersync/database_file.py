"""A SQLite database that cannot be opened for a reason of its directory's, told as such.

SQLite says only "unable to open database file", whichever file and why: every command
said "the database: unable to open database file", not which database (``sync run``
opens two) nor that its directory was missing, a file, or not writable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from producersync.database_url import sqlite_file

__all__ = ["DatabaseFileError", "directory_faults"]


class DatabaseFileError(Exception):
    """A SQLite database that cannot be opened where its URL puts it, for a reason of its
    directory's: the message names the database, its file and the reason."""


@contextmanager
def directory_faults(engine: sa.Engine, what: str) -> Iterator[None]:
    """Within, a failure to open ``engine``'s SQLite file that its directory explains is
    raised as a ``DatabaseFileError`` naming ``what`` (``the mirror``), the engine
    disposed; any other (a server out of reach, a locked file) as it is."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        path = sqlite_file(engine.url)
        why = None if path is None else _directory_fault(path)
        if path is None or why is None:
            raise
        engine.dispose()
        raise DatabaseFileError(f"{what} at {path.absolute()}: {exc.orig}: {why}") from None


def _directory_fault(path: Path) -> str | None:
    """Why SQLite cannot open a file at ``path`` for its directory, if that is why."""
    directory = path.absolute().parent
    if not directory.exists():
        return f"there is no directory {directory}"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK):
        # Also for a database that is there: WAL mode keeps its -wal and -shm files beside it.
        return f"its directory {directory} is not writable (SQLite writes its journal there)"
    return None
