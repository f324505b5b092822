"""Records as the API serves them, built as JSON by the database itself.

A 1000-record page with its nested LOAs is ~3000 JSON objects: built in Python they cost
most of a request; built by Postgres (``json_build_object``) or SQLite (``json_object``)
they arrive as one text per record, and Python only frames the page. Keys are the API's
camelCase names, in the table's column order, followed by the nested children and the
HAL links (rooted at ``base``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from producersync.service.store import tables as t

__all__ = ["document"]

# Store-only bookkeeping the wire records do not carry.
_HIDDEN = frozenset({"last_nipr_entity_update"})
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


def _href(base: sa.ColumnElement[str], *parts: Any) -> sa.ColumnElement[Any]:
    text: sa.ColumnElement[str] = base
    for part in parts:
        text = text + (part if isinstance(part, str) else sa.cast(part, sa.String))
    return _JsonObject(sa.literal("href"), text)


def _links(table: sa.Table, base: sa.ColumnElement[str]) -> sa.ColumnElement[Any]:
    c = table.c
    if table is t.entities:
        home = "/v2/entities/"
        pairs: list[Any] = [sa.literal("self"), _href(base, home, c.npn)]
        for child in _ENTITY_CHILDREN:
            pairs += [sa.literal(child), _href(base, home, c.npn, f"/{child}")]
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
            _href(base, "/v1/licenses/", resident),
        ]
        return sa.case((resident.is_(None), _JsonObject(*pairs)), else_=_JsonObject(*with_resident))
    path = _PATHS[table.name]
    pairs = [sa.literal("self"), _href(base, f"/v1/{path}/", c.id)]
    if table.name in _NESTED:
        child_path = _PATHS[_NESTED[table.name][0].name]
        pairs += [sa.literal(child_path), _href(base, f"/v2/{path}/", c.id, f"/{child_path}")]
    if table is t.license_loas:
        pairs += [sa.literal("license"), _href(base, "/v1/licenses/", c.license_id)]
    if table is t.regulatory_action_values:
        pairs += [
            sa.literal("regulatoryAction"),
            _href(base, "/v1/regulatoryActions/", c.regulatory_action_id),
        ]
    pairs += [sa.literal("entity"), _href(base, "/v2/entities/", c.npn)]
    return _JsonObject(*pairs)


def document(table: sa.Table, base: str, *, include_deleted: bool = True) -> sa.ColumnElement[str]:
    """The JSON text of each row of ``table`` as the API serves it."""
    return sa.cast(_document(table, base, include_deleted), sa.Text)


def _document(table: sa.Table, base: str, include_deleted: bool) -> sa.ColumnElement[Any]:
    root = sa.literal(base.rstrip("/"), sa.String)
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
            _JsonArray(_JsonValue(_document(child, base, include_deleted)), child.c.id)
        ).where(child.c[parent_column] == table.c.id)
        if not include_deleted:
            children = children.where(child.c.nipr_deleted.is_(False))
        pairs += [sa.literal(key), _JsonValue(children.scalar_subquery())]
    pairs += [sa.literal("links"), _JsonValue(_links(table, root))]
    return _JsonObject(*pairs)
