"""Reading records: filtered keyset pages over a population, offset pages, lookups by id."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from producersync.service.store.population import Population, population_npns
from producersync.service.store.tables import license_loas, licenses

__all__ = [
    "RecordFilter",
    "Row",
    "Scope",
    "children_of",
    "count_records",
    "get_record",
    "list_after",
    "list_offset",
    "resident_licenses",
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
    padded = sa.literal(",") + sa.func.coalesce(column, "") + sa.literal(",")
    return sa.or_(*(padded.like(f"%,{c},%") for c in categories))


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


def _scoped(
    table: sa.Table, scope: Scope, f: RecordFilter
) -> tuple[sa.Select[tuple[object, ...]], sa.ColumnElement[str]]:
    """The filtered records of the scope, and the NPN column to order pages by.

    Over a population, pages are ordered by the population's own NPN column: the planner
    then walks the subscriptions in order and seeks each NPN's records by (npn, id), so
    no page sorts anything, however large the population."""
    query = sa.select(table)
    npn: sa.ColumnElement[str]
    if isinstance(scope, str):
        query, npn = query.where(table.c.npn == scope), table.c.npn
    else:
        people = population_npns(scope).subquery("population")
        query, npn = query.join_from(table, people, table.c.npn == people.c.npn), people.c.npn
    return query.where(*_conditions(table, f)), npn


def list_after(
    conn: sa.Connection,
    table: sa.Table,
    scope: Scope,
    f: RecordFilter,
    after: tuple[str, int] | None,
    size: int,
) -> list[Row]:
    """One keyset page in (npn, id) order: every page is an index seek, however deep."""
    query, npn = _scoped(table, scope, f)
    if after is not None:
        after_npn, after_id = after
        query = query.where(npn >= after_npn, sa.or_(npn > after_npn, table.c.id > after_id))
    query = query.order_by(npn, table.c.id).limit(size)
    return list(conn.execute(query).all())


def list_offset(
    conn: sa.Connection, table: sa.Table, scope: Scope, f: RecordFilter, page: int, size: int
) -> list[Row]:
    query, npn = _scoped(table, scope, f)
    query = query.order_by(npn, table.c.id).limit(size).offset(page * size)
    return list(conn.execute(query).all())


def count_records(conn: sa.Connection, table: sa.Table, scope: Scope, f: RecordFilter) -> int:
    inner = _scoped(table, scope, f)[0].with_only_columns(table.c.id).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


def get_record(conn: sa.Connection, table: sa.Table, record_id: int) -> Row | None:
    return conn.execute(sa.select(table).where(table.c.id == record_id)).first()


def children_of(
    conn: sa.Connection,
    table: sa.Table,
    parent_column: str,
    parent_ids: Sequence[int],
    *,
    include_deleted: bool = True,
) -> dict[int, list[Row]]:
    """Child rows (LOAs of licenses, values of regulatory actions) grouped by parent id."""
    grouped: dict[int, list[Row]] = defaultdict(list)
    if not parent_ids:
        return grouped
    parent = table.c[parent_column]
    query = sa.select(table).where(parent.in_(parent_ids)).order_by(parent, table.c.id)
    if not include_deleted:
        query = query.where(table.c.nipr_deleted.is_(False))
    index = list(table.c).index(parent)
    for row in conn.execute(query).all():  # fetchall: one driver call, not one per row
        grouped[row[index]].append(row)
    return grouped


def resident_licenses(conn: sa.Connection, npns: Sequence[str]) -> dict[str, int]:
    """npn -> id of its live resident license, for the entities' ``residentLicense`` link."""
    if not npns:
        return {}
    rows = conn.execute(
        sa.select(licenses.c.npn, sa.func.min(licenses.c.id))
        .where(
            licenses.c.npn.in_(npns),
            licenses.c.residency_status == "R",
            licenses.c.nipr_deleted.is_(False),
        )
        .group_by(licenses.c.npn)
    )
    return {npn: int(license_id) for npn, license_id in rows}
