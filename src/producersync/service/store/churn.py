"""SQL of the daily NIPR run: the ledger of runs, the day's producers, their changes.

Everything here runs on the caller's connection, inside the one transaction of a run, so
a run's changes, its ledger row and its events commit together or not at all. Reads and
writes go by chunks of ids or NPNs and writes by ``executemany``: a day touches thousands
of rows, never one statement per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa

from producersync.service.store import documents
from producersync.service.store import tables as t
from producersync.service.store.dialect import insert

__all__ = [
    "NESTED",
    "RUNS_LOCK",
    "DayChanges",
    "Run",
    "apply_changes",
    "child_ids",
    "claim_run",
    "complete_run",
    "entity_ids",
    "expired_license_npns",
    "find_run",
    "latest_run_date",
    "lookup",
    "moving_npns",
    "next_ids",
    "other_runs",
    "producer_npns",
    "producer_records",
    "stamp_date",
]

Row = dict[str, Any]

# Well under SQLite's 32,766 bound parameters, and short enough IN lists for any planner.
_CHUNK = 500

# The advisory lock of the daily runs (one bigint key; the population's are (1, account)).
RUNS_LOCK = 0x6E697072  # "nipr"

# (child table, parent table, parent column): records the API serves inside their parent,
# so that a change to the child is a change to the parent as well.
NESTED: tuple[tuple[sa.Table, sa.Table, str], ...] = (
    (t.license_loas, t.licenses, "license_id"),
    (t.regulatory_action_values, t.regulatory_actions, "regulatory_action_id"),
)


@dataclass(frozen=True, slots=True)
class Run:
    """A completed run, from the ledger."""

    run_date: dt.date
    source: str
    changes: dict[str, int]
    completed_at: dt.datetime


@dataclass
class DayChanges:
    """One day's changes, by table name. ``apply_changes`` stamps every row it writes
    (``updated_at``, and ``created_at`` on new rows) with the run's ``stamp_date``."""

    run_date: dt.date
    # New records: complete rows, every one of a table with the same keys.
    inserts: dict[str, list[Row]] = field(default_factory=dict)
    # Whole records that replace the stored ones or are new (feed files).
    upserts: dict[str, list[Row]] = field(default_factory=dict)
    # Changed fields: rows of "id" and the columns to set.
    updates: dict[str, list[Row]] = field(default_factory=dict)

    def insert(self, table: str, row: Row) -> None:
        self.inserts.setdefault(table, []).append(row)

    def upsert(self, table: str, row: Row) -> None:
        self.upserts.setdefault(table, []).append(row)

    def update(self, table: str, record_id: int, **values: Any) -> None:
        self.updates.setdefault(table, []).append({"id": record_id, **values})


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    it = iter(values)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


# --- the ledger -----------------------------------------------------------------------


def claim_run(conn: sa.Connection, run_date: dt.date, source: str) -> bool:
    """Take the date for this transaction; False when a run of it has committed already.

    Runs go one at a time, whatever their dates: each plans from what the one before it
    wrote (its new ids continue that one's highest, a change reads that one's result).
    On Postgres they wait on one advisory lock, held to the end of the transaction, and
    then read a snapshot taken after the run before committed; SQLite's immediate
    transactions serialise them anyway. A run of a date already run then finds it taken."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUNS_LOCK})
    statement = (
        insert(conn, t.nipr_runs)
        .values(run_date=run_date, source=source, changes={}, completed_at=dt.datetime.now(dt.UTC))
        .on_conflict_do_nothing(index_elements=[t.nipr_runs.c.run_date])
        .returning(t.nipr_runs.c.run_date)
    )
    return conn.execute(statement).first() is not None


def complete_run(conn: sa.Connection, run_date: dt.date, changes: dict[str, int]) -> dt.datetime:
    completed = dt.datetime.now(dt.UTC)
    conn.execute(
        t.nipr_runs.update()
        .where(t.nipr_runs.c.run_date == run_date)
        .values(changes=changes, completed_at=completed)
    )
    return completed


def other_runs(conn: sa.Connection, run_date: dt.date) -> tuple[dt.date, dt.date] | None:
    """The earliest and the latest date run but ``run_date`` (the run claiming it), if
    any."""
    runs = t.nipr_runs.c.run_date
    query = sa.select(sa.func.min(runs), sa.func.max(runs)).where(runs != run_date)
    first, latest = conn.execute(query).one()
    return None if first is None else (first, latest)


def moving_npns(conn: sa.Connection, since: dt.date, exclude: Collection[str] = ()) -> set[str]:
    """The producers with an address stamped ``since`` or later in another state than
    their resident license's: moving there, the resident license still to come. Found
    by the addresses' (updated_at, npn, id) index."""
    a, lic = t.addresses, t.licenses
    query = (
        # Not DISTINCT: SQLite would then walk the (npn, id, updated_at) index whole.
        sa.select(a.c.npn)
        .join(
            lic,
            sa.and_(
                lic.c.npn == a.c.npn,
                lic.c.residency_status == "R",
                lic.c.nipr_deleted.is_(False),
            ),
        )
        .where(
            a.c.updated_at >= since, a.c.nipr_deleted.is_(False), a.c.for_state != lic.c.for_state
        )
    )
    return {npn for (npn,) in conn.execute(query)} - set(exclude)


def stamp_date(conn: sa.Connection, run_date: dt.date) -> dt.date:
    """The ``updatedAt`` of the records a claimed run changes: its date, or the latest
    date run before it when that is later.

    A client syncs from ``min(runDate, last synced runDate)``: it relies on no change
    committed after its sync carrying a date before the one it synced. A run of an
    earlier date committing after a later one (missed days run together as the service
    comes back, in whatever order, or a ``--date`` in the past) would stamp below what
    clients have synced, and one that lost that run's event would never see its changes.
    Stamped at the latest date run, they are found from the run's own date too."""
    latest = latest_run_date(conn)
    return max(run_date, latest or run_date)


def latest_run_date(conn: sa.Connection) -> dt.date | None:
    """The latest date run (claimed, within a run), if any."""
    latest: dt.date | None = conn.execute(
        sa.select(sa.func.max(t.nipr_runs.c.run_date))
    ).scalar_one()
    return latest


def find_run(conn: sa.Connection, run_date: dt.date) -> Run | None:
    row = conn.execute(sa.select(t.nipr_runs).where(t.nipr_runs.c.run_date == run_date)).first()
    if row is None:
        return None
    return Run(row.run_date, row.source, dict(row.changes), row.completed_at)


# --- reading ----------------------------------------------------------------------------


def producer_npns(conn: sa.Connection, exclude: Collection[str] = ()) -> list[str]:
    """The NPNs NIPR still lists (not deleted), in order, but for ``exclude``."""
    query = (
        sa.select(t.entities.c.npn)
        .where(t.entities.c.nipr_deleted.is_(False))
        .order_by(t.entities.c.npn)
    )
    if exclude:
        query = query.where(t.entities.c.npn.not_in(exclude))
    return list(conn.execute(query).scalars())


def expired_license_npns(
    conn: sa.Connection, day: dt.date, exclude: Collection[str] = ()
) -> set[str]:
    """The NPNs NIPR still lists, but for ``exclude``, that hold a license NIPR lists as
    active with an expiration date before ``day`` (a license is in force on its date).
    Found in the licenses' (active, expiration_date) index: a day's few among millions."""
    lic, entity = t.licenses, t.entities
    query = (
        sa.select(lic.c.npn)
        .distinct()
        .join(entity, entity.c.npn == lic.c.npn)
        .where(
            lic.c.active.is_(True),
            lic.c.expiration_date < day,
            lic.c.nipr_deleted.is_(False),
            entity.c.nipr_deleted.is_(False),
        )
    )
    if exclude:
        query = query.where(lic.c.npn.not_in(exclude))
    return set(conn.execute(query).scalars())


def producer_records(conn: sa.Connection, table: sa.Table, npns: Sequence[str]) -> list[Row]:
    """Every record of the NPNs in ``table``, deleted ones too, in (npn, id) order."""
    rows: list[Row] = []
    for chunk in _chunks(npns):
        query = (
            sa.select(*t.data_columns(table))
            .where(table.c.npn.in_(chunk))
            .order_by(table.c.npn, table.c.id)
        )
        result = conn.execute(query)
        keys = list(result.keys())  # once: ``dict(mapping)`` makes its keys for each row
        rows.extend(dict(zip(keys, row, strict=True)) for row in result)
    return rows


def entity_ids(conn: sa.Connection, npns: Iterable[str]) -> dict[str, int]:
    """The entity id of each of ``npns`` that has one."""
    found: dict[str, int] = {}
    for chunk in _chunks(set(npns)):
        query = sa.select(t.entities.c.npn, t.entities.c.id).where(t.entities.c.npn.in_(chunk))
        found.update((row[0], row[1]) for row in conn.execute(query))
    return found


def lookup(conn: sa.Connection, table: sa.Table, ids: Iterable[int], column: str) -> dict[int, Any]:
    """``column`` of each stored record of ``ids``, by id (missing ids are left out)."""
    found: dict[int, Any] = {}
    for chunk in _chunks(set(ids)):
        query = sa.select(table.c.id, table.c[column]).where(table.c.id.in_(chunk))
        found.update((row[0], row[1]) for row in conn.execute(query))
    return found


def child_ids(
    conn: sa.Connection, child: sa.Table, parent_column: str, parent_ids: Iterable[int]
) -> list[int]:
    """The ids of the records nested in the given parents."""
    found: list[int] = []
    for chunk in _chunks(set(parent_ids)):
        query = sa.select(child.c.id).where(child.c[parent_column].in_(chunk)).order_by(child.c.id)
        found.extend(conn.execute(query).scalars())
    return found


def next_ids(conn: sa.Connection) -> dict[str, int]:
    """The first free id of every record table (record ids are explicit, as NIPR's are)."""
    return {
        table.name: (conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one() or 0) + 1
        for table in t.RECORD_TABLES
    }


# --- writing ----------------------------------------------------------------------------


def apply_changes(conn: sa.Connection, changes: DayChanges, day: dt.date) -> dict[str, int]:
    """Write the day's changes, stamped ``day`` (``stamp_date``), and stamp the parents
    of changed nested records too. Returns the number of records changed per table."""
    # Plain str keys: a table's name is a str subclass that JSON encoders refuse.
    changed: dict[str, set[int]] = {str(table.name): set() for table in t.RECORD_TABLES}
    parents = _parents(conn, changes)
    for table in t.RECORD_TABLES:
        name = table.name
        inserts = [
            {**row, "created_at": day, "updated_at": day} for row in changes.inserts.get(name, [])
        ]
        upserts = [
            {**row, "created_at": day, "updated_at": day} for row in changes.upserts.get(name, [])
        ]
        updates = [{**row, "updated_at": day} for row in changes.updates.get(name, [])]
        if inserts:
            conn.execute(table.insert(), inserts)
        if upserts:
            _upsert(conn, table, upserts)
        _update(conn, table, updates)
        changed[name].update(row["id"] for rows in (inserts, upserts, updates) for row in rows)
    for name, ids in parents.items():
        table = t.metadata.tables[name]
        for chunk in _chunks(sorted(ids)):
            conn.execute(table.update().where(table.c.id.in_(chunk)).values(updated_at=day))
        changed[name].update(ids)
    for table in documents.MATERIALIZED_TABLES:
        documents.refresh(conn, table, changed[table.name])
    return {name: len(ids) for name, ids in changed.items()}


def _parents(conn: sa.Connection, changes: DayChanges) -> dict[str, set[int]]:
    """The parents whose served document changes with their nested records: those of new
    rows, and (looked up before anything is written) those of stored ones."""
    parents: dict[str, set[int]] = {}
    for child, parent, column in NESTED:
        new_rows = [*changes.inserts.get(child.name, []), *changes.upserts.get(child.name, [])]
        ids = {row[column] for row in new_rows}
        stored = [row["id"] for row in (*changes.updates.get(child.name, []), *new_rows)]
        ids.update(lookup(conn, child, stored, column).values())
        parents[parent.name] = ids
    return parents


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[Row]) -> None:
    statement = insert(conn, table)
    # A replaced record keeps the day it was created.
    keep = {"id", "created_at"}
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: statement.excluded[name] for name in rows[0] if name not in keep},
    )
    conn.execute(statement, rows)


def _update(conn: sa.Connection, table: sa.Table, rows: list[Row]) -> None:
    """One ``executemany`` per distinct set of changed columns."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        columns = tuple(sorted(name for name in row if name != "id"))
        # Parameters named apart from the columns: SQLAlchemy reserves the columns' names.
        params = {f"v_{name}": row[name] for name in columns}
        groups.setdefault(columns, []).append({"v__id": row["id"], **params})
    for columns, params_list in groups.items():
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("v__id"))
            .values({name: sa.bindparam(f"v_{name}") for name in columns})
        )
        conn.execute(statement, params_list)
