"""SQLite database files: made readable by their owner alone, and one that cannot be
opened for a reason of its directory's, told as such.

SQLite makes a new file readable by every user of the host (0644, less the umask), and
the store holds the token-signing key and the webhook signing secrets, the mirror the
producers' records, a DBOS system database the events its workflows were given: any
account on the host could read them, the key to forge any account's access token
included. ``private_file`` makes the file first, 0600; SQLite gives the ``-wal`` and
``-shm`` files beside it the database's own mode.

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

__all__ = ["DatabaseFileError", "directory_faults", "private_file", "private_files"]


_OWNER_ONLY = 0o600


def private_file(url: str | sa.URL) -> None:
    """Make the SQLite file ``url`` names, if it is not there yet, empty and readable and
    writable by its owner alone, for SQLite to open as a new database. A file already
    there keeps its mode (the operator's to choose); any other database is left alone,
    and so is a file that cannot be made here (its directory missing or not writable:
    SQLite's failure to open it says why, through ``directory_faults``)."""
    path = sqlite_file(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _OWNER_ONLY))
    except OSError:
        return


def private_files(engine: sa.Engine) -> sa.Engine:
    """``engine``, whose SQLite file, made by its first connection, is ``private_file``'s."""
    if sqlite_file(engine.url) is not None:
        sa.event.listen(engine, "do_connect", lambda *_: private_file(engine.url))
    return engine


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
