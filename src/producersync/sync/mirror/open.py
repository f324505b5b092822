"""Open the mirror ready for use: the engine, with the schema at head."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from producersync.database_url import sqlite_file
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.migrate import upgrade

__all__ = ["MirrorFileError", "open_mirror"]


class MirrorFileError(Exception):
    """A SQLite mirror that cannot be opened where its URL puts it, for a reason of its
    directory's: the message names the file and the reason."""


def open_mirror(url: str, pool_size: int | None = None) -> sa.Engine:
    """Every sync command starts here: a new mirror is created, an old one migrated.
    ``pool_size``: see ``SyncSettings.mirror_pool_size`` (PostgreSQL only). Raises
    ``MirrorFileError`` when a SQLite mirror's directory is missing or not writable."""
    engine = make_engine(url, pool_size)
    try:
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        path = sqlite_file(url)
        why = None if path is None else _directory_fault(path)
        if path is None or why is None:
            raise  # a server out of reach, a locked file: told as any database error
        engine.dispose()
        # SQLite says only "unable to open database file", whichever file and why, and
        # every command said "the database: unable to open database file".
        raise MirrorFileError(f"the mirror at {path.absolute()}: {exc.orig}: {why}") from None
    return engine


def _directory_fault(path: Path) -> str | None:
    """Why SQLite cannot open a file at ``path`` for its directory, if that is why."""
    directory = path.absolute().parent
    if not directory.exists():
        return f"there is no directory {directory}"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK):
        # Also for a mirror that is there: WAL mode keeps its -wal and -shm files beside it.
        return f"its directory {directory} is not writable (SQLite writes its journal there)"
    return None
