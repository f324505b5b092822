"""`producersync db`: schema management for operators."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import typer
from alembic.util import CommandError

from producersync.cli.common import DatabaseOption, console, fail, service_settings
from producersync.service.store.engine import make_engine
from producersync.service.store.migrate import upgrade as run_upgrade

app = typer.Typer(help="Manage the service's store schema.", no_args_is_help=True)


@app.command()
def upgrade(database: DatabaseOption = None, revision: str = "head") -> None:
    """Apply the store's migrations up to REVISION (every command also does this by itself)."""
    engine = make_engine(service_settings(database).database_url)
    created = _new_sqlite_file(engine)
    try:
        run_upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision, or one the store has passed
        engine.dispose()
        if created is not None:
            # SQLite made the file on connecting: a refused upgrade leaves nothing behind.
            for path in (created, *(Path(f"{created}{end}") for end in ("-wal", "-shm"))):
                path.unlink(missing_ok=True)
        raise fail(f"--revision {revision!r}: {exc}") from None
    console.print(f"store at revision [bold]{revision}[/bold]: {engine.url.render_as_string()}")


def _new_sqlite_file(engine: sa.Engine) -> Path | None:
    """The SQLite file ``engine`` will create when it first connects; None if it exists
    already, or the store is not a SQLite file."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    path = Path(name)
    return None if path.exists() else path
