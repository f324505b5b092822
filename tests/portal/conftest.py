"""The portal over HTTP: a service in a thread (no dispatcher: nothing here needs sending)
on a fresh SQLite store, and browsers signed in to its accounts with real login links."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from producersync.service.store import portal as store
from producersync.service.store.engine import write_transaction
from tests.conftest import BACKENDS
from tests.support import plain_http
from tests.support.databases import migrated_store
from tests.support.service import Credentials, RunningService, running_service

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

# A receiver's response body as hostile as it gets: markup and script that must show as
# text, one long line, cut where the sender cuts (2 KiB), its end far past what the
# attempts table shows.
_HOSTILE = '<script>alert("body")</script><img src=x onerror="window.ran=1"> & \'quoted\' '
HOSTILE_BODY = (_HOSTILE + "y" * 2048)[: 2048 - len("END-OF-BODY")] + "END-OF-BODY"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def issue_link(service: RunningService, account_id: int, ttl: dt.timedelta | None = None) -> str:
    """A login link token for the account."""
    with write_transaction(service.engine) as conn:
        token, _expires = store.issue_link(conn, account_id, ttl or dt.timedelta(days=7))
    return token


@dataclass
class SignedIn:
    """A browser-like client signed in to an account, and the token its forms carry."""

    http: httpx2.Client
    creds: Credentials
    csrf: str

    def form(self, path: str, **fields: str | list[str]) -> httpx2.Response:
        """POST a form as the portal's own pages do (the CSRF token unless one is given)."""
        return self.http.post(path, data={"csrf": self.csrf, **fields})


def sign_in(service: RunningService, creds: Credentials) -> SignedIn:
    http = plain_http.client(base_url=service.base_url, timeout=30)
    token = issue_link(service, creds.account_id)
    page = http.get(f"/portal/login/{token}")
    assert page.status_code == 200, page.text
    signed = http.post(f"/portal/login/{token}", data={"csrf": csrf_of(page.text)})
    assert signed.status_code == 303, signed.text
    return SignedIn(http, creds, csrf_of(http.get("/portal/endpoints").text))


@pytest.fixture(scope="module")
def portal_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    directory: Path = tmp_path_factory.mktemp("portal")
    with running_service(f"sqlite:///{directory / 'store.db'}") as service:
        yield service


@pytest.fixture(scope="module", params=BACKENDS)
def each_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The portal on each backend: the module's on SQLite, and one on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("portal_service")
        return
    directory = tmp_path_factory.mktemp("portal-pg")
    with migrated_store("postgres", directory) as url, running_service(url) as service:
        yield service


@pytest.fixture
def visitor(portal_service: RunningService) -> Iterator[SignedIn]:
    """A new account, signed in."""
    signed = sign_in(portal_service, portal_service.account())
    try:
        yield signed
    finally:
        signed.http.close()
