"""One base for both clients: configuration, request building, the retry policy and error
mapping live here; ``SyncAPIClient`` and ``AsyncAPIClient`` differ only in how they send
and sleep."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, Final, Literal, Self, TypedDict, Unpack, overload
from urllib.parse import urlsplit

import anyio
import httpx2
from pydantic import JsonValue

from producersync import __version__
from producersync.client._auth import ClientCredentials, TokenCache
from producersync.client._body import abound_body, bound_body
from producersync.client._cancel import Cancellation, pause
from producersync.client._closed import AsyncClosing, refuse_closed
from producersync.client._constants import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT,
    DEFAULT_REFRESH_MARGIN,
    RETRY_AFTER_CAP,
)
from producersync.client._deadline import (
    call_end,
    cut,
    default_deadline,
    hold_to_deadline,
    left,
    overrun,
    positive,
    set_deadline,
    waits,
    within,
)
from producersync.client._environment import Environment, EnvironmentName, endpoints
from producersync.client._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ProducerSyncError,
    RateLimitError,
    ResponseValidationError,
    make_status_error,
)
from producersync.client._fork import renewed_in_forks
from producersync.client._json import json_body
from producersync.client._loop import LoopBinding
from producersync.client._pacing import Pacer, orderable
from producersync.client._retry import backoff, server_wait, should_retry
from producersync.client._ssl import shared_ssl_context
from producersync.url_userinfo import masked

__all__ = [
    "AsyncAPIClient",
    "BaseClient",
    "Params",
    "RequestOptions",
    "SyncAPIClient",
    "checked",
    "idempotency_headers",
    "idempotency_key",
]

log = logging.getLogger("producersync.client")

Params = Mapping[str, str | int | bool]


class NotGiven(Enum):
    """An option ``with_options`` leaves as it was: None is a value of ``timeout`` and
    ``deadline`` (no timeout; the deadline derived from the timeout)."""

    NOT_GIVEN = "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


class RequestOptions(TypedDict, total=False):
    """The options of one call, as ``request()`` takes them: every resource method takes
    them too (``**options``), and passes them to each request it sends, every page of a
    list and every poll of a wait."""

    # Seconds each attempt has for the whole of its response; None: the client's.
    deadline: float | None
    # While the rate limit holds calls back, those of higher priority go first.
    priority: float
    # Retries after the first attempt; None: the client's. One client per credential
    # paces and holds the token for all its calls: a second client, the only way to
    # fail one call fast before, paced apart and spent the limit twice over.
    max_retries: int | None
    # A write's Idempotency-Key, in place of the one made for the call: a key kept by
    # the caller (a durable step's) makes a call repeated after a crash a retry too.
    idempotency_key: str | None


class _Call(RequestOptions, total=False):
    """What ``request()`` takes besides its method, path and ``raw``: for its overloads,
    which differ only in what ``raw`` makes of the body."""

    params: Params | None
    json: Any
    ends: float | None


class _ThreadCall(_Call, total=False):
    cancel: Cancellation | None  # ``Client`` only: a task is cancelled as a task


# Options other SDKs' lists take, and what stands for them here. Stripe's and Anthropic's
# ``limit=`` is their page size: refused naming only the options above, it would leave a
# reader to guess that a list's page size is ``page_size=``, or how to stop after n records.
_FOREIGN = {
    "limit": (
        "; a list's page size is page_size=, and itertools.islice(records, n) stops "
        "after n records, reading only the pages they are on"
    ),
}


def checked(options: RequestOptions) -> RequestOptions:
    """``options``, refused if one is not an option (``TypeError``) or their deadline or
    priority is not one (``ValueError``). For a lazy list, which sends nothing until it
    is iterated: a bad one fails where it was given. A ``timeout=``, as httpx takes, would
    go into a list unremarked and fail at its first page as ``request()``'s TypeError."""
    unknown = sorted(set(options) - set(RequestOptions.__annotations__))
    if unknown:
        raise TypeError(
            f"no call takes the option {unknown[0]!r}: only deadline= (seconds each "
            f"attempt has, in place of a per-call timeout), priority=, max_retries= and "
            f"idempotency_key={_FOREIGN.get(unknown[0], '')}"
        )
    deadline = options.get("deadline")
    if deadline is not None:
        positive(deadline)
    orderable(options.get("priority", 0.0))
    retries(options.get("max_retries"), 0)
    idempotency_key(options.get("idempotency_key"))
    return options


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_KEY_CHARS = 255  # the API's


def idempotency_key(key: str | None) -> str | None:
    """A caller's ``idempotency_key``, or ``ValueError`` naming it: the API refuses a
    blank one, or one over 255 characters."""
    if key is not None and not (
        isinstance(key, str) and key.strip() and len(key) <= _MAX_KEY_CHARS
    ):
        raise ValueError(
            f"idempotency_key must be a string of 1 to {_MAX_KEY_CHARS} characters, "
            f"not blank, not {key!r:.60}"
        )
    return key


def idempotency_headers(method: str, key: str | None) -> dict[str, str] | None:
    """A write's ``Idempotency-Key``: made once per call (as stripe-python and the
    Anthropic SDK do) and sent with each of its attempts, so that the service answers a
    retry of a write whose answer was lost with that answer, instead of making a second
    webhook endpoint or subscription job. Every write, not only POST as Stripe's: the
    API's PUT and DELETE of subscriptions each make a job."""
    if method.upper() not in _WRITES:
        return None
    return {"idempotency-key": idempotency_key(key) or f"producersync-python-{uuid.uuid4()}"}


def retries(max_retries: int | None, default: int) -> int:
    """A call's ``max_retries`` (``default`` for None), or ``ValueError`` naming it."""
    if max_retries is None:
        return default
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer, 0 or more, not {max_retries!r:.60}")
    return max_retries


class BaseClient:
    """Everything about a call except the I/O."""

    def __init__(
        self,
        *,
        client_id: str | None,
        client_secret: str | None,
        environment: Environment | EnvironmentName | None,
        base_url: str | None,
        token_url: str | None,
        allow_plain_http: bool | None,
        scope: str | None,
        max_retries: int,
        rate_limit: float,
        refresh_margin: float,
        timeout: httpx2.Timeout | float | None,
        deadline: float | None,
    ) -> None:
        client_id = client_id or os.environ.get("PRODUCERSYNC_CLIENT_ID")
        client_secret = client_secret or os.environ.get("PRODUCERSYNC_CLIENT_SECRET")
        if not client_id or not client_secret:
            raise ProducerSyncError(
                "client_id and client_secret are required (arguments, or "
                "PRODUCERSYNC_CLIENT_ID / PRODUCERSYNC_CLIENT_SECRET)"
            )
        self.base_url, self.token_url = endpoints(
            environment, base_url, token_url, allow_plain_http
        )
        self._prefix = urlsplit(self.base_url).path
        self._limit_attempts(max_retries, timeout, deadline)
        self._owns_http = True  # False on a copy (``with_options``): the pool is not its own
        self.pacer = Pacer(rate_limit)
        self.tokens = TokenCache(self.token_url, client_id, client_secret, scope, refresh_margin)
        self._auth = ClientCredentials(self.tokens)
        self._headers = {
            "user-agent": f"producersync-python/{__version__}",
            "accept": "application/hal+json, application/json",
        }

    def __repr__(self) -> str:
        # Which API a client calls, and as whom: a notebook's or a debugger's
        # ``<...Client object at 0x...>`` told sandbox from production by nothing. Never
        # the secret, nor a password the URL may carry.
        return masked(
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"client_id={self.tokens.client_id!r}, max_retries={self.max_retries!r}, "
            f"deadline={self.deadline!r})"
        )

    def _limit_attempts(
        self, max_retries: int, timeout: httpx2.Timeout | float | None, deadline: float | None
    ) -> None:
        # Checked as a call's is: else a float or a bool is taken, and "3" fails at the
        # first retry as a bare TypeError.
        self.max_retries = retries(max_retries, 0)
        self.timeout = waits(httpx2.Timeout(timeout))
        self._deadline = deadline  # as given: None derives it from each copy's timeout
        self.deadline = default_deadline(self.timeout) if deadline is None else positive(deadline)

    def with_options(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: httpx2.Timeout | float | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> Self:
        """A copy of this client with these options, the others as they are, each taken
        as the constructor takes it. A ``deadline`` not given is this client's if it was
        given one, else derived from the copy's ``timeout``, as None derives it. It
        shares this client's connection pool, token and pacing: its calls queue for the
        same slots, so the two together stay under the one rate limit. Closing the copy
        (or leaving its ``with``) closes nothing; closing this client closes the pool
        for both. ``rate_limit`` and ``refresh_margin`` belong to the pacing and the
        token, and stay shared."""
        kind = type(self)
        clone = kind.__new__(kind)
        # Each resource is bound to the client that made it: a copy's must be its own.
        clone.__dict__.update(
            (k, v)
            for k, v in vars(self).items()
            if not isinstance(getattr(kind, k, None), cached_property)
        )
        clone._owns_http = False
        clone._limit_attempts(
            self.max_retries if max_retries is NOT_GIVEN else max_retries,
            self.timeout if timeout is NOT_GIVEN else timeout,
            self._deadline if deadline is NOT_GIVEN else deadline,
        )
        return clone

    def _url(self, path_or_href: str) -> str:
        """An API path, or a link the API returned: re-rooted on our base URL, so a
        bearer token never travels to a host the caller did not configure. Only the path
        and query are kept, the path always after a slash: glued on as they came, a link
        such as ``@evil.example/`` or ``.evil.example/`` would name another host. A link
        that already carries the base URL's own path (an API behind a gateway at
        ``/producersync``) loses it first, or it would be there twice."""
        parts = urlsplit(path_or_href)
        path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
        if self._prefix and path.startswith(self._prefix + "/"):
            path = path[len(self._prefix) :]
        return self.base_url + path + (f"?{parts.query}" if parts.query else "")

    def _call_limits(
        self, deadline: float | None, max_retries: int | None, ends: float | None
    ) -> tuple[float, int, float | None]:
        """A call's deadline for each attempt (its own, else the client's), its retries,
        and its end, each checked."""
        deadline = self.deadline if deadline is None else positive(deadline)
        return deadline, retries(max_retries, self.max_retries), call_end(ends)

    def _limit(self, request: httpx2.Request, deadline: float, ends: float | None) -> float:
        """Bound ``request``'s attempt, and return its deadline: the call's, cut to the
        time left before the call ``ends`` (``TimeoutError`` once none is), and no wait
        of it longer."""
        deadline = cut(deadline, ends)
        request.extensions["timeout"] = within(self.timeout, deadline).as_dict()
        set_deadline(request, deadline)
        return deadline

    def _decide(self, error: ProducerSyncError, attempt: int, max_retries: int) -> float:
        """Seconds to wait before retrying ``error``; raises it when it is final."""
        if attempt >= max_retries or not isinstance(error, APIError):
            raise error
        if isinstance(error, APIConnectionError):
            return backoff(attempt)
        assert isinstance(error, APIStatusError)
        if not should_retry(error.response):
            raise error
        wait = server_wait(error.status_code, error.response.headers, error.body)
        if wait is None:
            return backoff(attempt)
        if wait > RETRY_AFTER_CAP:
            if isinstance(error, RateLimitError):
                error.retry_after = wait
            raise error  # a long wait is the caller's to schedule
        return wait

    def _token_refused(self, request: httpx2.Request, exc: Exception) -> bool:
        """Whether the API refused ``request``'s token (a 401 to the call, not to the token
        request), which is then dropped: the call is replayed at once, in the retry loop,
        so that the replay takes a pacing slot and its response's rate-limit headers are
        read like any other's. Replayed inside the auth flow, a burst of 401s sent twice
        its requests in its slots. The 401 comes back read (``send`` reads a response
        whole), so a call waiting for the new token holds no pooled connection."""
        if not (isinstance(exc, AuthenticationError) and exc.response.request is request):
            return False
        self._auth.refused(request)
        log.debug("%s %s: token refused; replayed with a new one", request.method, request.url.path)
        return True

    def _retry_delay(
        self, request: httpx2.Request, exc: Exception, attempt: int, max_retries: int
    ) -> float:
        """How long to wait before the next attempt after ``exc``; raises when final."""
        failed = _failed_request(request, exc)
        error = _translate(failed, exc)
        if exc is not error:
            error.__cause__ = exc
        delay = self._decide(error, attempt, max_retries)
        # At INFO, as anthropic's SDK logs its retries: an application logging at INFO (the
        # sync service does) shows the API's faults that slowed it, and not every call.
        # With the request's id when the server gave one: the attempt that failed is the
        # one its operator can look up, and only this line names it.
        # A connection error's message names the call already, its host too.
        what = (
            str(error)
            if isinstance(error, APIConnectionError)
            else f"{failed.method} {failed.url.path} failed ({error}"
            + ("" if error.request_id is None else f"; request_id {error.request_id}")
            + ")"
        )
        log.info("%s; retry %d in %.2f s", what, attempt + 1, delay)
        return delay

    def _result(
        self,
        request: httpx2.Request,
        response: httpx2.Response,
        started: float,
        attempt: int,
        raw: bool,
        sent_at: float,
    ) -> Any:
        error = None if response.is_success else make_status_error(response)
        self.pacer.observe(
            response.status_code, response.headers, sent_at, None if error is None else error.body
        )
        log.debug(
            "%s %s -> %s in %.0f ms (attempt %d)",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            attempt + 1,
        )
        if error is not None:
            raise error
        if raw:
            return response.content
        if not response.content:
            return None
        try:
            return json_body(response)
        except ValueError as exc:
            raise ResponseValidationError(
                f"{request.method} {request.url.path} answered {response.status_code} with a "
                f"body that is not JSON",
                response,
            ) from exc


def _failed_request(request: httpx2.Request, exc: Exception) -> httpx2.Request:
    """The request ``exc`` is the failure of: the call's ``request``, or the token request
    its auth flow sent for it. A token URL out of reach was told as the call's connection
    error (``GET https://api…/v2/licenses: Connection error``), sending its operator to an
    API that was up, where the token endpoint was not."""
    if isinstance(exc, httpx2.RequestError):
        try:
            return exc.request
        except RuntimeError:  # raised without one
            pass
    return request


def _translate(request: httpx2.Request, exc: Exception) -> ProducerSyncError:
    """The one boundary where transport errors become SDK errors."""
    if isinstance(exc, ProducerSyncError):
        return exc  # raised by the auth flow (a refused token request)
    if isinstance(exc, httpx2.TimeoutException):
        return APITimeoutError(request)
    if isinstance(exc, httpx2.DecodingError):
        # The server answered, but with a body its own Content-Encoding does not describe:
        # a malformed response, as final as one that is not JSON.
        return ResponseValidationError(
            f"{request.method} {request.url.path} answered with a body that could not be "
            f"decoded: {exc}"
        )
    return APIConnectionError(
        request, f"Connection error: {type(exc).__name__}: {exc}{_hint(request, exc)}"
    )


def _hint(request: httpx2.Request, exc: Exception) -> str:
    """What the operator is to check, where the library's words do not say: an https://
    URL whose server speaks plain HTTP fails the TLS handshake as OpenSSL's
    ``WRONG_VERSION_NUMBER``, which names neither the URL's scheme nor a fix."""
    if request.url.scheme == "https" and "WRONG_VERSION_NUMBER" in str(exc):
        where = f"{request.url.host}:{request.url.port or 443}"
        return f" (the server at {where} answers without TLS: is its URL http://?)"
    return ""


@dataclass
class _Pool:
    """A client's connection pool, held so that its copies (``with_options``) see it
    renewed in a forked process."""

    http: httpx2.Client


class SyncAPIClient(BaseClient):
    def __init__(self, *, transport: httpx2.BaseTransport | None, **options: Any) -> None:
        super().__init__(**options)
        self._given_transport = transport
        self._pool = _Pool(self._new_http())
        self._closing = Cancellation()  # cancelled by close(): ends its calls' pauses
        self._cancel: Cancellation | None = None  # every call's, on a copy given one
        renewed_in_forks(self)

    def with_options(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: httpx2.Timeout | float | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        cancel: Cancellation | NotGiven | None = NOT_GIVEN,
    ) -> Self:
        """``BaseClient.with_options``, and ``cancel``: a ``Cancellation`` every call of
        the copy is made under (``request``'s ``cancel=``), each page of its lists and
        each poll of its waits too, so that a thread stopping the others ends their
        waits whatever method they are in; None for none. Only ``request()`` took one,
        and no resource method could: a list or a job's ``wait()`` slept out its slots
        and its pauses after a shutdown began."""
        clone = super().with_options(max_retries=max_retries, timeout=timeout, deadline=deadline)
        if not isinstance(cancel, NotGiven):
            if cancel is not None and not isinstance(cancel, Cancellation):
                raise TypeError(
                    f"cancel takes a producersync.client.Cancellation or None, not {cancel!r:.60}"
                )
            clone._cancel = cancel
        return clone

    def _new_http(self) -> httpx2.Client:
        return httpx2.Client(
            transport=self._given_transport,
            verify=shared_ssl_context(),
            timeout=self.timeout,
            limits=DEFAULT_LIMITS,
            headers=self._headers,
            event_hooks={"response": [hold_to_deadline, bound_body]},
        )

    @property
    def _http(self) -> httpx2.Client:
        return self._pool.http

    def _renew_after_fork(self) -> None:
        """In a process forked from this one (``_fork``): a pool of its own, unless the
        transport is the caller's (theirs to renew), and the pacing and token free of
        the parent's threads (its close signal, a ``Cancellation``, renews itself)."""
        self.pacer.forked()
        self.tokens.forked()
        if self._given_transport is None and not self._http.is_closed:
            stale, self._pool.http = self._pool.http, self._new_http()
            # Closes this process's descriptors of the parent's sockets; HTTP/1.1 sends
            # nothing as it closes, so the parent's connections go on.
            stale.close()

    def close(self) -> None:
        """Close the connection pool, for good, and the pacing: the calls waiting for a
        slot or pausing to retry, in other threads, raise ``ClientClosedError`` at once.
        On a copy (``with_options``) nothing: the pool and the pacing are the client's it
        was copied from."""
        if self._owns_http:
            self._closing.cancel()
            self.pacer.close()
            self._http.close()

    # Typed by ``raw``: the body's bytes, or its JSON value. As ``Any`` it type-checked
    # every use of it in a caller's ``mypy --strict`` code, a misspelt key included.
    @overload
    def request(
        self,
        method: str,
        path: str,
        *,
        raw: Literal[False] = False,
        **options: Unpack[_ThreadCall],
    ) -> JsonValue: ...

    @overload
    def request(
        self, method: str, path: str, *, raw: Literal[True], **options: Unpack[_ThreadCall]
    ) -> bytes: ...

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        raw: bool = False,
        priority: float = 0.0,
        deadline: float | None = None,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        cancel: Cancellation | None = None,
        ends: float | None = None,
    ) -> Any:
        """Send one call through pacing, auth and the retry loop; its JSON body (its bytes
        with ``raw``, for callers that validate JSON themselves). While the rate limit
        holds calls back, those of higher ``priority`` go first. Each attempt has
        ``deadline`` seconds (default: the client's) for the whole of its response.
        Once ``cancel`` is cancelled (from another thread), the call stops waiting for
        its slot or to retry, and raises ``CallCancelledError``; None: the client's
        (``with_options(cancel=...)``), if it has one. ``max_retries``: the
        call's, in place of the client's. A write (POST, PUT, PATCH, DELETE) carries one
        ``Idempotency-Key`` in all its attempts: ``idempotency_key``, else one made for
        the call. ``ends``: a time on ``time.monotonic`` the
        call gives up at, however far its retries got (a job wait's end): every wait of
        it ends there (for a slot, an attempt, to retry), and it raises
        ``APITimeoutError``, from its last attempt's error if it had one."""
        deadline, most, ends = self._call_limits(deadline, max_retries, ends)
        cancel = self._cancel if cancel is None else cancel
        attempt, replayed = 0, False  # retries taken; whether a 401 was replayed (once)
        failed: Exception | None = None  # the last attempt's error
        headers = idempotency_headers(method, idempotency_key)
        while True:
            refuse_closed(self._http)
            request = self._http.build_request(
                method, self._url(path), params=params, json=json, headers=headers
            )
            try:
                sent_at = self.pacer.take(priority, cancel, ends)
                self._limit(request, deadline, ends)
            except TimeoutError as exc:
                raise APITimeoutError(request) from failed or exc
            started = time.perf_counter()
            try:
                # Each response held to the attempt's deadline as it comes (``hold_to_deadline``).
                response = self._http.send(request, auth=self._auth)
                return self._result(request, response, started, attempt, raw, sent_at)
            except (httpx2.TransportError, httpx2.DecodingError, ProducerSyncError) as exc:
                if not replayed and self._token_refused(request, exc):
                    replayed = True
                    continue
                delay = left(self._retry_delay(request, exc, attempt, most), ends)
                pause(delay, cancel, self._closing)
                attempt, failed = attempt + 1, exc


class AsyncAPIClient(BaseClient):
    def __init__(self, *, transport: httpx2.AsyncBaseTransport | None, **options: Any) -> None:
        super().__init__(**options)
        self._http = httpx2.AsyncClient(
            transport=transport,
            verify=shared_ssl_context(),
            timeout=self.timeout,
            limits=DEFAULT_LIMITS,
            headers=self._headers,
            event_hooks={"response": [abound_body]},
        )
        self._loop = LoopBinding()
        self._closing = AsyncClosing()

    async def close(self) -> None:
        """``SyncAPIClient.close``, awaited, for the calls of other tasks. In the event
        loop of the client's calls: in another, ``RuntimeError`` saying so, nothing
        closed (``LoopBinding.check_close``)."""
        if self._owns_http:
            self._loop.check_close()
            self._closing.close()
            self.pacer.close()
            await self._http.aclose()

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        raw: Literal[False] = False,
        **options: Unpack[_Call],
    ) -> JsonValue: ...

    @overload
    async def request(
        self, method: str, path: str, *, raw: Literal[True], **options: Unpack[_Call]
    ) -> bytes: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        raw: bool = False,
        priority: float = 0.0,
        deadline: float | None = None,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
        ends: float | None = None,
    ) -> Any:
        """``SyncAPIClient.request``, awaited; it takes no ``cancel``: a task's call is
        cancelled with the task, its waits too."""
        deadline, most, ends = self._call_limits(deadline, max_retries, ends)
        self._loop.check()
        attempt, replayed = 0, False
        failed: Exception | None = None
        headers = idempotency_headers(method, idempotency_key)
        while True:
            refuse_closed(self._http)
            request = self._http.build_request(
                method, self._url(path), params=params, json=json, headers=headers
            )
            try:
                sent_at = await self.pacer.atake(priority, ends)
                attempt_deadline = self._limit(request, deadline, ends)
            except TimeoutError as exc:
                raise APITimeoutError(request) from failed or exc
            started = time.perf_counter()
            try:
                response = await self._send(request, attempt_deadline)
                return self._result(request, response, started, attempt, raw, sent_at)
            except (httpx2.TransportError, httpx2.DecodingError, ProducerSyncError) as exc:
                if not replayed and self._token_refused(request, exc):
                    replayed = True
                    continue
                delay = left(self._retry_delay(request, exc, attempt, most), ends)
                await self._closing.pause(delay)
                attempt, failed = attempt + 1, exc

    async def _send(self, request: httpx2.Request, deadline: float) -> httpx2.Response:
        """One attempt, cancelled at its deadline."""
        try:
            with anyio.fail_after(deadline):
                return await self._http.send(request, auth=self._auth)
        except TimeoutError as exc:
            raise overrun(request) from exc


DEFAULTS: dict[str, Any] = {
    "max_retries": DEFAULT_MAX_RETRIES,
    "rate_limit": DEFAULT_RATE_LIMIT,
    "refresh_margin": DEFAULT_REFRESH_MARGIN,
}
