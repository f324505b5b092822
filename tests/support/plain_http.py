"""HTTP from a test to the services it runs, over one TLS context for the whole process.

httpx2 builds a TLS context for every client it makes, ``httpx2.get`` and ``httpx2.post``
included, even for plain http: loading the system's CA bundle took 40 ms of CPU on a
loaded machine, a hundred times the request to 127.0.0.1 (0.4 ms). ``wait_healthy`` asks
every 0.1 s while a service starts, seconds on a loaded machine: a second of the test
process's CPU and more for each start, on top of the start's own. The SDK shares one
context so (producersync/client/_ssl.py); so do these.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx2

__all__ = ["client", "get", "post", "put", "request", "tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx2's default, verifying context, made once."""
    return httpx2.create_ssl_context()


def request(method: str, url: str, **options: Any) -> httpx2.Response:
    return httpx2.request(method, url, verify=tls_context(), **options)


def get(url: str, **options: Any) -> httpx2.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx2.Response:
    return request("POST", url, **options)


def put(url: str, **options: Any) -> httpx2.Response:
    return request("PUT", url, **options)


def client(**options: Any) -> httpx2.Client:
    return httpx2.Client(verify=tls_context(), **options)
