"""One verifying TLS context for every client in the process.

httpx2 builds a context per client, even for an ``http://`` API, and building one loads
the system's CA bundle: ~25 ms of CPU, the most of a client's construction. A context is
safe to share between clients and threads. As httpx2's own, it honours ``SSL_CERT_FILE``
and ``SSL_CERT_DIR``, as they are when the first client is made.
"""

from __future__ import annotations

import functools
import ssl

import httpx2

__all__ = ["shared_ssl_context"]


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()
