"""Pages read as JSON objects (the sync's mirror stores records as they came)."""

from __future__ import annotations

import orjson
import pytest

from producersync.client import ResponseValidationError
from producersync.client.pagination import parse_page, parse_raw_page
from producersync.model import License

NEXT = {"next": {"href": "/v2/licenses?size=2&continuationToken=15645555.967373.x"}}


def _body(value: object) -> bytes:
    return orjson.dumps(value)


def test_records_come_as_sent_with_the_next_path() -> None:
    records = [{"id": 1, "npn": "1", "newField": {"a": 1}}, {"id": 2, "npn": "2"}]
    items, nxt = parse_raw_page(
        _body({"embedded": {"licenses": records}, "links": NEXT}), "licenses", 2, at="/v2/licenses"
    )
    assert items == records and nxt == NEXT["next"]["href"]


def test_records_without_an_integer_id_come_as_sent_for_the_mirror_to_set_aside() -> None:
    """Refused here, one such record failed its whole page, and the page every later sync."""
    records = [{"id": "1"}, {"npn": "1"}, 7, [{"id": 2}], {"id": 3}]
    body = _body({"embedded": {"licenses": records}})
    assert parse_raw_page(body, "licenses", 1000, at="/v2/licenses") == (records, None)


@pytest.mark.parametrize(
    ("href", "at", "resolved"),
    [
        ("?continuationToken=x", "/v2/licenses", "/v2/licenses?continuationToken=x"),
        ("licenses?continuationToken=x", "/v2/licenses", "/v2/licenses?continuationToken=x"),
        (
            "?continuationToken=y",
            "http://h/v2/licenses?continuationToken=x",
            "http://h/v2/licenses?continuationToken=y",
        ),
        ("/v2/licenses?continuationToken=x", "/elsewhere", "/v2/licenses?continuationToken=x"),
    ],
)
def test_a_relative_next_link_is_resolved_against_the_page_s_own(
    href: str, at: str, resolved: str
) -> None:
    body = _body({"embedded": {"licenses": [{"id": 1}]}, "links": {"next": {"href": href}}})
    assert parse_raw_page(body, "licenses", 1, at=at)[1] == resolved


@pytest.mark.parametrize(
    ("envelope", "size"),
    [
        ({"embedded": {"licenses": [{"id": 1}]}, "links": NEXT}, 2),  # a short page
        ({"links": {"next": {"href": "/v2/licenses?continuationToken=0"}}}, 2),  # the end
        ({"_embedded": {"licenses": [{"id": 1}, {"id": 2}]}, "_links": {}}, 2),  # no next
    ],
)
def test_the_list_ends(envelope: dict[str, object], size: int) -> None:
    assert parse_raw_page(_body(envelope), "licenses", size, at="/v2/licenses")[1] is None


@pytest.mark.parametrize(
    "envelope",
    [
        {"embedded": {"licenses": None}, "links": NEXT},
        {"_embedded": {"licenses": None}, "page": {"totalPages": 1, "number": 0}},  # v1
    ],
)
def test_a_null_list_is_a_page_of_none_as_with_the_sdk(envelope: dict[str, object]) -> None:
    """The reference has an empty collection leave its key out, and Jackson can write it
    as null: that page was refused as malformed, by the SDK and the mirror alike."""
    body = _body(envelope)
    assert parse_raw_page(body, "licenses", 2, at="/v2/licenses") == ([], None)
    read = parse_page(body, "licenses", License, 2, at="/v2/licenses")
    assert (read.items, read.next_path) == ([], None)


def test_a_short_page_is_not_the_last_when_its_next_link_asks_for_another_size() -> None:
    """A link of the token alone leads to a page of the API's default size: this one,
    shorter than the list's, may be of that size too."""
    href = "/v2/licenses?continuationToken=15645555.967373.x"
    body = _body({"embedded": {"licenses": [{"id": 1}]}, "links": {"next": {"href": href}}})
    assert parse_raw_page(body, "licenses", 2, at="/v2/licenses")[1] == href


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        _body({"embedded": {"licenses": {"id": 1}}}),
        _body({"embedded": "licenses"}),
        _body({"embedded": {"licences": [{"id": 1}]}, "links": NEXT}),
    ],
)
def test_a_malformed_page_is_a_response_validation_error(body: bytes) -> None:
    with pytest.raises(ResponseValidationError, match="malformed licenses page"):
        parse_raw_page(body, "licenses", 1000, at="/v2/licenses")


@pytest.mark.parametrize(
    "nxt", [{}, {"href": 5}, "/v2/licenses", {"href": "https://[::1/x"}, {"href": "javascript:x"}]
)
def test_a_next_link_that_cannot_be_followed_is_a_response_validation_error(
    nxt: object,
) -> None:
    body = _body({"embedded": {"licenses": [{"id": 1}]}, "links": {"next": nxt}})
    with pytest.raises(ResponseValidationError, match=r"malformed licenses page: links\.next"):
        parse_raw_page(body, "licenses", 1, at="/v2/licenses")
