"""Defaults of the SDK, in one place."""

from __future__ import annotations

import httpx2

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_REFRESH_MARGIN",
    "DEFAULT_TIMEOUT",
    "INITIAL_RETRY_DELAY",
    "MAX_BODY_BYTES",
    "MAX_ERROR_CHARS",
    "MAX_PAGE_SIZE",
    "MAX_RETRY_DELAY",
    "NPN_CHUNK",
    "RETRY_AFTER_CAP",
]

DEFAULT_TIMEOUT = httpx2.Timeout(60.0, connect=5.0)  # each wait's; an attempt's deadline: 185 s
DEFAULT_LIMITS = httpx2.Limits(max_connections=20, max_keepalive_connections=10)
DEFAULT_MAX_RETRIES = 4
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
RETRY_AFTER_CAP = 120.0  # a longer wait is the caller's decision: RateLimitError carries it
DEFAULT_RATE_LIMIT = 300  # requests per minute, the API's documented limit
DEFAULT_REFRESH_MARGIN = 300.0  # refresh tokens this long before they expire
MAX_PAGE_SIZE = 1000  # the API's `size`: 1 to 1000 records a page
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE  # fewest requests under the rate limit
NPN_CHUNK = 500  # NPNs per `npns=` request when the caller passes many
MAX_BODY_BYTES = 64 * 2**20  # decoded, of any one response: a gzip bomb's stops here (_body)
MAX_ERROR_CHARS = 1000  # of an error's message and of each string it carries from the server
