"""The authenticated principal of an API request, as the gate left it; and scope checks."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producersync.service.auth.principal import Principal
from producersync.service.auth.scopes import READ, WRITE, parse_scopes
from producersync.service.errors import ApiError

__all__ = ["bearer_scheme", "current_principal", "writer_principal"]

# Declares the scheme in the OpenAPI spec; the ApiGate has already checked the token.
bearer_scheme = HTTPBearer(auto_error=False, description="OAuth2 client-credentials token")


def current_principal(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # only if a route is mounted outside the gate
        raise ApiError(401, "Missing bearer token")
    if READ not in parse_scopes(principal.scope):
        raise _insufficient(READ, "call the API")
    return principal


def writer_principal(principal: Principal = Depends(current_principal)) -> Principal:
    if WRITE not in parse_scopes(principal.scope):
        raise _insufficient(WRITE, "change anything")
    return principal


def _insufficient(scope: str, to: str) -> ApiError:
    # RFC 6750 §3.1: the scope a new token would need, where OAuth clients look for it.
    challenge = f'Bearer realm="producersync", error="insufficient_scope", scope="{scope}"'
    message = f"The token lacks the '{scope}' scope needed to {to}"
    return ApiError(403, message, {"www-authenticate": challenge})
