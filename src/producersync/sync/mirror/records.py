"""Upserts of wire records into the mirror; every real change goes to the change feed.

One batch is one SELECT of the stored documents by id, a comparison in Python, and one
executemany ``INSERT ... ON CONFLICT DO UPDATE`` of what is new or different: re-upserting
the same records writes nothing, and a row-by-row loop is what it replaces. Both go to
the driver as they are (see ``driver``): a backfill is this loop, a record at a time.

A page holds no record of an NPN the population records inactive: the API serves only
subscribed NPNs' records, so such a page was fetched before the deactivation, and
written after a purge it brought the records back for good (no later sync serves them,
and only a deactivation purges). It is decided under the tables' locks, which a purge
holds too, so that on PostgreSQL a page is written wholly before a purge or after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from producersync.sync.mirror.driver import (
    Converters,
    converters,
    lock_for_writing,
    select_documents,
    select_inactive,
    write_rows,
)
from producersync.sync.mirror.feed import Change, ChangeRow, append_changes
from producersync.sync.mirror.tables import CHILDREN, MIRRORED, Mirrored

__all__ = ["CHUNK", "UpsertCounts", "chunks", "purge_npns", "upsert_records"]

CHUNK = 900  # values per `IN (...)`: under the variable limit of every SQLite build


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int
    # What went to the change feed, children's changes included (for the hooks).
    changes: tuple[Change, ...] = field(default=(), compare=False)


# A document to write, and the typed values it inherits from its parent when it lacks
# them (a nested LOA may not repeat its license's id).
_Pending = tuple[dict[str, Any], dict[str, Any]]


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def upsert_records(
    conn: sa.Connection,
    resource: str,
    records: Sequence[Mapping[str, Any]],
    *,
    run_id: int | None = None,
    changes: bool = True,
) -> UpsertCounts:
    """Insert or update ``records`` (wire JSON, camelCase) of ``resource``; nested
    children (a license's LOAs, an action's values) go to their own tables too. The
    counts are the resource's own records'; a record older than the stored one
    (``updatedAt``) counts as unchanged and is not written. The change feed gets a row
    per record written either way; ``changes``: the counts carry them too (for hooks).
    A record of an NPN recorded inactive is not written, and counts as unchanged."""
    mirrored = _mirrored(resource)
    now = dt.datetime.now(dt.UTC)
    child_key, child_resource, parent_field = CHILDREN.get(resource, (None, None, None))
    lock_for_writing(conn, mirrored.table)  # before reading the population: see there
    documents = [_document(record, child_key) for record in records]
    inactive = select_inactive(conn, list({d["npn"] for d in documents if d.get("npn")}))
    pending: dict[int, _Pending] = {
        document["id"]: (document, {})
        for document in documents
        if document.get("npn") not in inactive
    }
    inserted, updated, feed, stale = _upsert(conn, mirrored, pending, run_id, now)
    if child_key and child_resource and parent_field:
        # Not a stale parent's: its nested children are as old as it is, and an
        # out-of-order page must not undo newer children either.
        current = {id_: parent for id_, parent in pending.items() if id_ not in stale}
        children = _children(current, child_key, parent_field)
        child = MIRRORED[child_resource]
        lock_for_writing(conn, child.table)
        feed += _upsert(conn, child, children, run_id, now)[2]
    # The feed last, in one write: see ``feed`` on why it is the transaction's last.
    changed = append_changes(conn, feed, answer=changes)
    return UpsertCounts(inserted, updated, len(records) - inserted - updated, tuple(changed))


def purge_npns(
    conn: sa.Connection, times: Mapping[str, dt.datetime], run_id: int | None = None
) -> list[Change]:
    """Delete every record of the NPNs in ``times`` from every table, a change row each
    stamped with its NPN's time: those changes (for the hooks). Each table's lock is
    held to the commit, a table without their records included: a page written beside
    it waits, then finds them inactive (the caller recorded them so first)."""
    feed: list[ChangeRow] = []
    for mirrored in MIRRORED.values():
        table = mirrored.table
        lock_for_writing(conn, table)
        for chunk in chunks(list(times)):
            where = table.c.npn.in_(chunk)
            gone = conn.execute(sa.select(table.c.id, table.c.npn).where(where)).all()
            if not gone:
                continue
            conn.execute(sa.delete(table).where(where))
            resource = mirrored.resource
            feed += [(resource, id_, npn, "delete", [], run_id, times[npn]) for id_, npn in gone]
    return append_changes(conn, feed)  # last, as ``feed`` asks


def _mirrored(resource: str) -> Mirrored:
    try:
        return MIRRORED[resource]
    except KeyError:
        raise ValueError(f"unknown resource {resource!r}; one of {sorted(MIRRORED)}") from None


def _document(record: Mapping[str, Any], child_key: str | None) -> dict[str, Any]:
    """The record as stored and compared: without links, here or in nested children.
    Records are JSON values already (``model_dump(mode="json")``), as stored ones read back."""
    document = dict(record)
    document.pop("links", None)
    if child_key and isinstance(document.get(child_key), list):
        document[child_key] = [_unlinked(child) for child in document[child_key]]
    return document


def _unlinked(child: dict[str, Any]) -> dict[str, Any]:
    if "links" not in child:
        return child
    child = dict(child)
    del child["links"]
    return child


def _children(parents: dict[int, _Pending], key: str, parent_field: str) -> dict[int, _Pending]:
    children: dict[int, _Pending] = {}
    for parent, _ in parents.values():
        inherited = {parent_field: parent["id"], "npn": parent.get("npn")}
        for child in parent.get(key) or []:
            children[child["id"]] = (child, inherited)
    return children


def _upsert(
    conn: sa.Connection,
    mirrored: Mirrored,
    pending: dict[int, _Pending],
    run_id: int | None,
    now: dt.datetime,
) -> tuple[int, int, list[ChangeRow], set[int]]:
    """Write what is new or changed in ``pending``, the table locked (``lock_for_writing``,
    before reading what is stored: see there): how many inserted and updated, the change
    rows to append, and the ids not written for being older than the stored one."""
    table = mirrored.table
    stored = select_documents(conn, table, list(pending))  # under the caller's lock
    convert = converters(conn)
    synced_at = convert.timestamp(now)
    layout = _LAYOUTS[mirrored.resource]
    rows: list[tuple[Any, ...]] = []
    feed: list[ChangeRow] = []
    stale: set[int] = set()
    inserted = 0
    # An insert's fields are all of its record's, and a page's records mostly have the
    # same keys: one sorted list for each set of keys (a backfill's 212,000 inserts).
    every_field: dict[tuple[str, ...], list[str]] = {}
    for record_id, (document, inherited) in pending.items():
        old = stored.get(record_id)
        if old is None:
            keys = tuple(document)
            fields = every_field.get(keys) or every_field.setdefault(keys, sorted(keys))
            action = "insert"
            inserted += 1
        elif _stale(document, old):
            stale.add(record_id)
            continue
        else:
            # A field absent on one side equals null: a newer API adding a field with no
            # value is not a change. Nor is niprDeleted's false left out: absent, it is
            # stored as false.
            either = document.keys() | old.keys()
            fields = sorted(k for k in either if _field(document, k) != _field(old, k))
            action = "update"
            if not fields:
                continue
        row = _row(layout, convert, document, inherited, synced_at)
        rows.append(row)
        feed.append((mirrored.resource, record_id, row[1], action, fields, run_id, now))
    if rows:
        write_rows(conn, table, _COLUMNS[mirrored.resource], rows, upsert=True)
    return inserted, len(rows) - inserted, feed, stale


def _field(document: dict[str, Any], key: str) -> Any:
    value = document.get(key)
    return False if value is None and key == "niprDeleted" else value


def _stale(document: dict[str, Any], old: dict[str, Any]) -> bool:
    """An out-of-order write: the stored record is newer (ISO dates compare as text)."""
    new_date, old_date = document.get("updatedAt"), old.get("updatedAt")
    return bool(new_date and old_date and new_date < old_date)


@dataclass(frozen=True)
class _Layout:
    """How a table's row comes out of a wire record: the typed columns between ``id`` and
    ``record``, each read by the first key of its path, then fixed up by kind. A row is
    built per record written (a backfill's 212,000), and a loop over the columns testing
    each one's kind was a quarter of a SQLite page's upsert."""

    keys: tuple[str, ...]  # each typed column's top-level key in the wire record
    index: dict[str, int]  # column name -> its place among the typed columns
    nested: tuple[tuple[int, tuple[str, ...]], ...]  # a dotted path's place, rest of path
    booleans: tuple[tuple[int, str], ...]  # (place, column): a JSON boolean or null
    flag: int | None  # ``nipr_deleted``: a boolean, absent meaning not deleted
    dates: tuple[int, ...]
    jsons: tuple[int, ...]


def _layout(mirrored: Mirrored) -> _Layout:
    names = [column.name for column in mirrored.table.c]
    if names != ["id", *mirrored.columns, "record", "synced_at"]:
        raise AssertionError(f"{mirrored.table.name}: columns out of order: {names}")
    columns = list(mirrored.columns.items())
    kinds = [_kind(mirrored.table.c[column]) for column, _ in columns]
    places = range(len(columns))
    return _Layout(
        keys=tuple(path[0] for _, path in columns),
        index={column: i for i, (column, _) in enumerate(columns)},
        nested=tuple((i, columns[i][1][1:]) for i in places if len(columns[i][1]) > 1),
        booleans=tuple((i, columns[i][0]) for i in places if kinds[i] == "bool"),
        flag=next((i for i in places if kinds[i] == "flag"), None),
        dates=tuple(i for i in places if kinds[i] == "date"),
        jsons=tuple(i for i in places if kinds[i] == "json"),
    )


def _kind(column: sa.Column[Any]) -> str:
    if column.name == "nipr_deleted":
        return "flag"  # absent means not deleted
    if isinstance(column.type, sa.Boolean):
        return "bool"
    if isinstance(column.type, sa.Date):
        return "date"
    return "json" if isinstance(column.type, sa.JSON) else "plain"


_LAYOUTS = {resource: _layout(mirrored) for resource, mirrored in MIRRORED.items()}
_COLUMNS = {
    resource: tuple(column.name for column in mirrored.table.c)
    for resource, mirrored in MIRRORED.items()
}


def _row(
    layout: _Layout,
    convert: Converters,
    document: dict[str, Any],
    inherited: dict[str, Any],
    synced_at: Any,
) -> tuple[Any, ...]:
    """The table row of ``document``, in the table's column order."""
    get = document.get
    values: list[Any] = [get(key) for key in layout.keys]
    for i, rest in layout.nested:
        value = values[i]
        for key in rest:
            value = value.get(key) if isinstance(value, dict) else None
        values[i] = value
    for column, value in inherited.items():
        place = layout.index.get(column)
        if place is not None and values[place] is None:
            values[place] = value
    for i, column in layout.booleans:
        _boolean(column, values[i])
    if layout.flag is not None:
        flag = values[layout.flag]
        values[layout.flag] = flag if _boolean("nipr_deleted", flag) else False
    for i in layout.dates:
        if values[i] is not None:
            values[i] = convert.date(values[i])
    for i in layout.jsons:
        values[i] = convert.json(values[i])
    return (document["id"], *values, convert.json(document), synced_at)


def _boolean(column: str, value: Any) -> bool:
    """Whether ``value`` is a boolean; None is not, anything else is an error. As
    SQLAlchemy's Boolean did: pages are stored as they came, and a malformed one fails
    its step instead of filling a column with text."""
    if type(value) is bool:
        return True
    if value is not None:
        raise ValueError(f"{column}: not a boolean: {value!r}")
    return False
