"""OAuth2 client credentials as an ``httpx2.Auth`` flow over a token cache.

The token is fetched lazily, reused, and refreshed ``refresh_margin`` seconds before it
expires; one caller fetches while the others wait for it (single flight, per thread and
per task). A 401 to a call is the retry loop's (``_base_client``): it drops the token
(``refused``) and replays the call once, in a pacing slot of its own, and that attempt's
flow fetches the new one. The token request goes through the client's own transport, so
tests see it too.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import anyio
import httpx2

from producersync.client._deadline import DEADLINE
from producersync.client._exceptions import (
    REFUSED_CREDENTIALS,
    AuthenticationError,
    BadRequestError,
    ResponseValidationError,
    make_status_error,
)
from producersync.client._json import json_body
from producersync.model.numbers import real
from producersync.url_userinfo import masked

__all__ = ["ClientCredentials", "TokenCache"]

# What an Authorization header can carry of a token: visible ASCII (RFC 6750's b64token is
# a subset). A CR or LF would end the header; h11 refuses it with the header's value in its
# message, and that message, token and all, became the error's; non-ASCII goes out as
# Latin-1 bytes the server never issued.
_SENDABLE_TOKEN = re.compile(r"[!-~]+")


class TokenCache:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None,
        refresh_margin: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (real(refresh_margin) and refresh_margin >= 0):
            # A NaN margin would make no token fresh (every comparison with NaN is false):
            # a token fetched for every call, against a limit of 200 a minute.
            raise ValueError(
                f"refresh_margin must be 0 or more seconds, not {refresh_margin!r:.60}"
            )
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._margin = refresh_margin
        self.fetches = 0  # token requests made: for tests and metrics
        self.forked()

    def forked(self) -> None:
        """Locks no one holds: in a process forked from this one (``_fork``), a lock held
        by a thread of the parent fetching a token stays held, the token never comes. The
        token itself is kept: the same credential's, good in every process."""
        self.thread_lock = threading.Lock()
        self.task_lock = anyio.Lock()

    def __repr__(self) -> str:  # never the secret, never the token
        return masked(f"TokenCache(client_id={self.client_id!r}, token_url={self.token_url!r})")

    def current(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at - self._margin:
            return self._token
        return None

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None

    def token_request(self) -> httpx2.Request:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        if self.scope:
            form["scope"] = self.scope
        self.fetches += 1
        return httpx2.Request(
            "POST", self.token_url, data=form, headers={"accept": "application/json"}
        )

    def store(self, response: httpx2.Response) -> str:
        if not response.is_success:
            # A throttled token request (the API allows 200 a minute) is raised as a call's
            # 429 is, its ``retry_after`` read from the answer, so it says how long to wait.
            error = make_status_error(response)
            refused = isinstance(error, BadRequestError) and error.error in REFUSED_CREDENTIALS
            if refused or isinstance(error, AuthenticationError):
                raise AuthenticationError(self._refusal(error), response, error.body)
            raise error
        token, expires_in = _grant(response)
        self._token = token
        # A margin as long as the token's life would refetch on every call: cap it at half.
        self._margin = min(self.refresh_margin, expires_in / 2)
        self._expires_at = self._clock() + expires_in
        return token

    def _refusal(self, error: Exception) -> str:
        """What the token endpoint's refusal of the credentials means, and what to do: it
        said only "401 Unauthorized: client authentication failed", naming neither the
        client nor the endpoint, and a caller took it for a call the API refused."""
        return (
            f"{error} (the token endpoint {self.token_url} refused client_id "
            f"{self.client_id!r}: check client_id and client_secret; a client revoked, or "
            "whose secret was rotated, is refused until it is given a live one)"
        )


def _grant(response: httpx2.Response) -> tuple[str, float]:
    """The token and its lifetime from a token response, or ResponseValidationError:
    the flow runs inside httpx2's send, and anything else escaping it would reach the
    caller as a bare KeyError or JSONDecodeError."""

    def malformed(why: str) -> ResponseValidationError:
        return ResponseValidationError(f"the token response from {response.url} {why}", response)

    try:
        body: Any = json_body(response)
    except ValueError as exc:
        raise malformed("is not JSON") from exc
    if not isinstance(body, dict):
        raise malformed("is not a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise malformed("has no access_token")
    if not _SENDABLE_TOKEN.fullmatch(token):  # never shown: it may be a valid secret
        raise malformed("has an access_token that is not visible ASCII")
    # A token of another type (DPoP, MAC) must not be used as one it is not (RFC 6749
    # §7.1): sent as Bearer, it would be refused with a 401, fetched again and refused
    # again, and the AuthenticationError say nothing of why. The type is case-insensitive, and
    # some servers leave it out.
    kind = body.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise malformed(f"has token_type {kind!r:.40}, not Bearer")
    lifetime = body.get("expires_in", 3600)
    try:
        expires_in = float(lifetime)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past 1e308
        expires_in = math.nan
    # A lifetime of 0 or less would fetch a token for every call; NaN would never expire.
    if isinstance(lifetime, bool) or not math.isfinite(expires_in) or expires_in <= 0:
        raise malformed(f"has expires_in {lifetime!r}, not a positive number of seconds")
    return token, expires_in


def _within_timeout(token_request: httpx2.Request, call: httpx2.Request) -> httpx2.Request:
    """The token request under the call's timeout and deadline: httpx2 puts the client's
    timeout on the requests it builds, and one built here had none, so a token endpoint
    that accepted the connection and never answered held the call forever; and the token
    request is part of the call's attempt, whose deadline it shares."""
    for limit in ("timeout", DEADLINE):
        if limit in call.extensions:
            token_request.extensions[limit] = call.extensions[limit]
    return token_request


def _acquire(lock: threading.Lock, request: httpx2.Request) -> bool:
    """Take the token's lock within ``request``'s attempt deadline; False once it has
    passed. A thread waited for the token another was fetching for as long as that took:
    a call of a 2 s deadline behind a token request of the client's 185 s waited the
    185 s, where a task (``AsyncClient``) waits within its own deadline."""
    ends = request.extensions.get(DEADLINE)
    if ends is None:
        return lock.acquire()
    return lock.acquire(timeout=max(0.0, ends - time.monotonic()))


class ClientCredentials(httpx2.Auth):
    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache

    def _authorize(self, request: httpx2.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"

    def refused(self, request: httpx2.Request) -> None:
        """Drop the token the API refused ``request`` with (a 401), so that the call's
        next attempt fetches a new one. Only while it is still the cached one: of the
        calls refused at once, the first to get the lock fetches, the others reuse it."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        if token:
            self.cache.invalidate(token)

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        token = yield from self._sync_token(request)
        self._authorize(request, token)
        yield request

    def _sync_token(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, str]:
        if not _acquire(self.cache.thread_lock, request):
            raise httpx2.TimeoutException(
                "the token another call was fetching did not come within the attempt's deadline",
                request=request,
            )
        try:
            token = self.cache.current()
            if token is None:
                response = yield _within_timeout(self.cache.token_request(), request)
                response.read()
                token = self.cache.store(response)
            return token
        finally:
            self.cache.thread_lock.release()

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        async with self.cache.task_lock:
            token = self.cache.current()
            if token is None:
                response = yield _within_timeout(self.cache.token_request(), request)
                await response.aread()
                token = self.cache.store(response)
        self._authorize(request, token)
        yield request
