"""The SDK's errors, one tree.

    ProducerSyncError                 (request_id)
    ├── APIError                      (message, request, body)
    │   ├── APIStatusError            (response, status_code, error, path)
    │   │   ├── BadRequestError           400
    │   │   ├── AuthenticationError       401 (also a refused token request)
    │   │   ├── PermissionDeniedError     403
    │   │   ├── NotFoundError             404
    │   │   ├── ConflictError             409
    │   │   ├── RateLimitError            429 (retry_after)
    │   │   └── ServerError               5xx
    │   └── APIConnectionError        (no response: refused, reset, DNS, TLS…)
    │       └── APITimeoutError
    ├── ResponseValidationError       (a response not shaped as the API documents)
    ├── WaitTimeoutError              (job_id, last_status, timeout: a job not final in time)
    ├── CallCancelledError            (a call's Cancellation cancelled: nothing sent since)
    └── ClientClosedError             (also a RuntimeError: the client closed, nothing sent since)

Transport errors are translated at one boundary, ``_translate``, raised ``from`` the
original; a connection error's message names the call that failed (``APIError.call``),
as its ``request`` does. Every message has a URL's user and password masked (a token
URL's, quoted by the error of its malformed answer, showed in full). What an error
carries from the server is capped here (``capped``): its message, the error body's
``error`` and ``path``, and a body that is not JSON, each at ``MAX_ERROR_CHARS``: a
server's error ``message`` of megabytes went whole into ``str(exc)``, and so into every
log line that named the error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import httpx2
from pydantic import JsonValue

from producersync.client._constants import MAX_ERROR_CHARS
from producersync.client._json import json_body
from producersync.client._retry import server_wait
from producersync.model.subscriptions import JobStatus
from producersync.url_userinfo import masked

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CallCancelledError",
    "ClientClosedError",
    "ConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProducerSyncError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "WaitTimeoutError",
    "call_of",
    "capped",
    "make_status_error",
]

_CUT = " … [{cut:,} more characters cut]"


def capped(text: str) -> str:
    """``text``, or its start and a marker telling how much was cut: ``MAX_ERROR_CHARS``
    characters at most in all, so that capping it again changes nothing."""
    if len(text) <= MAX_ERROR_CHARS:
        return text
    # The marker for the whole text is the longest it can be: room kept for it.
    keep = MAX_ERROR_CHARS - len(_CUT.format(cut=len(text)))
    return text[:keep] + _CUT.format(cut=len(text) - keep)


class ProducerSyncError(Exception):
    """Every error the SDK raises; its message capped (``capped``). ``request_id``: the
    id the server gave the request it answered, where one is known, else None, on every
    error alike, so that a handler of any of them can log it."""

    request_id: str | None = None

    def __init__(self, message: str = "") -> None:
        # Masked before it is cut, so that no cut leaves a password's start unmasked.
        super().__init__(capped(masked(message)))


class ResponseValidationError(ProducerSyncError):
    """A response body is not what the API documents (not JSON, or a malformed page).
    ``response``, when it was at hand, names the request (``request_id``)."""

    def __init__(self, message: str, response: httpx2.Response | None = None) -> None:
        super().__init__(message)
        if response is not None:
            self.request_id = _request_id(response.headers)


class WaitTimeoutError(ProducerSyncError):
    """A subscription job did not reach a final status within the wait: ``job_id``, the
    wait's ``timeout`` (seconds), and ``last_status``, the last ``JobStatus`` a poll read
    (None when none came in time). The status was in the message alone, for a caller to
    parse back out of it."""

    def __init__(self, job_id: str, last_status: JobStatus | None, timeout: float) -> None:
        if last_status is None:
            message = f"job {job_id}: no status came within the wait's {timeout:g} s"
        else:
            message = f"job {job_id} still {last_status.status} after {timeout:g} s"
        super().__init__(message)
        self.job_id = job_id
        self.last_status = last_status
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as an exception is by default, it came back as ``cls(message)``: a
        # TypeError in a durable workflow reading back a failed step's error.
        return type(self), (self.job_id, self.last_status, self.timeout)


class CallCancelledError(ProducerSyncError):
    """A call's ``Cancellation`` was cancelled while it waited for its slot or to retry
    (or before): it sends no request after that."""


class ClientClosedError(ProducerSyncError, RuntimeError):
    """The call's client is closed, or closed while the call waited (for its slot, to
    retry, for a job's next poll): it sends no request after that. A ``RuntimeError``
    too, as a call on a closed client raised before there was a class for it."""


class APIError(ProducerSyncError):
    """A call to the API failed. ``body``: the error body as JSON (the standard one is an
    object, ``{"error": …, "message": …}``), its text when it is not JSON, None when
    there is none: check its type before reading a field of it (``error`` and ``path``
    are read so)."""

    def __init__(self, message: str, request: httpx2.Request, body: JsonValue = None) -> None:
        super().__init__(message)
        self.message: str = self.args[0]  # capped
        self.request = request
        self.body: JsonValue = body

    @property
    def call(self) -> str:
        """The call that failed, as a log line names it: ``GET https://api.example/v2/licenses``
        (``call_of``)."""
        return call_of(self.request)

    def __reduce__(self) -> tuple[Any, ...]:
        # A durable workflow (DBOS) records a failed step's error by pickling it, and
        # reads it back. Pickled as an exception is by default, it came back as
        # ``cls(*args)``, the message alone: "TypeError: __init__() missing ...
        # response". And the request it holds would take its headers into the system
        # database, the bearer token among them. So it is rebuilt as its own class
        # around a request of method and URL only (a status error's response: its
        # status and that request), every other attribute kept as it was.
        response = self.response if isinstance(self, APIStatusError) else None
        state = {k: v for k, v in vars(self).items() if k not in ("request", "response")}
        url = str(self.request.url.copy_with(userinfo=b""))
        status = None if response is None else response.status_code
        return _rebuilt, (type(self), self.args, self.request.method, url, status), state


def call_of(request: httpx2.Request) -> str:
    """``request``'s method and URL without its query (a filter's NPNs by the thousand)
    or a user and password: what an operator needs to act on its failure (which host,
    which scheme and port, the token endpoint or the API), and nothing to hide."""
    url = request.url
    return f"{request.method} {url.scheme}://{url.netloc.decode('ascii')}{url.path}"


def _rebuilt(
    cls: type[APIError], args: tuple[Any, ...], method: str, url: str, status: int | None
) -> APIError:
    """An unpickled ``APIError``: ``cls`` without its ``__init__`` (whose arguments are
    not all kept), its attributes restored by pickle from the state ``__reduce__`` kept."""
    error = cls.__new__(cls, *args)
    error.request = httpx2.Request(method, url)
    if status is not None:
        assert isinstance(error, APIStatusError)
        error.response = httpx2.Response(status, request=error.request)
    return error


class APIStatusError(APIError):
    """The API answered with an error status (the standard error body, when it has one)."""

    def __init__(self, message: str, response: httpx2.Response, body: JsonValue = None) -> None:
        super().__init__(message, response.request, body)
        self.response = response
        self.status_code = response.status_code
        fields = body if isinstance(body, dict) else {}
        self.error = _text(fields.get("error"))
        self.path = _text(fields.get("path"))
        self.request_id = _request_id(response.headers)


# Where servers and gateways name a request, for its operator to find in their logs.
_REQUEST_ID_HEADERS = ("x-request-id", "request-id")


def _request_id(headers: httpx2.Headers) -> str | None:
    """The id the server gave the request, to quote to its operator: a support ticket
    with one finds the request in the API's logs, where an error without it (as every
    error was) named only a time and a path."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return capped(value)
    return None


def _text(value: Any) -> str | None:
    """A field of the error body that should be a string, or None: what a server sent in
    its place (a list, an object) is in ``body``, and as ``error`` it would break the
    check of a refused token request (an unhashable list looked up in a set: a bare TypeError)."""
    return capped(value) if isinstance(value, str) else None


class BadRequestError(APIStatusError):
    """400: a parameter or the body is invalid; the message names it."""


# OAuth errors that refuse the credentials themselves (RFC 6749 §5.2). A server may send
# them as 400 (``invalid_client`` without Basic auth, always for the other two): they
# still mean "these credentials", not "a malformed request".
REFUSED_CREDENTIALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})


class AuthenticationError(APIStatusError):
    """401: missing, invalid, expired or revoked credentials."""

    @property
    def credentials_refused(self) -> bool:
        """The token endpoint refused the client's id or secret (a rotated or revoked
        client), which no retry mends; not a token the API refused, which a new one does."""
        return self.error in REFUSED_CREDENTIALS


class PermissionDeniedError(APIStatusError):
    """403: the token lacks the scope the call needs."""


class NotFoundError(APIStatusError):
    """404: no such record, job or path for this account."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long to wait (seconds)."""

    def __init__(
        self,
        message: str,
        response: httpx2.Response,
        body: JsonValue = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, response, body)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the API failed; usually temporary."""


class APIConnectionError(APIError):
    """No response: the connection failed or broke. Its message starts with the call
    (``POST https://auth.example/oauth2/token: Connection error: ConnectError: ...``):
    without it, a log line of "Connection error: [Errno 111] Connection refused" named
    no host, and one of a DNS or TLS failure neither, to check or to fix."""

    def __init__(self, request: httpx2.Request, message: str = "Connection error") -> None:
        super().__init__(f"{call_of(request)}: {message}", request)


class APITimeoutError(APIConnectionError):
    """No response in time (``GET https://api.example/v2/licenses: Request timed out``)."""

    def __init__(self, request: httpx2.Request) -> None:
        super().__init__(request, "Request timed out")


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


# Shorter credentials are not looked for in what a server answered: each of their
# occurrences in a message would be starred out, a word of it too. Tokens and secrets
# are far longer.
_SHORTEST_HIDDEN = 8
_HIDDEN = "***"


def _credentials(request: httpx2.Request) -> list[str]:
    """What ``request`` carried as credentials, as its answer may quote them (a proxy's
    error repeating the request's headers, a token endpoint's its form): the credential
    of its Authorization header (a bearer token), and a token request's client secret,
    each also as a form or a URL encodes it; the longest first."""
    _, _, credential = request.headers.get("authorization", "").partition(" ")
    found = [credential]
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            form = parse_qs(request.content.decode("utf-8", "replace"))
        except httpx2.RequestNotRead:  # a streamed body: none of ours
            form = {}
        found += form.get("client_secret", [])
    spelled = {way for value in found for way in (value, quote_plus(value), quote(value, ""))}
    return sorted((way for way in spelled if len(way) >= _SHORTEST_HIDDEN), key=len, reverse=True)


def _scrubbed(text: str, hidden: list[str]) -> str:
    for value in hidden:
        text = text.replace(value, _HIDDEN)
    return text


def _without(value: JsonValue, hidden: list[str]) -> JsonValue:
    """``value`` with each of ``hidden`` starred out of its strings, keys included."""
    if isinstance(value, str):
        return _scrubbed(value, hidden)
    if isinstance(value, list):
        return [_without(item, hidden) for item in value]
    if isinstance(value, dict):
        return {_scrubbed(k, hidden): _without(v, hidden) for k, v in value.items()}
    return value


def _error_body(response: httpx2.Response) -> JsonValue:
    """A failed response's body: parsed, or its text (capped) when it is not JSON; the
    credentials of its request starred out (``_credentials``), so that neither the error's
    ``str`` nor its ``body`` (logged, pickled into a workflow's record) holds them."""
    hidden = [value for value in _credentials(response.request) if value in response.text]
    try:
        body: JsonValue = json_body(response)
    except ValueError:
        return capped(_scrubbed(response.text, hidden)) or None
    if not hidden:
        return body
    try:
        return _without(body, hidden)
    except RecursionError:  # nested as deep as the parser reads: its text, scrubbed
        return capped(_scrubbed(response.text, hidden))


def make_status_error(response: httpx2.Response) -> APIStatusError:
    """The error for a failed response, carrying its body (``_error_body``); a 429's
    ``retry_after`` is the wait it asks for (``server_wait``), from its headers or its
    body."""
    body = _error_body(response)
    message = ""
    if isinstance(body, dict):
        message = str(
            body.get("message") or body.get("error_description") or body.get("error") or ""
        )
    message = f"{response.status_code} {response.reason_phrase}" + (
        f": {message}" if message else ""
    )
    if response.status_code == 429:
        return RateLimitError(message, response, body, server_wait(429, response.headers, body))
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIStatusError
    return cls(message, response, body)
