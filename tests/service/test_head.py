"""HEAD is served wherever GET is, as Spring serves it: the GET's status and headers, no
body, and counted against the rate limit like the GET."""

from __future__ import annotations

import pytest

from tests.support.service import Credentials, RunningService


@pytest.fixture(scope="module")
def creds(service: RunningService) -> Credentials:
    return service.account()


def test_head_of_healthz_is_its_get_without_the_body(service: RunningService) -> None:
    with service.client() as http:
        get, head = http.get("/healthz"), http.head("/healthz")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_of_a_list_is_authenticated_and_counted(
    service: RunningService, creds: Credentials
) -> None:
    with service.client() as anonymous:
        assert anonymous.head("/v2/licenses").status_code == 401
    with service.client(creds) as http:
        first = http.head("/v2/licenses?size=1")
        second = http.head("/v2/licenses?size=1")
    assert first.status_code == 200, first.headers
    assert first.content == b""
    assert first.headers["content-type"] == "application/hal+json"
    remaining = int(first.headers["ratelimit-remaining"])
    assert int(second.headers["ratelimit-remaining"]) == remaining - 1


def test_head_of_a_bad_query_is_the_gets_400(service: RunningService, creds: Credentials) -> None:
    with service.client(creds) as http:
        assert http.head("/v2/licenses?size=0").status_code == 400


def test_head_where_get_is_not_served_stays_405(service: RunningService) -> None:
    with service.client() as http:
        assert http.head("/oauth2/token").status_code == 405


def test_head_of_a_portal_page_is_its_get(service: RunningService) -> None:
    with service.client() as http:
        get, head = http.get("/portal/"), http.head("/portal/")
    assert head.status_code == get.status_code != 405
    own = ("date", "x-request-id")  # each request's own
    assert {k: v for k, v in head.headers.items() if k not in own} == {
        k: v for k, v in get.headers.items() if k not in own
    }
    assert head.content == b""
