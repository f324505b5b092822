"""Upserts of wire records into the mirror; every real change goes to the change feed.

One batch is one SELECT of the stored documents by id, a comparison in Python, and one
executemany ``INSERT ... ON CONFLICT DO UPDATE`` of what is new or different: re-upserting
the same records writes nothing, and a row-by-row loop is what it replaces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from producersync.sync.mirror.engine import dialect_insert
from producersync.sync.mirror.feed import Change, append_changes
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
) -> UpsertCounts:
    """Insert or update ``records`` (wire JSON, camelCase) of ``resource``; nested
    children (a license's LOAs, an action's values) go to their own tables too. The
    counts are the resource's own records'; a record older than the stored one
    (``updatedAt``) counts as unchanged and is not written."""
    mirrored = _mirrored(resource)
    now = dt.datetime.now(dt.UTC)
    child_key, child_resource, parent_field = CHILDREN.get(resource, (None, None, None))
    documents = (_document(record, child_key) for record in records)
    pending: dict[int, _Pending] = {document["id"]: (document, {}) for document in documents}
    inserted, updated, changed = _upsert(conn, mirrored, pending, run_id, now)
    if child_key and child_resource and parent_field:
        children = _children(pending, child_key, parent_field)
        changed += _upsert(conn, MIRRORED[child_resource], children, run_id, now)[2]
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
                [
                    _change(resource, id_, npn, [], "delete", run_id, times[npn])
                    for id_, npn in gone
                ],
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
    document = {key: value for key, value in record.items() if key != "links"}
    if child_key and isinstance(document.get(child_key), list):
        document[child_key] = [
            {key: value for key, value in child.items() if key != "links"}
            for child in document[child_key]
        ]
    return document


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
) -> tuple[int, int, list[Change]]:
    table = mirrored.table
    stored = _stored(conn, table, list(pending))
    rows: list[dict[str, Any]] = []
    feed: list[dict[str, Any]] = []
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
        row = _row(mirrored, document, inherited)
        row["synced_at"] = now
        rows.append(row)
        feed.append(_change(mirrored.resource, record_id, row["npn"], fields, action, run_id, now))
    if not rows:
        return inserted, 0, []
    conn.execute(_upsert_statement(conn, table), rows)
    return inserted, len(rows) - inserted, append_changes(conn, feed)


def _stored(conn: sa.Connection, table: sa.Table, ids: list[int]) -> dict[int, dict[str, Any]]:
    stored: dict[int, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = sa.select(table.c.id, table.c.record).where(table.c.id.in_(chunk))
        stored.update((row.id, row.record) for row in conn.execute(query))
    return stored


def _stale(document: dict[str, Any], old: dict[str, Any]) -> bool:
    """An out-of-order write: the stored record is newer (ISO dates compare as text)."""
    new_date, old_date = document.get("updatedAt"), old.get("updatedAt")
    return bool(new_date and old_date and new_date < old_date)


def _row(mirrored: Mirrored, document: dict[str, Any], inherited: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": document["id"], "record": document}
    for column, path in mirrored.columns.items():
        value: Any = document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            value = inherited.get(column)
        elif column in mirrored.dates:
            value = dt.date.fromisoformat(value)
        row[column] = value
    row["nipr_deleted"] = bool(row["nipr_deleted"])  # absent means not deleted
    return row


def _upsert_statement(conn: sa.Connection, table: sa.Table) -> Any:
    statement = dialect_insert(conn, table)
    columns = [column.name for column in table.c if column.name != "id"]
    return statement.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: statement.excluded[name] for name in columns}
    )


def _change(
    resource: str,
    record_id: int,
    npn: str | None,
    fields: list[str],
    action: str,
    run_id: int | None,
    at: dt.datetime,
) -> dict[str, Any]:
    return {
        "resource": resource,
        "record_id": record_id,
        "npn": npn,
        "action": action,
        "fields": fields,
        "run_id": run_id,
        "changed_at": at,
    }
