"""Each resource's lists take its filters and no other: ``help()`` shows them as
keywords, and an untyped caller's other filter is a ``TypeError`` naming it, before any
request (``test_strict_typing`` has a type checker refuse it)."""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import pytest

from producersync.client import AsyncClient, Client
from producersync.client.resources.records import SPECS
from tests.client.fake import FakeAPI, error

# Each resource's filters (docs/service.md, the API contract), and a value of each, as
# Python source, which test_strict_typing writes into the code it type-checks.
_STATES = {"updated_since", "include_deleted", "states"}
FILTERS = {
    "entities": {"updated_since", "include_deleted"},
    "licenses": _STATES | {"active", "loa_codes", "loa_categories"},
    "license_loas": _STATES | {"loa_codes", "loa_categories", "status"},
    "appointments": _STATES | {"co_codes", "status", "loa_codes", "loa_categories"},
    "addresses": _STATES,
    "contact_infos": _STATES,
    "other_names": _STATES,
    "regulatory_actions": _STATES,
}
VALUES = {
    "states": '["CA"]',
    "updated_since": '"2024-01-01"',
    "include_deleted": "False",
    "active": "True",
    "loa_codes": '["12"]',
    "loa_categories": '["life"]',
    "co_codes": '["24740"]',
    "status": '"APPOINTED"',
}
NO_PER_NPN_LIST = {"entities", "license_loas"}

# What each list takes besides its filters.
_PAGING = {
    "list": ["npns", "page_size", "concurrency", "continuation_token"],
    "list_by_page": ["npns", "page", "page_size"],
    "for_npn": ["npn", "page_size", "continuation_token"],
}


def lists(attr: str) -> list[str]:
    """A resource's list methods."""
    return [m for m in _PAGING if m != "for_npn" or attr not in NO_PER_NPN_LIST]


def test_the_filters_each_resource_takes_are_the_ones_the_sdk_checks() -> None:
    assert {attr: spec.filters for attr, spec in SPECS.items()} == {
        attr: frozenset(taken | {"npns"}) for attr, taken in FILTERS.items()
    }


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize("attr", FILTERS)
def test_help_shows_each_list_with_the_filters_its_resource_takes(
    client_class: type[Client | AsyncClient], attr: str
) -> None:
    """Shown as ``**filters: Unpack[LicenseFilters]``, a list would name its filters'
    type only, and ``help(LicenseFilters)`` a dict's methods."""
    resource = inspect.get_annotations(getattr(client_class, attr).func, eval_str=True)["return"]
    for method in lists(attr):
        parameters = inspect.signature(getattr(resource, method)).parameters
        keywords = [p for p in parameters.values() if p.kind is not p.VAR_KEYWORD]
        shown = [p.name for p in keywords]
        assert shown[: len(_PAGING[method]) + 1] == ["self", *_PAGING[method]], shown
        assert set(shown[len(_PAGING[method]) + 1 :]) == FILTERS[attr], shown
        assert all(p.default is None for p in keywords[-len(FILTERS[attr]) :])
        assert str(parameters["options"]) == "**options: 'Unpack[RequestOptions]'"


_REFUSED = [
    pytest.param(attr, method, name, id=f"{attr}.{method}({name}=)")
    for attr, taken in FILTERS.items()
    for method in lists(attr)
    for name in sorted(set(VALUES) - taken)
]


@pytest.mark.parametrize("make", [FakeAPI.client, FakeAPI.async_client], ids=["sync", "async"])
@pytest.mark.parametrize(("attr", "method", "name"), _REFUSED)
def test_a_filter_the_resource_does_not_take_is_refused_naming_it_before_any_request(
    make: Any, attr: str, method: str, name: str
) -> None:
    fake = FakeAPI(lambda request: error(500))
    call = getattr(getattr(make(fake), attr), method)
    npn = ("15645555",) if method == "for_npn" else ()
    with pytest.raises(TypeError, match=f"^{SPECS[attr].key} lists do not take the '{name}'"):
        call(*npn, **{name: ast.literal_eval(VALUES[name])})
    assert fake.api_requests == []


_ONE_STRING = [
    pytest.param(attr, method, name, id=f"{attr}.{method}({name}=)")
    for attr, name in [
        ("licenses", "npns"),
        ("licenses", "states"),
        ("licenses", "loa_codes"),
        ("license_loas", "loa_categories"),
        ("appointments", "co_codes"),
    ]
    for method in lists(attr)
    if not (method == "for_npn" and name == "npns")
]


@pytest.mark.parametrize("make", [FakeAPI.client, FakeAPI.async_client], ids=["sync", "async"])
@pytest.mark.parametrize(("attr", "method", "name"), _ONE_STRING)
def test_a_list_filter_given_one_string_is_refused_naming_it_before_any_request(
    make: Any, attr: str, method: str, name: str
) -> None:
    """``npns`` and ``states`` refused one, the others sent it as it was: ``"12,13"``
    two values, where a string of one value and a list of it are told apart."""
    fake = FakeAPI(lambda request: error(500))
    call = getattr(getattr(make(fake), attr), method)
    npn = ("15645555",) if method == "for_npn" else ()
    message = f"^{name} takes a sequence of strings, not one string: pass \\['12'\\]$"
    with pytest.raises(TypeError, match=message):
        call(*npn, **{name: "12"})
    assert fake.api_requests == []


_WRONG_TYPE = [
    pytest.param(attr, method, name, value, id=f"{attr}.{method}({name}={value!r})")
    for attr, name, value in [
        ("licenses", "updated_since", 20240101),
        ("licenses", "include_deleted", "false"),
        ("licenses", "active", "no"),
        ("appointments", "status", ["APPOINTED", "TERMINATED"]),
        ("license_loas", "status", True),
    ]
    for method in lists(attr)
]


@pytest.mark.parametrize("make", [FakeAPI.client, FakeAPI.async_client], ids=["sync", "async"])
@pytest.mark.parametrize(("attr", "method", "name", "value"), _WRONG_TYPE)
def test_a_filter_of_one_value_given_another_type_is_refused_naming_it_before_any_request(
    make: Any, attr: str, method: str, name: str, value: object
) -> None:
    """Sent as its text, ``updated_since=20240101`` was the API's 400 naming
    ``updatedSince`` once the list was read, two statuses went out comma-joined, and
    ``active="no"`` was read as the API happens to read it."""
    fake = FakeAPI(lambda request: error(500))
    call = getattr(getattr(make(fake), attr), method)
    npn = ("15645555",) if method == "for_npn" else ()
    with pytest.raises(TypeError, match=f"^{name} takes .*, not {re.escape(repr(value))}$"):
        call(*npn, **{name: value})
    assert fake.api_requests == []
