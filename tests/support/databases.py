"""Test stores: a SQLite file, or a fresh PostgreSQL database dropped afterwards.

PostgreSQL is at $PRODUCERSYNC_TEST_POSTGRES_URL (default: the local server, database
`test`). Without it a Postgres test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from tests.support.waiting import eventually

ADMIN_URL = os.environ.get(
    "PRODUCERSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_T = TypeVar("_T")
REDIS_URL = os.environ.get("PRODUCERSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def revisions(migrate: ModuleType) -> list[str]:
    """Every revision of the migrations beside ``migrate`` (the store's or the mirror's
    ``migrate`` module), oldest first: the last is the head."""
    scripts = ScriptDirectory(str(Path(migrate.__file__ or "").parent / "migrations"))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def set_back_before(
    engine: sa.Engine, migrate: ModuleType, version_table: str, revision: str
) -> None:
    """The database's version set back to the revision before ``revision``, as an
    upgrade cut short after that migration's last index build leaves it."""
    every = revisions(migrate)
    with engine.begin() as conn:
        before = every[every.index(revision) - 1]
        conn.exec_driver_sql(f"UPDATE {version_table} SET version_num = '{before}'")


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
    """A new database, empty or a copy of the database ``template``; its URL. A copy of a
    template ``migrated_copy`` made may be one a previous test of this process used, put
    back as the template has it (``_Pool``): a ``DROP DATABASE`` forces a checkpoint of
    the whole server. Any other is dropped at the end of the session (``drop_databases``),
    with the rest, side by side."""
    pool = _POOLS.get(template) if template else None
    admin = _admin()
    if pool is not None and pool.idle:
        name = pool.idle.pop()
    else:
        name = f"ps_test_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"' + _template_clause(template)))
        except sa.exc.OperationalError as exc:
            admin.dispose()
            unavailable("PostgreSQL", exc.orig)
        if pool is not None:
            pool.made(_url(admin, name))
    url = _url(admin, name)
    try:
        yield url
    finally:
        if pool is not None and pool.reset(url):
            pool.idle.append(name)
        else:
            _DONE_WITH.append(name)
        admin.dispose()


@contextmanager
def database_of_a_restricted_role(*setup: str) -> Iterator[str]:
    """A new database and a new login role that may create tables in its ``public`` schema
    but no schema (``CREATE`` on the database revoked from PUBLIC, the role not its owner),
    ``setup``'s statements run there as the server's superuser; the URL as that role (its
    password ``hunter2``). Both dropped with the rest at the end of the session
    (``drop_databases``): dropped as each test ended, their checkpoints held up the other
    workers' PostgreSQL tests."""
    name = f"ps_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD 'hunter2'"))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable("PostgreSQL", exc.orig)
    here = sa.create_engine(_url(admin, name), poolclass=sa.pool.NullPool)
    try:
        with here.begin() as conn:
            conn.execute(sa.text(f'GRANT CREATE ON SCHEMA public TO "{name}"'))
            conn.execute(sa.text(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC'))
            for statement in setup:
                conn.execute(sa.text(statement.format(role=f'"{name}"')))
        yield (
            sa.make_url(_url(admin, name))
            .set(drivername="postgresql", username=name, password="hunter2")
            .render_as_string(hide_password=False)
        )
    finally:
        here.dispose()
        admin.dispose()
        _DONE_WITH.append(name)
        _ROLES_DONE_WITH.append(name)  # it owns only what it made in its database


def _admin() -> sa.Engine:
    """An engine on the server's maintenance database that keeps no connection open: a
    test's ``postgres_database`` held its admin connection idle for the whole test, one or
    two a worker beside the test's processes, of the server's 100."""
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _url(admin: sa.Engine, database: str) -> str:
    return admin.url.set(database=database).render_as_string(hide_password=False)


def _template_clause(template: str | None) -> str:
    return f' TEMPLATE "{template}"' if template else ""


# A schema migrated once per test process (an xdist worker): kind and name -> the SQLite
# file, or the PostgreSQL database, that each new one is copied from.
_TEMPLATES: dict[tuple[str, str], str] = {}


# Catalogs whose rows a test's DDL adds, removes or rewrites: a row's xmin is the
# transaction that last wrote it. pg_class is compared by its columns instead, since a
# TRUNCATE rewrites its rows; a user object's oid is FirstNormalObjectId (16384) or more.
_CATALOGS_BY_OID = [
    "pg_type",
    "pg_proc",
    "pg_constraint",
    "pg_trigger",
    "pg_attrdef",
    "pg_rewrite",
    "pg_extension",
    "pg_policy",
    "pg_statistic_ext",
    "pg_enum",
    "pg_operator",
    "pg_opclass",
    "pg_opfamily",
    "pg_cast",
    "pg_collation",
    "pg_conversion",
    "pg_language",
    "pg_default_acl",
    "pg_event_trigger",
    "pg_publication",
    "pg_largeobject_metadata",
    "pg_ts_config",
    "pg_ts_dict",
]
_FINGERPRINT = sa.text(
    "SELECT md5(string_agg(item, ',' ORDER BY item)) FROM ("
    " SELECT concat_ws(' ', 'class', oid, relname, relnamespace, relkind, relpersistence,"
    "  relacl, reloptions, relrowsecurity, relforcerowsecurity, relreplident) AS item"
    "  FROM pg_class WHERE oid >= 16384"
    " UNION ALL SELECT concat_ws(' ', 'namespace', oid, xmin) FROM pg_namespace"
    "  WHERE oid >= 16384 AND nspname !~ '^pg_'"  # not a session's pg_temp_N, which stays
    " UNION ALL SELECT concat_ws(' ', 'attribute', attrelid, attnum, xmin) FROM pg_attribute"
    "  WHERE attrelid >= 16384"
    " UNION ALL SELECT concat_ws(' ', 'index', indexrelid, xmin) FROM pg_index"
    "  WHERE indexrelid >= 16384"
    " UNION ALL SELECT concat_ws(' ', 'sequence', seqrelid, xmin) FROM pg_sequence"
    "  WHERE seqrelid >= 16384"
    " UNION ALL SELECT concat_ws(' ', 'description', objoid, classoid, objsubid, xmin)"
    "  FROM pg_description WHERE objoid >= 16384"
    " UNION ALL SELECT concat_ws(' ', 'database', xmin) FROM pg_database"
    "  WHERE datname = current_database()"
    " UNION ALL SELECT concat_ws(' ', 'settings', s.xmin) FROM pg_db_role_setting s"
    "  JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()"
    + "".join(
        f" UNION ALL SELECT concat_ws(' ', '{catalog}', oid, xmin) FROM {catalog}"
        " WHERE oid >= 16384"
        for catalog in _CATALOGS_BY_OID
    )
    + ") AS items"
)
_USER_RELATIONS = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' AND c.relkind IN ({})"
    " ORDER BY 1"
)
# A table's pages, and its indexes' and TOAST's: a table's rows take pages of its own.
_SIZES = sa.text(
    "SELECT t, concat_ws(' ', pg_relation_size(t::regclass), pg_total_relation_size(t::regclass))"
    " FROM unnest(CAST(:tables AS text[])) AS t"
)
_OTHERS = sa.text(
    "SELECT (SELECT count(*) FROM pg_stat_activity"
    "  WHERE datname = current_database() AND pid <> pg_backend_pid())"
    " + (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database())"
)
# How long a released copy waits for the sessions of the test's closed connections to end.
_SESSIONS_GONE_SECONDS = 1.0


class _Pool:
    """Copies of one template, put back as the template has them when a test is done
    with one, rather than dropped: what every ``DROP DATABASE`` costs on PostgreSQL 15 is
    a checkpoint of the whole server, every other test's writes flushed with it.

    A copy is put back only when nothing but its rows can differ from a new copy: its
    schema as the template's (``_FINGERPRINT``), nobody connected to it, and every table
    truncated, the template's rows, sequences and (empty) planner statistics restored in
    one transaction. Anything else, and it is dropped as before."""

    def __init__(self, conn: sa.Connection) -> None:
        self.tables = list(conn.execute(sa.text(_USER_RELATIONS.format("'r', 'p'"))).scalars())
        self.sizes = self._sizes(conn)
        self.rows: dict[str, bytes] = {}
        cursor = _cursor(conn)
        for table in conn.execute(sa.text(_USER_RELATIONS.format("'r'"))).scalars():
            if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {table})")).scalar_one():
                with cursor.copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy:
                    self.rows[table] = b"".join(bytes(block) for block in copy)
        sequences = sa.text(
            "SELECT format('%I.%I', schemaname, sequencename),"
            " coalesce(last_value, start_value), last_value IS NOT NULL FROM pg_sequences"
        )
        self.sequences = [tuple(row) for row in conn.execute(sequences)]
        self.idle: list[str] = []
        self._fingerprints: dict[str, str] = {}  # copy -> its schema's, as it was made

    @staticmethod
    def possible(conn: sa.Connection) -> bool:
        """Whether truncating puts a copy of this database back: not with a materialized
        view or a foreign table, whose contents a TRUNCATE leaves."""
        others = sa.text(_USER_RELATIONS.format("'m', 'f'"))
        return conn.execute(others).first() is None

    def made(self, url: str) -> None:
        """The copy at ``url`` is new."""
        self._fingerprints[_name(url)] = _on(url, _fingerprint)

    def reset(self, url: str) -> bool:
        """Whether the copy at ``url`` is now as new, and can be handed out again."""
        made = self._fingerprints.pop(_name(url), None)

        def reset(conn: sa.Connection) -> bool:
            if not _alone(conn):
                return False
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                if made is None or _fingerprint(conn) != made:
                    return False
                self._restore(conn)
            self._fingerprints[_name(url)] = made
            return True

        try:
            return _on(url, reset)
        except sa.exc.DBAPIError:
            return False

    def _sizes(self, conn: sa.Connection) -> dict[str, str]:
        return {table: size for table, size in conn.execute(_SIZES, {"tables": self.tables})}

    def _restore(self, conn: sa.Connection) -> None:
        # A TRUNCATE costs ~10 ms a table of a loaded machine (new files for the table, its
        # indexes and TOAST): one never written to, no page in it and its indexes and
        # TOAST as in the template, is left as it is.
        sizes = self._sizes(conn)
        written = [table for table, size in sizes.items() if size != self.sizes[table]]
        if written := sorted({*written, *self.rows}):
            conn.exec_driver_sql(f"TRUNCATE {', '.join(written)} CASCADE")
        # The template's rows as they were: its triggers and foreign keys saw them once.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        cursor = _cursor(conn)
        for table, rows in self.rows.items():
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(rows)
        for sequence, value, called in self.sequences:
            conn.execute(
                sa.text("SELECT setval(CAST(:s AS regclass), :v, :c)"),
                {"s": sequence, "v": value, "c": called},
            )
        # The planner sees a new copy's tables as never analysed, whatever the last test
        # analysed.
        conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid >= 16384")
        conn.exec_driver_sql("DELETE FROM pg_statistic_ext_data WHERE stxoid >= 16384")


def _on(url: str, work: Callable[[sa.Connection], _T]) -> _T:
    """What ``work`` returns on a connection of its own to ``url``."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return work(conn)
    finally:
        engine.dispose()


def _fingerprint(conn: sa.Connection) -> str:
    return str(conn.execute(_FINGERPRINT).scalar_one())


def _cursor(conn: sa.Connection) -> psycopg.Cursor[Any]:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver.cursor()


def _name(url: str) -> str:
    return sa.make_url(url).database or ""


def _alone(conn: sa.Connection) -> bool:
    """Whether ``conn`` is the only session on its database, once the sessions of the
    connections a test just closed have ended."""
    deadline = time.monotonic() + _SESSIONS_GONE_SECONDS
    while True:
        others = conn.execute(_OTHERS).scalar_one()
        conn.rollback()  # pg_stat_activity is read once a transaction
        if not others:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


# Template database -> its copies.
_POOLS: dict[str, _Pool] = {}


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


def universe_store(
    kind: str, directory: Path, producers: int, seed: int
) -> AbstractContextManager[str]:
    """A new store holding the universe ``generate(producers, seed=seed)``: a copy of one
    the worker loaded. Each test loaded its own, 0.1 CPU-s and 0.2 s on SQLite for 60
    producers, 0.15 CPU-s and 0.65 s on PostgreSQL (its VACUUM ANALYZE)."""
    return migrated_copy(
        kind, directory, f"universe-{producers}-{seed}", partial(_universe, producers, seed)
    )


def _universe(producers: int, seed: int, url: str) -> sa.Engine:
    from producersync.service.nipr.loader import load
    from producersync.service.nipr.universe import generate
    from producersync.service.store.open import open_store

    engine = open_store(url)
    load(engine, generate(producers, seed=seed))
    return engine


def migrated_mirror(kind: str, directory: Path) -> AbstractContextManager[str]:
    """A mirror as ``open_mirror`` leaves a new one (``mirror.db`` in ``directory`` on
    SQLite): a copy of the worker's template. A `sync run` on an empty mirror ran its
    migrations at every start of every process test, 0.1 CPU-s of the process's 0.9 on
    SQLite, more on PostgreSQL."""
    from producersync.sync.mirror import open_mirror

    return migrated_copy(kind, directory, "mirror", open_mirror)


def _migrated_template(kind: str, name: str, migrate: Callable[[str], sa.Engine]) -> str:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="ps-template-")) / f"{name}.db"
        migrate(f"sqlite:///{path}").dispose()
        return str(path)
    database = f"ps_template_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        url = _url(admin, database)
        migrate(url).dispose()
        if pool := _on(url, lambda conn: _Pool(conn) if _Pool.possible(conn) else None):
            _POOLS[database] = pool
        # PostgreSQL copies a database nobody is connected to: none may connect from now
        # on (autovacuum's workers skip it too).
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
    except sa.exc.OperationalError as exc:
        unavailable("PostgreSQL", exc.orig)
    finally:
        admin.dispose()
    return database


# The databases tests of this process are done with and did not put back: each dropped
# as its test ended took 0.5-7 s of a loaded machine, a checkpoint of the whole server.
_DONE_WITH: list[str] = []
_ROLES_DONE_WITH: list[str] = []  # each dropped after the databases it owns things in
# Drops at once at the end: those waiting on a checkpoint share the next (six on a loaded
# machine: 9.5 s one after the other, 1.35 s side by side). A few connections each while
# the worker has nothing else open, of the server's 100.
_DROPPING_AT_ONCE = 4


def awaiting_drop() -> list[str]:
    """The databases this process's tests were done with and did not put back, as they
    wait for ``drop_databases``."""
    return list(_DONE_WITH)


def drop_databases() -> None:
    """The databases this process's tests were done with, and the templates
    ``migrated_copy`` made and their copies, removed."""
    databases = [*_DONE_WITH, *(name for pool in _POOLS.values() for name in pool.idle)]
    _DONE_WITH.clear()
    _POOLS.clear()
    for (kind, _), template in _TEMPLATES.items():
        if kind == "sqlite":
            shutil.rmtree(Path(template).parent, ignore_errors=True)
        else:
            databases.append(template)
    _TEMPLATES.clear()
    if databases:
        admin = _admin()
        with ThreadPoolExecutor(_DROPPING_AT_ONCE) as pool:
            list(pool.map(partial(_drop, admin), databases))
        with admin.connect() as conn:
            for role in _ROLES_DONE_WITH:
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        _ROLES_DONE_WITH.clear()
        admin.dispose()


def _drop(admin: sa.Engine, database: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


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
def refused_updates(engine: sa.Engine, table: str, when: str, message: str) -> Iterator[None]:
    """Inside the block, the store refuses an update of a row of ``table`` matching
    ``when`` (SQL on ``NEW``) as a CHECK constraint would, with ``message``: a trigger,
    on SQLite or PostgreSQL, which SQLAlchemy raises as an ``IntegrityError``."""
    name = f"refused_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} WHEN {when} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
            drop = [f"DROP TRIGGER {name}"]
        else:
            conn.exec_driver_sql(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"RAISE EXCEPTION '{message}' USING ERRCODE = 'check_violation'; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
            drop = [f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()"]
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)


def answered_while_deleted(engine: sa.Engine, endpoint_id: str, send: Callable[[], _T]) -> _T:
    """What ``send()`` (a request naming the webhook endpoint) gives when the endpoint is
    deleted while it runs: a transaction deletes it and holds its secrets too, so that
    the request gets past a look-up of the endpoint (the DELETE is not committed yet) and
    waits at its first use of a row of it; the DELETE is committed once it waits
    (PostgreSQL: SQLite's writers take turns)."""
    from producersync.service.store.tables import webhook_endpoints

    with ThreadPoolExecutor(1) as pool:
        with engine.begin() as conn:
            conn.execute(sa.text("LOCK TABLE webhook_secrets IN ACCESS EXCLUSIVE MODE"))
            conn.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
            answer = pool.submit(send)
            eventually(lambda: answer.done() or waiting_on_a_lock(engine))
        return answer.result()


@contextmanager
def statements(engine: sa.Engine, *, but_threads: Collection[str] = ()) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block, in order, as sent; those
    of the threads named ``but_threads`` left out (a service's own background work)."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.current_thread().name not in but_threads:
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


@contextmanager
def work_done(conn: sa.Connection, table: str) -> Iterator[Callable[[], int]]:
    """How much the statements run on ``conn`` inside the block read, told once it ends
    (call what it gives): on PostgreSQL the rows of ``table`` its scans read, fetched by
    an index or read whole (this transaction's ``pg_stat_xact_user_tables``); on SQLite,
    which counts no rows, the instructions its virtual machine ran, over every table."""
    if conn.dialect.name == "sqlite":
        steps = [0]

        def step() -> int:
            steps[0] += 1
            return 0  # go on

        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.set_progress_handler(step, 1)
        try:
            yield lambda: steps[0]
        finally:
            raw.set_progress_handler(None, 1)
        return
    read = sa.text(
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
        " FROM pg_stat_xact_user_tables WHERE relname = :table"
    )
    before = conn.execute(read, {"table": table}).scalar_one()
    done: list[int] = []
    yield lambda: done[0] - before
    done.append(conn.execute(read, {"table": table}).scalar_one())


@contextmanager
def table_plans(engine: sa.Engine, table: str) -> Iterator[list[str]]:
    """The steps over ``table`` of the plans of the SELECTs run meanwhile: SQLite's
    lines, and PostgreSQL's scan nodes with their conditions."""
    sqlite = engine.dialect.name == "sqlite"
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if sqlite:
            found = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.extend(step for *_, step in found if f" {table} " in f"{step} ")
            return
        # ANALYZE (a read run again): a subquery of a recursive step's list, the walk's next
        # value, is not shown in a plan alone.
        found = cursor.connection.execute(f"EXPLAIN (ANALYZE) {statement}", parameters)
        lines = [line for (line,) in found]
        for n, line in enumerate(lines):
            if re.search(rf" on (public\.)?{table}\b", line):  # the node, its conditions below
                indent = " " * (len(line) - len(line.lstrip(" -")) + 1)
                below = itertools.takewhile(lambda x, i=indent: x.startswith(i), lines[n + 1 :])
                plans.append("\n".join([line, *(x for x in below if "Cond:" in x)]))

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


def plan_tree(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A PostgreSQL plan's node (EXPLAIN (FORMAT JSON)'s ``Plan``) and every node below it."""
    yield plan
    for below in plan.get("Plans", []):
        yield from plan_tree(below)


@contextmanager
def query_plans(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Each statement run meanwhile with its plan, as EXPLAIN tells it before it runs:
    PostgreSQL's top node (EXPLAIN (FORMAT JSON)'s ``Plan``), SQLite's EXPLAIN QUERY PLAN
    steps (a list of lines)."""
    sqlite = engine.dialect.name == "sqlite"
    planned: list[tuple[str, Any]] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
            return  # SET, BEGIN: nothing planned
        if sqlite:
            found = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            planned.append((statement, [step for *_, step in found]))
            return
        (found,) = cursor.connection.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
        planned.append((statement, found[0][0]["Plan"]))

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield planned
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


@contextmanager
def plan_nodes(engine: sa.Engine) -> Iterator[list[tuple[str, set[str]]]]:
    """PostgreSQL: each statement run meanwhile, with the node types of its plan
    (``Index Scan``, ``Nested Loop``, ...), as EXPLAIN tells them before it runs."""
    planned: list[tuple[str, set[str]]] = []
    with query_plans(engine) as found:
        yield planned
    planned += [(statement, {n["Node Type"] for n in plan_tree(plan)}) for statement, plan in found]


def unusable_indexes(engine: sa.Engine) -> list[str]:
    """The PostgreSQL database's indexes no transaction older than their build may use
    (``pg_index.indcheckxmin``), or left INVALID by a build that did not finish."""
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT indexrelid::regclass::text FROM pg_index"
                " WHERE indcheckxmin OR NOT indisvalid ORDER BY 1"
            ).scalars()
        )


def plans_scanning_tables(engine: sa.Engine, queries: Sequence[str]) -> list[str]:
    """The PostgreSQL plans of ``queries`` that scan a whole table, taken only when no
    index serves them (sequential scans are priced out)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        plans = ["\n".join(conn.exec_driver_sql(f"EXPLAIN {query}").scalars()) for query in queries]
        conn.rollback()
    return [plan for plan in plans if "Seq Scan" in plan]


@contextmanager
def unanswering_postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose server takes the connection and never answers, as a host
    behind a firewall that drops its packets looks to a client, whose connect timeout
    (an hour) outlasts any test."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"postgresql://postgres@127.0.0.1:{server.getsockname()[1]}/x?connect_timeout=3600"
