"""The mirror on SQLite and PostgreSQL: idempotent upserts, the change feed, nested
children, the population, receipts, runs and status."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.model.events import ENDPOINT_TEST, UPDATES_AVAILABLE, UpdatesAvailable
from producersync.sync import mirror
from producersync.sync.mirror import Receipt, write_transaction
from producersync.sync.mirror import records as mirror_records
from producersync.sync.mirror.driver import converters, write_rows
from producersync.sync.mirror.engine import _writer_gate, make_engine
from producersync.sync.mirror.feed import append_changes
from producersync.sync.mirror.hook_cursors import register_hooks
from producersync.sync.mirror.migrate import upgrade
from producersync.sync.mirror.population import activation_fetched
from producersync.sync.mirror.queries import (
    Pending,
    appointments_with,
    licenses_expiring,
    licenses_in_state,
    pending_fetches,
)
from producersync.sync.mirror.records import same_json
from producersync.sync.mirror.tables import (
    CHILDREN,
    MIRRORED,
    change_fields,
    changes,
    events,
    fetched,
    hook_cursors,
    license_loas,
    licenses,
    malformed,
    population,
    receipts,
    regulatory_action_values,
    sync_runs,
    sync_state,
)
from producersync.sync.receipt_log import ReceiptLog
from tests.support.databases import (
    postgres_database,
    statements,
    table_plans,
    waiting_on_a_lock,
)
from tests.support.waiting import eventually
from tests.sync.mirror_data import BACKENDS, fresh_mirror, incompressible, stored_rows, wire

pytestmark = pytest.mark.slow(140)

T0 = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with fresh_mirror(request.param, tmp_path) as engine:
        yield engine


def test_a_new_sqlite_mirror_takes_16_kib_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """The page size goes before WAL mode, which fixes it; a mirror made before keeps
    its 4 KiB pages and opens as ever."""
    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as legacy:
        legacy.execute("CREATE TABLE legacy (x INTEGER)")
        legacy.commit()
    for path, size in ((tmp_path / "new.db", 16384), (old, 4096)):
        engine = mirror.open_mirror(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert mirror.sync_status(conn)["lastSyncedRunDate"] is None
        finally:
            engine.dispose()


def test_a_sqlite_mirror_checkpoints_its_wal_every_10000_pages(tmp_path: Path) -> None:
    """Not every 1,000 (SQLite's default): each checkpoint syncs both files in a
    writer's commit, and a backfill's WAL crossed the mark every few pages."""
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
            assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 * 2**20
    finally:
        engine.dispose()


def test_a_license_or_an_appointment_by_npn_and_state_is_read_through_the_npn_s_index(
    tmp_path: Path,
) -> None:
    """SQLite read it through an index on ``state`` (or the carrier's ``co_code``),
    every record of the state, before mirror migration 0010 dropped them."""
    with fresh_mirror("sqlite", tmp_path) as engine:
        _sync_all(engine)
        with _sqlite_plans(engine, "licenses", "appointments") as plans, engine.connect() as conn:
            licenses_in_state(conn, "123", "CA")
            appointments_with(conn, "123", "CA", "12345")
    assert plans == [
        "SEARCH licenses USING INDEX ix_licenses_npn (npn=?)",
        "SEARCH appointments USING INDEX ix_appointments_npn (npn=?)",
    ]


@contextlib.contextmanager
def _sqlite_plans(engine: sa.Engine, *tables: str) -> Iterator[list[str]]:
    """The steps over ``tables`` of SQLite's plans for the SELECTs run meanwhile (the
    malformed fields' look-ups aside)."""
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            found = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.extend(step for *_, step in found if step.split()[1:2] in [[t] for t in tables])

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


def _sync_all(engine: sa.Engine, run_id: int | None = None) -> dict[str, mirror.UpsertCounts]:
    with write_transaction(engine) as conn:
        return {
            resource: mirror.upsert_records(conn, resource, wire().records[resource], run_id=run_id)
            for resource in mirror.RESOURCES
        }


def _changes(engine: sa.Engine) -> list[mirror.Change]:
    with engine.connect() as conn:
        return mirror.changes_since(conn, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def _upsert(engine: sa.Engine, resource: str, *records: dict[str, Any]) -> mirror.UpsertCounts:
    with write_transaction(engine) as conn:
        return mirror.upsert_records(conn, resource, list(records))


def _a_license_with_loas() -> dict[str, Any]:
    return copy.deepcopy(next(r for r in wire().records["licenses"] if len(r["licenseLoas"]) > 1))


def test_first_upsert_inserts_every_record(engine: sa.Engine) -> None:
    counts = _sync_all(engine)
    for resource in mirror.RESOURCES:
        # The standalone licenseLoas were already upserted nested in their licenses.
        expected = 0 if resource == "licenseLoas" else len(wire().records[resource])
        assert counts[resource].inserted == expected, resource
    with engine.connect() as conn:
        stored = mirror.record_counts(conn)
    assert {r: stored[r] for r in mirror.RESOURCES} == {
        r: len(records) for r, records in wire().records.items()
    }
    values = sum(len(a["regulatoryActionValues"]) for a in wire().records["regulatoryActions"])
    assert stored["regulatoryActionValues"] == values > 0


def test_upserting_the_same_records_again_changes_nothing(engine: sa.Engine) -> None:
    _sync_all(engine)
    before = _changes(engine)
    again = _sync_all(engine)
    assert all(c.inserted == c.updated == 0 for c in again.values())
    assert {r: c.unchanged for r, c in again.items()} == {
        r: len(records) for r, records in wire().records.items()
    }
    assert _changes(engine) == before


def test_insert_appends_one_change_row_naming_every_field(engine: sa.Engine) -> None:
    record = wire().records["addresses"][0]
    run_id = _run(engine)
    with write_transaction(engine) as conn:
        mirror.upsert_records(conn, "addresses", [record], run_id=run_id)
    (change,) = _changes(engine)
    assert (change.resource, change.record_id, change.npn) == (
        "addresses",
        record["id"],
        record["npn"],
    )
    assert change.action == "insert"
    assert change.fields == tuple(sorted(set(record) - {"links"}))
    assert change.run_id == run_id


def test_the_feed_gets_its_rows_when_the_caller_does_not_ask_for_the_changes(
    engine: sa.Engine,
) -> None:
    lic = _a_license_with_loas()
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [lic], changes=False)
    assert counts == mirror.UpsertCounts(1, 0, 0) and counts.changes == ()
    written = _changes(engine)
    assert [(c.resource, c.record_id) for c in written] == [("licenses", lic["id"])] + [
        ("licenseLoas", loa["id"]) for loa in lic["licenseLoas"]
    ]
    # Asked for, the same rows come back with their ids.
    lic.update(active=False, updatedAt="2099-01-01")
    with write_transaction(engine) as conn:
        (change,) = mirror.upsert_records(conn, "licenses", [lic]).changes
    assert change == _changes(engine)[-1]


def test_a_change_row_names_only_the_changed_fields(engine: sa.Engine) -> None:
    lic = _a_license_with_loas()
    _upsert(engine, "licenses", lic)
    lic.update(active=False, expirationDate="2020-01-31", updatedAt="2099-01-01")
    assert _upsert(engine, "licenses", lic) == mirror.UpsertCounts(0, 1, 0)
    change = _changes(engine)[-1]
    assert (change.action, change.resource, change.record_id) == ("update", "licenses", lic["id"])
    assert change.fields == ("active", "expirationDate", "updatedAt")


def test_links_are_neither_stored_nor_a_change(engine: sa.Engine) -> None:
    lic = _a_license_with_loas()
    _upsert(engine, "licenses", lic)
    lic["links"] = {"self": {"href": "https://elsewhere.example/v1/licenses/1"}}
    lic["licenseLoas"][0]["links"] = {"self": {"href": "https://elsewhere.example/x"}}
    assert _upsert(engine, "licenses", lic) == mirror.UpsertCounts(0, 0, 1)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(license_loas.c.record)).scalars().all()
    assert stored and all("links" not in record for record in stored)


def test_nested_loas_are_upserted_with_their_license(engine: sa.Engine) -> None:
    lic = _a_license_with_loas()
    _upsert(engine, "licenses", lic)
    loa = lic["licenseLoas"][0]
    loa.update(status="Cancelled", updatedAt="2099-01-01")
    _upsert(engine, "licenses", lic)
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
    assert {row.id: row.status for row in stored.loas}[loa["id"]] == "Cancelled"
    assert len(stored.loas) == len(lic["licenseLoas"])
    latest = {(c.resource, c.record_id): c.fields for c in _changes(engine)[-2:]}
    assert latest == {
        ("licenses", lic["id"]): ("licenseLoas",),
        ("licenseLoas", loa["id"]): ("status", "updatedAt"),
    }


def test_regulatory_action_values_are_upserted_with_their_action(engine: sa.Engine) -> None:
    action = wire().records["regulatoryActions"][0]
    _upsert(engine, "regulatoryActions", action)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(regulatory_action_values)).all()
    assert sorted(row.id for row in rows) == sorted(
        v["id"] for v in action["regulatoryActionValues"]
    )
    assert {row.regulatory_action_id for row in rows} == {action["id"]}


@pytest.mark.parametrize("resource", sorted(CHILDREN))
def test_a_nested_list_in_the_reference_s_container_is_stored_as_the_list_is(
    engine: sa.Engine, tmp_path: Path, resource: str
) -> None:
    """The public reference types a regulatory action's values as an object,
    ``{"regulatoryActionValues": [...]}`` (a license's LOAs as that container too), and
    the SDK reads it: the mirror set it aside as a malformed child, so a sync from the
    API as documented stored no value, nor an LOA but from the LOAs' own list."""
    key = CHILDREN[resource][0]
    records = [r for r in wire().records[resource] if r[key]]
    contained = [{**r, key: {key: r[key]}} for r in records]
    assert _upsert(engine, resource, *contained).malformed == ()
    backend = "postgres" if engine.dialect.name == "postgresql" else "sqlite"
    (tmp_path / "listed").mkdir()
    with fresh_mirror(backend, tmp_path / "listed") as listed:
        _upsert(listed, resource, *records)
        assert stored_rows(engine) == stored_rows(listed)
    # Nor is the list sent the other way a change.
    assert _upsert(engine, resource, *records) == mirror.UpsertCounts(0, 0, len(records))


def test_an_loa_s_null_categories_are_stored_as_categories_left_out(engine: sa.Engine) -> None:
    """Jackson, which the public API's Spring runs, writes a field it has no value for
    as null, and the SDK reads a null ``categories`` as none: so does the mirror (a
    guard: it held)."""
    lic = _a_license_with_loas()
    null, left_out = lic["licenseLoas"][:2]
    null["loaMapping"] = {"categories": None}
    left_out["loaMapping"] = {}
    assert _upsert(engine, "licenses", lic).malformed == ()
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
    categories = {row.id: row.categories for row in stored.loas}
    assert categories[null["id"]] == categories[left_out["id"]] == []


def test_nipr_deleted_is_kept_as_a_flag(engine: sa.Engine) -> None:
    lic = _a_license_with_loas()
    _upsert(engine, "licenses", lic)
    lic.update(niprDeleted=True, updatedAt="2099-01-01")
    _upsert(engine, "licenses", lic)
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
        assert mirror.record_counts(conn)["licenses"] == 1
    assert stored.nipr_deleted


def test_nipr_deleted_left_out_is_false_and_no_change(engine: sa.Engine) -> None:
    """The flag stored false either way: the feed said niprDeleted changed."""
    lic = _a_license_with_loas()
    lic["niprDeleted"] = False
    _upsert(engine, "licenses", lic)
    del lic["niprDeleted"]
    assert _upsert(engine, "licenses", lic) == mirror.UpsertCounts(0, 0, 1)
    lic.update(niprDeleted=True)
    _upsert(engine, "licenses", lic)
    assert _changes(engine)[-1].fields == ("niprDeleted",)


@pytest.mark.parametrize("null_first", [True, False], ids=["null-then-absent", "absent-then-null"])
def test_a_field_absent_or_null_is_no_change(engine: sa.Engine, null_first: bool) -> None:
    """A newer API adding a field with no value changes nothing, nor does one left out."""
    lic = _a_license_with_loas()
    with_null = {**lic, "newField": None}
    _upsert(engine, "licenses", with_null if null_first else lic)
    again = lic if null_first else with_null
    assert _upsert(engine, "licenses", again) == mirror.UpsertCounts(0, 0, 1)


@pytest.mark.parametrize(
    ("field", "before", "after"),
    [
        ("active", 1, True),
        ("active", 0, False),
        ("ceCreditsNeeded", 1.0, 1),
        ("renewalPeriods", {"late": [1]}, {"late": [True]}),
        ("ceCreditsNeeded", 10**16, 1e16),  # jsonb gave 1e16 back as 10000000000000000
    ],
    ids=["1-true", "0-false", "1.0-1", "nested", "1e16"],
)
def test_a_value_of_another_json_type_is_a_change(
    engine: sa.Engine, field: str, before: Any, after: Any
) -> None:
    """Python's 1 == True == 1.0 hid it: the feed had no change, and the record stayed as
    it was first written."""
    lic = {**_a_license_with_loas(), field: before}
    _upsert(engine, "licenses", lic)
    assert _upsert(engine, "licenses", {**lic, field: after}) == mirror.UpsertCounts(0, 1, 0)
    assert _changes(engine)[-1].fields == (field,)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(licenses.c.record).where(licenses.c.id == lic["id"]))
        value = stored.scalar_one()[field]
    assert value == after and type(value) is type(after)


@pytest.mark.parametrize(
    "value",
    [
        1e16,
        -1.2345e17,
        1.8e19,
        {"late": [1e18, 1e-7, 123.5, 10**16]},
        # Past 64 bits orjson read the integer back as a float: no change, but written whole.
        1.7976931348623157e308,
    ],
)
def test_a_float_of_1e16_or_more_reads_back_a_float_and_comes_again_unchanged(
    engine: sa.Engine, value: Any
) -> None:
    """orjson writes 1e16 as 1e+16, which PostgreSQL's jsonb gave back as an integer:
    the record, compared by JSON type, was changed on every sync it came in."""
    lic = {**_a_license_with_loas(), "ceCreditsNeeded": value}
    _upsert(engine, "licenses", lic)
    assert _upsert(engine, "licenses", lic) == mirror.UpsertCounts(0, 0, 1)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(licenses.c.record).where(licenses.c.id == lic["id"]))
        read = stored.scalar_one()["ceCreditsNeeded"]
    assert same_json(read, value), read


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        (None, "2099-01-01"),  # the record's own updatedAt, a date as the contract has it
        ("2025-06-13T08:00:00Z", "2099-01-01T00:00:00Z"),  # date-times order as well
    ],
)
def test_an_older_record_does_not_overwrite_a_newer_one(
    engine: sa.Engine, older: str | None, newer: str
) -> None:
    lic = _a_license_with_loas()
    if older is not None:
        lic["updatedAt"] = older
    _upsert(engine, "licenses", {**lic, "active": False, "updatedAt": newer})
    assert _upsert(engine, "licenses", lic).updated == 0
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
    assert stored.active is False


@pytest.mark.parametrize("malformed", ["20990101", "2099-W01-1"])
def test_a_record_dated_after_a_stored_malformed_updated_at_is_written(
    engine: sa.Engine, malformed: str
) -> None:
    """Read as an ISO date, a stored 20990101 came after every yyyy-MM-dd as text: the
    record fixed upstream looked older, and was never written."""
    lic = _a_license_with_loas()
    _upsert(engine, "licenses", {**lic, "updatedAt": malformed})
    fixed = {**lic, "active": False, "updatedAt": "2026-01-02"}
    assert _upsert(engine, "licenses", fixed).updated == 1


def test_an_older_record_does_not_overwrite_its_newer_nested_children(engine: sa.Engine) -> None:
    """The older license was skipped, but its LOAs were upserted all the same: one whose
    own ``updatedAt`` the API left as it was went back to the older status, with a
    change row saying so, under a license still showing the newer one."""
    lic = _a_license_with_loas()
    newer = copy.deepcopy(lic)
    newer["updatedAt"] = "2099-01-01"
    newer["licenseLoas"][0]["status"] = "Cancelled"
    _upsert(engine, "licenses", newer)
    counts = _upsert(engine, "licenses", lic)
    assert (counts, counts.changes) == (mirror.UpsertCounts(0, 0, 1), ())
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
    assert stored.loas[0].status == "Cancelled"


@pytest.mark.postgres
def test_an_older_record_written_beside_a_newer_one_on_postgresql_loses(tmp_path: Path) -> None:
    """An activation's pull and a day's sync can write one NPN's records side by side.
    The older writer had read no stored record (the newer one not committed yet), so its
    insert met the newer one's row and its ``ON CONFLICT DO UPDATE`` put the older back,
    with a second "insert" in the change feed."""
    lic = _a_license_with_loas()
    newer = {**lic, "active": False, "updatedAt": "2099-01-01"}
    with fresh_mirror("postgres", tmp_path) as engine:
        older: list[mirror.UpsertCounts] = []
        thread = threading.Thread(target=lambda: older.append(_upsert(engine, "licenses", lic)))
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", [newer])
            thread.start()
            eventually(lambda: waiting_on_a_lock(engine))
        thread.join()
        assert older == [mirror.UpsertCounts(0, 0, 1)]
        with engine.connect() as conn:
            (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
        assert stored.active is False
        assert [c.action for c in _changes(engine) if c.resource == "licenses"] == ["insert"]


@pytest.mark.parametrize(
    ("field", "value", "column", "typed"),
    [
        ("expirationDate", "", "expiration_date", None),
        ("expirationDate", "31/12/2026", "expiration_date", None),
        ("expirationDate", 20261231, "expiration_date", None),
        ("expirationDate", ["2026-12-31"], "expiration_date", None),
        # ISO forms date.fromisoformat reads, which the API does not write.
        ("expirationDate", "20261231", "expiration_date", None),
        ("expirationDate", "2026-W53-1", "expiration_date", None),
        ("updatedAt", "yesterday", "updated_at", None),
        ("active", "yes", "active", None),
        ("active", "true", "active", None),
        ("niprDeleted", "false", "nipr_deleted", False),
        ("npn", 18551108, "npn", None),
        ("npn", "185511081234", "npn", None),  # PostgreSQL's varchar(10) cut it short
        ("forState", ["AL"], "state", None),
        ("licenseNum", {"n": 1}, "license_num", None),
    ],
)
def test_a_malformed_typed_field_is_stored_null_listed_once_and_cleared_by_a_clean_change(
    engine: sa.Engine, field: str, value: Any, column: str, typed: Any
) -> None:
    """It failed the whole page before: every record after it, on every retry and every
    later sync (a poison page). Now the record is stored, that column NULL and the raw
    value in ``record``, and the field listed until a clean change of it is written."""
    good = _a_license_with_loas()
    bad = {**copy.deepcopy(good), "id": good["id"] + 1, field: value}
    for loa in bad["licenseLoas"]:
        loa["id"] += 10_000_000
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [good, bad], run_id=7)
    assert (counts.inserted, counts.updated) == (2, 0)
    npn = bad["npn"] if type(bad["npn"]) is str else None
    expected = mirror.Malformed("licenses", bad["id"], npn, field, repr(value))
    assert counts.malformed == (expected,)
    assert _typed_column(engine, bad["id"], column) == (typed, value)
    with engine.connect() as conn:
        assert mirror.record_counts(conn)["licenseLoas"] == 2 * len(good["licenseLoas"])
        listed = mirror.sync_status(conn)["malformed"]
    assert listed["fields"] == 1
    (row,) = listed["latest"]
    assert (row["resource"], row["id"], row["npn"], row["field"], row["value"], row["runId"]) == (
        "licenses",
        bad["id"],
        npn,
        field,
        repr(value),
        7,
    )
    # Served again unchanged: not written, not reported again, still listed.
    with write_transaction(engine) as conn:
        again = mirror.upsert_records(conn, "licenses", [good, bad])
    assert again == mirror.UpsertCounts(0, 0, 2) and again.malformed == ()
    with engine.connect() as conn:
        assert mirror.malformed_count(conn) == 1
    # Fixed upstream (a malformed updatedAt does not make it look older): written
    # clean, and no longer listed.
    with write_transaction(engine) as conn:
        fixed = mirror.upsert_records(conn, "licenses", [{**bad, field: good[field]}])
    assert (fixed.updated, fixed.malformed) == (1, ())
    with engine.connect() as conn:
        assert mirror.malformed_count(conn) == 0
    clean = _typed_column(engine, good["id"], column)[0]
    assert _typed_column(engine, bad["id"], column)[0] == clean


def test_a_malformed_field_s_npn_and_name_longer_than_an_index_entry_are_listed_cut(
    engine: sa.Engine,
) -> None:
    """``malformed`` indexes both, and a PostgreSQL index entry holds ~2,700 bytes: a
    record whose unreadable NPN (or on PostgreSQL, a field's name with a NUL in it) was
    longer failed its page on every sync. Both are listed cut short, as a value is."""
    npn, name = incompressible(5_000), "\x00" + incompressible(3_000, 0x4E00)
    lic = {**_a_license_with_loas(), "npn": npn, name: 1, "licenseLoas": []}
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [lic])
    assert counts.inserted == 1
    cut = f"{npn[:197]}..."
    listed = [("npn", cut, f"{repr(npn)[:197]}...")]
    if engine.dialect.name == "postgresql":  # its text cannot hold the NUL
        listed.append((f"\ufffd{name[1:197]}...", cut, "1"))
    assert sorted((m.field, m.npn, m.value) for m in counts.malformed) == sorted(listed)
    with engine.connect() as conn:
        latest = mirror.sync_status(conn)["malformed"]["latest"]
    assert sorted((row["field"], row["npn"], row["value"]) for row in latest) == sorted(listed)


def _typed_column(engine: sa.Engine, record_id: int, column: str) -> tuple[Any, Any]:
    """A license's typed column and, from its stored ``record``, the raw value."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(licenses.c[column], licenses.c.record).where(licenses.c.id == record_id)
        ).one()
    path = {c: p for c, p in MIRRORED["licenses"].columns.items()}[column]
    return row[0], row[1].get(path[0])


@pytest.fixture(params=["looked-through", "savepoint"])
def nul_found(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """How PostgreSQL's writes find a NUL: a small page's JSON looked through before it
    is sent, a large one's refused by the database inside a savepoint."""
    if request.param == "savepoint":
        monkeypatch.setattr(mirror_records, "_NUL_SCANNED", 0)


@pytest.mark.usefixtures("nul_found")
def test_nul_characters_are_stored_as_u_fffd_on_postgresql_and_listed(
    engine: sa.Engine,
) -> None:
    """PostgreSQL's text and jsonb refuse U+0000: the page failed there, every time.
    SQLite holds it as it came."""
    lic = _a_license_with_loas()
    lic.update(licenseClass="Insurance\x00Producer", note={"a\x00": ["b\x00"]})
    lic["licenseLoas"][0]["loa"] = "Li\x00fe"
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [lic])
    sqlite = engine.dialect.name == "sqlite"
    nul = "\x00" if sqlite else "\ufffd"
    assert counts.inserted == 1
    assert sorted((m.resource, m.field) for m in counts.malformed) == (
        []
        if sqlite
        else [
            ("licenseLoas", "loa"),
            ("licenses", "licenseClass"),
            ("licenses", "licenseLoas"),
            ("licenses", "note"),
        ]
    )
    assert _typed_column(engine, lic["id"], "license_class") == (
        f"Insurance{nul}Producer",
        f"Insurance{nul}Producer",
    )
    with engine.connect() as conn:
        (stored,) = conn.execute(sa.select(licenses.c.record).where(licenses.c.id == lic["id"]))
        loa = conn.execute(
            sa.select(license_loas.c.loa).where(license_loas.c.id == lic["licenseLoas"][0]["id"])
        ).scalar_one()
    assert stored.record["note"] == {f"a{nul}": [f"b{nul}"]} and loa == f"Li{nul}fe"
    # Compared as stored, the same record served again is unchanged.
    with write_transaction(engine) as conn:
        again = mirror.upsert_records(conn, "licenses", [lic])
    assert again == mirror.UpsertCounts(0, 0, 1) and again.malformed == ()


@pytest.mark.usefixtures("nul_found")
def test_a_literal_backslash_u0000_is_no_nul_character(engine: sa.Engine) -> None:
    lic = {**_a_license_with_loas(), "licenseClass": "C:\\u0000"}
    with write_transaction(engine) as conn:
        assert mirror.upsert_records(conn, "licenses", [lic]).malformed == ()
    assert _typed_column(engine, lic["id"], "license_class")[0] == "C:\\u0000"


@pytest.mark.parametrize(
    ("nested", "field", "stored"),
    [
        ({"id": 1}, "licenseLoas", 0),  # an object, not a list
        ([[1, 2]], "licenseLoas[0]", 1),
        ([{"loa": "Life"}], "licenseLoas[0]", 1),
        ([{"id": "5"}], "licenseLoas[0]", 1),
        ([{"id": 2**63}], "licenseLoas[0]", 1),
    ],
)
def test_a_nested_record_without_an_id_is_kept_in_its_parent_and_listed(
    engine: sa.Engine, nested: Any, field: str, stored: int
) -> None:
    lic = _a_license_with_loas()
    first = lic["licenseLoas"][0]
    lic["licenseLoas"] = [*nested, first] if isinstance(nested, list) else nested
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [lic])
    assert counts.inserted == 1
    value = repr(nested[0] if stored else nested)
    assert counts.malformed == (mirror.Malformed("licenses", lic["id"], lic["npn"], field, value),)
    with engine.connect() as conn:
        assert mirror.record_counts(conn)["licenseLoas"] == stored
        assert mirror.malformed_fields(conn)[0]["field"] == field


@pytest.mark.parametrize(
    ("field", "value", "listed"),
    [
        ("licenseId", None, False),  # not repeated
        ("licenseId", "x", True),
        ("licenseId", str, True),  # its license's id, as text
        ("licenseId", 2**63, True),
        ("npn", 18551108, True),
    ],
)
def test_a_nested_loa_takes_its_license_s_id_and_npn_where_it_has_no_readable_one(
    engine: sa.Engine, field: str, value: Any, listed: bool
) -> None:
    """Its column was NULL (not even one left out was its license's: the parent's values
    were looked up by wire name among column names): no check found the LOA under its
    license, nor did a purge of its NPN."""
    lic = _a_license_with_loas()
    loa = lic["licenseLoas"][0]
    parent = lic["id"] if field == "licenseId" else lic["npn"]
    loa[field] = str(parent) if value is str else value
    counts = _upsert(engine, "licenses", lic)
    expected = [("licenseLoas", loa["id"], lic["npn"], field, repr(loa[field]))] if listed else []
    found = [(m.resource, m.record_id, m.npn, m.field, m.value) for m in counts.malformed]
    assert found == expected
    with engine.connect() as conn:
        (stored,) = licenses_in_state(conn, lic["npn"], lic["forState"])
        column = conn.execute(
            sa.select(license_loas.c.license_id, license_loas.c.npn).where(
                license_loas.c.id == loa["id"]
            )
        ).one()
    assert tuple(column) == (lic["id"], lic["npn"])
    assert loa["id"] in [row.id for row in stored.loas]


def test_a_record_without_a_usable_id_is_answered_and_the_others_written(
    engine: sa.Engine,
) -> None:
    good = _a_license_with_loas()
    strays = [{"npn": good["npn"]}, {"id": "7"}, {"id": 2**63}, [good], 7]
    with write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, "licenses", [*strays, good])
    assert counts.inserted == 1
    assert [(m.record_id, m.field) for m in counts.malformed] == [(None, "id")] * len(strays)
    assert counts.malformed[0].npn == good["npn"]
    with engine.connect() as conn:
        assert mirror.record_counts(conn)["licenses"] == 1


def test_the_records_a_run_could_not_store_are_counted_in_its_status(
    engine: sa.Engine,
) -> None:
    """They were logged, and nothing more: neither sync status nor the metrics (which
    read it) counted them."""
    good = _a_license_with_loas()
    with write_transaction(engine) as conn:
        earlier = mirror.start_run(conn, "updates")
        run = mirror.start_run(conn, "updates")
    with write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [{"npn": "1"}, good], run_id=earlier)
    for page in ([{"id": "7"}, good], [7, [good]], [good]):
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", page, run_id=run)
    with contextlib.suppress(RuntimeError), write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [{"id": None}], run_id=run)
        raise RuntimeError("the page is not written")
    with engine.connect() as conn:
        status = mirror.sync_status(conn)
        assert mirror.records_not_stored(conn) == 3
    assert status["malformed"]["recordsNotStored"] == 3
    assert (status["lastRun"]["id"], status["lastRun"]["notStored"]) == (run, 3)
    assert status["malformed"]["fields"] == 0  # what it lists is stored


def test_an_unknown_resource_is_refused(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="unknown resource"):
        mirror.upsert_records(conn, "producers", [{"id": 1}])


def test_activation_returns_only_the_npns_newly_active(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert mirror.activate_npns(conn, ["1001", "1002", "1001"], T0) == ["1001", "1002"]
        assert mirror.activate_npns(conn, ["1002", "1003"], T0) == ["1003"]
        assert mirror.active_npns(conn) == ["1001", "1002", "1003"]


def test_any_active_is_false_until_an_npn_is_active_and_after_none_is(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert not mirror.any_active(conn)
        mirror.deactivate_npns(conn, ["1001"], T0, purge=False)  # recorded, inactive
        assert not mirror.any_active(conn)
        mirror.activate_npns(conn, ["1001"], T0 + dt.timedelta(hours=1))
        assert mirror.any_active(conn)
        mirror.deactivate_npns(conn, ["1001"], T0 + dt.timedelta(hours=2), purge=False)
        assert not mirror.any_active(conn)


def test_deactivation_keeps_the_records(engine: sa.Engine) -> None:
    npn = wire().npns[0]
    _sync_all(engine)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, wire().npns, T0)
        before = mirror.record_counts(conn)
        assert mirror.deactivate_npns(conn, [npn], T0 + dt.timedelta(hours=1), purge=False) == [npn]
        assert mirror.deactivate_npns(conn, [npn], T0 + dt.timedelta(hours=2), purge=False) == []
        assert npn not in mirror.active_npns(conn)
        assert mirror.record_counts(conn) == before
        # Reactivated later: active again, and the history is kept.
        assert mirror.activate_npns(conn, [npn], T0 + dt.timedelta(hours=3)) == [npn]


def test_purge_deletes_the_npns_records_with_a_change_row_each(engine: sa.Engine) -> None:
    npn = wire().npns[0]
    _sync_all(engine)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, [npn], T0)
        before = mirror.record_counts(conn)
        mirror.deactivate_npns(conn, [npn], T0 + dt.timedelta(hours=1), purge=True)
        after = mirror.record_counts(conn)
    owned = sum(1 for records in wire().records.values() for r in records if r["npn"] == npn)
    deleted = [c for c in _changes(engine) if c.action == "delete"]
    assert {c.npn for c in deleted} == {npn}
    assert sum(before.values()) - sum(after.values()) == len(deleted) >= owned > 0


def test_a_late_older_activation_loses_to_a_deactivation(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001"], T0)
        # The deactivation at T0+2h arrives before the activation at T0+1h.
        assert mirror.deactivate_npns(
            conn, ["1001", "1002"], T0 + dt.timedelta(hours=2), purge=False
        ) == ["1001"]
        assert mirror.activate_npns(conn, ["1001", "1002"], T0 + dt.timedelta(hours=1)) == []
        assert mirror.active_npns(conn) == []


def test_a_later_activation_delivered_before_its_deactivation_wins(engine: sa.Engine) -> None:
    hour = dt.timedelta(hours=1)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001"], T0)
        # Deactivated at T0+1h and subscribed again at T0+2h; the second activation
        # arrives first. It is no newcomer, but its time is what the deactivation meets.
        assert mirror.activate_npns(conn, ["1001"], T0 + 2 * hour) == []
        assert mirror.deactivate_npns(conn, ["1001"], T0 + hour, purge=False) == []
        assert mirror.active_npns(conn) == ["1001"]
        # And no pass has covered that activation: its records are owed.
        run_id = mirror.start_run(conn, "population", run_date=None, since=None)
        mirror.mark_fetched(conn, {"1001": T0}, run_id)
        mirror.finish_run(conn, run_id, {}, None)
        assert mirror.owed_fetches(conn, ["1001"]) == ["1001"]


def test_each_npn_changes_at_its_own_time_in_one_call(engine: sa.Engine) -> None:
    hour = dt.timedelta(hours=1)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001", "1002"], {"1001": T0, "1002": T0 + 2 * hour})
        # One batch of deactivations, each at its own time: 1001's is later than its
        # activation and wins; 1002's is older and loses; 1003 was never seen.
        at = {"1001": T0 + hour, "1002": T0 + hour, "1003": T0}
        assert mirror.deactivate_npns(conn, list(at), at, purge=False) == ["1001"]
        assert mirror.active_npns(conn) == ["1002"]
        # 1003 is recorded inactive from T0: an activation older than that loses.
        assert mirror.activate_npns(conn, ["1003"], {"1003": T0 - hour}) == []
        assert mirror.activate_npns(conn, ["1003"], {"1003": T0 + hour}) == ["1003"]


def test_a_finished_pass_covers_the_activations_it_listed(engine: sa.Engine) -> None:
    hour = dt.timedelta(hours=1)
    npns = ["1001", "1002", "1003"]
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "population")
        # Listed when the pass began: 1001 and 1002, activated at T0; 1003 not yet.
        mirror.mark_fetched(conn, {"1001": T0, "1002": T0}, run)
        mirror.activate_npns(conn, npns, {"1001": T0, "1002": T0 + hour, "1003": T0})
        assert mirror.fetched_since_activation(conn, npns) == set()  # still running
        mirror.finish_run(conn, run, {})
        # 1002's activation is a later one than the pass saw: its records are owed.
        assert mirror.fetched_since_activation(conn, npns) == {"1001"}
        # Deactivated, then subscribed again: owed again too.
        mirror.deactivate_npns(conn, ["1001"], T0 + 2 * hour, purge=False)
        mirror.activate_npns(conn, ["1001"], T0 + 3 * hour)
        assert mirror.fetched_since_activation(conn, npns) == set()


def test_a_failed_pass_covers_nothing(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "population")
        mirror.mark_fetched(conn, {"1001": T0}, run)
        mirror.activate_npns(conn, ["1001"], T0)
        mirror.finish_run(conn, run, {}, error="upstream 503")
        assert mirror.fetched_since_activation(conn, ["1001"]) == set()


def _receipt(event_id: str | None, verdict: str = mirror.ACCEPTED, body: bytes = b"{}") -> Receipt:
    return Receipt(event_id, "npn.activated", T0, {"webhook-id": event_id or ""}, body, verdict)


def _one_pass(conn: sa.Connection) -> tuple[int, int, int, int]:
    """The verdict counts as `sync status` read them before migration 0016: one pass over
    every receipt (total, work received, distinct work events, ignored)."""
    r = receipts.c
    work = sa.and_(r.verdict == mirror.ACCEPTED, r.event_type.is_distinct_from(ENDPOINT_TEST))
    test = sa.and_(r.verdict == mirror.ACCEPTED, r.event_type == ENDPOINT_TEST)
    ignored = sa.or_(test, r.verdict.startswith(mirror.IGNORED))
    total, received, first, ignored_count = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.case((work, 1))),
            sa.func.count(sa.distinct(sa.case((work, r.event_id)))),
            sa.func.count(sa.case((ignored, 1))),
        ).select_from(receipts)
    ).one()
    return total, received, first, ignored_count


def test_the_status_counts_the_receipts_as_one_pass_over_them_did(engine: sa.Engine) -> None:
    """Since migration 0016 the accepted and ignored receipts are counted on their own
    index, without the refused ones: the same counts, whatever the verdicts' spelling
    (SQLite's LIKE ignores case, so a ``REJECTED: `` is left out of the index too)."""
    verdicts = [
        mirror.ACCEPTED,
        f"{mirror.IGNORED}unknown event type",
        f"{mirror.REJECTED}no signature matches",
        "REJECTED: upper case",
        "rejected:no space",
        "Ignored: upper case",
        "something else",
    ]
    types = [None, "npn.activated", ENDPOINT_TEST, UPDATES_AVAILABLE]
    pick = random.Random(16)
    batch = [
        Receipt(
            pick.choice([None, *(f"msg_{n}" for n in range(40))]),
            pick.choice(types),
            T0 + dt.timedelta(minutes=n),
            {},
            b"{}",
            pick.choice(verdicts),
        )
        for n in range(600)
    ]
    with write_transaction(engine) as conn:
        mirror.record_receipts(conn, batch)
        total, received, first, ignored = _one_pass(conn)
        counted = mirror.sync_status(conn)["receipts"]
    assert {k: counted[k] for k in ("total", "accepted", "duplicate", "ignored", "rejected")} == {
        "total": total,
        "accepted": first,
        "duplicate": received - first,
        "ignored": ignored,
        "rejected": total - received - ignored,
    }
    assert 0 < first < received and 0 < ignored < total - received


def test_the_status_and_the_lag_read_the_receipts_not_refused_on_their_index(
    engine: sa.Engine,
) -> None:
    """A storm of forged deliveries, refused and kept for the retention, was read whole
    by `sync status` (its verdict counts) and, each of the day's, by the lag gauge at
    each scrape (a day's storm of 1,000,000: 1.0-1.8 s, and 0.3-0.5 s a scrape)."""
    forged = {"event_type": None, "headers": {}, "body": b"x" * 100}
    storm = [
        {**forged, "event_id": f"msg_{n}", "received_at": T0, "verdict": "rejected: x"}
        for n in range(5_000)
    ]
    with write_transaction(engine) as conn:
        conn.execute(sa.insert(receipts), storm)
        mirror.record_receipts(conn, [_announced(TODAY), _receipt("msg_real")])
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE receipts")
    with table_plans(engine, "receipts") as plans, engine.connect() as conn:
        mirror.latest_run_date(conn, TODAY)
        status = mirror.sync_status(conn, today=TODAY)
    assert status["receipts"]["rejected"] == 5_000
    # The lag's read (twice: alone, and in the status), then the verdict counts.
    assert [p for p in plans if "ix_receipts_not_refused" in p] == [
        plans[0],
        plans[1],
        plans[-1],
    ], plans
    assert "event_type" in plans[0] and "received_at" in plans[0], plans


def test_the_npns_owed_a_fetch_are_counted_on_their_index_as_they_come_and_go(
    engine: sa.Engine,
) -> None:
    """The count of the NPNs owed a fetch (`sync status`, `report expiring`) read every
    active NPN's fetch, however few were owed (250,000 NPNs: 118 ms on SQLite, 249 ms on
    PostgreSQL); it reads the flagged ones on their index, and counts as before while
    they are activated, fetched, fetched by a run that fails, and subscribed again."""
    hour = dt.timedelta(hours=1)
    npns = [str(100_000 + n) for n in range(3_000)]
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, npns, T0)
        assert pending_fetches(conn, 2) == Pending(3_000, (npns[0], npns[1]))
        done = mirror.start_run(conn, "population", run_date=None, since=None)
        mirror.mark_fetched(conn, dict.fromkeys(npns[2:], T0), done)
        mirror.finish_run(conn, done, {})
        failed = mirror.start_run(conn, "activation", run_date=None, since=None)
        mirror.mark_activations_fetched(conn, [npns[5]], failed)
        mirror.finish_run(conn, failed, {}, "boom")
        mirror.activate_npns(conn, [npns[9]], T0 + hour)  # subscribed again since
        mirror.deactivate_npns(conn, [npns[0]], T0 + hour, purge=False)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE population"
            )
    with table_plans(engine, "population") as plans, engine.connect() as conn:
        owed = pending_fetches(conn, 10)
    assert owed == Pending(3, (npns[1], npns[5], npns[9]))
    with engine.connect() as conn:
        assert mirror.owed_fetches(conn, npns) == list(owed.npns)
    assert plans and all("ix_population_owed" in plan for plan in plans), plans
    # A license written before its NPN was subscribed again: `report expiring` reads the
    # NPNs owed a fetch, to tell it, from the same index.
    lic = {**_a_license_with_loas(), "npn": npns[9], "active": True, "niprDeleted": False}
    with write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", [lic])
        held = MIRRORED["licenses"].table
        conn.execute(sa.update(held).values(synced_at=T0))
    # SQLite names the alias the statement reads the population by; PostgreSQL both.
    alias = "owed" if engine.dialect.name == "sqlite" else "population"
    with table_plans(engine, alias) as plans, engine.connect() as conn:
        (found,) = licenses_expiring(conn, dt.date.max)
    assert found.fetching_again_since == T0 + hour
    read = [plan for plan in plans if " owed" in plan]
    assert read and all("ix_population_owed" in plan for plan in read), plans


def test_a_redelivered_event_is_recognised(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, _receipt("msg_1", body=b"first"))
        assert not mirror.record_receipt(conn, _receipt("msg_1", body=b"again"))
        assert mirror.receipt_body(conn, "msg_1") == b"first"
        assert mirror.sync_status(conn)["receipts"]["total"] == 2


def test_a_rejected_receipt_never_counts_as_seen(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, _receipt("msg_2", "rejected: bad signature"))
        assert mirror.receipt_body(conn, "msg_2") is None
        assert mirror.record_receipt(conn, _receipt("msg_2"))
        assert mirror.receipt_body(conn, "msg_2") == b"{}"
        assert mirror.record_receipt(conn, _receipt(None, "rejected: malformed body"))
        receipts = mirror.sync_status(conn)["receipts"]
    assert receipts == {
        "total": 3,
        "accepted": 1,
        "duplicate": 0,
        "ignored": 0,
        "rejected": 2,
        "unprocessed": 1,
        "failed": 0,
    }


def test_a_batch_of_receipts_answers_as_one_by_one_would(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, _receipt("msg_old"))
        batch = [
            _receipt("msg_a", body=b"first"),
            _receipt("msg_a", body=b"again"),  # redelivered within the batch
            _receipt("msg_old"),  # redelivered from an earlier batch
            _receipt("msg_b", "rejected: bad signature"),
            _receipt("msg_old", "rejected: bad signature"),
            _receipt(None, "rejected: malformed body"),
        ]
        assert mirror.record_receipts(conn, batch) == [True, False, False, True, False, True]
        assert mirror.receipt_body(conn, "msg_a") == b"first"
        assert mirror.sync_status(conn)["receipts"]["total"] == 7
        assert mirror.unprocessed_events(conn) == [("msg_a", b"first"), ("msg_old", b"{}")]


def _bodies(conn: sa.Connection) -> list[tuple[bytes, int | None, str | None]]:
    """The receipts' body columns, in order of receipt."""
    columns = receipts.c.body, receipts.c.body_length, receipts.c.body_sha256
    return [tuple(row) for row in conn.execute(sa.select(*columns).order_by(receipts.c.id))]


def test_a_duplicate_with_its_first_body_keeps_none_and_one_with_another_is_kept_whole(
    engine: sa.Engine,
) -> None:
    """A replayed delivery (a sender's retry storm, or one captured and sent again within
    the signature's 5 min) stored its whole body at each receipt."""
    body, other = b'{"a": "%s"}' % incompressible(5000).encode(), b'{"a": 2}'
    digest = hashlib.sha256(body).hexdigest()
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, _receipt("msg_1", body=body))
        assert not mirror.record_receipt(conn, _receipt("msg_1", body=body))
        batch = [_receipt("msg_1", body=body), _receipt("msg_1", body=other)]
        assert mirror.record_receipts(conn, batch) == [False, False]
        # A new id and its duplicate in one batch: the first in it keeps its body.
        assert mirror.record_receipts(
            conn, [_receipt("msg_2", body=body), _receipt("msg_2", body=body)]
        ) == [True, False]
        assert _bodies(conn) == [
            (body, None, None),
            (b"", len(body), digest),
            (b"", len(body), digest),
            (other, None, None),  # another body under the id: evidence, kept
            (body, None, None),
            (b"", len(body), digest),
        ]
        assert mirror.receipt_body(conn, "msg_1") == body
        assert mirror.first_body_sha256(conn, "msg_1") == digest
        assert mirror.unprocessed_events(conn) == [("msg_1", body), ("msg_2", body)]
        counted = mirror.sync_status(conn)["receipts"]
    assert (counted["total"], counted["accepted"], counted["duplicate"]) == (6, 2, 4)


def test_a_duplicate_of_an_event_accepted_before_0017_reads_its_digest_from_the_first(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, _receipt("msg_old", body=b"[1]"))
        conn.execute(sa.update(events).values(body_sha256=None))  # as 0017 leaves it
        assert not mirror.record_receipt(conn, _receipt("msg_old", body=b"[1]"))
        assert _bodies(conn)[1] == (b"", 3, hashlib.sha256(b"[1]").hexdigest())
        assert mirror.first_body_sha256(conn, "msg_old") == hashlib.sha256(b"[1]").hexdigest()


def test_a_first_receipt_is_kept_while_a_duplicate_that_kept_no_body_is(
    engine: sa.Engine,
) -> None:
    """A replay of the event reads the first's body: pruned at the retention, as the
    duplicate a day younger is not yet, the replay found none."""
    first_at, again_at = T0 - dt.timedelta(days=40), T0 - dt.timedelta(days=29)
    cutoff = T0 - dt.timedelta(days=30)
    with write_transaction(engine) as conn:
        mirror.record_receipt(conn, Receipt("msg_1", "x", first_at, {}, b"[1]", mirror.ACCEPTED))
        mirror.mark_processed(conn, "msg_1", first_at)
        mirror.record_receipt(conn, Receipt("msg_1", "x", again_at, {}, b"[1]", mirror.ACCEPTED))
        assert mirror.prune_receipts(conn, cutoff) == 1  # the event's row alone
        assert mirror.receipt_body(conn, "msg_1") == b"[1]"
        assert mirror.prune_receipts(conn, again_at + dt.timedelta(seconds=1)) == 2
        assert _bodies(conn) == []


@pytest.mark.postgres
def test_deliveries_racing_on_two_postgresql_workers_keep_one_body(tmp_path: Path) -> None:
    """The loser of the race for the event's row waits for the winner's commit, then
    reads its digest."""
    with fresh_mirror("postgres", tmp_path) as engine:
        loser: list[bool] = []
        body = b'{"a": 1}'
        thread = threading.Thread(
            target=lambda: loser.append(_record(engine, _receipt("msg_1", body=body)))
        )
        with write_transaction(engine) as conn:
            assert mirror.record_receipt(conn, _receipt("msg_1", body=body))
            thread.start()
            eventually(lambda: waiting_on_a_lock(engine))
        thread.join()
        assert loser == [False]
        with engine.connect() as conn:
            assert [length for _, length, _ in _bodies(conn)] == [None, len(body)]


def _record(engine: sa.Engine, receipt: Receipt) -> bool:
    with write_transaction(engine) as conn:
        return mirror.record_receipt(conn, receipt)


def test_concurrent_deliveries_share_commits_and_dedupe(engine: sa.Engine) -> None:
    log = ReceiptLog(engine)
    ids = [f"msg_{n % 40}" for n in range(200)]  # each id five times, in parallel

    async def deliver() -> list[bool]:
        return await asyncio.gather(*(log.record(_receipt(event_id)) for event_id in ids))

    firsts = asyncio.run(deliver())
    log.close()
    assert sorted(i for i, first in zip(ids, firsts, strict=True) if first) == sorted(set(ids))
    with engine.connect() as conn:
        assert mirror.sync_status(conn)["receipts"]["total"] == 200
        assert len(mirror.unprocessed_events(conn)) == 40


def test_a_failed_group_commit_fails_every_delivery_of_the_batch(tmp_path: Path) -> None:
    log = ReceiptLog(sa.create_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}"))

    async def deliver() -> list[bool | BaseException]:
        records = (log.record(_receipt(f"msg_{n}")) for n in range(20))
        return await asyncio.gather(*records, return_exceptions=True)

    outcomes = asyncio.run(deliver())
    log.close()
    assert all(isinstance(outcome, sa.exc.OperationalError) for outcome in outcomes)


def test_a_receipt_the_database_refuses_fails_alone(engine: sa.Engine) -> None:
    """On PostgreSQL a 20 KB event id failed the deliveries that shared its batch."""
    log = ReceiptLog(engine)
    refused = dataclasses.replace(_receipt("msg_refused"), received_at=None)  # NOT NULL

    async def deliver() -> list[bool | BaseException]:
        receipts = [_receipt(f"msg_{n}") for n in range(10)]
        receipts.insert(5, refused)
        records = (log.record(receipt) for receipt in receipts)
        return await asyncio.gather(*records, return_exceptions=True)

    outcomes = asyncio.run(deliver())
    log.close()
    assert isinstance(outcomes.pop(5), sa.exc.IntegrityError)
    assert outcomes == [True] * 10
    with engine.connect() as conn:
        assert mirror.sync_status(conn)["receipts"]["total"] == 10


def test_a_rejected_receipt_with_nul_in_its_headers_is_stored(engine: sa.Engine) -> None:
    # Found by the receiver fuzz: PostgreSQL text and JSONB cannot hold NUL.
    receipt = Receipt("msg\x00", None, T0, {"x-h\x00": "v\x00"}, b"\x00", "rejected: x\x00")
    with write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, receipt)
        row = conn.execute(sa.select(receipts)).one()
    assert (row.event_id, row.headers, row.body) == ("msg\ufffd", {"x-h\ufffd": "v\ufffd"}, b"\x00")


def test_processed_and_failed_events_show_in_status(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        for event_id in ("msg_a", "msg_b", "msg_c"):
            mirror.record_receipt(conn, _receipt(event_id))
        mirror.mark_processed(conn, "msg_a", T0)
        mirror.mark_processed(conn, "msg_b", T0, error="upstream 503")
        receipts = mirror.sync_status(conn)["receipts"]
    assert (receipts["unprocessed"], receipts["failed"]) == (1, 1)


def test_pruning_keeps_recent_receipts_and_unprocessed_events(engine: sa.Engine) -> None:
    old = dt.timedelta(days=40)
    with write_transaction(engine) as conn:
        for event_id in ("msg_done", "msg_pending"):
            mirror.record_receipt(conn, Receipt(event_id, "x", T0 - old, {}, b"{}", "accepted"))
        mirror.record_receipt(conn, Receipt("msg_x", "x", T0 - old, {}, b"", "rejected: stale"))
        mirror.record_receipt(conn, _receipt("msg_new"))
        mirror.mark_processed(conn, "msg_done", T0 - old)
        # msg_done's and msg_x's receipts, and msg_done's event.
        assert mirror.prune_receipts(conn, T0 - dt.timedelta(days=30)) == 3
        assert mirror.receipt_body(conn, "msg_pending") == b"{}"
        assert mirror.receipt_body(conn, "msg_done") is None
        # Pruned past its dedupe window, an event id is new again.
        assert mirror.record_receipt(conn, _receipt("msg_done"))
        assert not mirror.record_receipt(conn, _receipt("msg_pending"))


def test_pruning_many_receipts_goes_a_batch_a_transaction_and_writers_go_between(
    engine: sa.Engine,
) -> None:
    """One statement deleted every receipt past the retention: after a flood of forged
    deliveries (200,000) it held SQLite's write lock for 8-10 s, and the receiver,
    recording each delivery, waited behind it. A transaction a batch, a receipt recorded
    meanwhile goes in between two, and the batches leave what one deletion left."""
    old, cutoff = T0 - dt.timedelta(days=40), T0 - dt.timedelta(days=30)
    forged = [Receipt(f"msg_f{n}", None, old, {}, b"", "rejected: signature") for n in range(6)]
    with write_transaction(engine) as conn:
        mirror.record_receipts(conn, forged)
        for event_id in ("msg_done", "msg_owed"):
            mirror.record_receipt(conn, Receipt(event_id, "x", old, {}, b"{}", mirror.ACCEPTED))
        mirror.mark_processed(conn, "msg_done", old)
        mirror.record_receipt(conn, _receipt("msg_new"))

    def record_late() -> None:
        with write_transaction(engine) as conn:
            mirror.record_receipt(conn, dataclasses.replace(forged[0], event_id="msg_late"))

    def queued() -> bool:
        return len(_writer_gate(engine)._waiting) == 1

    recorder = threading.Thread(target=record_late)
    batches: list[int] = []

    def prune(conn: sa.Connection, most: int) -> int:
        if len(batches) == 1:
            # Recorded on SQLite once the first batch is committed, before the next.
            recorder.join(timeout=30)
            assert not recorder.is_alive(), "a receipt waited for the whole pruning"
        batches.append(mirror.prune_receipts(conn, cutoff, most=most))
        if len(batches) == 1:
            recorder.start()
            eventually(lambda: not recorder.is_alive() or queued())
        return batches[-1]

    # Rows: 6 forged receipts, the late one, msg_done's receipt and its event.
    assert mirror.delete_in_batches(engine, prune, most=3) == 9
    assert batches == [3, 3, 3, 0]
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(receipts.c.event_id)).scalars()) == [
            "msg_new",
            "msg_owed",
        ]
    with write_transaction(engine) as conn:
        # The unprocessed event keeps its dedupe row; the processed one is new again.
        assert not mirror.record_receipt(conn, _receipt("msg_owed"))
        assert mirror.record_receipt(conn, _receipt("msg_done"))


def _run(engine: sa.Engine, kind: str = "updates") -> int:
    with write_transaction(engine) as conn:
        return mirror.start_run(conn, kind, run_date=dt.date(2025, 7, 1))


def test_runs_report_their_counts_and_failures(engine: sa.Engine) -> None:
    first = _run(engine)
    second = _run(engine, "catch-up")
    with write_transaction(engine) as conn:
        mirror.finish_run(conn, first, {"licenses": 3})
        mirror.finish_run(conn, second, {"licenses": 1}, error="upstream 503")
        status = mirror.sync_status(conn)
    assert status["failedRuns"] == 1
    last = status["lastRun"]
    assert (last["id"], last["kind"], last["status"]) == (second, "catch-up", "failed")
    assert (last["runDate"], last["counts"], last["error"]) == (
        "2025-07-01",
        {"licenses": 1},
        "upstream 503",
    )


TODAY = T0.date()
_DAY = dt.timedelta(days=1)


def _announced(run_date: dt.date, received_at: dt.datetime = T0) -> Receipt:
    event = UpdatesAvailable.create(run_date)
    body = event.to_json()
    return Receipt(event.id, UPDATES_AVAILABLE, received_at, {}, body, mirror.ACCEPTED)


_LATE = _announced(TODAY, T0 - _DAY)  # received late yesterday


@pytest.mark.parametrize(
    ("last", "announced", "latest", "lag"),
    [
        # Current through yesterday while today's run is not announced: catch-up's view.
        (TODAY - _DAY, [], TODAY - _DAY, 0),
        (TODAY, [], TODAY - _DAY, 0),
        (TODAY - 3 * _DAY, [], TODAY - _DAY, 2),
        # Today's run announced: the mirror lacks it until the updates run has finished.
        (TODAY - _DAY, [_announced(TODAY)], TODAY, 1),
        (TODAY, [_announced(TODAY)], TODAY, 0),
        # Announced yesterday: nothing later than yesterday.
        (TODAY - _DAY, [_announced(TODAY - _DAY, T0 - _DAY)], TODAY - _DAY, 0),
        # A runDate after the day it came names no NIPR run: as the sync records it.
        (TODAY - _DAY, [_announced(TODAY + 30 * _DAY)], TODAY - _DAY, 0),
        # Redelivered today, its duplicate keeping no body: it announces the first's.
        (TODAY - _DAY, [_LATE, dataclasses.replace(_LATE, received_at=T0)], TODAY, 1),
        # A rejected delivery announces nothing.
        (
            TODAY - _DAY,
            [dataclasses.replace(_announced(TODAY), verdict="rejected: x")],
            TODAY - _DAY,
            0,
        ),
    ],
)
def test_the_lag_counts_the_run_days_missed_behind_the_latest_runDate(
    engine: sa.Engine, last: dt.date, announced: list[Receipt], latest: dt.date, lag: int
) -> None:
    """Counted from today, a mirror synced through yesterday showed 1 for the whole day,
    and an alert on a lag over 0 never rested."""
    with write_transaction(engine) as conn:
        mirror.record_receipts(conn, announced)
        mirror.set_last_synced_run_date(conn, last)
        status = mirror.sync_status(conn, today=TODAY)
    assert (status["latestRunDate"], status["lagDays"]) == (latest.isoformat(), lag)


def test_the_lag_is_none_before_any_sync(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        status = mirror.sync_status(conn, today=TODAY)
    assert (status["latestRunDate"], status["lagDays"]) == ((TODAY - _DAY).isoformat(), None)


def _ran(engine: sa.Engine, kind: str, error: str | None = None) -> None:
    with write_transaction(engine) as conn:
        mirror.finish_run(conn, mirror.start_run(conn, kind), {}, error=error)


def test_failed_runs_are_those_a_later_run_of_their_family_has_not_made_up_for(
    engine: sa.Engine,
) -> None:
    """Counted for good, a failure whose cause was fixed long ago kept an alert on
    failedRuns firing; failedRunsTotal keeps that count."""
    steps = [
        ("updates", "upstream 503", 1),
        ("updates", "upstream 503", 2),
        ("activation", None, 2),  # another family's success makes up for nothing
        ("catch-up", None, 0),  # it pulled what the daily syncs failed to
        ("activation", "upstream 503", 1),
        ("backfill", "upstream 503", 2),
        ("population", None, 1),  # the NPNs owed are fetched; the backfill is not redone
        ("manual", "upstream 503", 2),
        ("updates", None, 1),
        ("backfill", None, 0),
    ]
    for number, (kind, error, failed) in enumerate(steps, 1):
        _ran(engine, kind, error)
        with engine.connect() as conn:
            status = mirror.sync_status(conn)
        assert status["failedRuns"] == failed, (number, kind, error)
    assert status["failedRunsTotal"] == sum(error is not None for _, error, _ in steps)


def test_the_failures_not_made_up_for_are_shown_with_their_errors_the_latest_first(
    engine: sa.Engine,
) -> None:
    """The daily syncs failing while activations are fetched: the last run shown was an
    activation's, succeeded, and failedRuns a number; what failed, and why, was in the
    log alone."""
    for kind, error in [
        ("updates", "upstream 503 (1)"),
        ("catch-up", "upstream 503 (2)"),
        ("activation", "upstream 429"),
        ("activation", None),  # makes up for the activation's failure, not the others
        ("backfill", "upstream 503 (3)"),
        ("updates", "upstream 503 (4)"),
        ("activation", None),
    ]:
        _ran(engine, kind, error)
    with engine.connect() as conn:
        status = mirror.sync_status(conn)
    assert status["lastRun"]["status"] == "succeeded"
    assert status["failedRuns"] == 4
    shown = [(run["kind"], run["error"]) for run in status["failures"]]
    assert shown == [
        ("updates", "upstream 503 (4)"),
        ("backfill", "upstream 503 (3)"),
        ("catch-up", "upstream 503 (2)"),
    ]


def test_a_run_stopped_to_start_over_is_shown_restarted_not_failed(engine: sa.Engine) -> None:
    """A pass whose population grew stops and another starts from the list: it was shown
    failed and counted among the failed runs, an alert for nothing on every storm."""
    run = _run(engine, "population")
    with write_transaction(engine) as conn:
        grew = "PopulationGrew: 60 NPNs subscribed since the pass read the list"
        mirror.finish_run(conn, run, {}, error=grew, restarted=True)
        status = mirror.sync_status(conn)
        assert mirror.sync_start(conn) is None  # not a whole fetch that finished
    assert status["failedRuns"] == status["failedRunsTotal"] == 0
    assert (status["lastRun"]["status"], status["lastRun"]["error"]) == ("restarted", grew)


def test_a_run_whose_lease_ran_out_unfinished_is_shown_interrupted(engine: sa.Engine) -> None:
    lease = dt.timedelta(seconds=60)
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "backfill", lease=lease)
        started = mirror.sync_status(conn)["lastRun"]
    seen = dt.datetime.fromisoformat(started["lastSeenAt"])
    assert started["status"] == "running" and seen == dt.datetime.fromisoformat(
        started["startedAt"]
    )
    with engine.connect() as conn:
        assert mirror.runs.last_run(conn, seen + lease - dt.timedelta(seconds=1))["status"] == (
            "running"
        )
        late = mirror.runs.last_run(conn, seen + lease + dt.timedelta(seconds=1))
    assert (late["status"], late["lastSeenAt"], late["finishedAt"]) == (
        "interrupted",
        started["lastSeenAt"],
        None,
    )
    time.sleep(0.01)
    with write_transaction(engine) as conn:  # shown alive again: a lease from now
        assert mirror.beat_runs(conn, [run], lease) == {run}
        beaten = mirror.runs.last_run(conn)
        again = dt.datetime.fromisoformat(beaten["lastSeenAt"])
        assert again > seen
        assert mirror.runs.last_run(conn, again + lease - dt.timedelta(seconds=1))["status"] == (
            "running"
        )
        assert mirror.runs.last_run(conn, again + lease + dt.timedelta(seconds=1))["status"] == (
            "interrupted"
        )


class _SkewedClock(dt.datetime):
    """A machine's clock ``skew`` off the true time."""

    skew = dt.timedelta(0)

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _SkewedClock:
        return cls.fromtimestamp((dt.datetime.now(tz) + cls.skew).timestamp(), tz)


# The datetime module as a module on such a machine sees it.
_Skewed = types.SimpleNamespace(
    datetime=_SkewedClock, date=dt.date, timedelta=dt.timedelta, UTC=dt.UTC
)


@pytest.mark.postgres
def test_a_postgresql_mirror_s_leases_keep_its_clock_not_each_process_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process running a run and `sync status` on machines an hour apart either way:
    # by their own clocks, the run going on was shown interrupted, or a dead one running.
    real = dt.datetime.now(dt.UTC)
    lease = dt.timedelta(seconds=60)
    monkeypatch.setattr(mirror.runs, "dt", _Skewed)
    with fresh_mirror("postgres", tmp_path) as engine:
        _Skewed.datetime.skew = -dt.timedelta(hours=1)
        with write_transaction(engine) as conn:
            going = mirror.start_run(conn, "backfill", lease=lease)
            row = conn.execute(sa.select(sync_runs).where(sync_runs.c.id == going)).one()
        assert abs(row.heartbeat_at - real) < dt.timedelta(minutes=1)
        _Skewed.datetime.skew = dt.timedelta(hours=1)
        with engine.connect() as conn:
            assert mirror.sync_status(conn)["lastRun"]["status"] == "running"
        with write_transaction(engine) as conn:
            mirror.start_run(conn, "backfill", lease=dt.timedelta(seconds=-1))  # dead
        with engine.connect() as conn:
            assert mirror.sync_status(conn)["lastRun"]["status"] == "interrupted"


def test_a_workflow_step_run_again_finds_the_run_it_started(engine: sa.Engine) -> None:
    # Its process died after the insert committed, before DBOS recorded the step: the
    # step runs again on recovery, and must not leave its first run interrupted for good.
    lease = dt.timedelta(seconds=60)
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "updates", lease=lease, started_by="evt_1:3")
        first = conn.execute(sa.select(sync_runs.c.lease_until)).scalar_one()
    time.sleep(0.01)
    with write_transaction(engine) as conn:
        again = mirror.start_run(conn, "updates", lease=lease, started_by="evt_1:3")
        other = mirror.start_run(conn, "updates", lease=lease, started_by="evt_2:3")
        by_hand = [mirror.start_run(conn, "manual", lease=lease) for _ in range(2)]
        rows = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id)).all()
    assert again == run and len({run, other, *by_hand}) == 4 and len(rows) == 4
    assert rows[0].lease_until > first  # alive again, for a lease from now
    assert [row.started_by for row in rows] == ["evt_1:3", "evt_2:3", None, None]


def test_a_finished_run_is_not_beaten_nor_interrupted(engine: sa.Engine) -> None:
    lease = dt.timedelta(seconds=60)
    with write_transaction(engine) as conn:
        done = mirror.start_run(conn, "manual", lease=lease)
        going = mirror.start_run(conn, "backfill", lease=lease)
        mirror.finish_run(conn, done, {})
        assert mirror.beat_runs(conn, [done, going], lease) == {going}
        mirror.interrupt_run(conn, done)
        finished = conn.execute(sa.select(sync_runs).where(sync_runs.c.id == done)).one()
    assert finished.lease_until > dt.datetime.now(dt.UTC)  # not ended by the interruption
    with engine.connect() as conn:
        later = dt.datetime.now(dt.UTC) + 2 * lease
        assert mirror.runs.last_run(conn, later)["status"] == "interrupted"  # `going`
    with write_transaction(engine) as conn:
        mirror.finish_run(conn, going, {}, error="x")
    with engine.connect() as conn:
        shown = mirror.runs.last_run(conn, later)
    assert (shown["status"], shown["lastSeenAt"]) == ("failed", None)


def test_a_run_stopped_by_hand_is_shown_interrupted_at_once(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "backfill", lease=dt.timedelta(hours=1))
        mirror.interrupt_run(conn, run)
    with engine.connect() as conn:
        shown = mirror.sync_status(conn)["lastRun"]
    assert shown["status"] == "interrupted"
    stopped = dt.datetime.fromisoformat(shown["lastSeenAt"])
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - stopped < dt.timedelta(minutes=1)


def test_a_run_without_a_lease_is_running_until_it_finishes(engine: sa.Engine) -> None:
    """Runs recorded before leases (and by a caller that promises no beat)."""
    with write_transaction(engine) as conn:
        mirror.start_run(conn, "backfill")
    with engine.connect() as conn:
        shown = mirror.runs.last_run(conn, dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
    assert (shown["status"], shown["lastSeenAt"]) == ("running", None)


def test_a_run_alone_among_kinds_is_refused_while_one_of_them_is_going_on(
    engine: sa.Engine,
) -> None:
    lease = dt.timedelta(seconds=60)
    alone = mirror.MANUAL_KINDS
    with write_transaction(engine) as conn:
        mirror.start_run(conn, "backfill")  # no lease (before leases): tells nothing
        mirror.start_run(conn, "manual", lease=dt.timedelta(seconds=-1))  # its process died
        mirror.start_run(conn, "updates", lease=lease)  # the sync service's: not of them
        first = mirror.start_run(conn, "manual", lease=lease, alone_among=alone)
    with write_transaction(engine) as conn, pytest.raises(mirror.RunGoingOn) as refused:
        mirror.start_run(conn, "backfill", lease=lease, alone_among=alone)
    assert (refused.value.run["id"], refused.value.run["status"]) == (first, "running")
    with write_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.max(sync_runs.c.id))).scalar_one() == first
        mirror.finish_run(conn, first, {})
        assert mirror.start_run(conn, "backfill", lease=lease, alone_among=alone) > first


@pytest.mark.postgres
def test_two_runs_alone_started_together_on_postgresql_one_is_refused(
    tmp_path: Path,
) -> None:
    # PostgreSQL's writers do not take turns as SQLite's do: each transaction saw no run
    # of the other's (not committed yet), and both started.
    lease = dt.timedelta(seconds=60)
    alone = mirror.MANUAL_KINDS
    with fresh_mirror("postgres", tmp_path) as engine:
        outcome: list[object] = []

        def second() -> None:
            try:
                with write_transaction(engine) as conn:
                    outcome.append(mirror.start_run(conn, "manual", lease=lease, alone_among=alone))
            except mirror.RunGoingOn as exc:
                outcome.append(exc)

        with write_transaction(engine) as conn:
            mirror.start_run(conn, "manual", lease=lease, alone_among=alone)
            thread = threading.Thread(target=second)
            thread.start()
            eventually(lambda: bool(outcome) or waiting_on_a_lock(engine))
        thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], mirror.RunGoingOn), outcome


def test_an_unknown_run_kind_is_refused(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="unknown run kind"):
        mirror.start_run(conn, "nightly")


def test_the_last_synced_run_date_never_moves_back(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        assert mirror.last_synced_run_date(conn) is None
        mirror.set_last_synced_run_date(conn, dt.date(2025, 7, 2))
        mirror.set_last_synced_run_date(conn, dt.date(2025, 7, 1))
        assert mirror.last_synced_run_date(conn) == dt.date(2025, 7, 2)
        mirror.set_last_synced_run_date(conn, dt.date(2025, 7, 3))
        assert mirror.sync_status(conn)["lastSyncedRunDate"] == "2025-07-03"


def test_before_any_daily_sync_pulls_start_the_day_before_the_first_whole_fetch(
    engine: sa.Engine,
) -> None:
    """The first daily sync, and catch-up, start there: a day whose event was lost between
    the first fetch and that sync was never pulled."""

    def run(kind: str, started: dt.datetime, error: str | None = None) -> None:
        run_id = mirror.start_run(conn, kind)
        mirror.finish_run(conn, run_id, {}, error)
        at = sync_runs.update().where(sync_runs.c.id == run_id)
        conn.execute(at.values(started_at=started))

    with write_transaction(engine) as conn:
        assert mirror.sync_start(conn) is None
        run("activation", dt.datetime(2025, 7, 1, 2, tzinfo=dt.UTC), error="APIError: 503")
        run("manual", dt.datetime(2025, 6, 20, tzinfo=dt.UTC))  # changes, not whole NPNs
        assert mirror.sync_start(conn) is None  # nothing fetched whole yet
        run("activation", dt.datetime(2025, 7, 3, 2, tzinfo=dt.UTC))
        assert mirror.sync_start(conn) == dt.date(2025, 7, 2)
        run("population", dt.datetime(2025, 7, 2, 23, tzinfo=dt.UTC))  # the first one
        assert mirror.sync_start(conn) == dt.date(2025, 7, 1)
        mirror.set_last_synced_run_date(conn, dt.date(2025, 7, 5))
        assert mirror.sync_start(conn) == dt.date(2025, 7, 5)
        assert mirror.sync_status(conn)["lastSyncedRunDate"] == "2025-07-05"


def test_a_mirror_filled_by_fetches_alone_is_as_of_the_day_before_the_first(
    engine: sa.Engine,
) -> None:
    """Filled by its activated NPNs' fetches, before any daily sync, it read "no sync
    yet" (asOf and lagDays null), as if it held nothing current: it holds each NPN as of
    its fetch, the first of them the oldest, which is where its first pull starts."""
    with write_transaction(engine) as conn:
        run_id = mirror.start_run(conn, "activation")
        mirror.finish_run(conn, run_id, {})
        started = sync_runs.update().where(sync_runs.c.id == run_id)
        conn.execute(started.values(started_at=T0 - 3 * _DAY))
        failed = mirror.start_run(conn, "activation")  # later, and no fetch that finished
        mirror.finish_run(conn, failed, {}, "APIError: 503")
    with engine.connect() as conn:
        status = mirror.sync_status(conn, today=TODAY)
        fresh = mirror.freshness(conn, today=TODAY)
    first = TODAY - 4 * _DAY  # the day before the fetch started: its run may come later
    assert status["lastSyncedRunDate"] is None  # no daily sync has finished
    assert (status["asOf"], status["lagDays"]) == (first.isoformat(), 3)
    assert (fresh.as_of, fresh.lag_days) == (first, 3)
    with write_transaction(engine) as conn:
        mirror.set_last_synced_run_date(conn, TODAY - _DAY)
        status = mirror.sync_status(conn, today=TODAY)
    assert (status["lastSyncedRunDate"], status["asOf"], status["lagDays"]) == (
        (TODAY - _DAY).isoformat(),
        (TODAY - _DAY).isoformat(),
        0,
    )


def test_a_mirror_with_no_fetch_finished_is_as_of_no_run(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        mirror.start_run(conn, "activation")  # going on
        status = mirror.sync_status(conn, today=TODAY)
    assert (status["lastSyncedRunDate"], status["asOf"], status["lagDays"]) == (None, None, None)


@pytest.mark.parametrize(
    ("run_date", "recorded"),
    [
        (dt.date(2025, 6, 28), dt.date(2025, 6, 28)),  # a past day, as the event says
        (dt.date(2025, 7, 1), dt.date(2025, 7, 1)),  # the day the run started
        (dt.date(2025, 7, 2), dt.date(2025, 6, 30)),  # a day to come: the day before the start
        (dt.date(2099, 1, 1), dt.date(2025, 6, 30)),
    ],
)
def test_a_run_date_after_the_runs_start_day_is_bounded_by_the_day_before_it(
    run_date: dt.date, recorded: dt.date
) -> None:
    # 23:30 in New York on June 30 is July 1 in UTC: the bound is UTC's day.
    started = dt.datetime(2025, 6, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert mirror.synced_through_bound(run_date, started) == recorded
    assert mirror.synced_through_bound(run_date, started.astimezone(dt.UTC)) == recorded


def test_a_run_dated_2099_moves_the_position_to_the_day_before_it_started(
    engine: sa.Engine,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with write_transaction(engine) as conn:
        early = mirror.start_run(conn, "updates", run_date=today - dt.timedelta(days=3))
        assert mirror.record_synced_through(conn, early, today - dt.timedelta(days=3)) == (
            today - dt.timedelta(days=3)
        )
        run = mirror.start_run(conn, "updates", run_date=dt.date(2099, 1, 1))
        assert mirror.record_synced_through(conn, run, dt.date(2099, 1, 1)) == (
            today - dt.timedelta(days=1)
        )
        assert mirror.last_synced_run_date(conn) == today - dt.timedelta(days=1)
        today_s = mirror.start_run(conn, "updates", run_date=today)
        assert mirror.record_synced_through(conn, today_s, today) == today
        assert mirror.last_synced_run_date(conn) == today


@pytest.mark.parametrize(
    ("stored", "healed"),
    [
        (dt.date(2099, 1, 1), dt.date(2026, 11, 30)),  # recorded on Dec 1: the day before
        (dt.date(2026, 12, 2), dt.date(2026, 11, 30)),
        (dt.date(2026, 12, 1), dt.date(2026, 12, 1)),  # its own day: as it was
        (dt.date(2026, 11, 20), dt.date(2026, 11, 20)),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrading_takes_a_position_recorded_ahead_of_its_day_back(
    backend: str, tmp_path: Path, stored: dt.date, healed: dt.date
) -> None:
    """A mirror that an older version let record a runDate still to come: the next
    sync would pull from it, and catch-up see nothing missed."""
    recorded_at = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
        else:
            url = stack.enter_context(postgres_database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine, "0003")  # as an older version left it
        with engine.begin() as conn:
            conn.execute(
                sa.insert(sync_state).values(
                    id=1, last_synced_run_date=stored, updated_at=recorded_at
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert mirror.last_synced_run_date(conn) == healed


def test_status_is_json_ready_on_an_empty_mirror(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        status = mirror.sync_status(conn)
    assert status["lastRun"] is None and status["lastSyncedRunDate"] is None
    assert status["activeNpns"] == 0
    assert set(status["counts"]) == {*mirror.RESOURCES, "regulatoryActionValues"}


def test_changes_since_filters_by_time_and_limits(engine: sa.Engine) -> None:
    _upsert(engine, "addresses", *wire().records["addresses"][:5])
    with engine.connect() as conn:
        assert len(mirror.changes_since(conn, T0, limit=3)) == 3
        future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        assert mirror.changes_since(conn, future) == []


def test_changes_since_refuses_a_negative_limit_on_either_backend(engine: sa.Engine) -> None:
    """SQLite read ``LIMIT -1`` as no limit and gave the whole feed; PostgreSQL refused
    it with a DataError out of the driver: the same call, two answers."""
    _upsert(engine, "addresses", *wire().records["addresses"][:2])
    with engine.connect() as conn:
        for read in (mirror.changes_since, mirror.iter_changes):
            with pytest.raises(ValueError, match=r"^limit must be 0 or more, not -1$"):
                list(read(conn, T0, limit=-1))
        assert mirror.changes_since(conn, T0, limit=0) == []


def test_changes_page_by_id_through_changes_that_share_one_time(engine: sa.Engine) -> None:
    """A page's changes all bear its time: paged by time with a limit, a reader asked
    for the same first rows again and again and never got past them."""
    _upsert(engine, "licenses", *wire().records["licenses"][:5])  # with their LOAs
    with engine.connect() as conn:
        whole = mirror.changes_since(conn, T0)
        pages: list[list[mirror.Change]] = []
        while not pages or pages[-1]:
            after = pages[-1][-1].id if pages else None
            pages.append(mirror.changes_since(conn, T0, after=after, limit=3))
    assert len(whole) > 3 and len({c.changed_at for c in whole}) == 1
    assert [c.id for page in pages for c in page] == [c.id for c in whole]


@pytest.mark.postgres
def test_a_reader_paging_by_id_misses_no_change_committed_after_a_later_id(
    tmp_path: Path,
) -> None:
    """On PostgreSQL two writers side by side: the first took its ids, the second took
    later ones and committed first; a reader saw the second's, went on after its last
    id, and the first's, committed behind it, were never read."""
    first, second = wire().records["addresses"][:2]
    with fresh_mirror("postgres", tmp_path) as engine:
        read: list[int] = []

        def read_on() -> None:
            with engine.connect() as conn:
                found = mirror.changes_since(conn, T0, after=read[-1] if read else None)
            read.extend(c.id for c in found)

        def waiting_on_the_feed() -> bool:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            with engine.connect() as conn:
                return bool(conn.exec_driver_sql(query).scalar_one())

        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "addresses", [first])  # its change row, not committed
            later = threading.Thread(target=_upsert, args=(engine, "addresses", second))
            later.start()
            eventually(lambda: not later.is_alive() or waiting_on_the_feed())
            read_on()
        later.join()
        read_on()
        with engine.connect() as conn:
            assert read == [c.id for c in mirror.changes_since(conn, T0)]
    assert len(read) == 2


def test_changes_since_are_the_feed_s_changes_at_or_after_since_in_id_order(
    engine: sa.Engine,
) -> None:
    """Read from the first change at or after ``since`` on SQLite: a purge appended
    after later changes, bearing its deactivation's older time, is read in its place."""
    hour = dt.timedelta(hours=1)
    times = [T0, T0, T0 + hour, T0 + 2 * hour, T0 + hour / 2, T0 + 3 * hour, T0 + hour]
    with write_transaction(engine) as conn:
        feed = append_changes(
            conn, [("addresses", n, "1", "update", ["a"], None, at) for n, at in enumerate(times)]
        )
        for since in {T0 - hour, *times, T0 + 4 * hour}:
            at_or_after = [c for c in feed if c.changed_at >= since]
            assert mirror.changes_since(conn, since) == at_or_after
            assert mirror.changes_since(conn, since, limit=2) == at_or_after[:2]
            assert mirror.changes_since(conn, since, after=feed[2].id) == [
                c for c in at_or_after if c.id > feed[2].id
            ]


def test_changes_since_a_time_are_found_through_the_index_on_sqlite(tmp_path: Path) -> None:
    """SQLite, with no statistics, read every change before the first at or after
    ``since`` in id order (its ``ORDER BY``): 20-29 ms for none of 212,000."""
    with fresh_mirror("sqlite", tmp_path) as engine:
        with write_transaction(engine) as conn:
            append_changes(
                conn, [("addresses", n, "1", "update", ["a"], None, T0) for n in range(3)]
            )
        with _sqlite_plans(engine, "changes") as plans, engine.connect() as conn:
            mirror.changes_since(conn, T0, limit=2)
    assert plans == [
        "SEARCH changes USING INTEGER PRIMARY KEY (rowid>?)",
        "SEARCH changes USING COVERING INDEX ix_changes_changed_at (changed_at>?)",
    ]


@pytest.mark.postgres
def test_changes_since_a_recent_time_are_found_through_the_index_on_postgres(
    tmp_path: Path,
) -> None:
    """PostgreSQL's statistics choose the index for a ``since`` that leaves a few of
    the feed's changes (read through a server-side cursor, which plans for a tenth)."""
    minute = dt.timedelta(minutes=1)
    rows = [
        ("addresses", n, "1", "update", ["a"], None, T0 + n // 100 * minute) for n in range(5000)
    ]
    with fresh_mirror("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            append_changes(conn, rows, answer=False)
            conn.exec_driver_sql("ANALYZE changes")
        plans: list[str] = []

        def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "FROM changes" in statement:
                found = cursor.connection.execute(
                    f"EXPLAIN DECLARE c CURSOR FOR {statement}", parameters
                )
                plans.append("\n".join(step for (step,) in found))

        sa.event.listen(engine, "before_cursor_execute", explain)
        with engine.connect() as conn:
            assert len(mirror.changes_since(conn, rows[-1][-1])) == 100
    [plan] = plans
    assert "Index Cond: (changed_at >=" in plan and "pk_changes" not in plan, plan


def test_appended_changes_carry_the_ids_the_feed_stored(engine: sa.Engine) -> None:
    """On SQLite the ids are not read back but worked out from the last rowid: after
    earlier changes, and after the newest of those is gone, they still match."""
    rows = [("addresses", n, "1", "update", ["a"], None, T0) for n in range(7)]
    with write_transaction(engine) as conn:
        first = append_changes(conn, rows[:3])
        conn.execute(sa.delete(changes).where(changes.c.id == first[-1].id))
        later = append_changes(conn, rows[3:])
        stored = [(c.id, c.record_id) for c in mirror.changes_since(conn, T0)]
    assert stored == [(c.id, c.record_id) for c in [*first[:2], *later]]


def test_changes_to_one_record_in_one_append_keep_their_own_ids(engine: sa.Engine) -> None:
    rows = [("addresses", 7, "1", "update", [field], None, T0) for field in "abcab"]
    with write_transaction(engine) as conn:
        appended = append_changes(conn, rows)
        stored = {c.id: c.fields for c in mirror.changes_since(conn, T0)}
    assert [c.fields for c in appended] == [(f,) for f in "abcab"]
    assert {c.id: c.fields for c in appended} == stored
    assert [c.id for c in appended] == sorted(c.id for c in appended)


def test_an_insert_s_fields_are_stored_once_and_read_as_listed_old_rows_too(
    engine: sa.Engine,
) -> None:
    """Each insert's change row named every field of its record, ~190 of its ~260
    bytes; a list is now stored once, and the feed reads as before, rows written
    before migration 0011 (their list in ``fields``) included."""
    records = wire().records["addresses"][:4]
    keys = {tuple(sorted(record.keys() - {"links"})) for record in records}
    old_row = ("addresses", 99, "1", "update", ["a", "b"], None, T0)
    with write_transaction(engine) as conn:
        conn.execute(
            sa.insert(changes).values(
                resource="addresses",
                record_id=98,
                npn="1",
                action="insert",
                fields=["city", "id"],
                changed_at=T0,
            )
        )
        appended = mirror.upsert_records(conn, "addresses", records).changes
        appended += tuple(append_changes(conn, [old_row]))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(changes.c.fields, changes.c.fields_id)).all()
        lists = conn.execute(sa.select(change_fields.c.fields)).scalars().all()
    inserted = [tuple(sorted(record.keys() - {"links"})) for record in records]
    assert [c.fields for c in appended] == [*inserted, ("a", "b")]
    assert sorted(json.loads(text) for text in lists) == sorted(list(k) for k in keys)
    assert stored[0] == (["city", "id"], None)
    assert all(fields is None and fields_id for fields, fields_id in stored[1:5])
    assert stored[5] == (["a", "b"], None)
    read = _changes(engine)
    assert [c.fields for c in read] == [("city", "id"), *(c.fields for c in appended)]
    assert [c.action for c in read] == ["insert", *(c.action for c in appended)]


@pytest.mark.parametrize("first", [ord("a"), 0x4E00], ids=["ascii", "cjk"])
def test_an_insert_s_list_of_fields_longer_than_an_index_entry_stays_in_its_row(
    engine: sa.Engine, first: int
) -> None:
    """``change_fields`` indexes each list, and a PostgreSQL index entry holds ~2,700
    bytes: a record whose fields' names were longer (the API bounds neither their
    length nor their number) failed its page on every sync. Its list is kept in its
    change's row, as an update's is, and read back alike."""
    record = {**wire().records["addresses"][0], incompressible(3_000, first): 1}
    fields = sorted(record.keys() - {"links"})
    with write_transaction(engine) as conn:
        appended = mirror.upsert_records(conn, "addresses", [record]).changes
    with engine.connect() as conn:
        stored = conn.execute(sa.select(changes.c.fields, changes.c.fields_id)).one()
        assert conn.execute(sa.select(change_fields)).all() == []
    assert [(c.action, c.fields) for c in appended] == [("insert", tuple(fields))]
    assert stored == (fields, None)
    assert [(c.action, c.fields) for c in _changes(engine)] == [("insert", tuple(fields))]


@pytest.mark.postgres
def test_an_insert_s_list_added_after_the_lists_were_read_is_read_too(tmp_path: Path) -> None:
    """The feed reads the inserts' lists before the changes: on PostgreSQL, where each
    statement reads what was committed when it began (SQLite reads both from one
    snapshot), an insert committed in between is in the changes read, its list new."""
    first = ("addresses", 1, "1", "insert", ["a", "id"], None, T0)
    later = ("addresses", 2, "1", "insert", ["b", "id"], None, T0)
    appended: list[bool] = []
    with fresh_mirror("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            append_changes(conn, [first])

        def append_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "FROM changes" in statement and not appended:
                appended.append(True)
                with write_transaction(engine) as other:
                    append_changes(other, [later])

        sa.event.listen(engine, "before_cursor_execute", append_first)
        read = _changes(engine)
    assert [(c.record_id, c.fields) for c in read] == [(1, ("a", "id")), (2, ("b", "id"))]


def test_pruning_the_feed_deletes_its_oldest_changes_never_one_behind_a_newer(
    engine: sa.Engine,
) -> None:
    """Nothing deleted a change: the feed grew for good. Pruned, it loses a prefix: a
    purge appended late bears its older deactivation's time, and stays while a reader's
    cursor may be behind it; the newest stays, as the mark the next ids go on from."""
    old, new = T0 - dt.timedelta(days=100), T0
    times = [old, old, old, new, old, new]  # the fifth: a purge of a deactivation long ago
    with write_transaction(engine) as conn:
        feed = append_changes(
            conn, [("addresses", n, "1", "update", ["a"], None, at) for n, at in enumerate(times)]
        )
        assert mirror.prune_changes(conn, T0 - dt.timedelta(days=90), most=2) == 2
        assert mirror.prune_changes(conn, T0 - dt.timedelta(days=90), most=2) == 1
        assert mirror.prune_changes(conn, T0 - dt.timedelta(days=90), most=2) == 0
        left = [c.id for c in mirror.changes_since(conn, dt.datetime.min)]
        assert left == [c.id for c in feed[3:]]
        # Every change older: all but the newest go, and the ids go on after it.
        assert mirror.prune_changes(conn, T0 + dt.timedelta(days=1), most=10) == 2
        [after] = append_changes(conn, [("addresses", 9, "1", "update", ["a"], None, new)])
        left = [c.id for c in mirror.changes_since(conn, dt.datetime.min)]
    assert left == [feed[-1].id, after.id] and after.id > feed[-1].id


def test_pruning_changes_a_hook_has_not_handled_logs_each_one_s_loss(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook behind by more than the retention lost the changes pruned, and nothing said
    so: its calls went on from the changes left, as if it had had the others."""
    old = T0 - dt.timedelta(days=100)
    with write_transaction(engine) as conn:
        feed = append_changes(
            conn, [("addresses", n, "1", "update", ["a"], None, old) for n in range(4)]
        )
        register_hooks(conn, [("crm", True), ("current", False)])
        crm = hook_cursors.c.name == "crm"
        conn.execute(sa.update(hook_cursors).where(crm).values(after=feed[0].id))
        with caplog.at_level(logging.ERROR, logger="producersync.sync.mirror.feed"):
            assert mirror.prune_changes(conn, T0, most=10) == 3
    assert caplog.messages == [
        f"sync hook 'crm': 2 changes (ids {feed[1].id} to {feed[2].id}) pruned before it "
        "handled them (PRODUCERSYNC_CHANGE_RETENTION_DAYS); its calls go on after them"
    ]


def test_opening_a_mirror_again_keeps_it() -> None:
    with postgres_database() as url:
        plain = "postgresql://" + url.split("://", 1)[1]
        for _ in range(2):
            engine = mirror.open_mirror(plain)
            with write_transaction(engine) as conn:
                mirror.activate_npns(conn, ["1001"], T0)
            engine.dispose()
        engine = mirror.open_mirror(url)
        with engine.connect() as conn:
            assert mirror.active_npns(conn) == ["1001"]
        engine.dispose()


def test_owed_are_the_active_whose_activation_no_finished_run_fetched(engine: sa.Engine) -> None:
    npns = ["1001", "1002", "1003"]
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, npns, T0)
        mirror.deactivate_npns(conn, ["1003"], T0 + dt.timedelta(hours=1), purge=False)
        failed, done = mirror.start_run(conn, "activation"), mirror.start_run(conn, "activation")
        mirror.mark_activations_fetched(conn, ["1001"], failed)
        mirror.mark_activations_fetched(conn, ["1002", "1003"], done)
        mirror.finish_run(conn, failed, {}, error="upstream 503")
        mirror.finish_run(conn, done, {})
        # 1001's run failed: owed still. 1002's finished. 1003 is not active.
        assert mirror.owed_fetches(conn, npns) == ["1001"]


def _truly_owed(conn: sa.Connection) -> list[str]:
    """The active NPNs no finished, error-free run fetched since their activation, read
    from every NPN's fetch (as before mirror migration 0018), not from their flags."""
    query = sa.select(population.c.npn).where(population.c.active, ~activation_fetched(population))
    return sorted(conn.execute(query).scalars())


def _as_before_0018(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` written as a sync process of the version before 0018 writes them: the
    same statement, no ``owed`` in it (times in the driver's form)."""
    columns = {"population": ("npn", "active", "activated_at"), "fetched": _FETCHED}
    stamp = converters(conn).timestamp
    written = [tuple(stamp(v) if isinstance(v, dt.datetime) else v for v in r) for r in rows]
    write_rows(conn, table, columns[table.name], written, upsert=True)


_FETCHED = ("npn", "activated_at", "run_id")
_LATER = T0 + dt.timedelta(hours=2)
# Each write of a process that knows nothing of the flag, given the run that fetched
# 1001 (active since T0) and finished without error; 1002 was deactivated since.
_UNFLAGGING: dict[str, Callable[[sa.Connection, int], object]] = {
    "activated": lambda conn, run: _as_before_0018(conn, population, [("1003", True, T0)]),
    "activated-again": lambda conn, run: _as_before_0018(
        conn, population, [("1002", True, _LATER)]
    ),
    "a-later-activation": lambda conn, run: _as_before_0018(
        conn, population, [("1001", True, _LATER)]
    ),
    "fetched-by-a-run-going-on": lambda conn, run: _as_before_0018(
        conn, fetched, [("1001", T0, mirror.start_run(conn, "activation"))]
    ),
    "its-run-failed-after-all": lambda conn, run: conn.execute(
        sa.update(sync_runs).where(sync_runs.c.id == run).values(error="boom")
    ),
    "its-fetch-forgotten": lambda conn, run: conn.execute(sa.delete(fetched)),
    "its-run-deleted": lambda conn, run: conn.execute(
        sa.delete(sync_runs).where(sync_runs.c.id == run)
    ),
}
_OWED_AFTER = {"activated": ["1003"], "activated-again": ["1002"]}


@pytest.mark.parametrize("write", sorted(_UNFLAGGING))
def test_a_write_that_leaves_the_flag_alone_still_flags_the_npns_it_leaves_owed_a_fetch(
    engine: sa.Engine, write: str
) -> None:
    """A sync process of the version before 0018, left running through the upgrade,
    writes the population, the fetches and the runs without ``population.owed``: the
    database flags what it leaves owed, so that `sync status`'s ``pendingNpns`` and
    `report expiring`, which read only the flagged NPNs, count it. They left out the
    NPNs it activated until a fetch of this version's."""
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001", "1002"], T0)
        mirror.deactivate_npns(conn, ["1002"], T0 + dt.timedelta(hours=1), purge=False)
        run = mirror.start_run(conn, "activation")
        mirror.mark_activations_fetched(conn, ["1001"], run)
        mirror.finish_run(conn, run, {})
        assert pending_fetches(conn, 10) == Pending(0, ())
    with write_transaction(engine) as conn:
        _UNFLAGGING[write](conn, run)
    owed = _OWED_AFTER.get(write, ["1001"])
    with engine.connect() as conn:
        assert _truly_owed(conn) == owed
        assert pending_fetches(conn, 10) == Pending(len(owed), tuple(owed))


def test_a_storm_of_npns_never_seen_settles_no_flag_by_reading_the_population(
    engine: sa.Engine,
) -> None:
    """Each chunk of a storm's NPNs was settled after its write, a statement that read
    the whole population for each on a mirror filled in the same transaction (no
    planner statistics): 100,000 NPNs 10.3 s on PostgreSQL. None never seen can have
    been fetched, so none is settled, and all are owed."""
    npns = [str(1_000_000 + n) for n in range(2 * mirror_records.CHUNK + 1)]
    with statements(engine) as sent, write_transaction(engine) as conn:
        mirror.activate_npns(conn, npns, T0)
    assert not [s for s in sent if s.lstrip().startswith("UPDATE population")], sent
    with engine.connect() as conn:
        assert pending_fetches(conn, 1) == Pending(len(npns), (npns[0],))


def test_a_pass_listing_npns_settles_no_flag_its_fetches_flag_again(engine: sa.Engine) -> None:
    """A pass's later activations were settled, each chunk of them, before the pass's
    own fetches, unfinished, flagged them all again: reads of the fetches wasted."""
    npns = [str(1_000_000 + n) for n in range(2 * mirror_records.CHUNK + 1)]
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, npns, T0)
        run = mirror.start_run(conn, "population")
    with statements(engine) as sent, write_transaction(engine) as conn:
        mirror.activate_listed(conn, dict.fromkeys(npns, T0 + HOUR), run)
    reads = [s for s in sent if "fetched" in s and not s.startswith("INSERT INTO fetched")]
    assert not reads, reads
    with engine.connect() as conn:
        assert pending_fetches(conn, 1) == Pending(len(npns), (npns[0],))


def test_an_activation_a_finished_pass_covered_is_written_unflagged(engine: sa.Engine) -> None:
    """Listed subscribed from T0+2h and fetched by a pass that finished, then
    deactivated at T0+1h: activated again at T0+1h it is covered and not owed, at T0+3h
    it is owed."""
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001", "1002"], T0)
        run = mirror.start_run(conn, "population")
        mirror.mark_fetched(conn, dict.fromkeys(["1001", "1002"], T0 + 2 * HOUR), run)
        mirror.finish_run(conn, run, {})
        mirror.deactivate_npns(conn, ["1001", "1002"], T0 + HOUR, purge=False)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001", "1002"], {"1001": T0 + HOUR, "1002": T0 + 3 * HOUR})
    with engine.connect() as conn:
        assert _truly_owed(conn) == ["1002"]
        assert pending_fetches(conn, 10) == Pending(1, ("1002",))
        flags = conn.execute(sa.select(population.c.npn, population.c.owed).order_by("npn"))
        assert flags.all() == [("1001", None), ("1002", True)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_latest_malformed_fields_are_read_in_their_order(backend: str, tmp_path: Path) -> None:
    """``sync status``'s latest ten sorted every malformed field first (a scan of the
    table and a sort); they are read from an index in their order (migration 0013)."""
    rows = [
        {"resource": "licenses", "record_id": n, "field": "expirationDate", "npn": f"{n}"}
        | {"value": "''", "run_id": None, "seen_at": T0 + dt.timedelta(seconds=n % 1000)}
        for n in range(3000)
    ]
    with fresh_mirror(backend, tmp_path) as engine:
        with write_transaction(engine) as conn:
            conn.execute(sa.insert(malformed), rows)
            if backend == "postgres":  # the planner's statistics, as autovacuum would take
                conn.exec_driver_sql("ANALYZE malformed")
        with table_plans(engine, "malformed") as plans, engine.connect() as conn:
            latest = mirror.malformed_fields(conn, limit=4)
    assert [m["id"] for m in latest] == [999, 1999, 2999, 998]
    assert plans
    assert not [p for p in plans if "ix_malformed_latest" not in p]
