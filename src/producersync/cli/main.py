"""The `producersync` command: one Typer app for every half of the system.

A command that serves (the API, the worker, the sync service) or talks to DBOS imports
that machinery in its own body: importing every app at start made each admin command
take 1.5 s, of which its own work was a few milliseconds.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa
import typer
from pydantic import ValidationError

from producersync.cli import admin, db, nipr, service, sync
from producersync.cli.check import check, report
from producersync.cli.common import err_console, settings_problems
from producersync.cli.demo import demo
from producersync.cli.quickstart import quickstart
from producersync.database_url import masked
from producersync.service.settings import ServiceSettings
from producersync.sync.settings import SyncSettings

app = typer.Typer(
    name="producersync",
    help="ProducerSync end to end: the service, the sync service and a mirror, and the tools "
    "around them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(service.app, name="service")
app.add_typer(admin.app, name="admin")
app.add_typer(nipr.app, name="nipr")
app.add_typer(db.app, name="db")
app.add_typer(sync.app, name="sync")
app.command("demo")(demo)
app.command("quickstart")(quickstart)
app.command("check")(check)
app.add_typer(report, name="report")

_SETTINGS = {settings.__name__: settings for settings in (ServiceSettings, SyncSettings)}


def main() -> None:
    """The ``producersync`` command: ``app``, with a setting the environment or the
    configuration file got wrong (exit 2), or a database out of reach (exit 1), told as
    such, not as a traceback."""
    try:
        app()
    except sa.exc.OperationalError as exc:
        err_console.print(
            f"[red]error:[/red] the database: {masked(str(exc.orig))}", highlight=False
        )
        sys.exit(1)
    except ValidationError as exc:
        settings = _SETTINGS.get(exc.title)
        if settings is None:
            raise
        for line in settings_problems(exc, settings):
            err_console.print(f"[red]error:[/red] {line}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
