"""The SDK under a misbehaving API: every fault through ``httpx2.MockTransport``."""

from __future__ import annotations

import datetime as dt
import gzip
import inspect
import itertools
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from tests.client.fake import (
    JOB,
    FakeAPI,
    error,
    job_status,
    json_response,
    license_row,
    page,
)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the SDK's sleeps and pauses (a retry's, a job wait's poll) instead of
    sleeping them; a pause still ends as it would on a cancel or a close."""
    slept: list[float] = []
    import producersync.client._base_client as base
    import producersync.client.resources.subscriptions as subscriptions
    from producersync.client._cancel import Cancellation, pause

    def recorded(seconds: float, cancel: Cancellation | None, closing: Cancellation) -> None:
        slept.append(seconds)
        pause(0, cancel, closing)

    monkeypatch.setattr(base.time, "sleep", slept.append)
    for module in (base, subscriptions):
        monkeypatch.setattr(module, "pause", recorded)
    return slept


def flaky(
    failures: list[Callable[[], httpx2.Response]],
) -> Callable[[httpx2.Request], httpx2.Response]:
    """Fail with each of ``failures`` in turn, then serve one page."""
    queue = iter(failures)

    def handler(request: httpx2.Request) -> httpx2.Response:
        fail = next(queue, None)
        if fail is not None:
            return fail()
        return json_response(200, page("licenses", [license_row(1)], None))

    return handler


def test_a_429_storm_is_ridden_out_honouring_retry_after(no_sleep: list[float]) -> None:
    storm = [
        lambda: error(
            429, headers={"retry-after": "2", "ratelimit-remaining": "0", "ratelimit-reset": "2"}
        )
    ] * 3
    fake = FakeAPI(flaky(storm))
    with fake.client() as client:
        assert [r.id for r in client.licenses.list()] == [1]
    assert len(fake.api_requests) == 4
    assert no_sleep.count(2.0) == 3


def test_retry_after_beyond_the_cap_is_raised_with_its_wait() -> None:
    fake = FakeAPI(flaky([lambda: error(429, headers={"retry-after": "3600"})]))
    with fake.client() as client, pytest.raises(RateLimitError) as caught:
        list(client.licenses.list())
    assert caught.value.retry_after == 3600
    assert len(fake.api_requests) == 1


def test_a_429_without_retry_after_waits_for_its_window_s_reset(no_sleep: list[float]) -> None:
    fake = FakeAPI(flaky([lambda: error(429, headers={"ratelimit-reset": "1"})]))
    with fake.client() as client:
        assert len(list(client.licenses.list())) == 1
    assert no_sleep == [1.0]  # the reset, where a bare backoff then sat in the pacer's hold


def test_a_429_whose_reset_is_beyond_the_cap_is_raised_with_it() -> None:
    # Before, the call backed off 0.5 s and then waited the half hour out in the pacer.
    fake = FakeAPI(flaky([lambda: error(429, headers={"x-ratelimit-reset": "1800"})]))
    with fake.client() as client, pytest.raises(RateLimitError) as caught:
        list(client.licenses.list())
    assert caught.value.retry_after == 1800
    assert len(fake.api_requests) == 1


def test_a_429_s_reset_is_the_error_s_wait_once_retries_are_spent() -> None:
    fake = FakeAPI(flaky([lambda: error(429, headers={"ratelimit-reset": "30"})]))
    with fake.client(max_retries=0) as client, pytest.raises(RateLimitError) as caught:
        list(client.licenses.list())
    assert caught.value.retry_after == 30


def rate_limited(retry_after: float, headers: dict[str, str] | None = None) -> httpx2.Response:
    """A 429 whose body says how long to wait, as a portal documents one."""
    body = {"error": "rate_limit_exceeded", "error_description": "no", "retry_after": retry_after}
    return json_response(429, body, headers)


def test_a_429_s_body_says_how_long_to_wait_when_no_header_does(no_sleep: list[float]) -> None:
    fake = FakeAPI(flaky([lambda: rate_limited(3, {"ratelimit-reset": "1"})]))
    with fake.client() as client:
        assert len(list(client.licenses.list())) == 1
    assert no_sleep == [3.0]  # the body's wait, where the reset's 1 s was taken


def test_a_429_s_body_wait_beyond_the_cap_is_raised_with_it() -> None:
    fake = FakeAPI(flaky([lambda: rate_limited(3600)]))
    with fake.client() as client, pytest.raises(RateLimitError) as caught:
        list(client.licenses.list())
    assert caught.value.retry_after == 3600
    assert len(fake.api_requests) == 1  # not backed off and sent again four times


def test_server_errors_are_retried_with_backoff(no_sleep: list[float]) -> None:
    fake = FakeAPI(flaky([lambda: error(500), lambda: error(503)]))
    with fake.client() as client:
        assert len(list(client.licenses.list())) == 1
    backoffs = [s for s in no_sleep if s > 0]
    assert len(backoffs) == 2 and 0.375 <= backoffs[0] <= 0.5 and 0.75 <= backoffs[1] <= 1.0


def test_persistent_server_errors_raise_after_max_retries() -> None:
    fake = FakeAPI(lambda request: error(500, "down"))
    with fake.client(max_retries=2) as client, pytest.raises(ServerError) as caught:
        list(client.licenses.list())
    assert len(fake.api_requests) == 3
    assert caught.value.status_code == 500 and "down" in str(caught.value)


@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (404, NotFoundError)])
def test_client_errors_raise_at_once(status: int, cls: type[Exception]) -> None:
    fake = FakeAPI(lambda request: error(status, "Invalid value 'ZZ' for parameter 'states'"))
    with fake.client() as client, pytest.raises(cls) as caught:
        list(client.licenses.list(states=["ZZ"]))
    assert len(fake.api_requests) == 1
    assert "'ZZ'" in str(caught.value)
    assert caught.value.path == "/v2/licenses"  # type: ignore[attr-defined]


def test_connection_resets_are_retried() -> None:
    def reset() -> httpx2.Response:
        raise httpx2.ReadError("connection reset by peer")

    fake = FakeAPI(flaky([reset, reset]))
    with fake.client() as client:
        assert len(list(client.licenses.list())) == 1


def test_persistent_connection_failure_raises_api_connection_error() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    fake = FakeAPI(refuse)
    with fake.client(max_retries=1) as client, pytest.raises(APIConnectionError) as caught:
        list(client.licenses.list())
    assert isinstance(caught.value.__cause__, httpx2.ConnectError)


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (httpx2.ConnectError("[Errno 111] Connection refused"), "Connection error: ConnectError"),
        (httpx2.ConnectError("[Errno -2] Name or service not known"), "Connection error"),
        (httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate"), "Connection error"),
        (httpx2.ConnectTimeout("timed out"), "Request timed out"),
        (httpx2.ReadTimeout("timed out"), "Request timed out"),
    ],
    ids=["refused", "dns", "tls", "connect-timeout", "read-timeout"],
)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_connection_error_names_the_call_without_its_query_or_password(
    failure: httpx2.TransportError, said: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """ "Connection error: ConnectError: [Errno 111] Connection refused" named no host: a
    log line of it was not enough to act on (the CLI added the URL itself)."""
    caplog.set_level(logging.INFO, logger="producersync.client")

    def failing(request: httpx2.Request) -> httpx2.Response:
        raise failure

    fake = FakeAPI(failing)
    options: dict[str, Any] = {"base_url": "https://ops:hunter2-pw@fake:8080", "max_retries": 1}
    with pytest.raises(APIConnectionError) as caught:
        if kind == "sync":
            with fake.client(**options) as client:
                list(client.licenses.list(states=["CA"]))
        else:

            async def main() -> None:
                async with fake.async_client(**options) as client:
                    [r async for r in client.licenses.list(states=["CA"])]

            anyio.run(main)
    call = "GET https://fake:8080/v2/licenses"
    assert caught.value.call == call
    assert str(caught.value).startswith(f"{call}: {said}")
    retried = [r.getMessage() for r in caplog.records if "; retry 1 in" in r.getMessage()]
    assert len(retried) == 1 and retried[0].startswith(f"{call}: {said}"), retried
    assert retried[0].count("/v2/licenses") == 1, retried
    for told in (str(caught.value), caplog.text):
        assert "states" not in told and "hunter2" not in told and "ops:" not in told


def test_a_refused_connection_names_the_token_request_that_failed() -> None:
    """A real refusal (nothing listens on port 1): the token request is the call that failed."""
    with (
        Client("cid", "csecret", base_url="http://127.0.0.1:1", max_retries=0) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.entities.get("15645555")
    assert str(caught.value).startswith(
        "POST http://127.0.0.1:1/oauth2/token: Connection error: ConnectError: "
    ), caught.value


def test_slow_responses_past_the_timeout_raise_api_timeout_error() -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    fake = FakeAPI(slow)
    with fake.client(max_retries=1) as client, pytest.raises(APITimeoutError):
        list(client.licenses.list())
    assert len(fake.api_requests) == 2


def test_a_real_slow_server_trips_the_timeout() -> None:
    # A transport that really waits, against a short client timeout.
    def sleepy(request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions["timeout"]["read"]
        time.sleep(0)  # MockTransport cannot block a read: enforce the timeout contract
        if timeout is not None and timeout < 1:
            raise httpx2.ReadTimeout("slow", request=request)
        return json_response(200, page("licenses", [], None))

    fake = FakeAPI(sleepy)
    with fake.client(timeout=0.2, max_retries=0) as client, pytest.raises(APITimeoutError):
        list(client.licenses.list())


@pytest.mark.timeout(20)  # replayed after every 401, the call never ended
@pytest.mark.parametrize("max_retries", [0, 3])
@pytest.mark.parametrize("hint", [None, "true"])
def test_a_service_refusing_every_token_is_called_again_only_within_max_retries(
    max_retries: int, hint: str | None
) -> None:
    """The replay after a 401 takes none of ``max_retries``: made after every 401, a
    service that refused every token, a new one always to be had, would be called for
    ever. One replay a call, with one new token; then the 401 is the caller's, unless the
    service asks for it to be retried (``x-should-retry``): then within ``max_retries``,
    with that token."""
    headers = {"x-should-retry": hint} if hint else None
    fake = FakeAPI(lambda request: error(401, "revoked", headers))
    with (
        fake.client(max_retries=max_retries) as client,
        pytest.raises(AuthenticationError, match="revoked"),
    ):
        client.entities.get("15645555")
    retries = max_retries if hint else 0
    assert fake.token_requests == 2
    assert fake.authorizations == ["Bearer tok-1"] + ["Bearer tok-2"] * (1 + retries)


def test_token_expiring_mid_pagination_is_renewed_and_paging_continues() -> None:
    counter = itertools.count()

    def api(request: httpx2.Request) -> httpx2.Response:
        n = next(counter)
        if n == 1:  # the token expired between page 1 and page 2
            return json_response(401, {"status": 401, "message": "The access token has expired"})
        token = request.url.params.get("continuationToken")
        if token in (None, "0"):
            return json_response(200, page("licenses", [license_row(1), license_row(2)], "t2"))
        if token == "t2":
            return json_response(200, page("licenses", [license_row(3), license_row(4)], "t3"))
        return json_response(200, page("licenses", [], None))

    fake = FakeAPI(api)
    with fake.client() as client:
        ids = [r.id for r in client.licenses.list(page_size=2)]
    assert ids == [1, 2, 3, 4]
    assert fake.token_requests == 2
    assert fake.authorizations == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b'{"embedded": {"licenses": {"id": 1}}}',
        b'{"embedded": {"licenses": [{"npn": "no id"}]}}',
        b"[1, 2]",
        # Records under another key: read as none, the list ended there in silence.
        b'{"embedded": {"licences": [{"id": 1}]}}',
    ],
)
def test_a_malformed_page_raises_response_validation_error(body: bytes) -> None:
    fake = FakeAPI(lambda request: httpx2.Response(200, content=body))
    with fake.client() as client, pytest.raises(ResponseValidationError):
        list(client.licenses.list())
    assert len(fake.api_requests) == 1


def test_unknown_fields_are_preserved_and_underscore_envelopes_accepted() -> None:
    def api(request: httpx2.Request) -> httpx2.Response:
        body = {
            "_embedded": {"licenses": [license_row(7)]},
            "_links": {"next": {"href": "https://fake/v2/licenses?continuationToken=0"}},
        }
        return json_response(200, body)

    fake = FakeAPI(api)
    with fake.client() as client:
        (record,) = list(client.licenses.list())
    assert record.id == 7 and record.model_extra == {"futureField": {"kept": True}}


def _read_both(kind: str, fake: FakeAPI, read: Callable[[Any], Any]) -> Any:
    """``read(client)`` on a client of ``kind``, a list's records listed; awaited on an
    ``AsyncClient``."""
    if kind == "sync":
        with fake.client() as client:
            result = read(client)
            return list(result) if hasattr(result, "pages") else result

    async def main() -> Any:
        async with fake.async_client() as client:
            result = read(client)
            if hasattr(result, "pages"):
                return [item async for item in result]
            return await result

    return anyio.run(main)


# A record whose nested list comes as the reference's container object, ``{key: [...]}``.
CONTAINED = {
    "regulatoryActions": ("regulatoryActionValues", "regulatory_action_values"),
    "licenses": ("licenseLoas", "license_loas"),
}


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("key", list(CONTAINED))
def test_a_nested_list_sent_as_its_container_object_is_read_as_the_list(
    key: str, kind: str
) -> None:
    """The reference types a regulatory action's ``regulatoryActionValues`` as an object,
    ``RegulatoryActionValuesV2`` (``{"regulatoryActionValues": [...]}``): read as a list
    alone, it refused the whole page with ``ResponseValidationError``."""
    nested, field = CONTAINED[key]
    children = [{"id": 11, "type": "REASON"}, {"id": 12, "type": "ORIGIN"}]
    record = {"id": 7, nested: {nested: children}}
    fake = FakeAPI(lambda request: json_response(200, page(key, [record], None)))
    resource = "regulatory_actions" if key == "regulatoryActions" else "licenses"
    (read,) = _read_both(kind, fake, lambda client: getattr(client, resource).list())
    assert [child.id for child in getattr(read, field)] == [11, 12]


# Jackson (the public API's Spring) writes a field it has no value for as null.
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_loa_mapping_s_null_categories_read_as_none(kind: str) -> None:
    """Refused, that null refused the whole page its license was on."""
    loa = {"id": 5, "loaMapping": {"categories": None}}
    row = license_row(1) | {"licenseLoas": [loa]}
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [row], None)))
    (record,) = _read_both(kind, fake, lambda client: client.licenses.list())
    assert record.license_loas[0].loa_mapping.categories == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_job_s_null_counts_read_as_none(kind: str) -> None:
    """Refused, a null count refused the job's status, and every wait on it."""
    counts = {"requested": 2, "activated": None, "failed": None}
    day = "2026-12-01"
    body = {"id": JOB, "status": "COMPLETED", "details": counts, "createdAt": day, "updatedAt": day}
    fake = FakeAPI(lambda request: json_response(200, body))
    job = _read_both(kind, fake, lambda client: client.subscriptions.job(JOB))
    assert (job.details.requested, job.details.activated, job.details.failed) == (2, 0, 0)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_job_whose_status_is_only_in_its_details_is_read_and_waited_for(kind: str) -> None:
    """The public reference gives a job's status body as its id, dates, ``details`` and
    ``links``: without a status at the top, the job was refused, and every wait on it."""
    day = "2026-12-01"
    details = {"status": "COMPLETED", "requested": 1, "activated": 1}
    body = {"id": JOB, "createdAt": day, "updatedAt": day, "details": details}
    fake = FakeAPI(lambda request: json_response(200, body))
    job = _read_both(kind, fake, lambda client: client.subscriptions.wait(JOB))
    assert job.status == "COMPLETED" and job.final and job.details.activated == 1


def test_a_record_s_hal_links_of_any_shape_are_kept_as_they_came() -> None:
    """HAL links may carry more than strings, and a relation may hold several: a record
    with such links refused its whole page (``ResponseValidationError``), every record
    of it lost to a forward-compatible server."""
    links = {
        "self": {"href": "https://fake/v1/licenses/7", "templated": False, "title": None},
        "search": {"href": "https://fake/v2/licenses{?npns,states}", "templated": True},
        "item": [
            {"href": "https://fake/v1/licenseLoas/1"},
            {"href": "https://fake/v1/licenseLoas/2"},
        ],
    }
    row = {**license_row(7), "links": links}
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [row], None)))
    with fake.client() as client:
        (record,) = list(client.licenses.list())
    assert record.links == links


def test_links_to_another_host_are_followed_on_the_configured_host() -> None:
    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.params.get("continuationToken") == "t2":
            return json_response(200, page("licenses", [], None))
        body = page("licenses", [license_row(1)], "t2")
        body["links"]["next"]["href"] = "https://elsewhere.example/v2/licenses?continuationToken=t2"
        return json_response(200, body)

    fake = FakeAPI(api)
    with fake.client() as client:
        list(client.licenses.list(page_size=1))
    assert {r.url.host for r in fake.api_requests} == {"fake"}


def relative_links(first: str) -> Callable[[httpx2.Request], httpx2.Response]:
    """Serves ``first`` and two pages after it, each linked to the next by a link relative
    to the page holding it: a query alone, then a last path segment; 404 anywhere else."""
    links = {"": "?continuationToken=a", "a": "licenses?continuationToken=b"}
    ids = {"": 1, "a": 2, "b": 3}

    def api(request: httpx2.Request) -> httpx2.Response:
        token = request.url.params.get("continuationToken", "")
        if request.url.path != first or token not in ids:
            return error(404)
        body = page("licenses", [license_row(ids[token])], None)
        body["links"]["next"]["href"] = links.get(token, "?continuationToken=0")
        return json_response(200, body)

    return api


@pytest.mark.parametrize(
    ("read", "first"),
    [
        (lambda c: c.licenses.list(page_size=1), "/v2/licenses"),
        (lambda c: c.licenses.for_npn("15645555", page_size=1), "/v2/entities/15645555/licenses"),
    ],
)
def test_a_relative_next_link_is_followed_from_the_page_that_holds_it(
    read: Callable[[Client], Any], first: str
) -> None:
    # Before, the link was glued to the base URL: ``/?continuationToken=a``, a 404.
    fake = FakeAPI(relative_links(first))
    with fake.client() as client:
        assert [r.id for r in read(client)] == [1, 2, 3]
    assert [r.url.params.get("continuationToken") for r in fake.api_requests] == [None, "a", "b"]


def test_a_relative_next_link_is_followed_from_the_page_that_holds_it_async() -> None:
    fake = FakeAPI(relative_links("/v2/licenses"))

    async def main() -> list[int]:
        async with fake.async_client() as client:
            return [r.id async for r in client.licenses.list(page_size=1)]

    assert anyio.run(main) == [1, 2, 3]


def test_a_short_page_ends_the_list_without_the_empty_end_request() -> None:
    def api(request: httpx2.Request) -> httpx2.Response:
        return json_response(200, page("licenses", [license_row(1)], "next"))  # size=2 next

    fake = FakeAPI(api)
    with fake.client() as client:
        assert len(list(client.licenses.list(page_size=2))) == 1
    assert len(fake.api_requests) == 1


def test_a_short_page_whose_next_link_drops_the_size_is_not_the_last() -> None:
    """The API's documented next link carries the token alone, so the pages after the
    first come at its default size: shorter than the list's, they ended it there."""

    def api(request: httpx2.Request) -> httpx2.Response:
        size = int(request.url.params.get("size", 2))  # the API's default, when not asked
        start = int(request.url.params.get("continuationToken", 0))
        ids = list(range(1, 8))[start : start + size]
        following = start + size if ids else 0
        body: dict[str, Any] = {
            "links": {"next": {"href": f"/v2/licenses?continuationToken={following}"}}
        }
        if ids:
            body["embedded"] = {"licenses": [license_row(i) for i in ids]}
        return json_response(200, body)

    with FakeAPI(api).client() as client:
        assert [r.id for r in client.licenses.list(page_size=3)] == list(range(1, 8))


def test_misused_filters_raise_type_error_before_any_request() -> None:
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    with fake.client() as client:
        with pytest.raises(TypeError, match="one string"):
            client.licenses.list(npns="15645555")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="co_codes"):
            client.licenses.list(co_codes=["12345"])
        with pytest.raises(TypeError, match="not a datetime"):
            client.licenses.list(updated_since=dt.datetime(2024, 1, 1, 10))
        with pytest.raises(AttributeError, match="for_npn"):
            client.entities.for_npn("15645555")  # type: ignore[attr-defined]
        with pytest.raises(AttributeError, match="for_npn"):
            client.license_loas.for_npn("15645555")  # type: ignore[attr-defined]
    assert not fake.api_requests


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "list_",
    [
        lambda c, since: c.licenses.list(updated_since=since),
        lambda c, since: c.licenses.list_by_page(updated_since=since),
        lambda c, since: c.addresses.for_npn("15645555", updated_since=since),
    ],
    ids=["list", "list_by_page", "for_npn"],
)
@pytest.mark.parametrize(
    "since", ["2024-13-01", "2024-02-30", "yesterday", "20240101", "2024-01-01T10:00:00", ""]
)
def test_an_updated_since_the_api_cannot_read_raises_value_error_before_any_request(
    kind: str, list_: Callable[[Any, str], Any], since: str
) -> None:
    """Sent unchecked, it failed the list only when it was read, with the API's 400."""
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    with pytest.raises(ValueError, match=f"updated_since: {since!r} is not a date"):
        _read_both(kind, fake, lambda client: list_(client, since))
    assert not fake.api_requests


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "read",
    [
        lambda c: c.licenses.list(states=[]),
        lambda c: c.licenses.list(npns=["15645555"], loa_codes=()),
        lambda c: c.appointments.list(co_codes=[], page_size=2, concurrency=2),
        lambda c: c.licenses.list_by_page(npns=[]),
        lambda c: c.license_loas.list_by_page(loa_categories=[]),
        lambda c: c.addresses.for_npn("15645555", states=[]),
    ],
    ids=["list", "list-npns", "list-concurrent", "list_by_page-npns", "list_by_page", "for_npn"],
)
def test_an_empty_filter_list_selects_nothing_and_sends_nothing(
    kind: str, read: Callable[[Any], Any]
) -> None:
    """As ``npns=[]`` read nothing: sent, an empty list went out as ``states=``, the
    API's 400 once the list was read (``list_by_page(npns=[])`` too)."""
    fake = FakeAPI(lambda request: error(400, "Invalid value '' for parameter"))
    assert _read_both(kind, fake, read) == []
    assert not fake.api_requests


def test_an_empty_filter_list_is_still_checked_against_the_resource() -> None:
    fake = FakeAPI(lambda request: json_response(200, page("entities", [], None)))
    with fake.client() as client, pytest.raises(TypeError, match="'states' filter"):
        client.entities.list(states=[])
    assert not fake.api_requests


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_updated_since_given_as_text_is_sent_as_its_date(kind: str) -> None:
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    _read_both(kind, fake, lambda client: client.licenses.list(updated_since=" 2024-02-29 "))
    assert [r.url.params["updatedSince"] for r in fake.api_requests] == ["2024-02-29"]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("read", "key"),
    [
        (lambda c: c.licenses.list(), "licenses"),
        (lambda c: c.licenses.list_by_page(), "licenses"),
        (lambda c: c.subscriptions.list(), "subscriptions"),
    ],
    ids=["v2", "v1", "subscriptions"],
)
def test_a_page_whose_list_is_null_is_a_page_of_none(
    kind: str, read: Callable[[Any], Any], key: str
) -> None:
    """The reference has an empty collection leave its key out, and Jackson, which the
    public API's Spring runs, can write it as null: the page was refused as malformed
    (``ResponseValidationError``), an empty list with it."""
    body = {"embedded": {key: None}, "links": {}, "page": {"totalPages": 1, "number": 0}}
    fake = FakeAPI(lambda request: json_response(200, body))
    assert _read_both(kind, fake, read) == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_v1_list_takes_the_filters_of_the_v2_list(kind: str) -> None:
    """The v1 lists take every filter of their v2 twins; ``list_by_page`` took four, and
    ``licenses.list_by_page(active=True)`` was a TypeError."""
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    _read_both(kind, fake, lambda c: c.licenses.list_by_page(active=False, loa_codes=["12"]))
    _read_both(
        kind,
        fake,
        lambda c: c.appointments.list_by_page(
            co_codes=["24740"], status="APPOINTED", loa_categories=["life"]
        ),
    )
    assert [(r.url.path, dict(r.url.params)) for r in fake.api_requests] == [
        ("/v1/licenses", {"active": "false", "loaCodes": "12", "page": "0", "size": "1000"}),
        (
            "/v1/appointments",
            {
                "loaCategories": "life",
                "coCodes": "24740",
                "status": "APPOINTED",
                "page": "0",
                "size": "1000",
            },
        ),
    ]
    with fake.client() as client, pytest.raises(TypeError, match="'active' filter"):
        client.entities.list_by_page(active=True)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_per_npn_list_takes_the_filters_of_the_list_but_npns(kind: str) -> None:
    """The API's per-NPN lists take their resource's filters but ``npns`` (reference
    1.1, 1.7); ``for_npn`` took three, and ``licenses.for_npn(npn, active=True)`` was a
    TypeError."""
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    _read_both(
        kind,
        fake,
        lambda c: c.licenses.for_npn(
            "15645555", active=True, loa_codes=["12"], loa_categories=["life"]
        ),
    )
    _read_both(
        kind,
        fake,
        lambda c: c.appointments.for_npn("15645555", co_codes=["24740"], status="TERMINATED"),
    )
    assert [(r.url.path, dict(r.url.params)) for r in fake.api_requests] == [
        (
            "/v2/entities/15645555/licenses",
            {"active": "true", "loaCodes": "12", "loaCategories": "life", "size": "1000"},
        ),
        (
            "/v2/entities/15645555/appointments",
            {"coCodes": "24740", "status": "TERMINATED", "size": "1000"},
        ),
    ]
    with fake.client() as client, pytest.raises(TypeError, match="'co_codes' filter"):
        client.addresses.for_npn("15645555", co_codes=["24740"])


@pytest.mark.parametrize(
    ("call", "body", "named"),
    [
        (lambda c: c.licenses.get(1), b'{"id": 1, "active": {"x": 1}}', "GET /v1/licenses/1"),
        (lambda c: c.licenses.get(1), b"", "GET /v1/licenses/1"),
        (lambda c: c.entities.get("15645555"), b'{"id": "one"}', "GET /v2/entities/15645555"),
        (lambda c: c.regulatory_actions.get_value(3), b"[1]", "GET /v1/regulatoryActionValues/3"),
        (lambda c: c.subscriptions.job(JOB), b'{"status": 5}', f"/status/{JOB}"),
        (lambda c: c.subscriptions.wait(JOB), b"{}", f"/status/{JOB}"),
        (lambda c: c.subscriptions.add(["1"]), b"", "PUT /v1/accounts/subscriptions"),
        (lambda c: c.subscriptions.remove(["1"]), b"{}", "DELETE /v1/accounts/subscriptions"),
    ],
)
def test_a_record_or_job_not_fitting_its_model_raises_response_validation_error(
    call: Callable[[Client], object], body: bytes, named: str
) -> None:
    fake = FakeAPI(lambda request: httpx2.Response(200, content=body))
    with (
        fake.client() as client,
        pytest.raises(ResponseValidationError, match="malformed") as caught,
    ):
        call(client)
    assert named in str(caught.value)
    assert len(fake.api_requests) == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_removal_accepted_without_a_body_names_no_job(kind: str) -> None:
    """The public API documents DELETE's 202 ("Accepted") with no body: read as a
    malformed job, the NPNs it had removed raised ``ResponseValidationError``."""
    fake = FakeAPI(lambda request: httpx2.Response(202))
    removed = _read_both(kind, fake, lambda client: client.subscriptions.remove(["15645555"]))
    assert removed is None
    assert [r.method for r in fake.api_requests] == ["DELETE"]


def test_a_record_not_fitting_its_model_raises_response_validation_error_async() -> None:
    fake = FakeAPI(lambda request: json_response(200, {"id": 1, "active": {"x": 1}}))

    async def main() -> None:
        async with fake.async_client() as client:
            await client.licenses.get(1)

    with pytest.raises(ResponseValidationError, match="GET /v1/licenses/1 answered a malformed"):
        anyio.run(main)


def _follow(href: str, **options: Any) -> list[httpx2.Request]:
    """The requests of a two-page list whose first page links to ``href``."""

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.params.get("continuationToken") == "t2":
            return json_response(200, page("licenses", [], None))
        body = page("licenses", [license_row(1)], "t2")
        body["links"]["next"]["href"] = href
        return json_response(200, body)

    fake = FakeAPI(api)
    with fake.client(**options) as client:
        list(client.licenses.list(page_size=1))
    return fake.api_requests


@pytest.mark.parametrize(
    "href",
    [
        "@evil.example/v2/licenses?continuationToken=t2",
        ".evil.example/v2/licenses?continuationToken=t2",
        ":9999/v2/licenses?continuationToken=t2",
        "licenses?continuationToken=t2",
        "//evil.example/v2/licenses?continuationToken=t2",
    ],
)
def test_a_link_never_names_another_host_or_port(href: str) -> None:
    sent = _follow(href)
    assert len(sent) == 2
    assert {(r.url.host, r.url.port) for r in sent} == {("fake", None)}


@pytest.mark.parametrize(
    "href",
    [
        "https://gateway.example/producersync/v2/licenses?continuationToken=t2",
        "/producersync/v2/licenses?continuationToken=t2",
        "/v2/licenses?continuationToken=t2",
    ],
)
def test_an_api_behind_a_path_prefix_is_followed_under_it_once(href: str) -> None:
    sent = _follow(href, base_url="https://gateway.example/producersync")
    assert [r.url.path for r in sent] == ["/producersync/v2/licenses"] * 2


@pytest.mark.parametrize(
    "nxt",
    [
        {},
        {"href": 5},
        {"href": ["/v2/licenses"]},
        "/v2/licenses",
        {"href": "https://fake/\x00"},
        {"href": "javascript:alert(1)"},
        {"href": "data:text/html,<p>"},
        {"href": "ftp://fake/v2/licenses?continuationToken=t2"},
    ],
)
def test_a_next_link_that_cannot_be_followed_raises_response_validation_error(
    nxt: object,
) -> None:
    body = {"embedded": {"licenses": [license_row(1)]}, "links": {"next": nxt}}
    fake = FakeAPI(lambda request: json_response(200, body))
    with fake.client() as client, pytest.raises(ResponseValidationError, match=r"links\.next"):
        list(client.licenses.list(page_size=1))
    assert len(fake.api_requests) == 1


def _looping(tokens: list[str]) -> Callable[[httpx2.Request], httpx2.Response]:
    """Full pages whose next links go round ``tokens`` for ever."""
    ring = itertools.cycle(tokens)

    def api(request: httpx2.Request) -> httpx2.Response:
        return json_response(200, page("licenses", [license_row(1)], next(ring)))

    return api


@pytest.mark.parametrize("tokens", [["same"], ["a", "b", "c"]])
def test_a_continuation_token_loop_raises_instead_of_paging_forever(tokens: list[str]) -> None:
    fake = FakeAPI(_looping(tokens))
    with fake.client() as client, pytest.raises(ResponseValidationError, match="linked back"):
        list(client.licenses.list(page_size=1))
    assert len(fake.api_requests) == len(tokens) + 1


def test_a_continuation_token_loop_raises_instead_of_paging_forever_async() -> None:
    fake = FakeAPI(_looping(["same"]))

    async def main() -> None:
        async with fake.async_client() as client:
            async for _ in client.licenses.list(page_size=1):
                pass

    with pytest.raises(ResponseValidationError, match="linked back"):
        anyio.run(main)
    assert len(fake.api_requests) == 2


@pytest.mark.parametrize("tokens", [["same"], ["a", "b", "c"]])
def test_a_loop_followed_by_hand_raises_as_the_pager_does(tokens: list[str]) -> None:
    """``get_next_page`` in a ``while page.has_next_page`` loop: before, it followed a
    server's loop for ever."""
    fake = FakeAPI(_looping(tokens))
    with fake.client() as client, pytest.raises(ResponseValidationError, match="linked back"):
        page = next(iter(client.licenses.list(page_size=1).pages()))
        while page.has_next_page:
            page = page.get_next_page()
    assert len(fake.api_requests) == len(tokens) + 1


def test_the_next_page_fetched_twice_by_hand_is_no_loop() -> None:
    tokens = iter(["a", "b", "b", "c", "0"])
    fake = FakeAPI(
        lambda request: json_response(200, page("licenses", [license_row(1)], next(tokens)))
    )

    async def main() -> None:
        async with fake.async_client() as client:
            pages = client.licenses.list(page_size=1).pages()
            first = await anext(aiter(pages))
            await pages.aclose()
            second = await first.get_next_page()
            again = await first.get_next_page()  # the same page, read again
            assert second.next_continuation_token == again.next_continuation_token == "b"
            last = await (await again.get_next_page()).get_next_page()
            assert not last.has_next_page

    anyio.run(main)
    assert len(fake.api_requests) == 5


def test_a_v1_page_linking_past_its_own_total_pages_raises() -> None:
    def api(request: httpx2.Request) -> httpx2.Response:
        number = int(request.url.params["page"])
        return json_response(
            200,
            {
                "embedded": {"licenses": [license_row(number)]},
                "page": {"size": 1, "totalElements": 2, "totalPages": 2, "number": number},
                "links": {"next": {"href": f"https://fake/v1/licenses?page={number + 1}&size=1"}},
            },
        )

    fake = FakeAPI(api)
    with fake.client() as client, pytest.raises(ResponseValidationError, match="totalPages 2"):
        list(client.licenses.list_by_page(page_size=1))
    assert len(fake.api_requests) == 2


def test_a_v1_page_linking_to_a_page_number_too_long_to_read_raises() -> None:
    body = {
        "embedded": {"licenses": [license_row(1)]},
        "page": {"totalPages": 3},
        "links": {"next": {"href": "/v1/licenses?page=" + "9" * 5000}},
    }
    fake = FakeAPI(lambda request: json_response(200, body))
    with fake.client() as client, pytest.raises(ResponseValidationError, match="totalPages 3"):
        list(client.licenses.list_by_page())
    assert len(fake.api_requests) == 1


def _mislabelled(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"})


def test_a_mislabelled_content_encoding_raises_response_validation_error() -> None:
    fake = FakeAPI(_mislabelled)
    with fake.client() as client, pytest.raises(ResponseValidationError) as caught:
        list(client.licenses.list())
    assert "GET /v2/licenses answered with a body that could not be decoded" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx2.DecodingError)
    assert len(fake.api_requests) == 1


def test_a_mislabelled_content_encoding_raises_response_validation_error_async() -> None:
    fake = FakeAPI(_mislabelled)

    async def main() -> None:
        async with fake.async_client() as client:
            await client.entities.get("15645555")

    with pytest.raises(ResponseValidationError, match="could not be decoded"):
        anyio.run(main)


@pytest.mark.parametrize("retry_after", ["-5", "nan", "inf"])
def test_an_unreadable_retry_after_backs_off_instead_of_retrying_at_once(
    retry_after: str, no_sleep: list[float]
) -> None:
    fake = FakeAPI(flaky([lambda: error(429, headers={"retry-after": retry_after})] * 2))
    with fake.client() as client:
        assert len(list(client.licenses.list())) == 1
    assert len(fake.api_requests) == 3
    backoffs = [s for s in no_sleep if s > 0]
    assert len(backoffs) == 2 and 0.375 <= backoffs[0] <= 0.5 and 0.75 <= backoffs[1] <= 1.0


def test_a_partition_s_error_is_raised_as_itself_when_partitions_are_read_side_by_side() -> None:
    """Not inside an ExceptionGroup from the task group that reads them (as Client's
    threads raise it, too)."""
    fake = FakeAPI(lambda request: error(404))

    async def main() -> None:
        async with fake.async_client() as client:
            async for _ in client.licenses.list(npns=[str(n) for n in range(501)], concurrency=2):
                pass

    with pytest.raises(NotFoundError):
        anyio.run(main)
    with fake.client() as sync_client, pytest.raises(NotFoundError):
        list(sync_client.licenses.list(npns=[str(n) for n in range(501)], concurrency=2))


PARTITION_PAGES = 200


def _long_partitions(request: httpx2.Request) -> httpx2.Response:
    """Each partition a list of ``PARTITION_PAGES`` pages of one license, each 5 ms in
    coming (a whole list in a second), but the one from NPN 0 on, a 404, and the one
    from NPN 1 on, a single page."""
    npns = request.url.params["npns"]
    if npns.startswith("0,"):
        return error(404)
    threading.Event().wait(0.005)  # time.sleep records instead (no_sleep)
    token = int(request.url.params.get("continuationToken", 0))
    following = 0 if npns.startswith("1,") else (token + 1) % PARTITION_PAGES
    href = f"/v2/licenses?npns={npns}&size=1&continuationToken={following}"
    return json_response(
        200, {"embedded": {"licenses": [license_row(token)]}, "links": {"next": {"href": href}}}
    )


@pytest.mark.parametrize(
    ("first", "leave"),
    [(1, "a break after the first record"), (0, "the first partition's 404")],
)
def test_leaving_a_list_read_in_partitions_side_by_side_stops_reading_them(
    first: int, leave: str
) -> None:
    """The partitions being read stop after their page, and those not begun never
    begin: each of the window's others was read to its end first, behind a caller gone."""
    fake = FakeAPI(_long_partitions)
    npns = [str(n) for n in range(first, first + 8 * 500)]
    with fake.client() as client, suppress(NotFoundError):
        for _ in client.licenses.list(npns=npns, page_size=1, concurrency=2):
            break
    assert len(fake.api_requests) < PARTITION_PAGES  # not one of the others whole


BAD_NPNS = ["../../v1/accounts/subscriptions", "1,2", " 123", "123\n", "١٢٣", "", "12345678901"]
# Every call that sends an NPN, on a Client and an AsyncClient alike (a lazy list too).
NPN_CALLS: dict[str, Callable[[Any, str], Any]] = {
    "entities.get": lambda c, npn: c.entities.get(npn),
    "licenses.for_npn": lambda c, npn: c.licenses.for_npn(npn),
    "licenses.list": lambda c, npn: c.licenses.list(npns=["15645555", npn]),
    "licenses.list_by_page": lambda c, npn: c.licenses.list_by_page(npns=[npn]),
    "subscriptions.add": lambda c, npn: c.subscriptions.add(["15645555", npn]),
}


@pytest.mark.parametrize("npn", BAD_NPNS)
@pytest.mark.parametrize("call", list(NPN_CALLS))
def test_an_npn_that_is_not_one_is_refused_naming_it_before_any_request(
    call: str, npn: str
) -> None:
    """Sent as it came, a path in an NPN read another resource, and a comma made two."""
    fake = FakeAPI(lambda request: json_response(200, {"id": 1}))
    with fake.client() as client, pytest.raises(ValueError, match="is not an NPN") as refused:
        NPN_CALLS[call](client, npn)
    assert repr(npn)[:40] in str(refused.value)

    async def main() -> None:
        async with fake.async_client() as async_client:
            result = NPN_CALLS[call](async_client, npn)
            if inspect.iscoroutine(result):
                await result

    with pytest.raises(ValueError, match="is not an NPN"):
        anyio.run(main)
    assert fake.token_requests == 0 and not fake.api_requests


@pytest.mark.parametrize("call", list(NPN_CALLS))
def test_an_npn_given_as_an_int_is_told_to_be_a_string(call: str) -> None:
    """An NPN looks like a number: the refusal says what to pass instead."""
    fake = FakeAPI(lambda request: json_response(200, {"id": 1}))
    with fake.client() as client, pytest.raises(ValueError) as refused:
        NPN_CALLS[call](client, 15645555)
    assert "15645555 is not an NPN (1 to 10 ASCII digits, a string: '15645555')" in str(
        refused.value
    )
    assert fake.token_requests == 0 and not fake.api_requests


# Each subscription write given no NPNs, and what its refusal tells to do instead.
NO_NPNS = {
    "add": "list the NPNs to subscribe",
    "replace": (
        "To unsubscribe every NPN, remove those subscribed: "
        "client.subscriptions.remove([s.npn for s in client.subscriptions.list()])"
    ),
    "remove": "list the NPNs to unsubscribe",
}


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("method", list(NO_NPNS))
def test_a_subscription_write_of_no_npns_is_refused_saying_what_to_do_before_any_request(
    kind: str, method: str
) -> None:
    """The API refuses an empty list: sent, the 400 spent a slot and a token request, and
    told ``replace([])``'s caller to "DELETE the NPNs subscribed", in the HTTP's words."""
    fake = FakeAPI(lambda request: json_response(202, {"job_id": JOB}))
    with pytest.raises(ValueError) as refused:
        _read_both(kind, fake, lambda client: getattr(client.subscriptions, method)(iter(())))
    assert str(refused.value).startswith(f"subscriptions.{method}() was given no NPNs: ")
    assert str(refused.value).endswith(NO_NPNS[method])
    assert fake.token_requests == 0 and not fake.api_requests


# Every call that puts an id in its path, and an id that is not one: a path or a query.
ID_CALLS: dict[str, tuple[Callable[[Any], Any], type[Exception]]] = {
    "licenses.get": (lambda c: c.licenses.get("1/../../../v1/accounts/subscriptions"), TypeError),
    "license_loas.for_license": (lambda c: c.license_loas.for_license("1?size=5"), TypeError),
    "regulatory_actions.values": (lambda c: c.regulatory_actions.values(True), TypeError),
    "regulatory_actions.get_value": (lambda c: c.regulatory_actions.get_value(1.0), TypeError),
    "subscriptions.job": (lambda c: c.subscriptions.job("x?y=1"), ValueError),
    "subscriptions.job_details": (lambda c: c.subscriptions.job_details(".."), ValueError),
    "subscriptions.wait": (lambda c: c.subscriptions.wait(f"{JOB}/../.."), ValueError),
}


@pytest.mark.parametrize("call", list(ID_CALLS))
def test_an_id_that_is_not_one_is_refused_before_any_request(call: str) -> None:
    """Put in the path as it came, ``licenses.get("1/../../../v1/accounts/subscriptions")``
    read the subscriptions, and a job id's ``?`` cut its path short."""
    read, refusal = ID_CALLS[call]
    fake = FakeAPI(lambda request: json_response(200, {"id": 1}))
    with fake.client() as client, pytest.raises(refusal, match="id"):
        read(client)  # a lazy list's too, when it is made

    async def main() -> None:
        async with fake.async_client() as async_client:
            result = read(async_client)
            if inspect.iscoroutine(result):
                await result

    with pytest.raises(refusal, match="id"):
        anyio.run(main)
    assert fake.token_requests == 0 and not fake.api_requests


# Every paged read, and a page size the API refuses (1 to 1000); v1's, and a page number
# it refuses (0 or more); a list's concurrency that is not one (1 or more).
PAGED_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "licenses.list": lambda c, size: c.licenses.list(page_size=size),
    "licenses.list_by_page": lambda c, size: c.licenses.list_by_page(page_size=size),
    "licenses.for_npn": lambda c, size: c.licenses.for_npn("15645555", page_size=size),
    "license_loas.for_license": lambda c, size: c.license_loas.for_license(7, page_size=size),
    "regulatory_actions.values": lambda c, size: c.regulatory_actions.values(9, page_size=size),
}
NUMBERED_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "licenses.list_by_page": lambda c, number: c.licenses.list_by_page(page=number),
    "subscriptions.page": lambda c, number: c.subscriptions.page(number),
}
# Many NPNs, read in partitions so many at once.
CONCURRENT_CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "licenses.list": lambda c, n: c.licenses.list(npns=["1", "2"], concurrency=n),
}
REFUSED = [
    pytest.param(read, name, value, id=f"{call}-{value!r}")
    for calls, name, values in [
        (PAGED_CALLS, "page_size", [0, -1, 1001, True, "5", 2.0, None]),
        (NUMBERED_CALLS, "page", [-1, True, "1", 1.0, None]),
        (CONCURRENT_CALLS, "concurrency", [0, -3, True, "4", 2.5, None]),
    ]
    for call, read in calls.items()
    for value in values
]


@pytest.mark.parametrize(("read", "name", "value"), REFUSED)
def test_a_page_size_number_or_concurrency_that_is_not_one_is_refused_before_any_request(
    read: Callable[[Any, Any], Any], name: str, value: Any
) -> None:
    """Sent as it came, a lazy list failed at its first page with the API's 400 naming
    ``size``, and ``page_size="5"`` with a bare TypeError from deep in the v2 pager."""
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    with fake.client() as client, pytest.raises(ValueError, match=f"^{name} must be") as refused:
        read(client, value)  # a lazy list's too, when it is made
    assert repr(value) in str(refused.value)

    async def main() -> None:
        async with fake.async_client() as async_client:
            result = read(async_client, value)
            if inspect.iscoroutine(result):
                await result

    with pytest.raises(ValueError, match=f"^{name} must be"):
        anyio.run(main)
    assert fake.token_requests == 0 and not fake.api_requests


@pytest.mark.parametrize("size", [1, 1000])
def test_a_page_size_at_the_api_s_limits_is_sent(size: int) -> None:
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [], None)))
    with fake.client() as client:
        assert list(client.licenses.list(page_size=size)) == []
        assert list(client.licenses.list_by_page(page_size=size)) == []
    assert [r.url.params["size"] for r in fake.api_requests] == [str(size)] * 2


# 80 MiB of spaces in 80 KB of gzip: past the 64 MiB any one response may take, decoded.
BOMB = gzip.compress(b" " * (80 * 2**20), 9)


class _Plain(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """96 MiB, unencoded, a mebibyte at a time (one that never ended was read until
    memory ran out: bounded here, so that the test of the old code is too)."""

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(96):
            yield b" " * 2**20

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(96):
            yield b" " * 2**20


def _oversized(body: str, at: str) -> Callable[[httpx2.Request], httpx2.Response]:
    """An API whose token response (``at="token"``) or every other answers with the gzip
    ``BOMB`` or a ``plain`` body as large."""

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/token") != (at == "token"):
            return json_response(200, {"access_token": "t", "id": 1})
        if body == "bomb":
            return httpx2.Response(
                200, stream=httpx2.ByteStream(BOMB), headers={"content-encoding": "gzip"}
            )
        return httpx2.Response(200, stream=_Plain())

    return api


@pytest.mark.parametrize("at", ["api", "token"])
@pytest.mark.parametrize("body", ["bomb", "plain"])
def test_a_body_past_the_size_limit_raises_instead_of_filling_memory(body: str, at: str) -> None:
    """httpx2 joined every decoded piece of a body, however many: a gzip bomb took
    gigabytes before anything looked, and a body without end all the memory there was."""
    sent: list[str] = []

    def api(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.url.path)
        return _oversized(body, at)(request)

    def sync() -> None:
        with Client(
            "cid", "csecret", base_url="https://fake", transport=httpx2.MockTransport(api)
        ) as client:
            client.request("GET", "/v2/entities/15645555")

    async def main() -> None:
        async with AsyncClient(
            "cid", "csecret", base_url="https://fake", transport=httpx2.MockTransport(api)
        ) as client:
            await client.request("GET", "/v2/entities/15645555")

    for call in (sync, lambda: anyio.run(main)):
        sent.clear()
        with pytest.raises(ResponseValidationError, match="body over 64 MiB decoded"):
            call()
        assert len(sent) == (1 if at == "token" else 2)  # final, not retried


@pytest.mark.parametrize(
    ("wait", "said"),
    [
        ({"timeout": math.nan}, "timeout must be 0 or more seconds, not nan"),
        ({"timeout": -1}, "timeout must be 0 or more seconds, not -1"),
        ({"poll_interval": math.nan}, "poll_interval must be 0 or more seconds, not nan"),
        ({"poll_interval": -0.5}, "poll_interval must be 0 or more seconds, not -0.5"),
        ({"poll_interval": math.inf}, "poll_interval must be 0 or more seconds, not inf"),
        ({"timeout": "60"}, "timeout must be 0 or more seconds, not '60'"),
        ({"poll_interval": True}, "poll_interval must be 0 or more seconds, not True"),
    ],
)
def test_a_wait_s_timeout_or_interval_that_is_not_one_is_refused_before_any_poll(
    wait: dict[str, float], said: str
) -> None:
    """A NaN timeout was never reached: a job that never ended was polled for ever. (This
    one ends at its third poll.) A bad interval failed in the sleep after a poll."""
    polls = itertools.count(1)

    def job(request: httpx2.Request) -> httpx2.Response:
        return job_status("COMPLETED" if next(polls) >= 3 else "IN_PROGRESS")

    fake = FakeAPI(job)
    options = {"poll_interval": 0.01, **wait}
    with fake.client() as client, pytest.raises(ValueError, match=said):
        client.subscriptions.wait(JOB, **options)

    async def main() -> None:
        async with fake.async_client() as async_client:
            await async_client.subscriptions.wait(JOB, **options)

    with pytest.raises(ValueError, match=said):
        anyio.run(main)
    assert not fake.api_requests


@pytest.mark.parametrize("end", ["FAILED", "CANCELLED", "ERROR", "completed"])
def test_a_wait_ends_at_the_first_status_not_queued_or_in_progress(
    end: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only QUEUED and IN_PROGRESS say a job still runs: a status the SDK does not know
    ended no wait, which polled on to its timeout and raised WaitTimeoutError for a job
    that was over. It ends the wait now, and is logged as unknown."""
    statuses = ["QUEUED", "IN_PROGRESS", end]

    def answer() -> Callable[[httpx2.Request], httpx2.Response]:
        polls = iter(statuses)
        return lambda request: job_status(next(polls, "IN_PROGRESS"))

    fake = FakeAPI(answer())
    with fake.client() as client:
        assert client.subscriptions.wait(JOB, timeout=5, poll_interval=0.01).status == end
    assert len(fake.api_requests) == 3

    async def main() -> str:
        async with FakeAPI(answer()).async_client() as async_client:
            status = await async_client.subscriptions.wait(JOB, timeout=5, poll_interval=0.01)
            return str(status.status)

    assert anyio.run(main) == end
    unknown = [r.getMessage() for r in caplog.records if "not one this SDK knows" in r.message]
    assert len(unknown) == (0 if end == "FAILED" else 2)


def test_an_unknown_status_is_logged_cut_short(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAPI(lambda request: job_status("X" * 100_000))
    with fake.client() as client:
        assert client.subscriptions.wait(JOB).final
    (logged,) = [r.getMessage() for r in caplog.records if "not one this SDK knows" in r.message]
    assert "X" * 50 in logged and len(logged) < 200


DEEP = b"[" * 100_000 + b"]" * 100_000  # JSON, nested deeper than a recursive parser goes


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ("record", ResponseValidationError),
        ("error", ServerError),
        ("token", ResponseValidationError),
    ],
)
def test_json_nested_too_deep_to_read_raises_a_typed_error(
    answer: str, raised: type[Exception]
) -> None:
    """As a record, an error body or a token response: a bare RecursionError escaped."""
    status = 500 if answer == "error" else 200
    fake = FakeAPI(
        lambda request: httpx2.Response(status, content=DEEP),
        token_body=DEEP if answer == "token" else None,
    )
    with fake.client(max_retries=0) as client, pytest.raises(raised):
        client.licenses.get(1)


def test_a_retry_s_log_line_names_the_failed_attempt_s_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each attempt has its own id; only the last one's reached the caller's error."""
    ids = itertools.count(1)
    fake = FakeAPI(lambda _: error(503, headers={"x-request-id": f"req_{next(ids)}"}))
    caplog.set_level(logging.INFO, logger="producersync.client")
    with fake.client(max_retries=1) as client, pytest.raises(ServerError) as raised:
        client.request("GET", "/v2/licenses")
    retried = [r.getMessage() for r in caplog.records if "; retry 1 in" in r.getMessage()]
    assert len(retried) == 1 and "; request_id req_1); retry 1 in" in retried[0], retried
    assert raised.value.request_id == "req_2"
