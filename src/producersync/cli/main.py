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
from producersync.cli.common import api_problem, print_error, settings_problems
from producersync.cli.demo import demo
from producersync.cli.quickstart import quickstart
from producersync.client import ProducerSyncError
from producersync.database_url import masked
from producersync.service.settings import ServiceSettings
from producersync.service.store.migrate import NotAStoreError
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
    configuration file got wrong (exit 2), a database out of reach, not one or not a
    store, or the API refusing or out of reach (exit 1), told as such, not as a
    traceback."""
    try:
        app()
    except sa.exc.DatabaseError as exc:
        if not _of_the_database(exc):
            raise
        print_error(f"the database: {masked(str(exc.orig))}")
        sys.exit(1)
    except NotAStoreError as exc:
        print_error(str(exc))
        sys.exit(1)
    except ProducerSyncError as exc:
        print_error(api_problem(exc))
        sys.exit(1)
    except ValidationError as exc:
        settings = _SETTINGS.get(exc.title)
        if settings is None:
            raise
        for line in settings_problems(exc, settings):
            print_error(line)
        sys.exit(2)


def _of_the_database(exc: sa.exc.DatabaseError) -> bool:
    """Whether ``exc`` is about the database itself (out of reach, or a file that is no
    database or a damaged one: the driver's bare ``DatabaseError``), not a statement of
    ours, whose traceback is what finds the bug."""
    return isinstance(exc, sa.exc.OperationalError) or type(exc) is sa.exc.DatabaseError


if __name__ == "__main__":  # pragma: no cover
    main()
