"""`producersync db`: schema management for operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from producersync.cli.common import DatabaseOption, console, fail, service_settings

app = typer.Typer(help="Manage the service's store schema.", no_args_is_help=True)


def _revision(value: str) -> str:
    """A ``--revision`` (Typer's ``parser=``): an empty one was an AssertionError traceback
    out of Alembic."""
    if not value.strip():
        raise typer.BadParameter(f"{value!r} is empty: give a revision, as head or 0003")
    return value


@app.command()
def upgrade(
    database: DatabaseOption = None,
    revision: Annotated[
        str, typer.Option(parser=_revision, help="Revision to upgrade to (head: the latest).")
    ] = "head",
) -> None:
    """Apply the store's migrations up to REVISION (every command also does this by itself).

    It never downgrades: a store already at or past REVISION is left as it is. An unknown
    REVISION exits 2 (bad input), the store untouched."""
    from alembic.util import CommandError

    from producersync.database_file import directory_faults
    from producersync.database_url import sqlite_file
    from producersync.service.store.engine import make_engine
    from producersync.service.store.migrate import current_revision
    from producersync.service.store.migrate import upgrade as run_upgrade

    engine = make_engine(service_settings(database).database_url)
    # SQLite makes the file on connecting: a refused upgrade is to leave nothing behind.
    store_file = sqlite_file(engine.url)
    created = store_file if store_file is not None and not store_file.exists() else None
    try:
        with directory_faults(engine, "the store"):  # SQLite's words name no file
            before = current_revision(engine)
        run_upgrade(engine, revision)
        at = current_revision(engine)
    except CommandError as exc:  # an unknown revision, or one the store has passed
        engine.dispose()
        if created is not None:
            for path in (created, *(Path(f"{created}{end}") for end in ("-wal", "-shm"))):
                path.unlink(missing_ok=True)
        raise fail(
            f"--revision {revision!r}: {exc}", 2, field="--revision", value=revision
        ) from None
    where = engine.url.render_as_string()  # passwords hidden
    if before is None or at != before or revision in (at, "head"):
        console.print(f"store at revision [bold]{at}[/bold]: {where}")
    else:
        # Alembic's upgrade to an earlier revision does nothing, successfully.
        console.print(
            f"store at revision [bold]{at}[/bold], unchanged: it was already at or past "
            f"{revision} (db upgrade never downgrades): {where}"
        )
