"""Upserts of wire records into the mirror; every real change goes to the change feed.

One batch is one SELECT of the stored documents by id, a comparison in Python, and one
executemany ``INSERT ... ON CONFLICT DO UPDATE`` of what is new or different: re-upserting
the same records writes nothing, and a row-by-row loop is what it replaces. Both go to
the driver as they are (see ``driver``): a backfill is this loop, a record at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from producersync.sync.mirror.driver import Converters, converters, select_documents, write_rows
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
    per record written either way; ``changes``: the counts carry them too (for hooks)."""
    mirrored = _mirrored(resource)
    now = dt.datetime.now(dt.UTC)
    child_key, child_resource, parent_field = CHILDREN.get(resource, (None, None, None))
    documents = (_document(record, child_key) for record in records)
    pending: dict[int, _Pending] = {document["id"]: (document, {}) for document in documents}
    inserted, updated, changed = _upsert(conn, mirrored, pending, run_id, now, changes)
    if child_key and child_resource and parent_field:
        children = _children(pending, child_key, parent_field)
        changed += _upsert(conn, MIRRORED[child_resource], children, run_id, now, changes)[2]
    return UpsertCounts(inserted, updated, len(records) - inserted - updated, tuple(changed))


def purge_npns(
    conn: sa.Connection, times: Mapping[str, dt.datetime], run_id: int | None = None
) -> int:
    """Delete every record of the NPNs in ``times`` from every table, a change row each
    stamped with its NPN's time; how many."""
    deleted = 0
    for mirrored in MIRRORED.values():
        table = mirrored.table
        for chunk in chunks(list(times)):
            where = table.c.npn.in_(chunk)
            gone = conn.execute(sa.select(table.c.id, table.c.npn).where(where)).all()
            if not gone:
                continue
            conn.execute(sa.delete(table).where(where))
            resource = mirrored.resource
            append_changes(
                conn,
                [(resource, id_, npn, "delete", [], run_id, times[npn]) for id_, npn in gone],
            )
            deleted += len(gone)
    return deleted


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
    answer: bool,
) -> tuple[int, int, list[Change]]:
    table = mirrored.table
    stored = select_documents(conn, table, list(pending))
    convert = converters(conn)
    synced_at = convert.timestamp(now)
    layout = _LAYOUTS[mirrored.resource]
    rows: list[tuple[Any, ...]] = []
    feed: list[ChangeRow] = []
    inserted = 0
    for record_id, (document, inherited) in pending.items():
        old = stored.get(record_id)
        if old is None:
            fields, action = sorted(document), "insert"
            inserted += 1
        elif _stale(document, old):
            continue
        else:
            # A field absent on one side equals null: a newer API adding a field with no
            # value is not a change.
            keys = document.keys() | old.keys()
            fields, action = sorted(k for k in keys if document.get(k) != old.get(k)), "update"
            if not fields:
                continue
        row = _row(layout, convert, document, inherited, synced_at)
        rows.append(row)
        feed.append((mirrored.resource, record_id, row[1], action, fields, run_id, now))
    if not rows:
        return inserted, 0, []
    write_rows(conn, table, _COLUMNS[mirrored.resource], rows, upsert=True)
    return inserted, len(rows) - inserted, append_changes(conn, feed, answer=answer)


def _stale(document: dict[str, Any], old: dict[str, Any]) -> bool:
    """An out-of-order write: the stored record is newer (ISO dates compare as text)."""
    new_date, old_date = document.get("updatedAt"), old.get("updatedAt")
    return bool(new_date and old_date and new_date < old_date)


# A typed column's name, its path in the wire record, and how its value is stored.
_Column = tuple[str, tuple[str, ...], str]


def _layout(mirrored: Mirrored) -> tuple[_Column, ...]:
    """The typed columns in the table's order, between ``id`` and ``record``."""
    names = [column.name for column in mirrored.table.c]
    if names != ["id", *mirrored.columns, "record", "synced_at"]:
        raise AssertionError(f"{mirrored.table.name}: columns out of order: {names}")
    return tuple(
        (column, path, _kind(mirrored.table.c[column])) for column, path in mirrored.columns.items()
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
    layout: tuple[_Column, ...],
    convert: Converters,
    document: dict[str, Any],
    inherited: dict[str, Any],
    synced_at: Any,
) -> tuple[Any, ...]:
    """The table row of ``document``, in the table's column order."""
    row: list[Any] = [document["id"]]
    for column, path, kind in layout:
        value: Any = document.get(path[0])
        for key in path[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            value = inherited.get(column)
        if kind == "json":
            value = convert.json(value)
        elif kind in ("bool", "flag") and type(value) is not bool:
            if value is not None:
                # As SQLAlchemy's Boolean did: pages are stored as they came, and a
                # malformed one fails its step instead of filling a column with text.
                raise ValueError(f"{column}: not a boolean: {value!r}")
            if kind == "flag":
                value = False  # absent means not deleted
        elif kind == "date" and value is not None:
            value = convert.date(value)
        row.append(value)
    row.append(convert.json(document))
    row.append(synced_at)
    return tuple(row)
