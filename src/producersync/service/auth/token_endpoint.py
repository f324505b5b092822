"""``POST /oauth2/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from producersync.service.api.hal import UNAVAILABLE
from producersync.service.api.spec_responses import SharedResponsesRoute
from producersync.service.auth.principal import Principal
from producersync.service.auth.scopes import malformed, parse_scopes
from producersync.service.auth.secrets import hash_secret, new_client_secret, verify_secret
from producersync.service.context import ServiceContext, get_context
from producersync.service.errors import shown
from producersync.service.form_fields import decoded, fault, pairs
from producersync.service.ratelimit import Decision
from producersync.service.store.accounts import CLIENT_ID_MAX, ClientRecord, find_client

__all__ = ["PATH", "refusal", "router"]

router = APIRouter(tags=["Authentication"], route_class=SharedResponsesRoute)

PATH = "/oauth2/token"


class TokenResponse(BaseModel):
    token_type: str
    expires_in: int
    access_token: str = Field(repr=False)  # out of a debugger's view, as every secret
    scope: str


class OAuthError(BaseModel):
    """RFC 6749 §5.2 error body."""

    error: str
    error_description: str


def _oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"error": error, "error_description": description}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store", **(headers or {})},
    )


# RFC 6749 §4.1.2.1 defines these two for the authorization endpoint alone, and §5.2 lists
# none for the token endpoint's own failures; OAuth 2.1's draft and most servers answer
# them there too, and oauthlib raises each as its exception (ServerError,
# TemporarilyUnavailableError).
_SERVICE_ERRORS: dict[int, str] = {500: "server_error", 503: "temporarily_unavailable"}


def refusal(status: int, message: str, headers: Mapping[str, str]) -> Response:
    """Any answer here that the route does not make, in RFC 6749's body as every other
    answer of the endpoint: the router's refusal (a method other than POST: ``405`` with
    ``allow``), ``invalid_request``; the service's ``500`` (``server_error``) and its
    ``503`` while the store is out of reach or the process stops
    (``temporarily_unavailable``, with ``retry-after``). An OAuth client library reads
    ``error`` as an RFC 6749 code: the standard body's ``Method Not Allowed`` was none
    (oauthlib: a ``CustomOAuth2Error`` of that name), nor was ``Service Unavailable``."""
    return _oauth_error(status, _SERVICE_ERRORS.get(status, "invalid_request"), message, headers)


def _too_many(decision: Decision, description: str) -> Response:
    # RFC 6749 registers no code for throttling; temporarily_unavailable is the nearest.
    return _oauth_error(429, "temporarily_unavailable", description, decision.headers())


def _too_many_failures(decision: Decision) -> Response:
    return _too_many(
        decision,
        f"more than {decision.limit} failed client authentications per minute from this "
        f"address; retry in {max(1, decision.reset_seconds)} s",
    )


class _MalformedBasic(ValueError):
    """An HTTP Basic header that is not base64 of ``client_id:client_secret``."""


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """The client's credentials from an HTTP Basic header; None for another scheme or
    none. A malformed one is refused (``_MalformedBasic``), not passed over for the
    form's credentials: what the client meant to authenticate with is the header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, or not ASCII at all (a 500 once)
        raise _MalformedBasic from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _MalformedBasic
    # RFC 6749 §2.3.1: both parts are form-urlencoded (application/x-www-form-urlencoded,
    # where "+" is a space) before base64. unquote keeps a "+", so an id or secret with
    # a space, as authlib sends it ("+"), would be refused. Libraries that send them unencoded
    # (requests, httpx, requests-oauthlib) send ours unchanged: they hold no character
    # that form-encoding changes.
    return unquote_plus(client_id), unquote_plus(secret)


def _invalid_client(description: str, counted: Decision | None = None) -> Response:
    # RFC 6749 §5.2: a 401, with the scheme the client may authenticate with.
    # A failure counted in its address's window tells how many are left, as every answer
    # counted in a window does.
    headers = {"www-authenticate": 'Basic realm="producersync"'}
    if counted:
        headers.update(counted.headers())
    return _oauth_error(401, "invalid_client", description, headers)


@router.post(
    PATH,
    operation_id="getAccessToken",
    summary="Get an access token (client credentials)",
    response_model=TokenResponse,
    responses={
        400: {
            "model": OAuthError,
            "description": "invalid_request, unsupported_grant_type, invalid_scope",
        },
        401: {"model": OAuthError, "description": "invalid_client"},
        429: {
            "model": OAuthError,
            "description": "too many token requests for this client, or too many failed "
            "client authentications from this address",
        },
        # RFC 6749's body, as the endpoint's every answer: oauthlib would take the
        # standard body's error, "Service Unavailable", for an unknown code.
        503: {"model": OAuthError, "description": f"temporarily_unavailable: {UNAVAILABLE}"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                        "required": ["grant_type"],
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> Response:
    """Client credentials in the form or in HTTP Basic; unknown form fields are ignored."""
    ctx = get_context(request)
    if "client_secret" in request.query_params:
        # RFC 6749 §2.3.1: never in the URL, which proxies, access logs and histories keep.
        # Ignoring the query would answer credentials "missing", or with them in the form
        # too, a 200 that leaves the client none the wiser.
        return _oauth_error(
            400,
            "invalid_request",
            "client_secret was sent in the URL, which proxies and logs keep: send it in the "
            "form body or in HTTP Basic (RFC 6749 §2.3.1), and rotate it",
        )
    given = request.headers.get("content-type", "")
    if given.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        # RFC 6749 §5.2's code and status (400 unless it says otherwise, and it does not
        # here, so no 415), as the API's 400 for a body not sent as JSON.
        return _oauth_error(
            400,
            "invalid_request",
            f"the body must be application/x-www-form-urlencoded, not {shown(given or 'none')}",
        )
    try:
        sent = await request.body()  # kept on the request, where the form is read from
        form = await request.form()
    except HTTPException as exc:  # the body's cap or time (api/body_limit.py)
        return _oauth_error(400, "invalid_request", str(exc.detail), exc.headers)
    except Exception:  # a malformed body is the client's mistake, never a 500
        return _oauth_error(400, "invalid_request", "the form body cannot be parsed")
    for name, value in pairs(sent):
        if wrong := fault(name) or fault(value):
            # Named, its value never shown: it may be the secret.
            field = shown(decoded(name).decode("utf-8", "backslashreplace"))
            description = f"the form's field {field} {wrong} (RFC 6749 Appendix B)"
            return _oauth_error(400, "invalid_request", description)
    names = [name for name, _ in form.multi_items()]
    if len(set(names)) < len(names):
        # RFC 6749 §3.2: no parameter more than once (which would count, the first or the last?)
        twice = sorted({name for name in names if names.count(name) > 1})
        return _oauth_error(400, "invalid_request", f"{', '.join(twice)} given more than once")
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}

    grant_type = fields.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )

    authorizations = request.headers.getlist("authorization")
    if len(authorizations) > 1:
        # As a form field given twice: which would count? (RFC 6749 §5.2: more than one
        # set of credentials is an invalid request.)
        return _oauth_error(400, "invalid_request", "Authorization given more than once")
    try:
        basic = _basic_credentials((authorizations or [""])[0])
    except _MalformedBasic:
        return _invalid_client(
            "the Basic credentials are not base64 of client_id:client_secret (RFC 6749 §2.3.1)"
        )
    if basic and (
        fields.get("client_secret") or fields.get("client_id") not in (None, "", basic[0])
    ):
        # RFC 6749 §2.3: one authentication method per request. Were Basic to win, the form's
        # secret would go unchecked, a wrong one or another client's alike. A client_id
        # naming the Basic client is only the client identifying itself (§3.2.1).
        return _oauth_error(
            400,
            "invalid_request",
            "client credentials given both in HTTP Basic and in the form; give them once",
        )
    client_id, secret = basic if basic else (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not secret:
        return _invalid_client("client credentials are missing")

    address = request.client.host if request.client else ""
    client = await _authenticated(ctx, address, client_id, secret)
    if isinstance(client, Response):
        return client

    decision = await ctx.token_limiter.hit(client_id)
    if not decision.allowed:
        return _too_many(
            decision,
            f"more than {decision.limit} token requests per minute for this client; "
            "reuse tokens until they expire",
        )

    granted = parse_scopes(client.scope)
    requested = fields.get("scope")
    why = malformed(requested) if requested else None
    if why:
        return _oauth_error(
            400, "invalid_scope", f"malformed scope {shown(requested)}: {why}", decision.headers()
        )
    # RFC 6749 §3.1: a parameter sent without a value is as if omitted.
    scopes = parse_scopes(requested) if requested else granted
    if not scopes <= granted:
        # Cut as any refused value is: the whole request's scope came back, up to 64 KiB.
        unknown = shown(" ".join(sorted(scopes - granted)))
        return _oauth_error(
            400,
            "invalid_scope",
            f"scope not granted to this client: {unknown}",
            decision.headers(),
        )

    scope = " ".join(sorted(scopes))
    principal = Principal(client.client_id, client.account_id, client.sandbox, scope)
    body = {
        "token_type": "Bearer",
        "expires_in": ctx.tokens.ttl_seconds,
        "access_token": ctx.tokens.issue(principal, client.secret_rotated_at),
        "scope": scope,
    }
    return Response(
        orjson.dumps(body),
        media_type="application/json",
        headers={"cache-control": "no-store", "pragma": "no-cache", **decision.headers()},
    )


_NO_CLIENT_HASH = hash_secret(new_client_secret())  # matched by no secret given


async def _authenticated(
    ctx: ServiceContext, address: str, client_id: str, secret: str
) -> ClientRecord | Response:
    """The live client whose credentials these are, or the answer refusing them.

    Failures count per address, not per client_id: whoever merely knows a client_id can
    then neither lock its client out nor spend its token budget. An address past its
    failures is refused before its credentials are looked at: refused only when wrong, a
    guesser who kept going would learn a right secret from its 200 among the 429s. And
    one request at a time per address is looked at: all at once, a burst of guesses would
    each find the window as it stood before any of them failed."""
    async with ctx.authenticating.held(address):
        guard = await ctx.token_failure_limiter.peek(address)
        if not guard.allowed:
            return _too_many_failures(guard)
        # No client holds an id this long (up to the body's 64 KiB): no lookup.
        client = (
            None
            if len(client_id) > CLIENT_ID_MAX
            else await anyio.to_thread.run_sync(_find_client, ctx, client_id)
        )
        # Checked against a hash whether or not the client exists or is revoked: skipped
        # for those, the answer's time would tell which ids are live clients.
        right = verify_secret(secret, client.secret_hash if client else _NO_CLIENT_HASH)
        if client is None or client.revoked_at is not None or not right:
            failures = await ctx.token_failure_limiter.hit(address)
            if not failures.allowed:  # another process counted failures meanwhile
                return _too_many_failures(failures)
            return _invalid_client("client authentication failed", failures)
        return client


def _find_client(ctx: ServiceContext, client_id: str) -> ClientRecord | None:
    with ctx.engine.connect() as conn:
        return find_client(conn, client_id)
