"""The service behind a proxy at a path prefix (``PRODUCERSYNC_PUBLIC_URL`` with a path):
the proxy strips the prefix, and every address the service gives out (a portal page's
links, forms, scripts and htmx refreshes, a redirect, a cookie's path, the reference
pages' spec and assets, the spec's server, a HAL link) is under it. Without it, the portal
linked and posted to ``/portal/...`` at the host's root, where the proxy serves nothing."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import orjson
import pytest

from tests.portal.conftest import csrf_of, issue_link
from tests.support.prefix_proxy import through_prefix
from tests.support.raw_http import read_answer
from tests.support.service import RunningService, running_service

PREFIX = "/producersync"
PUBLIC_URL = f"http://internal.example{PREFIX}"

# Every address a page gives: links, form actions, scripts and styles, htmx's requests.
_ADDRESS = re.compile(r'\b(href|action|src|hx-get|hx-post)="([^"]*)"')


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    directory: Path = tmp_path_factory.mktemp("prefixed")
    with running_service(f"sqlite:///{directory / 'store.db'}", public_url=PUBLIC_URL) as service:
        yield service


@pytest.fixture
def browser(prefixed: RunningService) -> Iterator[httpx2.Client]:
    with through_prefix(prefixed.base_url, PREFIX, timeout=30) as http:
        yield http


def _found(page: httpx2.Response) -> list[tuple[str, str]]:
    return [(kind, html.unescape(a)) for kind, a in _ADDRESS.findall(page.text)]


def _addresses(page: httpx2.Response) -> list[str]:
    """The page's own addresses (no in-page anchor), each checked to be under the prefix."""
    found = [a for _, a in _found(page) if not a.startswith("#")]
    outside = [a for a in found if not a.startswith(f"{PREFIX}/")]
    assert not outside, (str(page.url), outside)
    return found


def _cookie_paths(answer: httpx2.Response) -> list[str]:
    return [
        m.group(1)
        for c in answer.headers.get_list("set-cookie")
        if (m := re.search(r"[Pp]ath=([^;]+)", c))
    ]


def _sign_in(service: RunningService, http: httpx2.Client, account_id: int) -> httpx2.Response:
    token = issue_link(service, account_id)
    page = http.get(f"{PREFIX}/portal/login/{token}")
    assert page.status_code == 200, page.text
    _addresses(page)
    signed = http.post(f"{PREFIX}/portal/login/{token}", data={"csrf": csrf_of(page.text)})
    assert signed.status_code == 303, signed.text
    assert _cookie_paths(signed) and all(
        p.startswith(f"{PREFIX}/portal") for p in _cookie_paths(signed)
    )
    return signed


def test_every_portal_page_links_posts_and_loads_under_the_prefix(
    prefixed: RunningService, browser: httpx2.Client
) -> None:
    creds = prefixed.account()
    signed = _sign_in(prefixed, browser, creds.account_id)
    assert signed.headers["location"] == f"{PREFIX}/portal/endpoints"
    page = browser.get(f"{PREFIX}/portal/endpoints/new")
    made = browser.post(
        f"{PREFIX}/portal/endpoints",
        data={
            "csrf": csrf_of(page.text),
            "url": "http://127.0.0.1:9/hook",
            "events": "producersync",
        },
    )
    assert made.status_code == 200, made.text
    _addresses(made)

    # Every page a link leads to, from Endpoints on, signed in; each address is the full
    # path a browser asks the proxy for.
    seen: set[str] = set()
    waiting = [signed.headers["location"]]
    forms: set[str] = set()
    polled: set[str] = set()
    while waiting:
        address = waiting.pop()
        if address in seen or "logout" in address:
            continue
        seen.add(address)
        answer = browser.get(address)
        assert answer.status_code == 200, (address, answer.text)
        _addresses(answer)
        for kind, found in _found(answer):
            if kind in ("action", "hx-post"):
                forms.add(found)
            elif kind == "hx-get":
                polled.add(found)
            elif kind == "href" and not found.startswith("#") and "/static/" not in found:
                waiting.append(found)
    assert {f"{PREFIX}/portal/endpoints", f"{PREFIX}/portal/endpoints/new"} <= seen
    assert any("/attempts" in a for a in seen) and any("/messages" in a for a in seen)
    assert forms and polled, "no page had a form, or none refreshed itself"
    # The styles and scripts, through the proxy.
    statics = {a for a in _addresses(browser.get(f"{PREFIX}/portal/endpoints")) if "/static/" in a}
    assert statics
    for static in statics:
        assert browser.get(static).status_code == 200, static


def test_the_portal_redirects_and_its_way_back_are_under_the_prefix(
    prefixed: RunningService, browser: httpx2.Client
) -> None:
    bare = browser.get(f"{PREFIX}/portal")
    assert bare.headers["location"] == f"{PREFIX}/portal/"
    slashed = browser.get(f"{PREFIX}/portal/endpoints/")
    assert slashed.headers["location"] == f"{PREFIX}/portal/endpoints"

    asked = f"{PREFIX}/portal/endpoints/new"
    refused = browser.get(asked)
    assert refused.status_code == 401
    assert _cookie_paths(refused) == [f"{PREFIX}/portal/login"]
    _addresses(refused)
    signed = _sign_in(prefixed, browser, prefixed.account().account_id)
    assert signed.headers["location"] == asked
    assert browser.get(asked).status_code == 200

    out = browser.post(f"{PREFIX}/portal/logout", data={"csrf": csrf_of(browser.get(asked).text)})
    assert out.status_code == 303 and out.headers["location"].startswith(f"{PREFIX}/portal/")


def test_the_reference_pages_load_the_spec_and_assets_under_the_prefix(
    browser: httpx2.Client,
) -> None:
    for page in ("docs", "redoc"):
        answer = browser.get(f"{PREFIX}/{page}")
        assert answer.status_code == 200
        assert f"'{PREFIX}/openapi.json'" in answer.text or f'"{PREFIX}/openapi.json"' in (
            answer.text
        )
        assets = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert assets and all(a.startswith(f"{PREFIX}/docs/assets/") for a in assets), assets
        for asset in assets:
            assert browser.get(asset).status_code == 200, asset
    spec = browser.get(f"{PREFIX}/openapi.json").json()
    assert spec["servers"] == [{"url": PREFIX}]


def test_the_api_is_gated_and_links_under_the_prefix(
    prefixed: RunningService, browser: httpx2.Client
) -> None:
    creds = prefixed.account()
    assert browser.get(f"{PREFIX}/v1/accounts/subscriptions").status_code == 401
    token = browser.post(
        f"{PREFIX}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    ).json()["access_token"]
    listed = browser.get(
        f"{PREFIX}/v1/accounts/subscriptions?size=5",
        headers={"authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["links"]["self"]["href"] == (
        f"{PUBLIC_URL}/v1/accounts/subscriptions?page=0&size=5"
    )


def test_the_token_endpoints_refusals_are_rfc_6749_s_under_the_prefix(
    prefixed: RunningService, browser: httpx2.Client
) -> None:
    """Its own body was looked up by the full path, the prefix's: a 405 and a Host refused
    were the standard body, whose ``error`` a client library reads as an RFC 6749 code."""
    wrong = browser.get(f"{PREFIX}/oauth2/token")
    assert wrong.status_code == 405, wrong.text
    assert wrong.headers["allow"] == "POST"
    assert wrong.json() == {
        "error": "invalid_request",
        "error_description": f"Method GET is not allowed on {PREFIX}/oauth2/token",
    }
    url = httpx2.URL(prefixed.base_url)
    for hosts in ("", "host: a.example\r\nhost: b.example\r\n"):
        with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
            # As the proxy sends it on: the prefix stripped.
            sock.sendall(
                f"POST /oauth2/token HTTP/1.1\r\n{hosts}connection: close\r\n\r\n".encode()
            )
            head, _, body = read_answer(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert orjson.loads(body)["error"] == "invalid_request", body
        assert "header 'Host'" in orjson.loads(body)["error_description"], body
