"""The database URLs the store, the mirror and DBOS accept: SQLite, or PostgreSQL through
psycopg 3. Checked where a URL is given, so that a wrong one is an error naming it, not
a driver's traceback when it is first opened."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import sqlalchemy as sa

from producersync.url_userinfo import masked

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "checked",
    "dbos_pool_size",
    "dbos_system_url",
    "pool_options",
    "sqlalchemy_url",
    "sqlite_file",
    "with_connect_timeout",
]

CONNECT_TIMEOUT_SECONDS: Final = 10
"""How long a PostgreSQL connection attempt may take when the URL does not say
(``?connect_timeout=N``). Without one, psycopg gives up after 130 s on a server whose
packets are dropped (a firewall, a host gone from the network): the service, the worker
and ``sync run`` hung that long at start, and each connection opened during such an
outage held its thread as long. 10 s is far more than a server that answers needs, even
one across a region."""

_ACCEPTED = "sqlite:///file.db or postgresql://user@host/database"
_POSTGRES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
_SQLITE = frozenset({"sqlite", "sqlite+pysqlite"})


# To the authority's last "@", as URLs are read: a password may hold an "@" of its own
# ("u:p@ss@host"), and stopping at the first showed the rest of it.
def sqlalchemy_url(url: str) -> str:
    """``url`` as SQLAlchemy opens it: ``postgresql://`` and ``postgres://`` mean psycopg
    3, with ``connect_timeout`` (``CONNECT_TIMEOUT_SECONDS`` unless the URL has its own);
    SQLite names a file. Anything else is a ``ValueError`` that shows the URL without
    its credentials."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(f"{masked(url)!r} is not a database URL; give {_ACCEPTED}") from None
    except ValueError:
        # SQLAlchemy reads the port with int(), and its words ("invalid literal for int()
        # with base 10: 'notaport'") named neither the URL nor its port.
        raise ValueError(
            f"{masked(url)!r}: its port is not a number; give {_ACCEPTED}, and a port as host:5432"
        ) from None
    if parsed.drivername in _SQLITE:
        if parsed.username or parsed.password or parsed.host or parsed.port:
            # SQLAlchemy's SQLite dialect refuses them only when it opens the URL.
            raise ValueError(
                f"{masked(url)!r}: a SQLite URL names a file, with no user, password or "
                "host; give sqlite:///file.db"
            )
        if sqlite_file(parsed) is None or parsed.query.get("mode") == "memory":
            # Every connection gets its own empty one, and all are gone at exit: a client
            # created there printed a secret for nothing; a mirror read there, answers
            # ("not in the population") as sure as a real one's.
            raise ValueError(
                f"{masked(url)!r} is a database in memory, lost when the process exits; "
                "give a file, as sqlite:///file.db"
            )
        return url
    if parsed.drivername in _POSTGRES:
        psycopg = _with_connect_timeout(parsed, url).set(drivername="postgresql+psycopg")
        return psycopg.render_as_string(hide_password=False)
    raise ValueError(
        f"{masked(url)!r}: {parsed.drivername} is not a supported database; give {_ACCEPTED}"
    )


def checked(url: str | None) -> str | None:
    """``url`` as given, once ``sqlalchemy_url`` accepts it (a settings validator)."""
    if url is not None:
        sqlalchemy_url(url)
    return url


def dbos_system_url(url: str, default_file: str) -> str:
    """DBOS's system database for the database at ``url``: a SQLite file beside a SQLite
    one (``default_file`` when the URL names none), or the same Postgres database (DBOS
    keeps to its own schema there), with the connect timeout of ``sqlalchemy_url``."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        beside = Path(parsed.database or default_file)
        return f"sqlite:///{beside.with_name(beside.name + '.dbos.sqlite')}"
    postgres = _with_connect_timeout(parsed, url).set(drivername="postgresql")
    return postgres.render_as_string(hide_password=False)


def with_connect_timeout(url: str) -> str:
    """``url`` with ``connect_timeout=CONNECT_TIMEOUT_SECONDS`` if it is a PostgreSQL URL
    without one of its own (a URL's own value is kept, once checked); any other URL as
    given. For URLs handed to DBOS as they are (a system database set by itself)."""
    parsed = sa.make_url(url)
    if parsed.drivername not in _POSTGRES:
        return url
    return _with_connect_timeout(parsed, url).render_as_string(hide_password=False)


def _with_connect_timeout(parsed: sa.URL, url: str) -> sa.URL:
    """``parsed`` (the PostgreSQL URL ``url``) with the default connect timeout unless it
    has one. Its own must be one whole number of seconds, 1 or more: DBOS reads only
    digits from the URL and puts its own 10 s in place of anything else, 0 included,
    while psycopg would take 0 (or less) as its 130 s, and 1.5 as 1."""
    given = parsed.query.get("connect_timeout")
    if given is None:
        return parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    if not isinstance(given, str) or not (given.isascii() and given.isdigit()) or int(given) < 1:
        shown = given if isinstance(given, str) else "&connect_timeout=".join(given)
        raise ValueError(
            f"{masked(url)!r}: connect_timeout={shown} is not one whole number of seconds "
            f"from 1; give one such as connect_timeout=5, or none for the default "
            f"{CONNECT_TIMEOUT_SECONDS}"
        )
    return parsed


def sqlite_file(url: str | sa.URL) -> Path | None:
    """The file a SQLite URL names; None for another database or one in memory."""
    parsed = sa.make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name)


def pool_options(size: int | None) -> dict[str, int]:
    """SQLAlchemy's pool options for a PostgreSQL engine kept to ``size`` connections,
    and up to twice as many more under load; none (the library's defaults) for None."""
    return {} if size is None else {"pool_size": size, "max_overflow": 2 * size}


def dbos_pool_size(size: int | None) -> int | None:
    """DBOS's system-database pool in a process whose own pool keeps ``size``
    connections: twice as many (DBOS opens no more under load). None: DBOS's default."""
    return None if size is None else 2 * size
