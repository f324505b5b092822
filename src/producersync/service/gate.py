"""The API gate: bearer authentication and per-client rate limits, before any route runs.

Pure ASGI so that the rate-limit headers land on every API response, errors included,
and a throttled request costs no routing, validation or database work.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.db_outage import unavailable
from producersync.service.access import CLIENT_ID
from producersync.service.auth.tokens import InvalidToken
from producersync.service.context import ServiceContext
from producersync.service.errors import INTERNAL_ERROR, error_response, shown
from producersync.service.served_under import route_path

__all__ = ["API_PREFIXES", "ApiGate"]

API_PREFIXES = ("/v1/", "/v2/")


class ApiGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        ctx: ServiceContext = scope["app"].state.context
        path = scope["path"]
        authorizations = Headers(scope=scope).getlist("authorization")
        if len(authorizations) > 1:
            # Which one counts? Taking the first, whatever the second, is a guess (a proxy
            # may have read the other). RFC 6750 §3.1: more than one token is an invalid request.
            message = "The Authorization header is given more than once; give it once"
            await _deny(scope, receive, send, 400, message, path, "invalid_request")
            return
        scheme, _, token = (authorizations or [""])[0].partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _deny(scope, receive, send, 401, _missing(authorizations, scheme, token), path)
            return
        try:
            principal, secret_rotated_at = ctx.tokens.verify(token.strip())
        except InvalidToken as exc:
            await _deny(scope, receive, send, 401, str(exc), path, "invalid_token")
            return
        # For the access log, refused or not: which client is throttled, or still
        # calling revoked, is what an operator reading a run of 429s or 401s asks.
        scope.setdefault("state", {})[CLIENT_ID] = principal.client_id
        refusal = await ctx.revocations.refusal(principal.client_id, secret_rotated_at)
        if refusal is not None:
            await _deny(scope, receive, send, 401, refusal, path, "invalid_token")
            return

        decision = await ctx.api_limiter.hit(principal.client_id)
        headers = decision.headers()
        if not decision.allowed:
            message = (
                f"Rate limit of {decision.limit} requests per minute exceeded; "
                f"retry in {max(1, decision.reset_seconds)} s"
            )
            await error_response(429, message, path, headers)(scope, receive, send)
            return

        scope.setdefault("state", {})["principal"] = principal
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Starlette's 500 handler answers outside every middleware, so its answer
            # would leave without the counts of the request it counted. Answered here, with
            # them; raised on for the handler to log, which then sends nothing more. A
            # store outage is StoreUnavailable's 503, outside.
            if started or unavailable(exc):
                raise
            await error_response(500, INTERNAL_ERROR, path)(scope, receive, send_with_headers)
            raise


def _missing(authorizations: list[str], scheme: str, token: str) -> str:
    """Why no bearer token was found: a header of another scheme is named by its scheme
    alone (the rest is a credential: Basic's secret), one with none (a token sent bare,
    without "Bearer ") by no part of it."""
    message = "Missing bearer token"
    if not authorizations or scheme.lower() == "bearer":
        return message
    if not token:
        return f"{message}: the Authorization header names no scheme; send 'Bearer <token>'"
    return f"{message}: the Authorization header's scheme is {shown(scheme)}; send 'Bearer <token>'"


async def _deny(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    path: str,
    error: str | None = None,
) -> None:
    # RFC 6750 §3.1: a request that carried a token is told why it failed, in the header
    # OAuth clients read (one told invalid_token fetches a new token); one that carried
    # none is told only the scheme. Messages hold no quote to escape.
    challenge = 'Bearer realm="producersync"'
    if error:
        challenge += f', error="{error}", error_description="{message}"'
    await error_response(status, message, path, {"www-authenticate": challenge})(
        scope, receive, send
    )
