"""Every PostgreSQL connection we open gives up after a bounded time: the store's, the
mirror's and DBOS's system database's carry ``connect_timeout`` (ours unless the URL
gives its own), and a server whose packets are dropped fails a connection within it
instead of holding it for psycopg's 130 s."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
import sqlalchemy as sa
from dbos import DBOSClient
from pydantic import ValidationError

from producersync.database_url import (
    CONNECT_TIMEOUT_SECONDS,
    dbos_system_url,
    sqlalchemy_url,
    with_connect_timeout,
)
from producersync.service.durable import system_database_url
from producersync.service.settings import ServiceSettings
from producersync.service.store import engine as store_engine
from producersync.sync.mirror import engine as mirror_engine
from producersync.sync.settings import SyncSettings

_DEFAULT = str(CONNECT_TIMEOUT_SECONDS)
_ENGINES: dict[str, Callable[[str], sa.Engine]] = {
    "store": store_engine.make_engine,
    "mirror": mirror_engine.make_engine,
}


def _timeout(url: str) -> str | None:
    value = sa.make_url(url).query.get("connect_timeout")
    assert value is None or isinstance(value, str)
    return value


def _connect_timeout(engine: sa.Engine) -> object:
    """What the engine hands psycopg as ``connect_timeout`` for each connection."""
    _, params = engine.dialect.create_connect_args(engine.url)
    return params.get("connect_timeout")


@pytest.mark.parametrize("url", ["postgresql://h/d", "postgres://u:p@h:5433/d"])
def test_a_postgres_url_gets_the_default_connect_timeout(url: str) -> None:
    assert _timeout(sqlalchemy_url(url)) == _DEFAULT
    assert _timeout(dbos_system_url(url, "unused.db")) == _DEFAULT
    assert _timeout(with_connect_timeout(url)) == _DEFAULT


def test_a_urls_own_connect_timeout_wins() -> None:
    url = "postgresql://u:p@h/d?connect_timeout=3&application_name=x"
    for made in (sqlalchemy_url(url), dbos_system_url(url, "unused.db"), with_connect_timeout(url)):
        assert _timeout(made) == "3"
        assert sa.make_url(made).query["application_name"] == "x"
        assert sa.make_url(made).password == "p"


def test_a_sqlite_url_is_left_as_it_is() -> None:
    assert sqlalchemy_url("sqlite:///m.db") == "sqlite:///m.db"
    assert with_connect_timeout("sqlite:///m.db.dbos.sqlite") == "sqlite:///m.db.dbos.sqlite"
    assert dbos_system_url("sqlite:///m.db", "unused.db") == "sqlite:///m.db.dbos.sqlite"


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("connect_timeout=abc", "connect_timeout=abc"),
        ("connect_timeout=2.5", "connect_timeout=2.5"),
        ("connect_timeout=-1", "connect_timeout=-1"),
        ("connect_timeout=0", "connect_timeout=0"),
        ("connect_timeout=٣", "connect_timeout=٣"),  # a digit, not an ASCII one
        ("connect_timeout=5&connect_timeout=6", "connect_timeout=5&connect_timeout=6"),
    ],
)
def test_a_connect_timeout_that_is_not_whole_seconds_is_refused(query: str, shown: str) -> None:
    url = f"postgresql://u:secret@h/d?{query}"
    for check in (sqlalchemy_url, with_connect_timeout):
        with pytest.raises(ValueError) as refused:
            check(url)
        message = str(refused.value)
        assert f"{shown} is not one whole number of seconds from 1" in message
        assert "secret" not in message and "'postgresql://***@h/d?" in message


@pytest.mark.parametrize(
    "url", ["postgresql://u:secret@h:notaport/d", "postgresql://u:secret@[::1/d"]
)
def test_a_port_that_is_not_a_number_is_refused_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        sqlalchemy_url(url)
    message = str(refused.value)
    assert "its port is not a number" in message and "invalid literal" not in message
    assert "secret" not in message and "'postgresql://***@" in message


def test_settings_refuse_a_bad_connect_timeout_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="connect_timeout=soon is not one whole number"):
        SyncSettings(mirror_url="postgresql://h/d?connect_timeout=soon")
    with pytest.raises(ValidationError, match="connect_timeout=-5 is not one whole number"):
        ServiceSettings(database_url="postgresql://h/d?connect_timeout=-5")


@pytest.mark.parametrize("name", list(_ENGINES))
def test_every_postgres_engine_connects_with_a_timeout(name: str) -> None:
    engine = _ENGINES[name]("postgresql://u@h/d")
    own = _ENGINES[name]("postgresql://u@h/d?connect_timeout=4")
    try:
        assert _connect_timeout(engine) == _DEFAULT
        assert _connect_timeout(own) == "4"
    finally:
        engine.dispose()
        own.dispose()


def test_the_dbos_system_databases_connect_with_a_timeout() -> None:
    """Derived from the store's or the mirror's URL, or set by themselves: DBOS reads
    ``connect_timeout`` from the URL it is given (the sync's `replay` client too)."""
    sync = SyncSettings(mirror_url="postgresql://h/mirror")
    assert _timeout(sync.system_database_url()) == _DEFAULT
    own = SyncSettings(dbos_system_database_url="postgresql://h/dbos?connect_timeout=7")
    assert _timeout(own.system_database_url()) == "7"
    bare = SyncSettings(dbos_system_database_url="postgresql://h/dbos")
    assert _timeout(bare.system_database_url()) == _DEFAULT
    service = ServiceSettings(database_url="postgresql://h/store")
    assert _timeout(system_database_url(service)) == _DEFAULT
    apart = ServiceSettings(
        database_url="sqlite:///s.db", dbos_system_database_url="postgres://h/x"
    )
    assert _timeout(system_database_url(apart)) == _DEFAULT


@contextmanager
def _blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 whose server drops every new connection's SYN, as a firewall
    does: it listens with a backlog of 0 and never accepts, and a connection already
    waits there, so the kernel drops the next ones' first packet (and its retries)."""
    with ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(2):  # the queue holds backlog + 1
            waiting = stack.enter_context(socket.socket())
            waiting.setblocking(False)
            waiting.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)  # the handshakes of those two complete
        yield port


def _open_store(url: str) -> None:
    engine = store_engine.make_engine(url)
    try:
        engine.connect().close()
    finally:
        engine.dispose()


def _open_mirror(url: str) -> None:
    engine = mirror_engine.make_engine(url)
    try:
        engine.connect().close()
    finally:
        engine.dispose()


def _open_dbos_client(url: str) -> None:
    """What `sync replay` opens: DBOS's own client, which sets no timeout of its own."""
    DBOSClient(system_database_url=SyncSettings(mirror_url=url).system_database_url()).destroy()


@pytest.mark.parametrize("connect", [_open_store, _open_mirror, _open_dbos_client])
def test_a_server_that_drops_packets_fails_the_connection_within_the_timeout(
    connect: Callable[[str], None],
) -> None:
    with _blackhole() as port:
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="timeout expired"):
            connect(f"postgresql://u@127.0.0.1:{port}/d")
        took = time.monotonic() - started
    # psycopg's own default was 130 s; ours is 10, give or take a loaded machine.
    assert CONNECT_TIMEOUT_SECONDS - 0.5 <= took < CONNECT_TIMEOUT_SECONDS + 10
