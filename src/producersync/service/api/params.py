"""Query parameters of the list endpoints: their OpenAPI models and their parsing.

Lists arrive comma-separated (``states=MO, CA``); each item is checked so that a bad value
is named in a 400 rather than silently matching nothing.
"""

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from producersync.model import STATE_CODES, is_co_code, is_npn
from producersync.model.dates import DATE_PATTERN, iso_date
from producersync.model.spaces import spaced, trim
from producersync.service.api.numbers import MAX_LIST_ITEMS, WholeNumber
from producersync.service.api.resources import Resource
from producersync.service.errors import ApiError
from producersync.service.store.records import RecordFilter

__all__ = [
    "LIST_PARAMETERS",
    "MAX_LIST_ITEMS",
    "PageQuery",
    "TokenQuery",
    "describe_lists",
    "list_query_model",
    "parse_date",
    "to_filter",
]

DEFAULT_SIZE = 250
MAX_SIZE = 1000


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenQuery(_Query):
    """Base of the v2 list queries: keyset pages."""

    size: WholeNumber = Field(DEFAULT_SIZE, ge=1, le=MAX_SIZE, description="Records per page")
    continuationToken: str | None = Field(
        None,
        description="Opaque token from links.next.href; 0 for the first page",
        json_schema_extra={"pattern": r"^(0|[0-9]{1,10}\.[0-9]{1,19}\.[A-Za-z0-9_-]{12})$"},
    )


class PageQuery(_Query):
    """Base of the v1 list queries: numbered pages."""

    size: WholeNumber = Field(DEFAULT_SIZE, ge=1, le=MAX_SIZE, description="Items per page")
    page: WholeNumber = Field(0, ge=0, le=10_000_000, description="0-based page number")


# Inner spaces only: an item of spaces alone is stripped away to nothing. Nothing else
# either: a category goes into a LIKE pattern, where SQLite ends the text at a NUL (the
# filter then matched every record) and PostgreSQL refuses one.
_CATEGORY = "[A-Za-z0-9&/-][A-Za-z0-9 &/-]{0,39}"


def _list_field(what: str, example: str, item: str) -> Any:
    description = f"{what}; at most {MAX_LIST_ITEMS:,} values"

    def as_array(schema: dict[str, Any]) -> None:
        # Described as what a client sends, a list (``describe_lists`` gives its style,
        # comma-separated), with the limits ``to_filter`` enforces: a string with a
        # pattern could not say how many values are allowed. Read as text all the same:
        # ``to_filter`` names the first bad value precisely.
        schema.clear()
        schema.update(
            type="array",
            items={"type": "string", "pattern": spaced(item)},
            minItems=1,
            maxItems=MAX_LIST_ITEMS,
            description=description,
            examples=[example.split(",")],
        )

    return (str | None, Field(None, description=description, json_schema_extra=as_array))


def describe_lists(spec: dict[str, Any]) -> None:
    """Say how the list parameters are sent: comma-separated in one parameter (OpenAPI's
    ``form`` style, not exploded). Exploded, each value in a parameter of its own, is
    read too, but a client needs one way."""
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("type") == "array":
                    parameter.update(style="form", explode=False)


# The parameters that take a comma-separated list.
_LISTS: dict[str, Any] = {
    "npns": _list_field(
        "Comma-separated NPNs (1-10 digits each)", "15645555,19855109", "[0-9]{1,10}"
    ),
    "states": _list_field(
        "Comma-separated 2-letter state codes; filters on forState",
        "MO,CA,CO",
        # In any case, as to_filter reads it: 'Ca' is taken, so the pattern must not refuse it.
        "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(STATE_CODES)),
    ),
    "loaCodes": _list_field(
        "Comma-separated LOA codes; matches at least one", "12,3", "[A-Za-z0-9]{1,16}"
    ),
    "loaCategories": _list_field(
        "Comma-separated loaMapping categories; matches at least one",
        "casualty,property",
        _CATEGORY,
    ),
    "coCodes": _list_field("Comma-separated 5-digit NAIC company codes", "24740,70408", "[0-9]{5}"),
}

_FIELDS: dict[str, Any] = {
    **_LISTS,
    "updatedSince": (
        str | None,
        Field(
            None,
            description="Records with updatedAt on or after this date (yyyy-MM-dd)",
            examples=["2025-06-13"],
            # The dates parse_date reads, spaces around them too, where format: date
            # refused ' 2025-06-13' (taken) and admitted 0000-01-01 (refused).
            json_schema_extra={"pattern": spaced(DATE_PATTERN)},
        ),
    ),
    "includeDeleted": (
        bool,
        Field(True, description="Include records NIPR has marked deleted (niprDeleted)"),
    ),
    "active": (bool | None, Field(None, description="Only active (true) or inactive (false)")),
    "status": (str | None, Field(None, description="Exact status")),
}

LIST_PARAMETERS = frozenset(_LISTS) | {"eventType"}
"""The parameters that take a comma-separated list (given twice, their values join);
``eventType`` is the webhook API's (api/webhook_models.py)."""


def list_query_model(
    resource: Resource, *, per_npn: bool, base: type[TokenQuery] | type[PageQuery]
) -> Any:
    """The query model of one list endpoint, on top of its paging ``base``."""
    names = ([] if per_npn else ["npns"]) + list(resource.filters)
    names += ["updatedSince", "includeDeleted"]
    fields = {n: _FIELDS[n] for n in names}
    if "status" in fields and resource.status_values:
        fields["status"] = (
            Literal[resource.status_values] | None,
            Field(None, description="Exact status", examples=[resource.status_values[-1]]),
        )
    suffix = ("Npn" if per_npn else "") + ("V1" if base is PageQuery else "V2")
    return create_model(f"{resource.singular}{suffix}Query", __base__=base, **fields)


def _items(name: str, raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    # Counted and checked as the spec's array is, item by item: dropping blank items
    # and counting repeats once would take '1,,2' and 1,001 repeats of '1' where the
    # spec refuses them (an item's pattern, maxItems), and a client validating by it too.
    items = [trim(p) for p in raw.split(",")]
    if not any(items):
        raise ApiError.bad_parameter(name, raw, "expected a comma-separated list")
    if len(items) > MAX_LIST_ITEMS:
        raise ApiError.bad_parameter(
            name, raw, f"at most {MAX_LIST_ITEMS} values per request, got {len(items)}"
        )
    if "" in items:
        raise ApiError.bad_parameter(name, raw, "an empty value between commas")
    return tuple(dict.fromkeys(items))


def _check_each(name: str, items: tuple[str, ...] | None, ok: Any, why: str) -> None:
    for item in items or ():
        if not ok(item):
            raise ApiError.bad_parameter(name, item, why)


def parse_date(name: str, raw: str | None) -> dt.date | None:
    if raw is None:
        return None
    try:
        return iso_date(trim(raw))
    except ValueError as exc:
        raise ApiError.bad_parameter(name, raw, str(exc)) from None


def to_filter(params: BaseModel, resource: Resource) -> RecordFilter:
    values = params.model_dump()
    npns = _items("npns", values.get("npns"))
    _check_each("npns", npns, is_npn, "an NPN is 1 to 10 digits")
    states = _items("states", values.get("states"))
    _check_each("states", states, lambda s: s.upper() in STATE_CODES, "not a U.S. state code")
    if states:
        states = tuple(s.upper() for s in states)
    co_codes = _items("coCodes", values.get("coCodes"))
    _check_each(
        "coCodes",
        co_codes,
        is_co_code,
        "a coCode is exactly 5 digits",
    )
    loa_codes = _items("loaCodes", values.get("loaCodes"))
    _check_each(
        "loaCodes",
        loa_codes,
        lambda c: len(c) <= 16 and c.isascii() and c.isalnum(),
        "an LOA code is up to 16 letters or digits",
    )
    categories = _items("loaCategories", values.get("loaCategories"))
    if categories:
        categories = tuple(c.lower() for c in categories)
    _check_each(
        "loaCategories",
        categories,
        lambda c: re.fullmatch(_CATEGORY, c) is not None,
        "an LOA category is a word such as 'life' or 'casualty'",
    )
    status = values.get("status")
    return RecordFilter(
        npns=npns,
        states=states,
        updated_since=parse_date("updatedSince", values.get("updatedSince")),
        include_deleted=bool(values.get("includeDeleted", True)),
        active=values.get("active"),
        loa_codes=loa_codes,
        loa_categories=categories,
        co_codes=co_codes,
        status=status,
    )
