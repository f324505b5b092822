"""Where the real ProducerSync lives, and what a URL given instead must be: an http(s)
URL, and not plain http to another host unless allowed (``refused_in_clear``, the sync
service's rule)."""

from __future__ import annotations

import os
from enum import Enum
from typing import Literal

from pydantic import TypeAdapter, ValidationError

from producersync.model.http_url import api_url, http_url, refused_in_clear
from producersync.url_userinfo import masked

__all__ = [
    "Environment",
    "EnvironmentName",
    "endpoints",
    "http_url",
    "named_environment",
    "plain_http_allowed",
]

# The sync service's settings (`api_url`, `token_url`, `environment`), read by the SDK
# with the same meanings: one environment serves both, so that a Client() in a local
# service's calls that service, not AgentSync's sandbox with the local credentials.
API_URL_VARIABLE = "PRODUCERSYNC_API_URL"
TOKEN_URL_VARIABLE = "PRODUCERSYNC_TOKEN_URL"
ENVIRONMENT_VARIABLE = "PRODUCERSYNC_ENVIRONMENT"
ALLOW_PLAIN_HTTP_VARIABLE = "PRODUCERSYNC_ALLOW_PLAIN_HTTP_API"
_FLAG = TypeAdapter(bool)  # reads a variable's true or false as pydantic-settings does
_ALLOW = f"pass allow_plain_http=True, or set {ALLOW_PLAIN_HTTP_VARIABLE}=true"

EnvironmentName = Literal["sandbox", "production"]


class Environment(Enum):
    """AgentSync's environments: (API base URL, token URL)."""

    SANDBOX = ("https://api.sandbox.agentsync.io", "https://auth.sandbox.agentsync.io/oauth2/token")
    PRODUCTION = ("https://api.agentsync.io", "https://auth.agentsync.io/oauth2/token")

    @property
    def base_url(self) -> str:
        return self.value[0]

    @property
    def token_url(self) -> str:
        return self.value[1]


def named_environment(value: Environment | str, name: str = "environment") -> Environment:
    """``value``, or the ``Environment`` it names (``"sandbox"``, ``"production"``, in
    any case), as a configuration file or variable gives it; else ``ValueError`` naming
    ``name`` (the argument, or the variable it was read from) and the value."""
    if isinstance(value, Environment):
        return value
    found = Environment.__members__.get(value.upper()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"{name}: {value!r:.60} is not 'sandbox' or 'production'")
    return found


def plain_http_allowed(given: bool | None) -> bool:
    """``allow_plain_http`` as given, else $PRODUCERSYNC_ALLOW_PLAIN_HTTP_API's true or
    false (the sync service's setting, with its meaning), else False. Not a bool is a
    ``TypeError``: ``"false"`` would be taken as true."""
    if given is not None:
        if not isinstance(given, bool):
            raise TypeError(f"allow_plain_http takes True or False, not {given!r:.60}")
        return given
    value = os.environ.get(ALLOW_PLAIN_HTTP_VARIABLE)
    if value is None:
        return False
    try:
        return _FLAG.validate_python(value)
    except ValidationError:
        raise ValueError(
            f"{ALLOW_PLAIN_HTTP_VARIABLE}: {value!r:.60} is not true or false"
        ) from None


def endpoints(
    environment: Environment | str | None,
    base_url: str | None,
    token_url: str | None,
    allow_plain_http: bool | None = None,
) -> tuple[str, str]:
    """The API's base URL (no trailing slash) and its token URL, each checked by
    ``http_url`` under the name it came by: an argument, or the variable it was read
    from. Given neither ``environment`` nor ``base_url``, the API is
    $PRODUCERSYNC_API_URL's, else $PRODUCERSYNC_ENVIRONMENT's, else AgentSync's
    sandbox, and its token URL ``token_url``, else $PRODUCERSYNC_TOKEN_URL, else the
    environment's or ``{base URL}/oauth2/token``: the sync service's meanings. Given
    either, no variable is read: an argument outweighs the environment, as for the
    credentials, so ``environment=`` is that environment whatever
    $PRODUCERSYNC_API_URL holds, and a token URL set for another API never receives
    the credentials of the one given. Either plain http to another host than this one is
    a ``ValueError`` naming it unless ``plain_http_allowed``: the client secret would
    cross the network unencrypted."""
    base_name, token_name = "base_url", "token_url"
    if environment is None and base_url is None:
        named = os.environ.get(ENVIRONMENT_VARIABLE)
        # Checked even where the API URL outweighs it, as the sync service checks it.
        chosen = None if named is None else named_environment(named, ENVIRONMENT_VARIABLE)
        base_url = os.environ.get(API_URL_VARIABLE)
        if base_url is None:
            environment = chosen or Environment.SANDBOX
        else:
            base_name = API_URL_VARIABLE
        if not token_url and TOKEN_URL_VARIABLE in os.environ:
            token_url = http_url(os.environ[TOKEN_URL_VARIABLE], TOKEN_URL_VARIABLE)
            token_name = TOKEN_URL_VARIABLE
    if environment is not None:
        given = named_environment(environment)
        base_url = base_url or given.base_url
        token_url = token_url or given.token_url
    assert base_url is not None
    base_url = api_url(base_url, base_name).rstrip("/")
    token_url = http_url(token_url or f"{base_url}/oauth2/token", token_name)
    urls = {base_name: base_url, token_name: token_url}
    refused = [] if plain_http_allowed(allow_plain_http) else refused_in_clear(urls, _ALLOW)
    if refused:
        # The first alone: a token URL made from the base URL is refused for its sake.
        name, why = refused[0]
        raise ValueError(f"{name}: {masked(urls[name])!r}: {why}")
    return base_url, token_url
