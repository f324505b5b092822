"""The `producersync` command: one Typer app for every half of the system.

Every command imports what it runs in its own body (the store, the mirror, the API
client, SQLAlchemy, the apps and uvicorn): importing them all at start made every
command, and every --help, take 1.3 s, of which its own work was a few milliseconds.
The modules here define options and help only (``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from producersync.cli import admin, db, nipr, service, sync
from producersync.cli.check import check, report
from producersync.cli.common import tell
from producersync.cli.demo import demo
from producersync.cli.errors import JsonErrorsCommand, failure, with_value
from producersync.cli.help_text import UnwrappedGroup
from producersync.cli.quickstart import quickstart


class _Root(UnwrappedGroup):
    """The root group: a value Typer refuses is named in the refusal (``with_value``),
    for every command, as the line on stderr tells it."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            raise with_value(exc) from exc.__cause__


app = typer.Typer(
    name="producersync",
    help="ProducerSync end to end: the service, the sync service and a mirror, and the tools "
    "around them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=_Root,
)
app.add_typer(service.app, name="service")
app.add_typer(admin.app, name="admin")
app.add_typer(nipr.app, name="nipr")
app.add_typer(db.app, name="db")
app.add_typer(sync.app, name="sync")
app.command("demo")(demo)
app.command("quickstart")(quickstart)
app.command("check", cls=JsonErrorsCommand)(check)
app.add_typer(report, name="report")


def main() -> None:
    """The ``producersync`` command: ``app``, with a setting the environment or the
    configuration file got wrong (exit 2), a database out of reach, not one or not a
    store, or the API refusing or out of reach (exit 1), told as such (``failure``), not
    as a traceback."""
    try:
        app()
    except Exception as exc:
        failed = failure(exc)
        if failed is None:
            raise
        tell(failed.problems)
        sys.exit(failed.code)


if __name__ == "__main__":  # pragma: no cover
    main()
