"""The list parameters of the record lists, both ways against the spec's arrays: what the
spec admits (items of its pattern, 1 to maxItems of them, comma-separated) the rules take,
and what the rules take the spec admits. The schema fuzz sends both and expects a 2xx for
the one and a 4xx for the other (ST201: a schema-violating request accepted)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from producersync.service.api.params import PageQuery, list_query_model, to_filter
from producersync.service.api.resources import RESOURCES, Resource
from producersync.service.errors import ApiError

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=200)

# Each list parameter once, with a resource whose query has it.
_LISTS: dict[str, tuple[Resource, dict[str, Any]]] = {}
for _resource in RESOURCES:
    _model = list_query_model(_resource, per_npn=False, base=PageQuery)
    for _name, _schema in _model.model_json_schema()["properties"].items():
        if _schema.get("type") == "array":
            _LISTS.setdefault(_name, (_resource, _schema))
_NAMES = sorted(_LISTS)


def _taken(name: str, raw: str) -> bool:
    resource, _ = _LISTS[name]
    params = list_query_model(resource, per_npn=False, base=PageQuery)(**{name: raw})
    try:
        to_filter(params, resource)
    except ApiError:
        return False
    return True


def _admitted(name: str, raw: str) -> bool:
    """The spec's array, as a comma-separated (form, not exploded) parameter reads."""
    schema = _LISTS[name][1]
    items = raw.split(",")
    return schema["minItems"] <= len(items) <= schema["maxItems"] and all(
        re.fullmatch(schema["items"]["pattern"], item) for item in items
    )


def test_every_list_parameter_is_covered() -> None:
    assert _NAMES == ["coCodes", "loaCategories", "loaCodes", "npns", "states"]


@DETERMINISTIC
@given(st.data())
def test_every_list_the_spec_admits_is_taken(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_NAMES))
    item = st.from_regex(_LISTS[name][1]["items"]["pattern"], fullmatch=True)
    items = data.draw(st.lists(item.filter(lambda i: "," not in i), min_size=1, max_size=5))
    assert _taken(name, ",".join(items)), items


_ITEM = st.text(alphabet=st.sampled_from("0123456789CcAa &/-\t\x00Xx"), max_size=4)


@DETERMINISTIC
@given(name=st.sampled_from(_NAMES), raw=st.lists(_ITEM, min_size=1, max_size=4).map(",".join))
@example(name="states", raw="Ca")
def test_every_list_the_rules_take_the_spec_admits(name: str, raw: str) -> None:
    if _taken(name, raw):
        assert _admitted(name, raw), raw


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("npns", "1,,2"),
        ("npns", "1,"),
        ("npns", " ,1"),
        ("coCodes", "24740,"),
        ("npns", ",".join(["1"] * 1001)),
    ],
)
def test_a_list_the_spec_refuses_is_refused(name: str, raw: str) -> None:
    # Blank items were dropped and repeats counted once: taken, where the spec's item
    # pattern and maxItems refuse them.
    assert not _admitted(name, raw)
    assert not _taken(name, raw)


@pytest.mark.parametrize(("name", "raw"), [("npns", " 1 , 2 "), ("npns", ",".join(["1"] * 1000))])
def test_spaces_around_items_and_repeats_within_the_limit_are_taken(name: str, raw: str) -> None:
    assert _admitted(name, raw)
    assert _taken(name, raw)
