"""The pool of PostgreSQL copies ``migrated_copy`` hands out: a copy a test is done with
comes back to the next one as a new copy would, or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.databases import awaiting_drop, migrated_copy

pytestmark = pytest.mark.postgres

_SCHEMA = [
    "CREATE TABLE kept (id serial PRIMARY KEY, note text NOT NULL)",
    "INSERT INTO kept (note) VALUES ('from the template')",
    "CREATE TABLE written (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " kept_id integer REFERENCES kept (id), note text)",
    "CREATE TABLE apart (id integer PRIMARY KEY, note text)",  # no key to the others
    "CREATE SEQUENCE loose",  # owned by no column: RESTART IDENTITY leaves it
    "CREATE FUNCTION noted() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN NEW.note := coalesce(NEW.note, 'by the trigger'); RETURN NEW; END $$",
    "CREATE TRIGGER noted BEFORE INSERT ON written FOR EACH ROW EXECUTE FUNCTION noted()",
]


def _migrate(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in _SCHEMA:
            conn.exec_driver_sql(statement)
    return engine


@contextmanager
def _copy(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    """A copy of the pool's template, its name, and an engine on it disposed at the end."""
    with migrated_copy("postgres", tmp_path, "pool", _migrate) as url:
        engine = sa.create_engine(url)
        try:
            yield sa.make_url(url).database or "", engine
        finally:
            engine.dispose()


def test_a_copy_comes_back_without_the_rows_sequences_and_statistics_of_its_last_use(
    tmp_path: Path,
) -> None:
    with _copy(tmp_path) as (first, engine), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO kept (note) VALUES ('a test''s')")
        conn.exec_driver_sql("INSERT INTO written (kept_id) SELECT id FROM kept")
        conn.exec_driver_sql("SELECT nextval('loose') FROM generate_series(1, 3)")
        conn.exec_driver_sql("ANALYZE")
    with _copy(tmp_path) as (second, engine), engine.begin() as conn:
        assert second == first  # put back, not dropped
        assert conn.exec_driver_sql("SELECT id, note FROM kept").all() == [(1, "from the template")]
        assert conn.exec_driver_sql("SELECT count(*) FROM written").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT nextval('loose')").scalar_one() == 1
        assert conn.exec_driver_sql("SELECT nextval('kept_id_seq')").scalar_one() == 2
        inserted = conn.exec_driver_sql(
            "INSERT INTO written (kept_id) VALUES (1) RETURNING id, note"
        ).one()
        assert inserted == (1, "by the trigger")
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stats WHERE tablename IN ('kept', 'written')"
            ).scalar_one()
            == 0
        )


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE kept ADD COLUMN added integer",
        "ALTER TABLE kept ALTER COLUMN note DROP NOT NULL",
        "CREATE INDEX on_note ON kept (note)",
        "ALTER TABLE kept DROP CONSTRAINT kept_pkey CASCADE",
        "CREATE SCHEMA other",
        "CREATE TABLE other_table (x integer)",
        "CREATE OR REPLACE FUNCTION noted() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RETURN NEW; END $$",
        "DROP TRIGGER noted ON written",
        "ALTER SEQUENCE loose INCREMENT BY 2",
        "CREATE TYPE mood AS ENUM ('calm')",
        "COMMENT ON TABLE kept IS 'noted'",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = ''8MB''',"
        " current_database()); END $$",
        # Dropped and made again the same: a new object all the same.
        "ALTER TABLE written DROP CONSTRAINT written_kept_id_fkey;"
        " ALTER TABLE written ADD CONSTRAINT written_kept_id_fkey"
        " FOREIGN KEY (kept_id) REFERENCES kept (id)",
    ],
    ids=lambda change: change.split(" ", 3)[1].lower() + ": " + change[:40],
)
def test_a_copy_whose_schema_changed_is_dropped(change: str, tmp_path: Path) -> None:
    with _copy(tmp_path) as (first, engine), engine.begin() as conn:
        conn.execute(sa.text(change))
    assert first in awaiting_drop()  # not handed out again, dropped at the worker's end
    with _copy(tmp_path) as (second, engine), engine.connect() as conn:
        assert second != first
        assert conn.exec_driver_sql("SELECT count(*) FROM kept").scalar_one() == 1


def test_a_copy_someone_is_still_connected_to_is_dropped(tmp_path: Path) -> None:
    with _copy(tmp_path) as (first, engine):
        left_open = engine.connect()
        left_open.exec_driver_sql("INSERT INTO kept (note) VALUES ('a test''s')")
        left_open.commit()
    assert first in awaiting_drop()  # its drop forces the connection closed
    left_open.invalidate()


def _sizes(engine: sa.Engine) -> list[tuple[str, int, int]]:
    """Each table's pages and its indexes' and TOAST's, in bytes."""
    with engine.connect() as conn:
        sizes = conn.exec_driver_sql(
            "SELECT relname, pg_relation_size(oid), pg_total_relation_size(oid) FROM pg_class"
            " WHERE relname IN ('kept', 'written', 'apart') ORDER BY relname"
        )
        return [(name, heap, total) for name, heap, total in sizes]


def test_a_table_written_to_and_emptied_again_comes_back_as_new(tmp_path: Path) -> None:
    """Its rows gone, and VACUUM cut its pages: its index still took pages, and a new
    copy's plans start from none."""
    with _copy(tmp_path) as (first, engine):
        new = _sizes(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO apart SELECT n, 'x' FROM generate_series(1, 1000) n")
            conn.exec_driver_sql("DELETE FROM apart")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM apart")
        assert _sizes(engine) != new
        assert [heap for name, heap, _ in _sizes(engine) if name == "apart"] == [0]
    with _copy(tmp_path) as (second, engine):
        assert second == first
        assert _sizes(engine) == new
