"""TLS: the clients verify the server's certificate, through one context per process
(building one loads the CA bundle: ~25 ms a client)."""

from __future__ import annotations

import http.server
import json
import ssl
from collections.abc import Iterator
from typing import ClassVar

import anyio
import httpcore2
import pytest

from producersync.client import APIConnectionError, AsyncClient, Client
from producersync.client._ssl import shared_ssl_context
from tests.support.https import CERT, https_server


class _Handler(http.server.BaseHTTPRequestHandler):
    """A token for anyone, and an empty page of licenses."""

    page: ClassVar[dict[str, object]] = {"links": {"self": {"href": "/v2/licenses"}}}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._json({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        self._json(self.page)

    def _json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_url() -> Iterator[str]:
    with https_server(_Handler) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.fixture
def fresh_context() -> Iterator[None]:
    """The shared context built anew within the test, and again after it."""
    shared_ssl_context.cache_clear()
    yield
    shared_ssl_context.cache_clear()


def test_a_certificate_no_ca_vouches_for_is_refused(https_url: str) -> None:
    with (
        Client("id", "secret", base_url=https_url, max_retries=0) as client,
        pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.request("GET", "/v2/licenses")


def test_an_https_url_to_a_plain_http_server_says_to_check_its_scheme() -> None:
    """OpenSSL's WRONG_VERSION_NUMBER named neither the scheme nor what to change."""
    with (
        https_server(_Handler, tls=False) as port,
        Client("id", "secret", base_url=f"https://127.0.0.1:{port}", max_retries=0) as client,
        pytest.raises(APIConnectionError) as refused,
    ):
        client.request("GET", "/v2/licenses")
    assert str(refused.value).endswith(
        f"(the server at 127.0.0.1:{port} answers without TLS: is its URL http://?)"
    )


def test_ssl_cert_file_is_honoured(
    https_url: str, fresh_context: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    with Client("id", "secret", base_url=https_url, max_retries=0) as client:
        assert client.request("GET", "/v2/licenses") == _Handler.page


def test_clients_share_one_context(fresh_context: None, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[ssl.SSLContext] = []
    build = httpcore2.default_ssl_context

    def counted(**options: bool) -> ssl.SSLContext:
        built.append(build(**options))
        return built[-1]

    monkeypatch.setattr(httpcore2, "default_ssl_context", counted)

    async def async_clients() -> None:
        for _ in range(3):
            await AsyncClient("id", "secret", base_url="http://127.0.0.1:1").close()

    for _ in range(3):
        Client("id", "secret", base_url="https://127.0.0.1:1").close()
    anyio.run(async_clients)
    assert len(built) == 1
    assert built[0].verify_mode == ssl.CERT_REQUIRED and built[0].check_hostname
