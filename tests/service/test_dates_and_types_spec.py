"""The record lists' ``updatedSince``, the webhook lists' ``since``, ``until`` and
``eventType``, recover's ``since`` and an endpoint's ``eventTypes``, both ways against
the published spec, judged by a JSON Schema validator (formats included) as a client or
the schema fuzz would: what the spec admits the rules take, and what the rules take the
spec admits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from producersync.service.api.params import PageQuery, list_query_model, to_filter
from producersync.service.api.resources import RESOURCES
from producersync.service.api.webhook_models import EndpointCreate, MessageQuery, RecoverRequest
from producersync.service.delivery.management import EndpointRuleError, check_event_types
from producersync.service.errors import ApiError
from tests.support.spec import published_spec

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=300)
_SPEC = published_spec()
_RESOURCE = next(r for r in RESOURCES if r.v2_list)


def _parameter(path: str, name: str) -> dict[str, Any]:
    parameters = _SPEC["paths"][path]["get"]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name)


def _validated(model: type[BaseModel], **values: str) -> BaseModel | None:
    try:
        return model.model_validate(values)
    except ValidationError:
        return None


def _updated_since(raw: str) -> bool:
    params = list_query_model(_RESOURCE, per_npn=False, base=PageQuery)(updatedSince=raw)
    try:
        to_filter(params, _RESOURCE)
    except ApiError:
        return False
    return True


def _message_time(name: str) -> Callable[[str], bool]:
    return lambda raw: _validated(MessageQuery, **{name: raw}) is not None


def _recover_since(raw: str) -> bool:
    request = _validated(RecoverRequest, since=raw)
    if not isinstance(request, RecoverRequest):
        return False
    # The rules judge it against the clock in UTC (a time without an offset is UTC's): a
    # time out of UTC's range was a 500.
    since = request.since
    (since.replace(tzinfo=dt.UTC) if since.tzinfo is None else since).astimezone(dt.UTC)
    return True


_RECOVER = _SPEC["components"]["schemas"]["RecoverRequest"]["properties"]["since"]
# Each parameter: its published schema, and whether the service takes a value.
_PARAMETERS: dict[str, tuple[dict[str, Any], Callable[[str], bool]]] = {
    "updatedSince": (_parameter(f"/v2/{_RESOURCE.key}", "updatedSince"), _updated_since),
    "since": (_parameter("/v1/webhooks/messages", "since"), _message_time("since")),
    "until": (_parameter("/v1/webhooks/messages", "until"), _message_time("until")),
    "recover since": (_RECOVER, _recover_since),
}


def _admitted(name: str, raw: str) -> bool:
    return jsonschema_rs.validator_for(_PARAMETERS[name][0], validate_formats=True).is_valid(raw)


def _taken(name: str, raw: str) -> bool:
    return _PARAMETERS[name][1](raw)


@DETERMINISTIC
@given(st.data())
def test_every_date_or_time_the_spec_admits_is_taken(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(_PARAMETERS)))
    raw = data.draw(st.from_regex(_PARAMETERS[name][0]["pattern"], fullmatch=True))
    assert _taken(name, raw), raw


_SPACE = st.sampled_from(["", " ", "\t", "\n"])
_DIGITS = st.sampled_from(["00", "01", "02", "09", "12", "13", "23", "24", "28", "29", "30", "31"])
_YEAR = st.sampled_from(["0000", "0001", "0004", "1900", "2000", "2024", "2026", "9999", "99"])
_DATE = st.builds("{}-{}-{}".format, _YEAR, _DIGITS, _DIGITS)
_DECIMALS = st.sampled_from(["", ".", ".5", ",5", ".123456", ".123456789", ".1234567890"])
_CLOCK = st.builds(
    "{}{}:{}{}{}".format,
    st.sampled_from(["T", "t", " ", "_", ""]),
    _DIGITS,
    _DIGITS,
    st.sampled_from(["", ":00", ":59", ":60"]),
    _DECIMALS,
)
_OFFSET = st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+01:00", "-01:00", "+0100", "+01"])
# Near misses of the grammar as much as its cases: pydantic's reading is wider than the
# spec's in ways (an '_' for the 'T', 10 decimals) that a random string would not find.
_NEAR_TIMES = st.builds(
    "{}{}{}{}{}".format, _SPACE, _DATE, st.one_of(st.just(""), _CLOCK), _OFFSET, _SPACE
)


@DETERMINISTIC
@given(name=st.sampled_from(sorted(_PARAMETERS)), raw=_NEAR_TIMES)
@example(name="updatedSince", raw=" 2025-06-13")
@example(name="updatedSince", raw="0000-01-01")
@example(name="since", raw="2026-06-01")
@example(name="since", raw="2026-06-01 00:00:00")
@example(name="until", raw="2026-06-01T00:00")
@example(name="recover since", raw="2026-06-01T00:00:00")
@example(name="since", raw="2026-06-01_00:00")
@example(name="since", raw="0001-01-01T00:00+01:00")
@example(name="until", raw="9999-12-31T23:59-00:01")
@example(name="recover since", raw="0001-01-01T00:00+00:00")
def test_a_date_or_time_is_taken_exactly_when_the_spec_admits_it(name: str, raw: str) -> None:
    assert _taken(name, raw) == _admitted(name, raw), raw


@pytest.mark.parametrize(
    ("name", "raw", "taken"),
    [
        # Trimmed and taken, where format: date refused them.
        ("updatedSince", " 2025-06-13", True),
        ("updatedSince", "2025-06-13\n", True),
        # Admitted by format: date, refused: there is no year 0.
        ("updatedSince", "0000-01-01", False),
        ("updatedSince", "2026-02-29", False),
        # Taken and documented ("date or date-time"), where format: date-time refused them.
        ("since", "2026-06-01", True),
        ("until", "2026-06-01T12:30", True),
        ("since", "2026-06-01 12:30:00", True),
        ("recover since", "2026-06-01T12:30:00", True),
        # Taken by pydantic, never meant: refused now, as the spec refuses them.
        ("since", "2026-06-01_12:30", False),
        ("until", "2026-06-01T12:30:00.1234567890Z", False),
        # Before year 1 in UTC: refused in the spec as by the rules, not a 500 in recover.
        ("recover since", "0001-01-01T00:00:00+01:00", False),
        ("until", "9999-12-31T23:30:00-01:00", False),
    ],
)
def test_dates_and_times_the_spec_and_the_rules_disagreed_on(
    name: str, raw: str, taken: bool
) -> None:
    assert (_taken(name, raw), _admitted(name, raw)) == (taken, taken)


_EVENT_TYPES = _parameter("/v1/webhooks/messages", "eventType")


def _types_taken(raw: str) -> bool:
    return _validated(MessageQuery, eventType=raw) is not None


def _types_admitted(raw: str) -> bool:
    # Comma-separated (form, not exploded), as describe_lists publishes it.
    validator = jsonschema_rs.validator_for(_EVENT_TYPES, validate_formats=True)
    return validator.is_valid(raw.split(","))


_TYPE = st.sampled_from(
    ["webhook.test", "producersync.npn.activated", "producersync.updates_available", "nope", ""]
)


@DETERMINISTIC
@given(
    st.lists(st.tuples(_SPACE, _TYPE, _SPACE).map("".join), min_size=1, max_size=4).map(",".join)
)
@example(" webhook.test")
@example("webhook.test ,producersync.npn.activated")
@example("webhook.test,")
@example("webhookXtest")
def test_event_types_are_taken_exactly_when_the_spec_admits_them(raw: str) -> None:
    assert _types_taken(raw) == _types_admitted(raw), raw


@DETERMINISTIC
@given(st.data())
def test_every_event_type_list_the_spec_admits_is_taken(data: st.DataObject) -> None:
    item = st.from_regex(_EVENT_TYPES["items"]["pattern"], fullmatch=True)
    items = data.draw(st.lists(item.filter(lambda i: "," not in i), min_size=1, max_size=5))
    assert _types_taken(",".join(items)), items


_FILTER = _SPEC["components"]["schemas"]["EndpointCreate"]["properties"]["eventTypes"]


def _filter_taken(items: list[str]) -> bool:
    body = _validated(EndpointCreate, url="https://93.184.216.34/hook", eventTypes=items)
    if not isinstance(body, EndpointCreate):
        return False
    try:
        check_event_types(body.event_types)
    except EndpointRuleError:
        return False
    return True


def _filter_admitted(items: list[str]) -> bool:
    return jsonschema_rs.validator_for(_FILTER, validate_formats=True).is_valid(items)


_FILTER_TYPE = st.sampled_from(
    ["producersync", "producersync.npn.activated", "webhook.test", "producersync.", "nope", ""]
)


@DETERMINISTIC
@given(st.lists(st.tuples(_SPACE, _FILTER_TYPE, _SPACE).map("".join), max_size=4))
@example([" producersync"])
@example(["producersync.updates_available\n"])
@example([])
def test_an_endpoint_filter_is_taken_exactly_when_the_spec_admits_it(items: list[str]) -> None:
    """The rules trim each type: ' producersync' was taken where the spec's enum refused it."""
    assert _filter_taken(items) == _filter_admitted(items), items


@DETERMINISTIC
@given(st.data())
def test_every_endpoint_filter_the_spec_admits_is_taken(data: st.DataObject) -> None:
    item = st.from_regex(_FILTER["anyOf"][0]["items"]["pattern"], fullmatch=True)
    items = data.draw(st.lists(item, min_size=1, max_size=5))
    assert _filter_taken(items), items
