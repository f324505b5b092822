"""The tests' HTTP to the services they run builds no TLS context per request
(tests/support/plain_http.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpcore2
import pytest

from tests.support.metrics import scrape
from tests.support.service import RunningService, token_response


def test_the_harness_makes_no_tls_context_per_client_or_request(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each one loaded the CA bundle: 40 ms of CPU for a request of 0.4 ms, every 0.1 s
    # of a process's start while it was waited for.
    made: list[bool] = []
    real: Callable[..., Any] = httpcore2.default_ssl_context

    def counted(**options: Any) -> Any:
        made.append(True)
        return real(**options)

    monkeypatch.setattr(httpcore2, "default_ssl_context", counted)
    creds = service.account()
    for _ in range(3):
        with service.client(creds) as http:
            assert http.get("/healthz").status_code == 200
        assert token_response(service.base_url, creds.client_id, creds.client_secret).is_success
        assert scrape(service.base_url)
    assert len(made) <= 1  # the one context, if this is the process's first request
