"""A DBOS system database set apart from the store or the mirror, reached before serving.

DBOS first connects to it as the app starts, inside uvicorn's lifespan: one out of reach
(nothing listening, a host that does not resolve, a SQLite file whose directory is not
there) was uvicorn's traceback (240 lines) and exit code 3. Reached here first, it is the
one line and exit code 1 of every database out of reach (``cli/errors.py``). One that
shares the store's or the mirror's database needs no look of its own: opening that one
is the look.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic_settings import BaseSettings

from producersync.cli.common import fail
from producersync.database_file import directory_faults
from producersync.database_url import sqlalchemy_url
from producersync.settings_variables import variable
from producersync.url_userinfo import masked

__all__ = ["reach_system_database"]

_WHAT = "the DBOS system database"


def reach_system_database(url: str | None, settings: type[BaseSettings]) -> None:
    """Connect once to the system database ``url`` (``settings``' own
    ``dbos_system_database_url``, None when not set) as DBOS will, or fail naming it,
    its password masked, and why."""
    if url is None:
        return
    engine = sa.create_engine(sqlalchemy_url(url))  # with the connect timeout DBOS gets
    try:
        with directory_faults(engine, _WHAT):
            _connect(engine)
    except sa.exc.OperationalError as exc:
        # Imported here: psycopg, under it, adds 0.3 s to every command.
        from producersync.db_outage import describe

        raise fail(
            f"{_WHAT} {masked(url)}: {describe(exc)}",
            field=variable(settings, "dbos_system_database_url"),
            value=masked(url),
        ) from None
    finally:
        engine.dispose()


def _connect(engine: sa.Engine) -> None:
    """A connection to ``engine``'s database, or its error; for a PostgreSQL database
    that is not there, none is needed if its server's ``postgres`` database answers:
    DBOS creates its system database through that one when it is missing."""
    try:
        engine.connect().close()
    except sa.exc.OperationalError:
        if engine.dialect.name != "postgresql" or not _answers(engine.url.set(database="postgres")):
            raise


def _answers(url: sa.URL) -> bool:
    engine = sa.create_engine(url)
    try:
        engine.connect().close()
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()
    return True
