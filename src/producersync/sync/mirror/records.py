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

A record is stored as it came, whatever its fields hold: one its typed columns cannot
hold (a blank ``expirationDate``, a list where a string belongs) is written with that
column NULL, its raw value kept in ``record``, and the field listed in ``malformed``
until the record's next change is written clean. It failed its whole page before, and
the page failed again on every retry and every later sync: no record after it reached
the mirror. A nested child without an integer id cannot be stored in its table: it
stays in its parent's ``record``, listed too.

A nested list is read as the SDK reads it (``model.records.nested_list``): the array, or
the object the public reference types it as (``{"regulatoryActionValues": [...]}``),
stored as the array it holds. Taken for a malformed child before, that object left every
LOA and regulatory action value of an API sending it out of their tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.model.dates import iso_date
from producersync.model.records import nested_list
from producersync.sync.mirror.driver import (
    Converters,
    NulInRows,
    converters,
    delete_malformed,
    lock_for_writing,
    select_documents,
    select_inactive,
    write_rows,
)
from producersync.sync.mirror.feed import Change, ChangeRow, append_changes
from producersync.sync.mirror.tables import CHILDREN, MIRRORED, Mirrored, malformed, sync_runs

__all__ = [
    "CHUNK",
    "Malformed",
    "UpsertCounts",
    "as_stored",
    "chunks",
    "purge_npns",
    "same_json",
    "upsert_records",
]

CHUNK = 900  # values per `IN (...)`: under the variable limit of every SQLite build
_SHOWN = 200  # characters of a malformed value's repr kept and shown
_ID_RANGE = range(-(2**63), 2**63)  # what a BIGINT (SQLite's INTEGER too) holds
_UNTRANSLATABLE = "22P05"  # PostgreSQL's SQLSTATE for a \\u0000 in text or jsonb
# Rows a write looks through for a NUL itself, on PostgreSQL, rather than have the
# database refuse them inside a savepoint: looking costs ~1.6 us a license, a savepoint
# two round trips, so a backfill's 1,000-record pages keep the savepoint.
_NUL_SCANNED = 200


@dataclass(frozen=True)
class Malformed:
    """A field of a record that its typed column could not hold (the column NULL, the
    raw value in ``record``), or a nested child that could not be stored (``field``
    names it: ``licenseLoas[2].id``)."""

    resource: str
    record_id: int | None  # None: a record of its own without a usable id, not stored
    npn: str | None
    field: str
    value: str  # its repr, cut to ``_SHOWN`` characters


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int
    # What went to the change feed, children's changes included (for the hooks).
    changes: tuple[Change, ...] = field(default=(), compare=False)
    # The fields of the records written that their columns could not hold, children's
    # included: each reported once, when its record is written.
    malformed: tuple[Malformed, ...] = field(default=(), compare=False)


# A document to write, and the typed values it inherits from its parent when it lacks
# them (a nested LOA may not repeat its license's id).
_Pending = tuple[dict[str, Any], dict[str, Any]]


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def upsert_records(
    conn: sa.Connection,
    resource: str,
    records: Sequence[Any],
    *,
    run_id: int | None = None,
    changes: bool = True,
) -> UpsertCounts:
    """Insert or update ``records`` (wire JSON, camelCase) of ``resource``; nested
    children (a license's LOAs, an action's values) go to their own tables too. The
    counts are the resource's own records'; a record older than the stored one
    (``updatedAt``) counts as unchanged and is not written. The change feed gets a row
    per record written either way; ``changes``: the counts carry them too (for hooks).
    A record of an NPN recorded inactive is not written, and counts as unchanged. What
    the typed columns could not hold is recorded in ``malformed``, and answered; a
    record without an integer id (or not an object) is answered, not written."""
    mirrored = _mirrored(resource)
    now = dt.datetime.now(dt.UTC)
    child_key, child_resource, parent_field = CHILDREN.get(resource, (None, None, None))
    lock_for_writing(conn, mirrored.table)  # before reading the population: see there
    bad: list[Malformed] = []
    documents = []
    for record in records:
        if isinstance(record, dict) and type(record.get("id")) is int and record["id"] in _ID_RANGE:
            documents.append(_document(record, child_key))
        else:
            bad.append(_set_aside(resource, record, None, "id"))
    npns = {d["npn"] for d in documents if type(d.get("npn")) is str}
    inactive = select_inactive(conn, list(npns))
    # Without the test when none is inactive: a backfill's every page.
    pending: dict[int, _Pending] = {
        document["id"]: (document, {})
        for document in documents
        if not inactive or document.get("npn") not in inactive
    }
    written = _upsert(conn, mirrored, pending, run_id, now)
    feed = written.feed
    bad += written.malformed
    found = list(bad)
    if child_key and child_resource and parent_field:
        # Not a stale parent's: its nested children are as old as it is, and an
        # out-of-order page must not undo newer children either.
        current = {id_: parent for id_, parent in pending.items() if id_ not in written.stale}
        children = _children(resource, current, child_key, parent_field, written, bad)
        child = MIRRORED[child_resource]
        lock_for_writing(conn, child.table)
        nested = _upsert(conn, child, children, run_id, now)
        feed += nested.feed
        _record_malformed(conn, child.resource, nested.rewritten, nested.malformed, run_id, now)
        found = bad + nested.malformed
    _record_malformed(conn, resource, written.rewritten, bad, run_id, now)
    _count_not_stored(conn, run_id, len(records) - len(documents))
    # The feed last, in one write: see ``feed`` on why it is the transaction's last.
    changed = append_changes(conn, feed, answer=changes)
    inserted, updated = written.inserted, len(written.rewritten)
    unchanged = len(records) - inserted - updated
    return UpsertCounts(inserted, updated, unchanged, tuple(changed), tuple(found))


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
    for chunk in chunks(list(times)):
        conn.execute(sa.delete(malformed).where(malformed.c.npn.in_(chunk)))
    return append_changes(conn, feed)  # last, as ``feed`` asks


def _count_not_stored(conn: sa.Connection, run_id: int | None, count: int) -> None:
    """Add ``count`` records not stored to the run's (``sync status``, the metrics), in
    the page's transaction: a page that fails to be written counts none."""
    if run_id is not None and count:
        runs = sync_runs.c
        query = sa.update(sync_runs).where(runs.id == run_id)
        conn.execute(query.values(not_stored=runs.not_stored + count))


def _mirrored(resource: str) -> Mirrored:
    try:
        return MIRRORED[resource]
    except KeyError:
        raise ValueError(f"unknown resource {resource!r}; one of {sorted(MIRRORED)}") from None


def _set_aside(resource: str, record: Any, parent: _Pending | None, where: str) -> Malformed:
    """``record``, which is not an object with an id its table can hold: a child under
    its parent, at ``where`` (it stays in the parent's ``record``); a record of its own
    under no id (nowhere to keep it but the answer)."""
    if parent is not None:
        document, _ = parent
        npn = _npn(document.get("npn"))
        return Malformed(resource, document["id"], npn, where, _shown(record))
    npn = record.get("npn") if isinstance(record, dict) else None
    value = record.get("id") if isinstance(record, dict) else record
    return Malformed(resource, None, _npn(npn), where, _shown(value))


def _npn(value: Any) -> str | None:
    """An NPN to report: text, without NUL characters (``malformed`` is text too), cut
    as a value is (``_cut``)."""
    return _cut(value.replace("\x00", "\ufffd")) if type(value) is str else None


def _shown(value: Any) -> str:
    return _cut(repr(value))


def _cut(text: str) -> str:
    """``text`` within ``_SHOWN`` characters. Also what bounds the NPN and the field
    ``malformed`` indexes: the API bounds neither an unreadable NPN nor a field's name,
    and a PostgreSQL index entry holds ~2,700 bytes (a longer one failed its page on
    every sync)."""
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def _document(record: Mapping[str, Any], child_key: str | None) -> dict[str, Any]:
    """The record as stored and compared: without links, here or in nested children, and
    its nested list as the list, had it come in the reference's container object
    (``nested_list``): whichever form the API sends, the record is stored alike, and one
    sent the other way is no change. Records are JSON values already
    (``model_dump(mode="json")``), as stored ones read back."""
    document = dict(record)
    document.pop("links", None)
    if child_key:
        nested = document.get(child_key)
        if isinstance(nested, dict):
            nested = document[child_key] = nested_list(nested, child_key)
        if isinstance(nested, list):
            document[child_key] = [_unlinked(child) for child in nested]
    return document


def _unlinked(child: Any) -> Any:
    if not isinstance(child, dict) or "links" not in child:
        return child
    child = dict(child)
    del child["links"]
    return child


def _children(
    resource: str,
    parents: dict[int, _Pending],
    key: str,
    parent_field: str,
    written: _Written,
    bad: list[Malformed],
) -> dict[int, _Pending]:
    """The children nested in ``parents`` under ``key``; those that cannot be stored
    (not objects, no integer id) and a ``key`` that is not a list go to ``bad``, if their
    parent was ``written`` (once: a parent unchanged was written before)."""
    children: dict[int, _Pending] = {}
    for pending in parents.values():
        parent = pending[0]
        nested = parent.get(key)
        report = bad if parent["id"] in written.ids else []
        if not isinstance(nested, list):
            if nested is not None:
                report.append(_set_aside(resource, nested, pending, key))
            continue
        inherited = {parent_field: parent["id"], "npn": parent.get("npn")}
        for i, child in enumerate(nested):
            if (
                isinstance(child, dict)
                and type(child.get("id")) is int
                and child["id"] in _ID_RANGE
            ):
                children[child["id"]] = (child, inherited)
            else:
                report.append(_set_aside(resource, child, pending, f"{key}[{i}]"))
    return children


@dataclass
class _Written:
    """What ``_upsert`` did."""

    inserted: int
    rewritten: list[int]  # the ids of the records updated
    ids: set[int]  # the ids of the records written, inserted or updated
    feed: list[ChangeRow]  # the change rows to append
    stale: set[int]  # the ids not written for being older than the stored one
    malformed: list[Malformed]  # of the records written


def _upsert(
    conn: sa.Connection,
    mirrored: Mirrored,
    pending: dict[int, _Pending],
    run_id: int | None,
    now: dt.datetime,
    *,
    nul_free: bool = False,
) -> _Written:
    """Write what is new or changed in ``pending``, the table locked (``lock_for_writing``,
    before reading what is stored: see there). ``nul_free``: every NUL character as
    U+FFFD first (PostgreSQL's text and jsonb cannot hold one)."""
    table = mirrored.table
    stored = select_documents(conn, table, list(pending))  # under the caller's lock
    convert = converters(conn)
    synced_at = convert.timestamp(now)
    layout = _LAYOUTS[mirrored.resource]
    rows: list[tuple[Any, ...]] = []
    done = _Written(0, [], set(), [], set(), [])
    # An insert's fields are all of its record's, and a page's records mostly have the
    # same keys: one sorted list for each set of keys (a backfill's 212,000 inserts).
    every_field: dict[tuple[str, ...], list[str]] = {}
    for record_id, (document, inherited) in pending.items():
        nul: dict[str, Any] = {}
        if nul_free:
            # Compared so, a record stored is unchanged when it comes again with its
            # NUL characters, and is not written (nor reported) anew.
            document, nul = _without_nul(document)
        old = stored.get(record_id)
        if old is not None and _stale(document, old):
            done.stale.add(record_id)
            continue
        if old is None:  # a backfill's case, inline
            keys = tuple(document)
            fields = every_field.get(keys) or every_field.setdefault(keys, sorted(keys))
        else:
            fields = _changed(document, old)
            if not fields:
                continue
        bad = done.malformed
        if nul:
            row = _lenient_row(mirrored, convert, document, inherited, synced_at, nul, bad)
        else:
            try:
                row = _row(layout, convert, document, inherited, synced_at)
            except (ValueError, TypeError):
                row = _lenient_row(mirrored, convert, document, inherited, synced_at, nul, bad)
        if old is None:
            action = "insert"
            done.inserted += 1
        else:
            action = "update"
            done.rewritten.append(record_id)
        done.ids.add(record_id)
        rows.append(row)
        done.feed.append((mirrored.resource, record_id, row[1], action, fields, run_id, now))
    if not rows:
        return done
    columns = _COLUMNS[mirrored.resource]
    if convert.sqlite or nul_free:
        write_rows(conn, table, columns, rows, upsert=True)
        return done
    if len(rows) <= _NUL_SCANNED:
        # A day's pages are small: their JSON looked through for a NUL (~60 us for 39
        # licenses) costs less than a savepoint's two round trips (0.3-1 ms a page).
        try:
            write_rows(conn, table, columns, rows, upsert=True, refuse_nul=True)
        except NulInRows:
            return _upsert(conn, mirrored, pending, run_id, now, nul_free=True)
        return done
    # A savepoint, two round trips a page, where looking for NUL characters in the
    # page's JSON cost 0.7 us a license; PostgreSQL finds them as it parses it.
    try:
        with conn.begin_nested():
            write_rows(conn, table, columns, rows, upsert=True)
    except sa.exc.DataError as exc:
        if getattr(exc.orig, "sqlstate", None) != _UNTRANSLATABLE:
            raise
        return _upsert(conn, mirrored, pending, run_id, now, nul_free=True)
    return done


def _changed(document: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """The fields of ``document`` that differ from the stored ``old`` (``same_json``)."""
    if document == old and _json(document) == _json(old):
        return []  # a record come again unchanged: one comparison, not one a field
    # A field absent on one side equals null: a newer API adding a field with no value is
    # not a change. Nor is niprDeleted's false left out: absent, it is stored as false.
    # ``same_json`` inline, the scalars' case first: through two calls a field, a day's
    # 239 changed records took 1.4 ms of the sync's CPU, 1.1 ms so.
    new, was = document.get, old.get
    changed = [
        key
        for key in document.keys() | old.keys()
        if (a := new(key)) != (b := was(key))
        or type(a) is not type(b)
        or ((type(a) is list or type(a) is dict) and _json(a) != _json(b))
    ]
    if "niprDeleted" in changed and same_json(
        _field(document, "niprDeleted"), _field(old, "niprDeleted")
    ):
        changed.remove("niprDeleted")
    return sorted(changed)


def same_json(new: Any, old: Any) -> bool:
    """Whether two JSON values are one: equal and of one type, at any depth. Python's
    ``1 == True == 1.0`` took an ``active`` sent as 1, then as true, for no change: the
    feed missed it, and ``record`` kept the 1 (``sync verify`` found them equal too). A
    list or an object compares as sorted JSON (its equality first, most often false for
    a change): a record's LOAs, walked in Python, cost 45 us against 12."""
    if type(new) is not type(old):
        return False
    if type(new) is list or type(new) is dict:
        return bool(new == old) and _json(new) == _json(old)
    return bool(new == old)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _without_nul(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``document`` with every NUL character, in values and keys at any depth, replaced
    by U+FFFD; and the top-level fields that held one (their keys so replaced), with
    their values as they came."""
    clean: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for key, value in document.items():
        fixed_key, fixed = _nul_free(key), _nul_free(value)
        clean[fixed_key] = fixed
        if fixed_key != key or fixed != value:
            found[fixed_key] = value
    return (clean, found) if found else (document, found)


def as_stored(conn: sa.Connection, value: Any) -> Any:
    """``value`` (wire JSON) as the mirror on ``conn`` stores it: on PostgreSQL, each
    NUL character, in values and keys at any depth, as U+FFFD (its text and jsonb cannot
    hold one); on SQLite, as it is."""
    return value if converters(conn).sqlite else _nul_free(value)


def _nul_free(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_nul_free(item) for item in value]
    if isinstance(value, dict):
        return {_nul_free(key): _nul_free(item) for key, item in value.items()}
    return value


def _record_malformed(
    conn: sa.Connection,
    resource: str,
    rewritten: Sequence[int],
    found: Sequence[Malformed],
    run_id: int | None,
    now: dt.datetime,
) -> None:
    """The records of ``resource`` written anew lose what ``malformed`` listed of them,
    and ``found`` is listed (once a field: a page may hold a record twice)."""
    listed = {(m.record_id, m.field): m for m in found if m.record_id is not None}
    cleared = [*rewritten, *{record_id for record_id, _ in listed}]
    if cleared:
        delete_malformed(conn, resource, cleared)
    if listed:
        stamp = converters(conn).timestamp(now)
        rows = [
            (m.resource, m.record_id, m.field, m.npn, m.value, run_id, stamp)
            for m in listed.values()
        ]
        write_rows(conn, malformed, _MALFORMED_COLUMNS, rows)


def _field(document: dict[str, Any], key: str) -> Any:
    value = document.get(key)
    return False if value is None and key == "niprDeleted" else value


def _stale(document: dict[str, Any], old: dict[str, Any]) -> bool:
    """An out-of-order write: the stored record is newer (ISO dates compare as text)."""
    new_date, old_date = document.get("updatedAt"), old.get("updatedAt")
    if not (type(new_date) is str and type(old_date) is str and new_date < old_date):
        return False
    # Only dates have an order to keep: a malformed one stored ("yesterday") comes after
    # every date as text, and no correction of it would ever be written.
    return _is_date(new_date) and _is_date(old_date)


def _is_date(text: str) -> bool:
    """A date as the API writes it (yyyy-MM-dd), or one with a time after it (the
    contract's are dates; a time after one orders as text all the same). Not any ISO
    form: a stored 20990101 comes after every yyyy-MM-dd date as text, and no correction
    of it would ever be written."""
    try:
        iso_date(text[:10])
        if len(text) > 10:
            dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Layout:
    """How a table's row comes out of a wire record: the typed columns between ``id`` and
    ``record``, each read by the first key of its path, then fixed up by kind. A row is
    built per record written (a backfill's 212,000), and a loop over the columns testing
    each one's kind was a quarter of a SQLite page's upsert."""

    keys: tuple[str, ...]  # each typed column's top-level key in the wire record
    # A typed column's wire path (dotted) -> its place among the typed columns: what a
    # nested child inherits from its parent is named by its wire field ("licenseId").
    places: dict[str, int]
    nested: tuple[tuple[int, tuple[str, ...]], ...]  # a dotted path's place, rest of path
    kinds: tuple[str, ...]  # each typed column's kind (``_typed``)
    booleans: tuple[tuple[int, str], ...]  # (place, column): a JSON boolean or null
    flag: int | None  # ``nipr_deleted``: a boolean, absent meaning not deleted
    npn: int | None  # ``npn``: text of at most ``_NPN_LENGTH`` characters
    strings: tuple[int, ...]  # text of any length
    integers: tuple[int, ...]  # another record's id
    dates: tuple[int, ...]
    texts: tuple[int, ...]  # a list of text (``loaMapping.categories``)
    paths: tuple[str, ...]  # each typed column's path in the wire record, dotted


def _layout(mirrored: Mirrored) -> _Layout:
    names = [column.name for column in mirrored.table.c]
    if names != ["id", *mirrored.columns, "record", "synced_at"]:
        raise AssertionError(f"{mirrored.table.name}: columns out of order: {names}")
    columns = list(mirrored.columns.items())
    kinds = tuple(_kind(mirrored.table.c[column]) for column, _ in columns)
    places = range(len(columns))
    return _Layout(
        keys=tuple(path[0] for _, path in columns),
        places={".".join(path): i for i, (_, path) in enumerate(columns)},
        nested=tuple((i, columns[i][1][1:]) for i in places if len(columns[i][1]) > 1),
        kinds=kinds,
        booleans=tuple((i, columns[i][0]) for i in places if kinds[i] == "bool"),
        flag=next((i for i in places if kinds[i] == "flag"), None),
        npn=next((i for i in places if kinds[i] == "npn"), None),
        strings=tuple(i for i in places if kinds[i] == "string"),
        integers=tuple(i for i in places if kinds[i] == "integer"),
        dates=tuple(i for i in places if kinds[i] == "date"),
        texts=tuple(i for i in places if kinds[i] == "texts"),
        paths=tuple(".".join(path) for _, path in columns),
    )


def _kind(column: sa.Column[Any]) -> str:
    if column.name == "nipr_deleted":
        return "flag"  # absent means not deleted
    if column.name == "npn":
        return "npn"
    if isinstance(column.type, sa.Boolean):
        return "bool"
    if isinstance(column.type, sa.Date):
        return "date"
    if isinstance(column.type, sa.JSON):
        # The typed JSON columns are categories, each a list of text (the contract's
        # array of strings): one sent as "life" would be matched letter by letter.
        return "texts"
    if isinstance(column.type, sa.Integer):
        return "integer"
    if isinstance(column.type, sa.String):
        return "string"
    raise AssertionError(f"{column.table.name}.{column.name}: no kind for {column.type!r}")


_LAYOUTS = {resource: _layout(mirrored) for resource, mirrored in MIRRORED.items()}
_COLUMNS = {
    resource: tuple(column.name for column in mirrored.table.c)
    for resource, mirrored in MIRRORED.items()
}
_MALFORMED_COLUMNS = tuple(column.name for column in malformed.c)
_NPN_LENGTH = 10


def _values(layout: _Layout, document: dict[str, Any], inherited: dict[str, Any]) -> list[Any]:
    """The typed columns' values as the wire record has them (or its parent's, where
    it has none)."""
    values: list[Any] = list(map(document.get, layout.keys))
    for i, rest in layout.nested:
        value = values[i]
        for key in rest:
            value = value.get(key) if isinstance(value, dict) else None
        values[i] = value
    for key, value in inherited.items():
        place = layout.places.get(key)
        if place is not None and values[place] is None:
            values[place] = value
    return values


def _row(
    layout: _Layout,
    convert: Converters,
    document: dict[str, Any],
    inherited: dict[str, Any],
    synced_at: Any,
) -> tuple[Any, ...]:
    """The table row of ``document``, in the table's column order; a ValueError or a
    TypeError for a value its column cannot hold (``_lenient_row`` then). Each check a
    bare loop: this is a backfill's loop, a row at a time."""
    values = _values(layout, document, inherited)
    for i, column in layout.booleans:
        _boolean(column, values[i])
    if layout.flag is not None:
        flag = values[layout.flag]
        values[layout.flag] = flag if _boolean("nipr_deleted", flag) else False
    if layout.npn is not None:
        npn = values[layout.npn]
        if npn is not None and (type(npn) is not str or len(npn) > _NPN_LENGTH):
            raise ValueError(f"npn: not an NPN: {npn!r}")
    for i in layout.strings:
        if type(values[i]) is not str and values[i] is not None:
            raise TypeError(f"{layout.paths[i]}: not a string: {values[i]!r}")
    for i in layout.integers:
        value = values[i]
        # An int's place in a range is arithmetic; anything else's, a search of it.
        if value is not None and (type(value) is not int or value not in _ID_RANGE):
            raise TypeError(f"{layout.paths[i]}: not an id: {value!r}")
    for i in layout.dates:
        if values[i] is not None:
            values[i] = convert.date(values[i])
    for i in layout.texts:
        value = values[i]
        if value is not None and not _texts(value):
            raise TypeError(f"{layout.paths[i]}: not a list of text: {value!r}")
        values[i] = convert.json(value)
    return (document["id"], *values, convert.json(document), synced_at)


def _lenient_row(
    mirrored: Mirrored,
    convert: Converters,
    document: dict[str, Any],
    inherited: dict[str, Any],
    synced_at: Any,
    nul: dict[str, Any],
    bad: list[Malformed],
) -> tuple[Any, ...]:
    """``_row``, each value its column cannot hold left NULL (``nipr_deleted``: false)
    and listed in ``bad``; the raw value stays in ``record``. Column by column: only a
    record ``_row`` refused comes here. ``nul``: the fields whose NUL characters were
    replaced (``_without_nul``), listed too. A nested child's field its column cannot
    hold takes its parent's value instead, listed all the same: nested in a license, an
    LOA whose ``licenseId`` was malformed is that license's (NULL, no check found it)."""
    layout = _LAYOUTS[mirrored.resource]
    values = _values(layout, document, inherited)
    parents = [inherited.get(path) for path in layout.paths]
    own = values[layout.npn] if layout.npn is not None else None
    # A child's own NPN unreadable, its parent's, as its column: a purge of that NPN
    # forgets what is listed of it too.
    readable = type(own) is str and len(own) <= _NPN_LENGTH
    npn = _npn(own if readable else inherited.get("npn", own))
    resource, record_id = mirrored.resource, document["id"]
    bad += [
        Malformed(resource, record_id, npn, _cut(key), _shown(value)) for key, value in nul.items()
    ]
    for i, kind in enumerate(layout.kinds):
        try:
            values[i] = _typed(kind, values[i], convert)
        except (ValueError, TypeError):
            shown = _shown(values[i])
            bad.append(Malformed(resource, record_id, npn, layout.paths[i], shown))
            values[i] = _inherited(kind, parents[i], convert)
    return (record_id, *values, convert.json(document), synced_at)


def _inherited(kind: str, parent: Any, convert: Converters) -> Any:
    """A typed column's value from the parent's (None: it has none), or what an
    unreadable value leaves (``nipr_deleted``: false) when that cannot be held either."""
    try:
        return _typed(kind, parent, convert)
    except (ValueError, TypeError):
        return False if kind == "flag" else None


def _typed(kind: str, value: Any, convert: Converters) -> Any:
    """One typed column's value as ``_row`` makes it; raises where ``_row`` does."""
    if kind == "texts":  # null as ``_row`` writes it: JSON's
        if value is not None and not _texts(value):
            raise ValueError(f"not a list of text: {value!r}")
        return convert.json(value)
    if value is None:
        return False if kind == "flag" else None
    if kind == "date":
        return convert.date(value)
    if kind in ("bool", "flag"):
        fits = type(value) is bool
    elif kind == "npn":
        fits = type(value) is str and len(value) <= _NPN_LENGTH
    elif kind == "integer":
        fits = type(value) is int and value in _ID_RANGE
    else:
        fits = type(value) is str
    if not fits:
        raise ValueError(f"not a {kind}: {value!r}")
    return value


def _texts(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _boolean(column: str, value: Any) -> bool:
    """Whether ``value`` is a boolean; None is not, anything else is an error (a
    ValueError: ``_lenient_row`` takes the record then)."""
    if type(value) is bool:
        return True
    if value is not None:
        raise ValueError(f"{column}: not a boolean: {value!r}")
    return False
