"""The store's and the mirror's migrations: a database that lived through every earlier
revision, with rows written at each, upgrades to head keeping every row and ends with
the schema a new database gets; one that cannot be migrated (a newer version's, or a
database that refuses the writes) is one line from every command, not a traceback."""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from producersync.service.store import accounts, outbox
from producersync.service.store import migrate as store_migrate
from producersync.service.store.engine import make_engine as store_engine
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import Operation, create_job
from producersync.service.store.tables import metadata as store_metadata
from producersync.sync.mirror import migrate as mirror_migrate
from producersync.sync.mirror import open_mirror
from producersync.sync.mirror.engine import make_engine as mirror_engine
from producersync.sync.mirror.queries import Pending, pending_fetches
from producersync.sync.mirror.tables import metadata as mirror_metadata
from tests.conftest import BACKENDS
from tests.support.cli import producersync, sync_environment
from tests.support.databases import revisions, store_url
from tests.support.filled import fill_every_table, value

pytestmark = [
    pytest.mark.slow(80),
    # The inspector cannot read SQLite's expression indexes: _schema reads them from
    # sqlite_master instead, and alembic compares them with the tables on PostgreSQL.
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based"),
]

_SCHEMAS: dict[str, tuple[Callable[[str], sa.Engine], Any, sa.MetaData, str]] = {
    "store": (store_engine, store_migrate, store_metadata, "alembic_version"),
    "mirror": (mirror_engine, mirror_migrate, mirror_metadata, mirror_migrate.VERSION_TABLE),
}


def _earlier_revisions(schema: str) -> list[str]:
    return revisions(_SCHEMAS[schema][1])[:-1]


@pytest.mark.parametrize("schema", sorted(_SCHEMAS))
def test_the_head_a_schema_is_opened_at_is_its_last_migration(schema: str) -> None:
    """A schema at ``HEAD`` is opened without its scripts, whose names say their
    revisions: a script named otherwise could leave a migration that never runs."""
    migrate = _SCHEMAS[schema][1]
    scripts = ScriptDirectory(str(Path(migrate.__file__).parent / "migrations"))
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_")
    assert revisions(migrate)[-1] == migrate.HEAD


@contextmanager
def _engine(schema: str, kind: str, directory: Path) -> Iterator[sa.Engine]:
    directory.mkdir()
    with store_url(kind, directory) as url:
        engine = _SCHEMAS[schema][0](url)
        try:
            yield engine
        finally:
            engine.dispose()


def _reflected(engine: sa.Engine) -> sa.MetaData:
    """Every table of ``engine`` as it is now, reflected at once: a table reflected alone
    for each read (with the tables its foreign keys name) took three quarters of the
    upgrade test's CPU, 78 s of PostgreSQL's on a loaded machine."""
    tables = sa.MetaData()
    tables.reflect(engine)
    return tables


def _read(
    engine: sa.Engine, table: str, columns: list[str], tables: sa.MetaData | None = None
) -> list[dict[str, Any]]:
    """The rows of ``table``, read by its reflected columns (``tables``, else reflected now)."""
    reflected = (tables or _reflected(engine)).tables[table]
    with engine.connect() as conn:
        found = conn.execute(sa.select(*(reflected.c[c] for c in columns))).mappings()
        return sorted((dict(row) for row in found), key=repr)


def _schema(engine: sa.Engine) -> dict[str, Any]:
    """Everything the inspector tells of each table, in an order of its own."""
    inspector = sa.inspect(engine)
    shape: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        columns = sorted(
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
            for c in inspector.get_columns(table)
        )
        indexes = sorted(
            (
                i["name"],
                tuple(i["column_names"]),
                i["unique"],
                sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()),
            )
            for i in inspector.get_indexes(table)
        )
        uniques = sorted(
            (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
        )
        foreign = sorted(
            (f["name"], tuple(f["constrained_columns"]), f["referred_table"], repr(f["options"]))
            for f in inspector.get_foreign_keys(table)
        )
        primary = inspector.get_pk_constraint(table)
        shape[table] = (columns, indexes, uniques, foreign, tuple(primary["constrained_columns"]))
    if engine.dialect.name == "sqlite":
        shape["sqlite_master indexes"] = _sqlite_indexes(engine)
    return shape


def _sqlite_indexes(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Each index SQLite keeps and how it was made, its expression indexes too, which the
    inspector skips (``ix_license_loas_categories`` would differ unseen)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        return sorted((name, table, " ".join(sql.split())) for name, table, sql in rows)


@pytest.fixture(scope="module")
def fresh() -> Iterator[Callable[[str, str], dict[str, Any]]]:
    """The schema a new database of each kind gets, made once."""
    made: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as directory:

        def schema_of(schema: str, kind: str) -> dict[str, Any]:
            if (schema, kind) not in made:
                with _engine(schema, kind, Path(directory) / f"{schema}-{kind}") as new:
                    _SCHEMAS[schema][1].upgrade(new)
                    made[schema, kind] = _schema(new)
            return made[schema, kind]

        yield schema_of


# Row numbers past any a migration gives the rows before it (0014 numbers the 26 rows of
# each table from 1), written in two characters (a state's column) and leaving every
# date in the past.
_FIRST = 40


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("schema", sorted(_SCHEMAS))
def test_rows_written_at_each_revision_are_kept_through_every_upgrade_and_it_ends_as_new(
    kind: str, schema: str, tmp_path: Path, fresh: Callable[[str, str], dict[str, Any]]
) -> None:
    """One database upgraded a revision at a time from the first, two rows written in
    every table at each, beside the rows of every revision before (as a store that lived
    through them holds): at head, every row reads as it read once written, and the
    schema is a new database's. A database per revision, each upgraded to head, made the
    same checks in a time growing with the square of the revisions."""
    _, migrate, metadata, version_table = _SCHEMAS[schema]
    read_then: list[tuple[str, str, list[dict[str, Any]]]] = []
    with _engine(schema, kind, tmp_path / "old") as old:
        for i, revision in enumerate(_earlier_revisions(schema)):
            migrate.upgrade(old, revision)
            written = fill_every_table(old, version_table, first=_FIRST + 2 * i)
            tables = _reflected(old)
            read_then += [
                (revision, t, _read(old, t, list(rows[0]), tables)) for t, rows in written.items()
            ]
        migrate.upgrade(old)
        tables = _reflected(old)
        for revision, table, rows in read_then:
            now = _read(old, table, list(rows[0]), tables)
            assert [row for row in rows if row not in now] == [], (revision, table)
        assert _schema(old) == fresh(schema, kind)
        with old.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": version_table})
            assert compare_metadata(context, metadata) == []


# The tables numbered in the order they were made (0014, and 0016 for the messages),
# each by its key.
_NUMBERED = {
    "jobs": "id",
    "api_clients": "client_id",
    "webhook_endpoints": "id",
    "webhook_messages": "id",
}


def _in_their_order(engine: sa.Engine) -> dict[str, list[Any]]:
    found = {}
    with engine.connect() as conn:
        for table, key in _NUMBERED.items():
            t = store_metadata.tables[table]
            found[table] = list(conn.execute(sa.select(t.c[key]).order_by(t.c.seq)).scalars())
    return found


@pytest.mark.parametrize("kind", BACKENDS)
def test_rows_made_before_0014_keep_their_order_before_the_rows_made_after(
    kind: str, tmp_path: Path
) -> None:
    """Jobs, API clients, endpoints and messages are numbered in the order they ran or
    were listed in (by their times, or the endpoints' ids), and the ones made next come
    after them (on PostgreSQL, the sequences start past them)."""
    with _engine("store", kind, tmp_path / "old") as old:
        store_migrate.upgrade(old, "0013")
        written = fill_every_table(old, "alembic_version")
        rows = {table: [row[key] for row in written[table]] for table, key in _NUMBERED.items()}
        with old.begin() as conn:  # the first made later: its key no longer tells
            later = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
            for table in ("jobs", "api_clients", "webhook_messages"):
                reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
                key = reflected.c[_NUMBERED[table]]
                conn.execute(reflected.update().where(key == rows[table][0]), {"created_at": later})
                rows[table].reverse()
        store_migrate.upgrade(old)
        with write_transaction(old) as conn:
            account = accounts.find_account(conn, written["accounts"][0]["name"])
            rows["jobs"].append(create_job(conn, account.id, Operation.APPEND, ["1"]).id)
            rows["api_clients"].append(accounts.create_client(conn, account, "read")[0])
            # Not by create_endpoint: its secret's id would meet a filled row's (given, so
            # PostgreSQL's serial never moved).
            endpoint = {"id": "ep_after", "account_id": account.id, "url": "https://x.example"}
            at = {"enabled": True, "created_at": later, "updated_at": later}
            conn.execute(store_metadata.tables["webhook_endpoints"].insert(), endpoint | at)
            rows["webhook_endpoints"].append("ep_after")
            message = {"id": "msg_after", "account_id": account.id, "event_type": "webhook.test"}
            conn.execute(
                store_metadata.tables["webhook_messages"].insert(),
                message | {"payload": "{}", "created_at": later},
            )
            rows["webhook_messages"].append("msg_after")
        assert _in_their_order(old) == rows


@pytest.mark.parametrize(
    ("kind", "revision"),
    [
        pytest.param("sqlite", "head", id="sqlite"),
        pytest.param("postgres", "head", id="postgres", marks=pytest.mark.postgres),
        # PostgreSQL commits 0016's column before it builds its indexes concurrently, and
        # 0017 comes after those builds: that process inserts meanwhile too.
        pytest.param("postgres", "0016", id="postgres-0016", marks=pytest.mark.postgres),
    ],
)
def test_a_process_of_the_version_before_0014_still_running_numbers_its_rows_after(
    kind: str, revision: str, tmp_path: Path
) -> None:
    """A service process of the version before, still running while the store is upgraded
    under it (a rolling upgrade, which operations.md promises), inserts its rows without
    seq: the database numbers them after the rest, in the order they are made. They got
    0, the first job running before every older one and the second insert refused by the
    unique index."""
    with _engine("store", kind, tmp_path / "old") as old:
        store_migrate.upgrade(old, "0013")
        written = fill_every_table(old, "alembic_version")
        # The tables as that process knows them: its inserts name these columns alone.
        before = sa.MetaData()
        before.reflect(old, only=list(_NUMBERED))
        store_migrate.upgrade(old, revision)
        rows = {table: [row[key] for row in written[table]] for table, key in _NUMBERED.items()}
        for n in (3, 4):  # one statement each, as that process writes them
            with old.begin() as conn:
                for table in (before.tables[name] for name in _NUMBERED):
                    row = {column.name: value(column, n) for column in table.columns}
                    row["account_id"] = written["accounts"][0]["id"]
                    conn.execute(table.insert(), row)
                    rows[table.name].append(row[_NUMBERED[table.name]])
        assert _in_their_order(old) == rows


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_attempts_not_made_before_0013_are_marked_not_sent(kind: str, tmp_path: Path) -> None:
    with _engine("store", kind, tmp_path / "old") as old:
        store_migrate.upgrade(old, "0012")
        written = fill_every_table(old, "alembic_version")
        unsent = written["webhook_attempts"][0]["id"]
        attempts = sa.Table("webhook_attempts", sa.MetaData(), autoload_with=old)
        with old.begin() as conn:
            conn.execute(
                attempts.update()
                .where(attempts.c.id == unsent)
                .values(status_code=0, error=f"{outbox.UNSUBSCRIBED} webhook.test")
            )
        store_migrate.upgrade(old)
        assert _read(old, "webhook_attempts", ["id", "sent"]) == sorted(
            ({"id": row["id"], "sent": row["id"] != unsent} for row in written["webhook_attempts"]),
            key=repr,
        )


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_attempts_made_before_0022_are_left_without_a_url(kind: str, tmp_path: Path) -> None:
    """Not given their endpoint's URL of now, which may not be the one they went to: the
    portal and the API say theirs is not known."""
    with _engine("store", kind, tmp_path / "old") as old:
        store_migrate.upgrade(old, "0021")
        written = fill_every_table(old, "alembic_version")
        store_migrate.upgrade(old)
        assert _read(old, "webhook_attempts", ["id", "url"]) == sorted(
            ({"id": row["id"], "url": None} for row in written["webhook_attempts"]), key=repr
        )
        with old.connect() as conn:
            attempts = outbox.list_attempts(conn, limit=1000)
        assert {a.id for a in attempts} == {row["id"] for row in written["webhook_attempts"]}
        assert {a.url for a in attempts} == {None}


@pytest.mark.parametrize("kind", BACKENDS)
def test_deliveries_waiting_on_a_disabled_endpoint_are_parked_and_follow_its_state_after_0018(
    kind: str, tmp_path: Path
) -> None:
    """Pending to a disabled endpoint before 0018, they are parked by it (out of the
    claims' index), and an endpoint enabled or disabled by a statement that knows nothing
    of them, as a process of the version before writes it, takes its deliveries along."""
    with _engine("store", kind, tmp_path / "old") as old:
        store_migrate.upgrade(old, "0017")
        written = fill_every_table(old, "alembic_version")
        before = sa.MetaData()
        before.reflect(old, only=["webhook_endpoints", "webhook_deliveries"])
        endpoints, deliveries = (
            before.tables[t] for t in ("webhook_endpoints", "webhook_deliveries")
        )
        with old.begin() as conn:
            conn.execute(endpoints.update().values(enabled=False))
            conn.execute(deliveries.update().values(state="pending"))
        store_migrate.upgrade(old)

        def parked() -> list[bool]:
            return [row["parked"] for row in _read(old, "webhook_deliveries", ["id", "parked"])]

        assert parked() == [True] * len(written["webhook_deliveries"])
        for enabled in (True, False):
            with old.begin() as conn:
                conn.execute(endpoints.update().values(enabled=enabled))
            assert parked() == [not enabled] * len(written["webhook_deliveries"])


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_npns_owed_a_fetch_before_0018_are_flagged_and_counted_as_before(
    kind: str, tmp_path: Path
) -> None:
    """Active NPNs no finished run fetched since their activation are flagged owed by
    0018 (the count of owed NPNs reads only flagged ones); the others are not."""
    with _engine("mirror", kind, tmp_path / "old") as old:
        mirror_migrate.upgrade(old, "0017")
        at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        before = sa.MetaData()
        before.reflect(old, only=["population", "fetched", "sync_runs"])
        population, fetched, runs = (
            before.tables[t] for t in ("population", "fetched", "sync_runs")
        )
        with old.begin() as conn:
            ok, failed = (
                conn.execute(
                    runs.insert()
                    .values(kind="population", started_at=at, finished_at=at, error=error)
                    .returning(runs.c.id)
                ).scalar_one()
                for error in (None, "boom")
            )
            conn.execute(
                population.insert(),
                [
                    {"npn": npn, "active": npn != "1005", "activated_at": at}
                    for npn in ("1001", "1002", "1003", "1004", "1005")
                ],
            )
            conn.execute(
                fetched.insert(),
                [
                    {"npn": "1002", "activated_at": at, "run_id": ok},
                    {"npn": "1003", "activated_at": at, "run_id": failed},
                    {"npn": "1004", "activated_at": at - dt.timedelta(days=1), "run_id": ok},
                ],
            )
        mirror_migrate.upgrade(old)
        owed = _read(old, "population", ["npn", "owed"])
        assert [row["npn"] for row in owed if row["owed"]] == ["1001", "1003", "1004"]
        with old.connect() as conn:
            assert pending_fetches(conn, 5) == Pending(3, ("1001", "1003", "1004"))


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_npns_a_process_of_the_version_before_0018_activated_unflagged_are_flagged_by_0019(
    kind: str, tmp_path: Path
) -> None:
    """A sync process of the version before 0018 left running through it activated NPNs
    without the flag; 0019 flags them, and the count reads them again."""
    with _engine("mirror", kind, tmp_path / "old") as old:
        mirror_migrate.upgrade(old, "0018")
        at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        before = sa.MetaData()
        before.reflect(old, only=["population"])
        with old.begin() as conn:
            rows = [{"npn": npn, "active": True, "activated_at": at} for npn in ("1001", "1002")]
            conn.execute(before.tables["population"].insert(), rows)
        with old.connect() as conn:
            assert pending_fetches(conn, 5) == Pending(0, ())
        mirror_migrate.upgrade(old)
        with old.connect() as conn:
            assert pending_fetches(conn, 5) == Pending(2, ("1001", "1002"))


def test_a_mirror_of_a_newer_version_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Alembic's "Can't locate revision" came out as a traceback from every sync command
    # (the store's was told so already).
    mirror = sync_environment(tmp_path, monkeypatch)
    engine = open_mirror(f"sqlite:///{mirror}")
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {mirror_migrate.VERSION_TABLE} SET version_num = '0099'"))
    engine.dispose()
    for command in (["sync", "status"], ["sync", "changes", "--since", "2025-01-01"]):
        code, err = producersync(monkeypatch, capsys, *command)
        assert (code, err) == (
            1,
            f"error: the mirror at sqlite:///{mirror} is at revision 0099, which this "
            f"version of producersync does not know (its latest is {mirror_migrate.HEAD}): a newer "
            "version migrated it, and migrations are never undone; run that version, or "
            "restore the backup taken before its upgrade\n",
        )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("schema", "command"),
    [
        ("store", ["admin", "account", "list", "--database"]),
        ("mirror", ["check", "15645555", "--state", "CA", "--loa", "Life", "--mirror"]),
    ],
)
def test_a_database_that_refuses_the_migration_is_one_line(
    schema: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database an older version left, opened by a user who may only read it: a
    ``permission denied`` traceback out of the migration."""
    sync_environment(tmp_path, monkeypatch)
    migrate = _SCHEMAS[schema][1]
    with _engine(schema, "postgres", tmp_path / "db") as engine:
        migrate.upgrade(engine, _earlier_revisions(schema)[-1])
        reader = f"reader_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE ROLE {reader} LOGIN"))
            conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"))
        try:
            url = engine.url.set(username=reader, password=None)
            code, err = producersync(monkeypatch, capsys, *command, url.render_as_string())
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP OWNED BY {reader}"))
                conn.execute(sa.text(f"DROP ROLE {reader}"))
    assert code == (3 if command[0] == "check" else 1)  # check's 1 is its no
    assert err.startswith(f"error: the {schema} at "), err
    assert "needs migrating to revision " in err
    assert "and the database refuses it: " in err
    assert len(err.splitlines()) == 1
