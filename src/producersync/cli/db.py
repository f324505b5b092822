"""`producersync db`: schema management for operators."""

from __future__ import annotations

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
    try:
        run_upgrade(engine, revision)
    except CommandError as exc:  # an unknown revision, or one the store has passed
        raise fail(f"--revision {revision!r}: {exc}") from None
    console.print(f"store at revision [bold]{revision}[/bold]: {engine.url.render_as_string()}")
