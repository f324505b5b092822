"""Records as the API serves them, built as JSON by the database itself.

A 1000-record page with its nested LOAs is ~3000 JSON objects: built in Python they cost
most of a request; built by Postgres (``json_build_object``) or SQLite (``json_object``)
they arrive as one text per record, and Python only frames the page. Keys are the API's
camelCase names, in the table's column order, followed by the nested children and the
HAL links.

Even in the database, building them was nine tenths of a page's time (the nested
aggregate above all), so each record table but entities keeps its document in a
``document`` column, written with the record: ``refresh`` after every write. Links are
stored relative (``"/v1/licenses/7"``); ``root_links`` roots a page's worth at the
request's base URL in one pass.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from producersync.service.store import tables as t

__all__ = [
    "MATERIALIZED_TABLES",
    "document",
    "fill",
    "fill_all",
    "link_relations",
    "refresh",
    "root_links",
    "served",
]

# Store-only bookkeeping the wire records do not carry.
_HIDDEN = frozenset({"last_nipr_entity_update", "document"})
# Tables whose rows keep their document.
MATERIALIZED_TABLES = tuple(table for table in t.RECORD_TABLES if "document" in table.c)
_MATERIALIZED = frozenset(str(table.name) for table in MATERIALIZED_TABLES)
_CHUNK = 500  # ids per refreshing statement
_FILL_CHUNK = 20_000  # ids per statement when filling a whole table
# Comma-joined columns served as JSON arrays, under their wire names.
_LISTS = {"loa_categories": "loaMapping", "agent_types": "agentTypes"}
# (child table, parent column, wire key) of the records nested in their parent.
_NESTED = {
    "licenses": (t.license_loas, "license_id", "licenseLoas"),
    "regulatory_actions": (
        t.regulatory_action_values,
        "regulatory_action_id",
        "regulatoryActionValues",
    ),
}
# The v1 path segment of each table's records.
_PATHS = {
    "entities": "entities",
    "licenses": "licenses",
    "license_loas": "licenseLoas",
    "appointments": "appointments",
    "addresses": "addresses",
    "contact_infos": "contactInfos",
    "other_names": "otherNames",
    "regulatory_actions": "regulatoryActions",
    "regulatory_action_values": "regulatoryActionValues",
}
_ENTITY_CHILDREN = (
    "licenses",
    "appointments",
    "addresses",
    "contactInfos",
    "otherNames",
    "regulatoryActions",
)


# --- dialect-specific JSON constructs ----------------------------------------------


class _JsonObject(FunctionElement[Any]):
    inherit_cache = True
    name = "json_object"


@compiles(_JsonObject, "postgresql")
def _pg_object(element: _JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(_JsonObject, "sqlite")
def _sqlite_object(element: _JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


class _JsonValue(FunctionElement[Any]):
    """A value that is already JSON (a nested object, a JSON column, a boolean)."""

    inherit_cache = True
    name = "json_value"


@compiles(_JsonValue, "sqlite")
def _sqlite_value(element: _JsonValue, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite would embed a text as a JSON string; json() marks it as JSON.
    return f"json({compiler.process(element.clauses, **kw)})"


class _JsonBool(FunctionElement[Any]):
    inherit_cache = True
    name = "json_bool"


@compiles(_JsonValue, "postgresql")
@compiles(_JsonBool, "postgresql")
def _pg_as_is(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # Postgres embeds json values and booleans as JSON already.
    return compiler.process(element.clauses, **kw)


@compiles(_JsonBool, "sqlite")
def _sqlite_bool(element: _JsonBool, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return (
        f"(CASE WHEN {column} IS NULL THEN json('null') WHEN {column} "
        f"THEN json('true') ELSE json('false') END)"
    )


class _JsonSplit(FunctionElement[Any]):
    """A comma-joined text as a JSON array of strings ([] for NULL or '')."""

    inherit_cache = True
    name = "json_split"


@compiles(_JsonSplit, "postgresql")
def _pg_split(element: _JsonSplit, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"COALESCE(to_json(string_to_array(NULLIF({column}, ''), ',')), '[]'::json)"


@compiles(_JsonSplit, "sqlite")
def _sqlite_split(element: _JsonSplit, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    escaped = f"replace(replace({column}, '\\', '\\\\'), '\"', '\\\"')"
    return (
        f"(CASE WHEN {column} IS NULL OR {column} = '' THEN json('[]') "
        f"ELSE json('[\"' || replace({escaped}, ',', '\",\"') || '\"]') END)"
    )


class _JsonArray(FunctionElement[Any]):
    """An aggregate: the JSON array of (document, order) rows, in that order."""

    inherit_cache = True
    name = "json_array_of"


@compiles(_JsonArray, "postgresql")
def _pg_array(element: _JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    doc, order = (compiler.process(c, **kw) for c in element.clauses)
    return f"COALESCE(json_agg({doc} ORDER BY {order}), '[]'::json)"


@compiles(_JsonArray, "sqlite")
def _sqlite_array(element: _JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite 3.40 has no ORDER BY inside aggregates; the rows arrive through the
    # (parent, rowid) index, whose order is the id's.
    doc = compiler.process(next(iter(element.clauses)), **kw)
    return f"json_group_array(json({doc}))"


# --- documents -----------------------------------------------------------------------


def _href(*parts: Any) -> sa.ColumnElement[Any]:
    text: sa.ColumnElement[str] = sa.literal(parts[0], sa.String)
    for part in parts[1:]:
        text = text + (part if isinstance(part, str) else sa.cast(part, sa.String))
    return _JsonObject(sa.literal("href"), text)


def link_relations(table: sa.Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The HAL link relations ``_links`` gives a row of ``table``: those every row has,
    and those only some have (an entity's ``residentLicense``), for the OpenAPI spec."""
    if table is t.entities:
        return ("self", *_ENTITY_CHILDREN), ("residentLicense",)
    names = ["self"]
    if table.name in _NESTED:
        names.append(_PATHS[_NESTED[table.name][0].name])
    if table is t.license_loas:
        names.append("license")
    if table is t.regulatory_action_values:
        names.append("regulatoryAction")
    return (*names, "entity"), ()


def _links(table: sa.Table) -> sa.ColumnElement[Any]:
    c = table.c
    if table is t.entities:
        home = "/v2/entities/"
        pairs: list[Any] = [sa.literal("self"), _href(home, c.npn)]
        for child in _ENTITY_CHILDREN:
            pairs += [sa.literal(child), _href(home, c.npn, f"/{child}")]
        resident = (
            sa.select(sa.func.min(t.licenses.c.id))
            .where(
                t.licenses.c.npn == c.npn,
                t.licenses.c.residency_status == "R",
                t.licenses.c.nipr_deleted.is_(False),
            )
            .scalar_subquery()
        )
        with_resident = [
            *pairs,
            sa.literal("residentLicense"),
            _href("/v1/licenses/", resident),
        ]
        return sa.case((resident.is_(None), _JsonObject(*pairs)), else_=_JsonObject(*with_resident))
    path = _PATHS[table.name]
    pairs = [sa.literal("self"), _href(f"/v1/{path}/", c.id)]
    if table.name in _NESTED:
        child_path = _PATHS[_NESTED[table.name][0].name]
        pairs += [sa.literal(child_path), _href(f"/v2/{path}/", c.id, f"/{child_path}")]
    if table is t.license_loas:
        pairs += [sa.literal("license"), _href("/v1/licenses/", c.license_id)]
    if table is t.regulatory_action_values:
        pairs += [
            sa.literal("regulatoryAction"),
            _href("/v1/regulatoryActions/", c.regulatory_action_id),
        ]
    pairs += [sa.literal("entity"), _href("/v2/entities/", c.npn)]
    return _JsonObject(*pairs)


def document(table: sa.Table, *, include_deleted: bool = True) -> sa.ColumnElement[str]:
    """The JSON text of each row of ``table`` as the API serves it (links relative),
    built from its columns."""
    return sa.cast(_document(table, include_deleted), sa.Text)


@functools.cache
def served(table: sa.Table, *, include_deleted: bool = True) -> sa.ColumnElement[str]:
    """What to read for each row's document: the stored one where it applies (a row
    written around ``refresh`` has none, and gets it built). Built once per table: the
    expression is large, and the same object keeps SQLAlchemy's compiled cache warm."""
    if table.name not in _MATERIALIZED or (not include_deleted and table.name in _NESTED):
        # The stored document nests deleted children as well.
        return document(table, include_deleted=include_deleted)
    return sa.func.coalesce(table.c.document, document(table))


def refresh(conn: sa.Connection, table: sa.Table, ids: Iterable[int]) -> None:
    """Rebuild the stored documents of ``table``'s rows ``ids`` (after writing them, or
    their nested children)."""
    if table.name not in _MATERIALIZED:
        return
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        conn.execute(table.update().where(table.c.id.in_(chunk)).values(document=document(table)))


def fill(conn: sa.Connection, table: sa.Table) -> int:
    """Build every missing stored document of ``table`` on ``conn`` (a migrated store);
    how many."""
    return sum(_fill_range(conn, table, start) for start in _ranges(conn, table))


def fill_all(engine: sa.Engine) -> int:
    """Build every missing stored document (a freshly loaded store), a transaction per
    id range; on Postgres, ranges in parallel: building is CPU-bound in the server."""
    with engine.connect() as conn:
        work = [(table, start) for table in MATERIALIZED_TABLES for start in _ranges(conn, table)]

    def one(item: tuple[sa.Table, int]) -> int:
        with engine.begin() as conn:
            return _fill_range(conn, *item)

    workers = (os.cpu_count() or 1) if engine.dialect.name == "postgresql" else 1
    with ThreadPoolExecutor(workers, thread_name_prefix="documents") as pool:
        return sum(pool.map(one, work))


def _ranges(conn: sa.Connection, table: sa.Table) -> list[int]:
    """The first id of each id range that holds rows: ids are sparse (the sandbox's sit
    near 10,000,000, far above a small universe's), and a statement for every range
    between the lowest and the highest made loading 300 producers 2,500 statements."""
    if table.name not in _MATERIALIZED:
        return []
    buckets = sa.select(table.c.id // _FILL_CHUNK).distinct()
    return sorted(bucket * _FILL_CHUNK for bucket in conn.execute(buckets).scalars())


def _fill_range(conn: sa.Connection, table: sa.Table, start: int) -> int:
    stop = start + _FILL_CHUNK
    missing = sa.and_(table.c.id >= start, table.c.id < stop, table.c.document.is_(None))
    built = conn.execute(table.update().where(missing).values(document=document(table)))
    return int(built.rowcount)


def root_links(documents: str, base: str) -> str:
    """``documents`` (JSON text from one store) with every link rooted at ``base``.

    Only a link's ``"href":"/`` is touched: inside a JSON string a quote is always
    escaped, so the same characters in a field's value never match."""
    first = documents.find('"href"')
    if first < 0:
        return documents
    # SQLite's json_object writes `"href":"`, Postgres's json_build_object `"href" : "`;
    # one store's documents all come from one of them.
    start = documents[first : documents.index('"', first + 6) + 1] + "/"
    root = orjson.dumps(base.rstrip("/")).decode()[1:-1]
    return documents.replace(start, start[:-1] + root + "/")


def _document(table: sa.Table, include_deleted: bool) -> sa.ColumnElement[Any]:
    pairs: list[Any] = []
    for column in table.c:
        name = str(column.name)
        if name in _HIDDEN:
            continue
        if name in _LISTS:
            value: Any = _JsonSplit(column)
            if name == "loa_categories":
                value = _JsonObject(sa.literal("categories"), value)
            pairs += [sa.literal(_LISTS[name]), value]
        elif isinstance(column.type, sa.Boolean):
            pairs += [sa.literal(str(to_camel(name))), _JsonBool(column)]
        elif isinstance(column.type, sa.JSON):
            pairs += [sa.literal(str(to_camel(name))), _JsonValue(column)]
        else:
            pairs += [sa.literal(str(to_camel(name))), column]
    if table.name in _NESTED:
        child, parent_column, key = _NESTED[table.name]
        children = sa.select(
            _JsonArray(_JsonValue(_document(child, include_deleted)), child.c.id)
        ).where(child.c[parent_column] == table.c.id)
        if not include_deleted:
            children = children.where(child.c.nipr_deleted.is_(False))
        pairs += [sa.literal(key), _JsonValue(children.scalar_subquery())]
    pairs += [sa.literal("links"), _JsonValue(_links(table))]
    return _JsonObject(*pairs)
