"""DBOS's system database, reached before serving.

DBOS first connects to it as the app starts, inside uvicorn's lifespan: one out of reach
(nothing listening, a host that does not resolve, a SQLite file whose directory is not
there) was uvicorn's traceback (240 lines) and exit code 3. Reached here first, it is the
one line and exit code 1 of every database out of reach (``cli/errors.py``). One that
shares the store's or the mirror's database is reached as that one is opened.

On PostgreSQL, DBOS keeps to its own schema, ``dbos``, which it creates at its first
start, and its tables in it: a role that may create tables in ``public`` but not a schema
(``REVOKE CREATE ON DATABASE ... FROM PUBLIC``, a database it does not own) was the same
traceback, "permission denied for database". The privileges DBOS needs are read in one
query on the connection the look opens, whichever database DBOS keeps its schema in.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic_settings import BaseSettings

from producersync.cli.common import fail
from producersync.database_file import directory_faults, private_files
from producersync.database_url import sqlalchemy_url
from producersync.settings_variables import variable
from producersync.url_userinfo import masked

__all__ = ["reach_system_database"]

_WHAT = "the DBOS system database"


def reach_system_database(url: str | None, settings: type[BaseSettings], beside: str) -> None:
    """Connect once to the system database ``url`` (``settings``' own
    ``dbos_system_database_url``, None when not set: the PostgreSQL database of ``beside``,
    the store or the mirror) as DBOS will, and on PostgreSQL read whether its role may keep
    DBOS's schema there; or fail naming the database, its password masked, and why."""
    variable_name = variable(settings, "dbos_system_database_url")
    target = url or beside
    if url is None and sa.make_url(target).get_backend_name() != "postgresql":
        return  # DBOS's SQLite file beside the store's or the mirror's is made with it
    # With the connect timeout DBOS gets; a SQLite file made owner-only, as DBOS would find it.
    engine = private_files(sa.create_engine(sqlalchemy_url(target)))
    try:
        with directory_faults(engine, _WHAT):
            conn = _connect(engine)
        fault = None if conn is None else _schema_fault(conn, variable_name)
    except sa.exc.OperationalError as exc:
        if url is None:
            return  # the store's or the mirror's own opening tells it, naming it
        # Imported here: psycopg, under it, adds 0.3 s to every command.
        from producersync.db_outage import describe

        raise fail(
            f"{_WHAT} {masked(url)}: {describe(exc)}", field=variable_name, value=masked(url)
        ) from None
    finally:
        engine.dispose()
    if fault is not None:
        raise fail(
            f"{_WHAT} {masked(target)}: {fault}",
            field=variable_name if url else None,
            value=masked(target),
        )


def _connect(engine: sa.Engine) -> sa.Connection | None:
    """A connection to ``engine``'s database, or its error; for a PostgreSQL database
    that is not there, none is needed if its server's ``postgres`` database answers:
    DBOS creates its system database through that one when it is missing (its role owns
    it then, and may create a schema in it)."""
    try:
        return engine.connect()
    except sa.exc.OperationalError:
        if engine.dialect.name != "postgresql" or not _answers(engine.url.set(database="postgres")):
            raise
        return None


def _answers(url: sa.URL) -> bool:
    engine = sa.create_engine(url)
    try:
        engine.connect().close()
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()
    return True


_SCHEMA = "dbos"
"""DBOS's schema (its ``dbos_system_schema``, which we leave at its default)."""

# pg_namespace and pg_class, not information_schema: that shows only what the role has
# some privilege on, and a schema hidden so would read as one to create.
_PRIVILEGES = sa.text(
    """
    SELECT current_user, current_database(),
           has_database_privilege(current_database(), 'CREATE'),
           n.oid IS NOT NULL,
           n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE'),
           n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'CREATE'),
           EXISTS (SELECT FROM pg_class c
                   WHERE c.relnamespace = n.oid AND c.relname = 'dbos_migrations')
    FROM (SELECT) AS one LEFT JOIN pg_namespace n ON n.nspname = :schema
    """
)


def _schema_fault(conn: sa.Connection, variable_name: str) -> str | None:
    """What keeps DBOS from its schema on ``conn``'s PostgreSQL database, and what to do;
    None if nothing does. ``conn`` is closed."""
    with conn:
        if conn.dialect.name != "postgresql":
            return None
        row = conn.execute(_PRIVILEGES, {"schema": _SCHEMA}).one()
    role, database, create_schema, schema_there, usage, create_in, tables_there = row
    quote = conn.dialect.identifier_preparer.quote
    elsewhere = f"or set {variable_name} to a database it may keep DBOS's schema in"
    if not schema_there:
        if create_schema:
            return None
        return (
            f"role {role} may not create DBOS's schema {_SCHEMA} in database {database} "
            f"(it lacks the CREATE privilege on the database): grant it "
            f"(GRANT CREATE ON DATABASE {quote(database)} TO {quote(role)}), create the "
            f"schema for it (CREATE SCHEMA {_SCHEMA} AUTHORIZATION {quote(role)}), {elsewhere}"
        )
    missing = [name for name, held in (("USAGE", usage), ("CREATE", create_in)) if not held]
    if not usage or not (tables_there or create_in):
        # USAGE for any of DBOS's tables; CREATE for DBOS to create them, at its first start.
        return (
            f"role {role} may not use DBOS's schema {_SCHEMA} in database {database} (it "
            f"lacks the {' and '.join(missing)} privilege{'s' if len(missing) > 1 else ''} "
            f"on it): grant {'them' if len(missing) > 1 else 'it'} (GRANT "
            f"{', '.join(missing)} ON SCHEMA {_SCHEMA} TO {quote(role)}), {elsewhere}"
        )
    return None
