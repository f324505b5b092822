"""The change feed: one row per record inserted, changed or purged, in commit order.

Its ``id`` is the order and the cursor: a reader that keeps the last id it handled and
asks for the ids after it (``changes_since(..., after=id)``) misses nothing. On SQLite
the writers take turns (BEGIN IMMEDIATE). On PostgreSQL they write side by side, and a
transaction could take ids 1-250, then another 251-500 and commit first: a reader saw
251-500, went on after 500, and 1-250 were committed behind it, never read. So each
transaction takes an advisory lock when it appends, held to its commit: ids are taken
in commit order. Append last in a transaction (``upsert_records`` does): the lock then
covers one insert and the commit, and a writer holding it waits on no row lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.sync.mirror.driver import converters, one_of, write_rows
from producersync.sync.mirror.tables import change_fields, changes, hook_cursors

__all__ = [
    "Change",
    "ChangeRow",
    "append_changes",
    "changes_since",
    "iter_changes",
    "prune_changes",
]


@dataclass(frozen=True)
class Change:
    id: int
    resource: str
    record_id: int
    npn: str | None
    # The top-level wire fields that changed (all of them on insert). A tuple: every hook
    # is handed the same changes, and a list one hook edited would be what the next one sees.
    fields: tuple[str, ...]
    run_id: int | None
    changed_at: dt.datetime
    action: str = "update"  # "insert", "update" or "delete" (a purge)


# A change to append: resource, record id, NPN, action, fields, run id, time.
ChangeRow = tuple[str, int, str | None, str, list[str], int | None, dt.datetime]
_COLUMNS = ("resource", "record_id", "npn", "action", "fields", "fields_id", "run_id", "changed_at")
_KEY = ("id", "resource", "record_id")
_PG_FEED_LOCK = 0x46454544  # "FEED": an arbitrary constant shared by every sync process
_READ_BATCH = 1_000  # changes fetched at a time when the feed is read as it goes
# Bytes of an insert's list of fields (its JSON) shared through ``change_fields``, whose
# unique index holds an entry of ~2,700 bytes on PostgreSQL: a longer list (a record with
# that many fields, or a field's name that long: the API bounds neither) would fail its
# page on every sync. It stays in its change's row, as an update's does.
_LISTED_MOST = 2_000

_log = logging.getLogger(__name__)


def append_changes(
    conn: sa.Connection, rows: Sequence[ChangeRow], *, answer: bool = True
) -> list[Change]:
    """``rows`` in one write (``driver.write_rows``); the changes written, ids included
    (for the hooks, once the transaction commits). Without ``answer``, none: nobody
    listens, and on PostgreSQL the ids would cost a ``RETURNING`` of every row and the
    matching of each to its own (a tenth of a backfill's page)."""
    if not rows:
        return []
    convert = converters(conn)
    if not convert.sqlite:  # see the module's docstring
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_FEED_LOCK})")
    stamps = {at: convert.timestamp(at) for at in {row[6] for row in rows}}
    # The rows of a page's inserts share their fields' list (``records``): each dumped
    # once, and stored once in ``change_fields`` (see there), the rows naming its id.
    inserted = {id(row[4]): row[4] for row in rows if row[3] == "insert"}
    dumped = {key: orjson.dumps(fields) for key, fields in inserted.items()}
    texts = {key: text.decode() for key, text in dumped.items() if len(text) <= _LISTED_MOST}
    ids = _list_ids(conn, set(texts.values()))
    null = convert.json(None)
    listed = {key: ids[text] for key, text in texts.items()}
    values = [
        (resource, record_id, npn, action, null, listed[id(fields)], run_id, stamps[at])
        if id(fields) in listed
        else (resource, record_id, npn, action, convert.json(fields), None, run_id, stamps[at])
        for resource, record_id, npn, action, fields, run_id, at in rows
    ]
    if not answer:
        write_rows(conn, changes, _COLUMNS, values)
        return []
    if convert.sqlite:
        # The writer holds SQLite's write lock and ``id`` is the rowid, so the rows just
        # inserted took consecutive ids ending at the last one (RETURNING made this
        # insert 2.5x slower).
        write_rows(conn, changes, _COLUMNS, values)
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        taken: Sequence[int] = range(last - len(rows) + 1, last + 1)
    else:
        # The rows come back in no promised order: each id goes to its (resource,
        # record), and repeats of one take theirs in the order given.
        written = write_rows(conn, changes, _COLUMNS, values, returning=_KEY)
        by_record: dict[tuple[str, int], list[int]] = defaultdict(list)
        for id_, resource, record_id in sorted(written, reverse=True):
            by_record[resource, record_id].append(id_)
        taken = [by_record[row[0], row[1]].pop() for row in rows]
    # One tuple a list: a page's inserts share one (``records``), which the caller may
    # reuse; a tuple no hook can change, kept once for the page's changes.
    frozen: dict[int, tuple[str, ...]] = {}
    return [
        Change(
            id_,
            resource,
            record_id,
            npn,
            frozen.setdefault(id(fields), tuple(fields)),
            run_id,
            at,
            action,
        )
        for id_, (resource, record_id, npn, action, fields, run_id, at) in zip(
            taken, rows, strict=True
        )
    ]


def _list_ids(conn: sa.Connection, texts: set[str]) -> dict[str, int]:
    """The id in ``change_fields`` of each list of ``texts`` (JSON), those new to it added.
    Under the feed's lock on PostgreSQL: no other writer adds one meanwhile."""
    if not texts:
        return {}
    ids = _listed_ids(conn, texts)
    new = texts.difference(ids)
    if new:
        write_rows(conn, change_fields, ("fields",), [(text,) for text in sorted(new)])
        ids |= _listed_ids(conn, new)
    return ids


def _listed_ids(conn: sa.Connection, texts: set[str]) -> dict[str, int]:
    where, parameter = one_of(conn, "fields", sorted(texts), "text")
    sql = f"SELECT fields, id FROM {change_fields.name} WHERE {where}"
    return {text: id_ for text, id_ in conn.exec_driver_sql(sql, (parameter,))}


def changes_since(
    conn: sa.Connection,
    since: dt.datetime,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[Change]:
    """Changes at or after ``since`` (a naive datetime is UTC), in feed order (by id),
    at most ``limit``; ``after``: only those whose id is greater. To page, pass the last
    id read as ``after`` and the same ``since``: many changes share one time (a page's
    records, a purge), so a time alone cannot say where a page ended, and a change's
    time is its batch's (a purge's, its deactivation's), not its place in the feed."""
    return list(iter_changes(conn, since, after=after, limit=limit))


def iter_changes(
    conn: sa.Connection,
    since: dt.datetime,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> Iterator[Change]:
    """``changes_since``, read as it goes (on PostgreSQL through a server-side cursor),
    for a reader that hands each change on: the whole feed in a list took 1.6 KB a
    change (385 MB for 240,000), and its first line waited for its last. A negative
    ``limit`` is a ValueError: SQLite read it as none, PostgreSQL refused it."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    query = sa.select(changes).where(changes.c.changed_at >= since).order_by(changes.c.id)
    if after is not None:
        query = query.where(changes.c.id > after)
    elif converters(conn).sqlite:
        # Not past ``after``: a reader paging the feed would walk the index again for
        # every page, while the changes it has still to read follow its last.
        query = query.where(changes.c.id >= _first_id_since(since))
    if limit is not None:
        query = query.limit(limit)
    # The inserts' lists are read apart, not joined: joined, PostgreSQL planned a recent
    # ``since`` as a walk of the feed by id. There are a few (a list per set of fields
    # a resource's records come with), read once, and again for one added since.
    lists = _lists(conn)
    for row in conn.execute(query.execution_options(yield_per=_READ_BATCH)):
        values = row._mapping
        listed = values["fields_id"]
        if listed is not None and listed not in lists:
            lists = _lists(conn)
        # The inserts of a list share its tuple, as ``append_changes`` gives.
        yield _change(values, None if listed is None else lists[listed])


def _lists(conn: sa.Connection) -> dict[int, tuple[str, ...]]:
    """Every list of fields in ``change_fields``, by id."""
    rows = conn.execute(sa.select(change_fields.c.id, change_fields.c.fields))
    return {id_: tuple(orjson.loads(text)) for id_, text in rows}


def _first_id_since(since: dt.datetime) -> sa.ScalarSelect[Any]:
    """The first change's id at or after ``since``, from the index on ``changed_at``
    (SQLite's ``min(id)`` walked the feed by id, unless the id is an expression). The
    changes from it on are read by id, a purge's among them, whatever its time. SQLite
    keeps no statistics, and read the feed by id for its ``ORDER BY``, every change
    before the first at or after ``since`` (20-29 ms for none of 212,000, 0.4-0.8 ms
    so). The index costs an entry a change since, read to a limit or not: the first
    1,000 of all 212,000 took 19-32 ms, against 8-20 ms. Not on PostgreSQL: its statistics
    choose the index for a ``since`` that leaves a few, the ids for one that leaves
    most, where this made it scan the table (51 ms against 0.4 ms)."""
    first = sa.func.min(changes.c.id + sa.literal_column("0"))
    return sa.select(first).where(changes.c.changed_at >= since).scalar_subquery()


def _change(values: Mapping[str, Any] | sa.RowMapping, listed: tuple[str, ...] | None) -> Change:
    """A change of the feed; ``listed``: its insert's list of fields, from ``change_fields``."""
    return Change(
        id=values["id"],
        resource=values["resource"],
        record_id=values["record_id"],
        npn=values["npn"],
        fields=tuple(values["fields"]) if listed is None else listed,
        run_id=values["run_id"],
        changed_at=values["changed_at"],
        action=values["action"],
    )


def prune_changes(conn: sa.Connection, older_than: dt.datetime, *, most: int) -> int:
    """Delete the oldest changes, at most ``most``, of those before the first change at
    or after ``older_than``, the newest kept whatever its age; how many. A prefix of
    the feed, never a change from its middle: a purge appended today bears its
    deactivation's time, maybe older than ``older_than``, and a reader whose cursor is
    behind it has still to read it. The newest stays as the ids' high-water mark: on
    SQLite ``id`` is a rowid, which the next insert takes from the largest left, so
    the feed's ids would start over below the cursors of its readers."""
    kept = sa.select(sa.func.min(changes.c.id)).where(changes.c.changed_at >= older_than)
    first_kept = conn.execute(kept).scalar_one()
    if first_kept is None:
        first_kept = conn.execute(sa.select(sa.func.max(changes.c.id))).scalar_one()
        if first_kept is None:
            return 0
    oldest = (
        sa.select(changes.c.id)
        .where(changes.c.id < first_kept)
        .order_by(changes.c.id)
        .limit(most)
        .subquery()
    )
    last = conn.execute(sa.select(sa.func.max(oldest.c.id))).scalar_one()
    if last is None:
        return 0
    _log_hooks_losing(conn, last)
    return conn.execute(sa.delete(changes).where(changes.c.id <= last)).rowcount


def _log_hooks_losing(conn: sa.Connection, last: int) -> None:
    """An error for each Python hook (``sync.hooks``) whose cursor is behind changes up to
    ``last``, about to be pruned: it never gets them, and only this says so."""
    unhandled = sa.and_(changes.c.id > hook_cursors.c.after, changes.c.id <= last)
    owed = conn.execute(
        sa.select(
            hook_cursors.c.name,
            sa.func.count(),
            sa.func.min(changes.c.id),
            sa.func.max(changes.c.id),
        )
        .select_from(hook_cursors.join(changes, unhandled))
        .group_by(hook_cursors.c.name)
        .order_by(hook_cursors.c.name)
    )
    for name, count, first, final in owed:
        _log.error(
            "sync hook %r: %d changes (ids %d to %d) pruned before it handled them "
            "(PRODUCERSYNC_CHANGE_RETENTION_DAYS); its calls go on after them",
            name,
            count,
            first,
            final,
        )
