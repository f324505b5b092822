"""Which API URLs carry what is sent to them in clear across a network."""

from __future__ import annotations

import pytest

from producersync.model.http_url import in_clear


@pytest.mark.parametrize(
    ("url", "clear"),
    [
        ("https://api.agentsync.io", False),
        ("https://10.0.0.5:8443", False),
        ("http://127.0.0.1:8000", False),
        ("http://127.1.2.3", False),
        ("http://[::1]:8000/oauth2/token", False),
        ("http://localhost:8000", False),
        ("http://LOCALHOST:8000", False),
        ("http://api.localhost", False),
        ("http://producersync.internal:8000", True),
        ("http://10.0.0.5/oauth2/token", True),
        ("http://[2001:db8::1]", True),
        ("http://localhost.example.com", True),
    ],
)
def test_plain_http_is_in_clear_unless_to_this_host(url: str, clear: bool) -> None:
    assert in_clear(url) is clear
