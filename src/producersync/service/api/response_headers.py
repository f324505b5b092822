"""The headers the spec's responses carry: the request's id, the rate-limit counts,
``Retry-After`` and the authentication challenge.

They are set by middleware (the API gate, the store-outage answer), which no route
declares, so they are put on the spec's responses here, each where it is really sent:
- every response of an admitted ``/v1`` or ``/v2`` request carries the counts; a ``401``
  is answered before the limiter runs, and so carries none;
- a ``400`` carries them unless the gate refused the request before counting it (the
  ``Authorization`` header given twice): declared, not required;
- a ``429`` carries the counts and ``Retry-After``, the token endpoint's too;
- the token endpoint's ``200`` carries the counts of the client's token requests, and
  its ``400`` and ``401`` those of the window they were counted in, if any (a refused
  scope: the client's; a failed authentication: its address's);
- a ``503`` (the store out of reach) carries ``Retry-After`` only: it is answered outside
  the gate, for every path;
- every response carries ``x-request-id`` (``service/access.py``), of every path;
- a ``401`` and a ``403`` carry ``WWW-Authenticate`` (RFC 6750 §3, the token endpoint's
  RFC 6749 §5.2): the challenge an OAuth client reads to tell an expired token (fetch
  another) from a missing scope (another will not help); so does the gate's ``400``.
"""

from __future__ import annotations

from typing import Any

from producersync.request_ids import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from producersync.service.auth.token_endpoint import PATH as TOKEN_PATH
from producersync.service.gate import API_PREFIXES

__all__ = ["add_response_headers"]


def _header(description: str, minimum: int, *, required: bool = True) -> dict[str, Any]:
    return {
        "description": description,
        "required": required,
        "schema": {"type": "integer", "minimum": minimum},
    }


_TOKEN_COUNTED = ("200", "400", "401")
_RETRY_AFTER = ("Retry-After", "Seconds to wait before retrying", 1)
_COUNTS = (
    ("ratelimit-limit", "Requests allowed per rolling minute for this client", 1),
    ("ratelimit-remaining", "Requests left in the current window", 0),
    ("ratelimit-reset", "Seconds until the window frees a request", 0),
)


def _headers(
    names: tuple[tuple[str, str, int], ...], *, required: bool = True
) -> dict[str, dict[str, Any]]:
    return {
        name: _header(description, minimum, required=required)
        for name, description, minimum in names
    }


_CHALLENGES = {
    "400": 'Bearer realm="producersync", error="invalid_request", error_description="..."',
    "401": 'Bearer realm="producersync", error="invalid_token", error_description="..."',
    "403": 'Bearer realm="producersync", error="insufficient_scope", scope="..."',
}


def _challenge(path: str, status: str) -> dict[str, dict[str, Any]]:
    if path == TOKEN_PATH:
        example = 'Basic realm="producersync"' if status == "401" else None
    elif path.startswith(API_PREFIXES):
        example = _CHALLENGES.get(status)
    else:
        example = None
    if example is None:
        return {}
    return {
        "WWW-Authenticate": {
            "description": "The authentication challenge, and why the token was refused",
            # A 400 has it only from the gate (the Authorization header given twice).
            "required": status != "400",
            "schema": {"type": "string", "examples": [example]},
        }
    }


_REQUEST_ID = {
    REQUEST_ID_HEADER: {
        "description": "The request's id: the client's own x-request-id if it is a sane "
        "token, else a fresh one. The service's log lines of the request carry it: quote "
        "it when reporting a failure",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN.pattern}$"},
    }
}


def _for(path: str, status: str) -> dict[str, dict[str, Any]]:
    """The headers a response of ``path`` with ``status`` carries."""
    return {**_REQUEST_ID, **_counts_and_retry(path, status), **_challenge(path, status)}


def _counts_and_retry(path: str, status: str) -> dict[str, dict[str, Any]]:
    if status == "503":
        return _headers((_RETRY_AFTER,))
    if status == "429":
        return _headers((*_COUNTS, _RETRY_AFTER))
    if path == TOKEN_PATH:
        return _headers(_COUNTS, required=status == "200") if status in _TOKEN_COUNTED else {}
    if not path.startswith(API_PREFIXES) or status == "401":
        return {}
    return _headers(_COUNTS, required=status != "400")


def add_response_headers(spec: dict[str, Any]) -> None:
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if headers := _for(path, status):
                    response["headers"] = {**response.get("headers", {}), **headers}
