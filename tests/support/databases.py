"""Test stores: a SQLite file, or a fresh PostgreSQL database dropped afterwards.

PostgreSQL is at $PRODUCERSYNC_TEST_POSTGRES_URL (default: the local server, database
`test`). Without it a Postgres test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

ADMIN_URL = os.environ.get(
    "PRODUCERSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PRODUCERSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def revisions(migrate: ModuleType) -> list[str]:
    """Every revision of the migrations beside ``migrate`` (the store's or the mirror's
    ``migrate`` module), oldest first: the last is the head."""
    scripts = ScriptDirectory(str(Path(migrate.__file__ or "").parent / "migrations"))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def stored_revisions(url: str, table: str = "alembic_version") -> list[str]:
    """The revisions the database at ``url`` records in its version ``table``."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())
    engine.dispose()
    return found


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, why: object) -> None:
    message = f"{what} unavailable: {why}"
    if in_ci():
        pytest.fail(f"{message} (under CI=true this is a failure, not a skip)")
    pytest.skip(message)


@contextmanager
def postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database, empty or a copy of the database ``template``; its URL."""
    name = f"ps_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"' + _template_clause(template)))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable("PostgreSQL", exc.orig)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _template_clause(template: str | None) -> str:
    return f' TEMPLATE "{template}"' if template else ""


# A schema migrated once per test process (an xdist worker): kind and name -> the SQLite
# file, or the PostgreSQL database, that each new one is copied from.
_TEMPLATES: dict[tuple[str, str], str] = {}


@contextmanager
def migrated_copy(
    kind: str, directory: Path, name: str, migrate: Callable[[str], sa.Engine]
) -> Iterator[str]:
    """The URL of a new database on ``kind`` (``name``.db in ``directory`` on SQLite)
    holding what ``migrate`` (``open_mirror``, ``open_store``) makes of an empty one. The
    migrations run once per test process, and each database is a copy of that first one:
    a mirror's Alembic run took from 0.2 s (SQLite) to 0.7 s (PostgreSQL) of a loaded
    machine, and the mirror and compliance tests made hundreds."""
    template = _TEMPLATES.get((kind, name))
    if template is None:
        template = _TEMPLATES[kind, name] = _migrated_template(kind, name, migrate)
    if kind == "sqlite":
        path = directory / f"{name}.db"
        # SQLite's backup, not a file copy: a file copy could miss pages still in the WAL.
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
        yield f"sqlite:///{path}"
    else:
        with postgres_database(template) as url:
            yield url


def migrated_store(kind: str, directory: Path) -> AbstractContextManager[str]:
    """What ``store_url`` gives, already as ``open_store`` leaves a new store (migrated,
    indexed, the sandbox's producers in it): a copy of the worker's template."""
    from producersync.service.store.open import open_store

    return migrated_copy(kind, directory, "store", open_store)


def _migrated_template(kind: str, name: str, migrate: Callable[[str], sa.Engine]) -> str:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="ps-template-")) / f"{name}.db"
        migrate(f"sqlite:///{path}").dispose()
        return str(path)
    database = f"ps_template_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        migrate(admin.url.set(database=database).render_as_string(hide_password=False)).dispose()
        # PostgreSQL copies a database nobody is connected to: none may connect from now
        # on (autovacuum's workers skip it too).
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
    except sa.exc.OperationalError as exc:
        unavailable("PostgreSQL", exc.orig)
    finally:
        admin.dispose()
    return database


def drop_templates() -> None:
    """The templates ``migrated_copy`` made in this process, removed."""
    for (kind, _), template in _TEMPLATES.items():
        if kind == "sqlite":
            shutil.rmtree(Path(template).parent, ignore_errors=True)
            continue
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        admin.dispose()
    _TEMPLATES.clear()


@contextmanager
def store_url(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url


def redis_available() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, without persistence: one
    that can be stopped and started again (the shared one is everyone's)."""

    def __init__(self, directory: Path) -> None:
        from tests.support.service import free_port

        self._binary = shutil.which("redis-server")
        if self._binary is None:
            unavailable("redis-server", "not on PATH")
        self._directory = directory
        self._port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self._port}"

    def start(self) -> None:
        import redis

        assert self._binary is not None
        command = [self._binary, "--port", str(self._port), "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(
            command, cwd=self._directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started ``PrivateRedis``, stopped at the end."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def waiting_on_a_lock(engine: sa.Engine) -> bool:
    """Whether a transaction on ``engine``'s PostgreSQL database waits on a lock (a test
    holding one sees the other writer queue behind it)."""
    with engine.connect() as conn:
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(conn.execute(waiting).scalar_one())


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block, in order, as sent."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
