"""Reading records: filtered keyset pages over a population, offset pages, lookups by id."""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from time import monotonic
from typing import Any

import sqlalchemy as sa

from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store.documents import served
from producersync.service.store.population import Population, in_population, population_npns
from producersync.service.store.tables import entities, license_loas, licenses

__all__ = [
    "RecordFilter",
    "Row",
    "Scope",
    "count_records",
    "list_after",
    "list_offset",
    "record_document",
    "record_npn",
]

Row = sa.Row[Any]
Scope = Population | str  # an account's whole population, or one NPN within it


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """The list filters of the API; None means "not filtered"."""

    npns: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None
    updated_since: dt.date | None = None
    include_deleted: bool = True
    active: bool | None = None
    loa_codes: tuple[str, ...] | None = None
    loa_categories: tuple[str, ...] | None = None
    co_codes: tuple[str, ...] | None = None
    status: str | None = None
    parent: tuple[str, int] | None = None  # (column, id): the children of one record


def _has_category(
    column: sa.ColumnElement[str], categories: Sequence[str]
) -> sa.ColumnElement[bool]:
    # Lowered, as the filter's values are: a feed may write "Casualty", which LIKE matched
    # on SQLite (case-blind for ASCII) and never on PostgreSQL.
    padded = sa.literal(",") + sa.func.lower(sa.func.coalesce(column, "")) + sa.literal(",")
    return _any_of([padded.like(f"%,{c},%") for c in categories])


_OR_GROUP = 32


def _any_of(conditions: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[bool]:
    """The OR of ``conditions``, nested in groups of ``_OR_GROUP``. SQLite parses a flat
    OR into a tree as deep as it is long and refuses one deeper than 1,000: a license
    list's ``loaCategories`` of 500 values (1,000 are allowed) was a 500. SQLAlchemy
    flattens an OR nested in another, parenthesised or not, so each group is a CASE."""
    if len(conditions) <= _OR_GROUP:
        return sa.or_(*conditions)
    groups = [
        sa.case((sa.or_(*conditions[i : i + _OR_GROUP]), sa.true()), else_=sa.false())
        for i in range(0, len(conditions), _OR_GROUP)
    ]
    return _any_of(groups)


def _conditions(table: sa.Table, f: RecordFilter) -> list[sa.ColumnElement[bool]]:
    c = table.c
    where: list[sa.ColumnElement[bool]] = []
    if f.npns is not None:
        where.append(c.npn.in_(f.npns))
    if f.states is not None and "for_state" in c:
        where.append(c.for_state.in_(f.states))
    if f.updated_since is not None:
        where.append(c.updated_at >= f.updated_since)
    if not f.include_deleted:
        where.append(c.nipr_deleted.is_(False))
    if f.active is not None and "active" in c:
        where.append(c.active.is_(f.active))
    if f.co_codes is not None and "co_code" in c:
        where.append(c.co_code.in_(f.co_codes))
    if f.status is not None and "status" in c:
        where.append(c.status == f.status)
    if f.parent is not None:
        where.append(c[f.parent[0]] == f.parent[1])
    if table is licenses and (f.loa_codes is not None or f.loa_categories is not None):
        # A license matches when at least one of its LOAs does.
        loa_match: list[sa.ColumnElement[bool]] = [license_loas.c.license_id == c.id]
        if not f.include_deleted:
            # Only by the LOAs the license is served with: a deleted one is left out of
            # its licenseLoas, and matched a license that showed no such LOA.
            loa_match.append(license_loas.c.nipr_deleted.is_(False))
        if f.loa_codes is not None:
            loa_match.append(license_loas.c.loa_code.in_(f.loa_codes))
        if f.loa_categories is not None:
            loa_match.append(_has_category(license_loas.c.loa_categories, f.loa_categories))
        where.append(sa.exists().where(*loa_match))
    else:
        if f.loa_codes is not None and "loa_code" in c:
            where.append(c.loa_code.in_(f.loa_codes))
        if f.loa_categories is not None and "loa_categories" in c:
            where.append(_has_category(c.loa_categories, f.loa_categories))
    return where


FEW_CHANGES = 20_000
"""Below this many records changed since ``updatedSince``, a population's page starts
from those records instead of walking the population (see ``_scoped``)."""


COUNT_SECONDS = 30.0
"""How long a count of the records changed since a date stands for it. The count only
picks a plan, never the rows: an old one costs a slower query for a while at worst."""

COUNTS_KEPT = 256
"""Counts kept per store at most: a sync's day asks for 8 lists (a few dates at most, in
a backfill), while a client walking dates, one request each, would otherwise add a count
per date for good (a count past ``COUNT_SECONDS`` is never read again, but was kept)."""


class _Counts:
    """Counts of changes by (table, since), each standing ``COUNT_SECONDS``, at most
    ``COUNTS_KEPT`` of them: stale ones are dropped as new ones come, the oldest first
    when all are fresh. Guarded by a lock: the API reads pages in a pool of threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Oldest count first: a fresh count moves its key to the end.
        self._counts: OrderedDict[tuple[str, dt.date], tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def get(self, key: tuple[str, dt.date], now: float) -> int | None:
        with self._lock:
            known = self._counts.get(key)
        if known is None or now - known[1] > COUNT_SECONDS:
            return None
        return known[0]

    def put(self, key: tuple[str, dt.date], count: int, now: float) -> None:
        with self._lock:
            counts = self._counts
            counts[key] = (count, now)
            counts.move_to_end(key)
            while counts:
                oldest = next(iter(counts.values()))
                if len(counts) <= COUNTS_KEPT and now - oldest[1] <= COUNT_SECONDS:
                    break
                counts.popitem(last=False)


# Per store, held no longer than the engine.
_COUNTS: weakref.WeakKeyDictionary[sa.Engine, _Counts] = weakref.WeakKeyDictionary()
_COUNTS_LOCK = threading.Lock()


def _few_changes(conn: sa.Connection, table: sa.Table, since: dt.date) -> bool:
    """Whether the records changed since ``since`` are few: counted in the index on
    ``updated_at``, never past ``FEW_CHANGES`` of them, and once in ``COUNT_SECONDS``:
    a sync reads a day's lists several times over within seconds (8 lists, one request
    each, and a count was a third of a request's SQL on PostgreSQL)."""
    with _COUNTS_LOCK:
        counts = _COUNTS.setdefault(conn.engine, _Counts())
    key = (table.name, since)
    count = counts.get(key, monotonic())
    if count is None:
        changed = sa.select(sa.literal(1)).where(table.c.updated_at >= since).limit(FEW_CHANGES)
        query = sa.select(sa.func.count()).select_from(changed.subquery())
        count = conn.execute(query).scalar_one()
        counts.put(key, count, monotonic())
    return count < FEW_CHANGES


def _scoped(
    conn: sa.Connection,
    table: sa.Table,
    scope: Scope,
    f: RecordFilter,
    *columns: sa.ColumnElement[Any],
) -> tuple[sa.Select[Any], sa.ColumnElement[str]]:
    """The filtered records of the scope, and the NPN column to order pages by.

    Over a population, pages are ordered by the population's own NPN column: the planner
    then walks the subscriptions in order and seeks each NPN's records by (npn, id), so
    no page sorts anything, however large the population. That walk costs one seek per
    NPN however few records match, though: one day's 324 changes over 10,000 NPNs took
    72 ms on PostgreSQL. When the records changed since ``updatedSince`` are few, the
    query starts from them instead (materialised, so that no planner estimate turns it
    back into the walk), keeps those of the population and sorts them: work in
    proportion to the day's changes, not to the population."""
    query = sa.select(*columns)
    if isinstance(scope, str):
        return query.where(table.c.npn == scope, *_conditions(table, f)), table.c.npn
    since = f.updated_since
    if since is None or not _few_changes(conn, table, since):
        people = population_npns(scope).subquery("population")
        query = query.join_from(table, people, table.c.npn == people.c.npn)
        return query.where(*_conditions(table, f)), people.c.npn
    changed = (
        sa.select(table.c.id, table.c.npn)
        .where(table.c.updated_at >= since)
        .cte("changed")
        .prefix_with("MATERIALIZED")
    )
    # The date is settled in the CTE; said again here, it would have the planner read
    # the day's rows a second time.
    where = _conditions(table, replace(f, updated_since=None))
    if conn.dialect.name == "sqlite":
        # Joined to the population, SQLite first builds a Bloom filter of all of it:
        # 3.3 ms for one day's 1,216 changed licenses over 10,000 NPNs, against 0.6 ms
        # probing the subscriptions' index once per changed record. PostgreSQL hashes
        # the population either way, and plans the join best.
        query = query.select_from(changed.join(table, table.c.id == changed.c.id))
        return query.where(in_population(scope, changed.c.npn), *where), changed.c.npn
    people = population_npns(scope).subquery("population")
    joined = changed.join(people, changed.c.npn == people.c.npn)
    query = query.select_from(joined.join(table, table.c.id == changed.c.id))
    return query.where(*where), people.c.npn


def _page_columns(table: sa.Table, f: RecordFilter) -> list[sa.ColumnElement[Any]]:
    return [
        table.c.npn,
        table.c.id,
        served(table, include_deleted=f.include_deleted).label("document"),
    ]


def list_after(
    conn: sa.Connection,
    table: sa.Table,
    scope: Scope,
    f: RecordFilter,
    after: tuple[str, int] | None,
    size: int,
    *,
    offset: int = 0,
) -> list[Row]:
    """One keyset page in (npn, id) order: every page is an index seek, however deep.
    Rows are (npn, id, document), the document being the record's JSON as served, links
    relative (``documents.root_links`` roots them). ``offset``: past that many records
    (``list_offset``).

    A sandbox account's population is its subscriptions and the sandbox's NPNs: as one
    set (a UNION), no index gave its order, and every page sorted all of its records
    (608 of a 152-NPN population for a page of 250, PostgreSQL and SQLite alike). So the
    page is merged from the subscriptions' page, walked in order, and each sandbox NPN's
    that the account does not subscribe: the sort is of a page from each."""
    if not (isinstance(scope, Population) and scope.sandbox):
        query = _ordered(conn, table, scope, f, after).limit(size).offset(offset)
        return list(conn.execute(query).all())
    subscribed = Population(scope.account_id, sandbox=False)
    branches = [_ordered(conn, table, subscribed, f, after)]
    for npn in SANDBOX_NPNS:
        known = sa.exists().where(entities.c.npn == npn)
        branch = _ordered(conn, table, npn, f, after)
        branches.append(branch.where(known, ~in_population(subscribed, table.c.npn)))
    pages = [sa.select(b.limit(offset + size).subquery()) for b in branches]
    merged = sa.union_all(*pages).subquery()
    query = sa.select(merged).order_by(merged.c.npn, merged.c.id).limit(size).offset(offset)
    return list(conn.execute(query).all())


def list_offset(
    conn: sa.Connection, table: sa.Table, scope: Scope, f: RecordFilter, page: int, size: int
) -> list[Row]:
    """A numbered page (v1): the records before it are read and skipped."""
    return list_after(conn, table, scope, f, None, size, offset=page * size)


def _ordered(
    conn: sa.Connection,
    table: sa.Table,
    scope: Scope,
    f: RecordFilter,
    after: tuple[str, int] | None,
) -> sa.Select[Any]:
    """The scope's records after ``after``, in (npn, id) order."""
    query, npn = _scoped(conn, table, scope, f, *_page_columns(table, f))
    if after is not None:
        after_npn, after_id = after
        query = query.where(npn >= after_npn, sa.or_(npn > after_npn, table.c.id > after_id))
    return query.order_by(npn, table.c.id)


def count_records(conn: sa.Connection, table: sa.Table, scope: Scope, f: RecordFilter) -> int:
    inner = _scoped(conn, table, scope, f, table.c.id)[0].subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


def record_npn(conn: sa.Connection, table: sa.Table, record_id: int) -> str | None:
    """The NPN a record belongs to; None when there is no such record."""
    return conn.execute(sa.select(table.c.npn).where(table.c.id == record_id)).scalar()


def record_document(conn: sa.Connection, table: sa.Table, record_id: int) -> str | None:
    """The record's JSON as served, links relative."""
    return conn.execute(sa.select(served(table)).where(table.c.id == record_id)).scalar()
