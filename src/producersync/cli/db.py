"""`producersync db`: schema management for operators."""

from __future__ import annotations

from pathlib import Path

import typer
from alembic.util import CommandError

from producersync.cli.common import DatabaseOption, console, fail, service_settings
from producersync.database_url import sqlite_file
from producersync.service.store.engine import make_engine
from producersync.service.store.migrate import upgrade as run_upgrade

app = typer.Typer(help="Manage the service's store schema.", no_args_is_help=True)


@app.command()
def upgrade(database: DatabaseOption = None, revision: str = "head") -> None:
    """Apply the store's migrations up to REVISION (every command also does this by itself)."""
    engine = make_engine(service_settings(database).database_url)
    # SQLite makes the file on connecting: a refused upgrade is to leave nothing behind.
    store_file = sqlite_file(engine.url)
    created = store_file if store_file is not None and not store_file.exists() else None
    try:
        run_upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision, or one the store has passed
        engine.dispose()
        if created is not None:
            for path in (created, *(Path(f"{created}{end}") for end in ("-wal", "-shm"))):
                path.unlink(missing_ok=True)
        raise fail(f"--revision {revision!r}: {exc}") from None
    console.print(f"store at revision [bold]{revision}[/bold]: {engine.url.render_as_string()}")
