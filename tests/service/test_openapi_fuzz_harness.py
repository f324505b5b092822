"""The fuzz harness itself (tests/support/openapi_fuzz.py), against a small API of its
own: what it reports when an operation fails, when hypothesis calls its replay of a
failure flaky, and when the test's timeout strikes mid-example."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
import schemathesis
from schemathesis.core.transport import DEFAULT_RESPONSE_TIMEOUT
from schemathesis.schemas import BaseSchema

from tests.support.openapi_fuzz import conformance_failures
from tests.support.service import free_port

_OPERATION = {
    "parameters": [
        {
            "name": "n",
            "in": "query",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
        }
    ],
    "responses": {
        "200": {
            "description": "ok",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
}
_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "harness", "version": "1"},
    # /teapot answers 418, which its spec does not describe; /slow answers its first
    # request later than schemathesis waits by default.
    "paths": {path: {"get": _OPERATION} for path in ("/ok", "/teapot", "/slow")},
}


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    slow_once = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            status, body = (418, b"{}") if path == "/teapot" else (200, b"{}")
            if path == "/openapi.json":
                body = orjson.dumps(_SPEC)
            if path == "/slow" and slow_once.acquire(blocking=False):
                time.sleep(DEFAULT_RESPONSE_TIMEOUT + 1)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _only(api: str, *paths: str) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    return schema.include(path=list(paths))


def _once(failure: BaseException) -> object:
    """A ``prepare`` that raises ``failure`` on its first case only, as a timeout's signal
    does: hypothesis's replay of that case then goes another way and calls it flaky."""
    raised: list[BaseException] = []

    def prepare(case: schemathesis.Case) -> None:
        if not raised:
            raised.append(failure)
            raise failure

    return prepare


def test_a_response_the_spec_does_not_describe_is_reported_with_its_request_and_the_rest_fuzzed(
    api: str,
) -> None:
    checked, failures = conformance_failures(_only(api, "/ok", "/teapot"), lambda case: None)
    assert checked == 2
    [failure] = failures
    assert failure.startswith("GET /teapot: ")
    assert "418" in failure
    assert "curl -X GET" in failure


def test_a_failure_hypothesis_calls_flaky_is_reported_with_what_it_first_saw(api: str) -> None:
    checked, failures = conformance_failures(_only(api, "/ok"), _once(ValueError("first seen")))
    assert checked == 1
    [failure] = failures
    assert "ValueError: first seen" in failure  # under the FlakyFailure's own words
    assert "request: curl -X GET" not in failure  # raised before a request was sent


def test_the_test_s_timeout_mid_example_ends_the_fuzz_as_a_timeout(api: str) -> None:
    timeout = pytest.fail.Exception("Timeout (>300.0s) from pytest-timeout.")
    with pytest.raises(pytest.fail.Exception, match="Timeout") as raised:
        conformance_failures(_only(api, "/ok", "/teapot"), _once(timeout))
    assert raised.value is timeout
    assert "raised fuzzing GET /ok" in (raised.value.__notes__ or [])


def test_a_response_slower_than_schemathesis_waits_by_default_is_no_failure(api: str) -> None:
    assert conformance_failures(_only(api, "/slow"), lambda case: None) == (1, [])
