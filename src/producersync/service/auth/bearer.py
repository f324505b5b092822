"""The authenticated principal of an API request, as the gate left it; and scope checks."""

from __future__ import annotations

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2

from producersync.service.auth.principal import Principal
from producersync.service.auth.scopes import READ, WRITE, parse_scopes
from producersync.service.auth.token_endpoint import PATH as TOKEN_PATH
from producersync.service.errors import ApiError

__all__ = ["bearer_scheme", "current_principal", "oauth2_scheme", "writer_principal"]

# Both declare the one scheme in the OpenAPI spec (the ApiGate has already checked the
# token), as alternatives. OAuth2 tells a generated client (or /docs) where to get the
# token and which scope each operation needs, which a bare bearer scheme leaves to a 403;
# the bearer scheme stays for the tools that know no other (schemathesis strips it to
# check that the API then refuses the request).
bearer_scheme = HTTPBearer(auto_error=False, description="A token from POST /oauth2/token")
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=TOKEN_PATH,
            scopes={
                READ: "Read records, the population, jobs and webhook settings",
                WRITE: "Change the monitored population and webhook settings",
            },
        )
    ),
    scheme_name="OAuth2",
    description="Client credentials: a token from POST /oauth2/token, sent as "
    "`Authorization: Bearer <token>`",
    auto_error=False,
)


# The dependencies below are coroutines though they never wait: FastAPI runs a plain
# function in its thread pool, and those two hops of every API request (the event loop
# handing each over, then woken for its result) were 8-10 % of the service's CPU for a
# day's 8 small `updatedSince` pages.
async def current_principal(
    request: Request,
    _token: str | None = Security(oauth2_scheme, scopes=[READ]),
    _credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # only if a route is mounted outside the gate
        raise ApiError(401, "Missing bearer token")
    if READ not in parse_scopes(principal.scope):
        raise _insufficient(READ, "call the API")
    return principal


async def writer_principal(
    principal: Principal = Depends(current_principal),
    _token: str | None = Security(oauth2_scheme, scopes=[WRITE]),
) -> Principal:
    if WRITE not in parse_scopes(principal.scope):
        raise _insufficient(WRITE, "change anything")
    return principal


def _insufficient(scope: str, to: str) -> ApiError:
    # RFC 6750 §3.1: the scope a new token would need, where OAuth clients look for it.
    challenge = f'Bearer realm="producersync", error="insufficient_scope", scope="{scope}"'
    message = f"The token lacks the '{scope}' scope needed to {to}"
    return ApiError(403, message, {"www-authenticate": challenge})
