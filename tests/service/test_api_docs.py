"""The API reference pages, /docs and /redoc: everything they load comes from the service
itself, so they work offline and under their content policy (src/.../api_docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route, expect

from tests.support import plain_http
from tests.support.browser import chromium
from tests.support.databases import store_url
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.slow(20)

PAGES = ("/docs", "/redoc")
# What a page names to load: its scripts, styles and icon, and the spec it shows.
_REFERENCES = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|\burl: '([^']+)'""")
_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


@pytest.fixture(scope="module")
def docs_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    directory: Path = tmp_path_factory.mktemp("docs")
    with store_url("sqlite", directory) as url, running_service(url) as service:
        yield service


@pytest.fixture(scope="module")
def http(docs_service: RunningService) -> Iterator[httpx2.Client]:
    with plain_http.client(base_url=docs_service.base_url, timeout=30) as client:
        yield client


def _references(page: str) -> list[str]:
    return [found.group(1) or found.group(2) for found in _REFERENCES.finditer(page)]


@pytest.mark.parametrize("path", PAGES)
def test_a_reference_page_loads_only_what_the_service_serves(
    http: httpx2.Client, path: str
) -> None:
    page = http.get(path)
    assert page.status_code == 200, page.text
    assert "://" not in page.text, page.text  # no CDN, no Google Fonts
    references = _references(page.text)
    assert len(references) >= 3, references  # a script, the icon, the spec
    for url in references:
        assert url.startswith("/") and not url.startswith("//"), url
        served = http.get(url)
        assert served.status_code == 200, (url, served.status_code)
        suffix = Path(url).suffix
        assert served.headers["content-type"].split(";")[0] in _CONTENT_TYPES[suffix], url
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "://" not in policy and "*" not in policy, policy
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_assets_are_cached_for_good_and_need_no_token(http: httpx2.Client) -> None:
    """Their path names their version, so a browser keeps them; like /docs, they take no
    token and count against no rate limit (test_ratelimit.py)."""
    script = next(url for url in _references(http.get("/docs").text) if url.endswith(".js"))
    served = http.get(script)
    assert served.status_code == 200
    assert "immutable" in served.headers["cache-control"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "ratelimit-limit" not in served.headers
    again = http.get(script, headers={"if-none-match": served.headers["etag"]})
    assert again.status_code == 304


def test_redoc_asks_no_cdn_for_its_logo(http: httpx2.Client) -> None:
    """Its bundle draws its makers' logo from their CDN; the one served has no address for
    it, and is cached and revalidated as the other assets are, under a name of its own: a
    browser keeps the package's script, served as it is before, for good."""
    script = next(url for url in _references(http.get("/redoc").text) if url.endswith(".js"))
    assert not script.endswith("/redoc.standalone.js"), script
    served = http.get(script)
    assert served.status_code == 200
    assert b"cdn.redoc.ly" not in served.content
    assert b"Redoc" in served.content
    assert "immutable" in served.headers["cache-control"]
    assert served.headers["content-type"].startswith("text/javascript")
    again = http.get(script, headers={"if-none-match": served.headers["etag"]})
    assert again.status_code == 304


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("path", PAGES)
def test_a_reference_page_renders_the_operations_offline(
    docs_service: RunningService, browser: Browser, path: str
) -> None:
    """With every request for another host refused, as offline or behind a proxy, the
    page shows the API's operations, asks for nothing elsewhere, and the browser reports
    no error: its content policy blocks nothing the page tries."""
    page = browser.new_page()
    elsewhere: list[str] = []
    errors: list[str] = []

    def offline(route: Route) -> None:
        if route.request.url.startswith(f"{docs_service.base_url}/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def reported(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.route("**/*", offline)
    page.on("console", reported)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{docs_service.base_url}{path}")
        expect(page.get_by_text("/v2/licenses").first).to_be_visible(timeout=30_000)
    finally:
        page.close()
    assert elsewhere == []
    assert errors == []
