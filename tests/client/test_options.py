"""A client given options it cannot work with refuses them when built, before any request
(a URL that is not one used to fail only after every retry)."""

from __future__ import annotations

import math
from typing import Any

import httpx2
import pytest

from producersync.client import AsyncClient, Client, Environment


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": "notaurl"}, "base_url: 'notaurl' is not an http(s) URL with a host"),
        ({"base_url": "ftp://api.example"}, "base_url: 'ftp://api.example' is not an http(s)"),
        ({"base_url": "https://"}, "base_url: 'https://' is not an http(s) URL with a host"),
        # Every call went to /v2/v2/..., the token asked of /v2/oauth2/token: the first
        # call failed "401 Unauthorized: Missing bearer token", read as bad credentials.
        (
            {"base_url": "https://ops:hunter2@api.example/proxy/V2/"},
            "base_url: 'https://***@api.example/proxy/V2/' ends in the API's version /V2: "
            "give its root, 'https://***@api.example/proxy' (the client adds /v1 and /v2)",
        ),
        # A password holding "/": the URL's parts put it in the path, and it was shown.
        (
            {"base_url": "https://ops:hun/ter2@api.example/v2"},
            "base_url: 'https://***@api.example/v2' ends in the API's version /v2: "
            "give its root, 'https://***@api.example' (the client adds /v1 and /v2)",
        ),
        (
            {"base_url": "https://api.example", "token_url": "mailto://ops:hunter2@"},
            "token_url: 'mailto://***@' is not",
        ),
        # A bare AttributeError, naming neither the option nor the value.
        ({"environment": "staging"}, "environment: 'staging' is not 'sandbox' or 'production'"),
        ({"environment": 1}, "environment: 1 is not 'sandbox' or 'production'"),
        ({"base_url": "https://api.example", "max_retries": -1}, "max_retries must be an integer"),
        ({"base_url": "https://api.example", "max_retries": 1.5}, "0 or more, not 1.5"),
        ({"base_url": "https://api.example", "max_retries": True}, "0 or more, not True"),
        ({"base_url": "https://api.example", "max_retries": "3"}, "0 or more, not '3'"),
        ({"base_url": "https://api.example", "rate_limit": 0}, "rate_limit must be positive"),
        ({"base_url": "https://api.example", "deadline": 0}, "deadline must be positive"),
        ({"base_url": "https://api.example", "deadline": -1.0}, "deadline must be positive"),
        # A string failed as a bare TypeError naming no option; a bool was taken as 1.
        ({"base_url": "https://api.example", "deadline": "5"}, "for none), not '5'"),
        ({"base_url": "https://api.example", "deadline": True}, "for none), not True"),
        ({"base_url": "https://api.example", "timeout": "5"}, "connect wait must be positive"),
        ({"base_url": "https://api.example", "timeout": True}, "(None for none), not True"),
        ({"base_url": "https://api.example", "rate_limit": "300"}, "finite, not '300'"),
        ({"base_url": "https://api.example", "rate_limit": True}, "finite, not True"),
        ({"base_url": "https://api.example", "refresh_margin": "x"}, "seconds, not 'x'"),
        # A bare OverflowError, and a ValueError naming no option.
        ({"base_url": "https://api.example", "rate_limit": math.inf}, "not inf"),
        ({"base_url": "https://api.example", "rate_limit": math.nan}, "rate_limit must be"),
        # No token was ever fresh: one was fetched for every call.
        ({"base_url": "https://api.example", "refresh_margin": math.nan}, "refresh_margin must"),
        ({"base_url": "https://api.example", "refresh_margin": -1}, "refresh_margin must"),
        # A NaN deadline no attempt passes, or every attempt past it at once.
        ({"base_url": "https://api.example", "timeout": math.nan}, "the connect wait must"),
        ({"base_url": "https://api.example", "timeout": -1}, "the connect wait must be positive"),
        (
            {"base_url": "https://api.example", "timeout": httpx2.Timeout(5, read=math.nan)},
            "the read wait must be positive (None for none), not nan",
        ),
    ],
)
def test_unworkable_options_are_refused_when_the_client_is_built(
    client_class: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        client_class("psc_id", "pss_secret", **options)
    assert message in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "environment"),
    [("production", Environment.PRODUCTION), ("Sandbox", Environment.SANDBOX)],
)
def test_an_environment_may_be_named_as_a_configuration_names_it(
    name: Any, environment: Environment
) -> None:
    with Client("psc_id", "pss_secret", environment=name) as client:
        assert (client.base_url, client.token_url) == (
            environment.base_url,
            environment.token_url,
        )


def test_http_and_https_urls_with_a_host_are_taken_as_given() -> None:
    with Client("psc_id", "pss_secret", base_url="http://127.0.0.1:8000/") as client:
        assert (client.base_url, client.token_url) == (
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/oauth2/token",
        )


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_a_client_shows_the_api_it_calls_and_as_whom_never_a_secret(client_class: Any) -> None:
    """It showed as ``<producersync.client._client.Client object at 0x...>``: nothing told
    a sandbox client from a production one in a notebook or a debugger."""
    production = client_class("psc_1", "hunter2", environment="production", max_retries=2)
    behind_a_gateway = client_class("psc_1", "hunter2", base_url="https://ops:pw@gw.example/ps")
    name = client_class.__name__
    assert repr(production) == (
        f"{name}(base_url='https://api.agentsync.io', client_id='psc_1', max_retries=2, "
        "deadline=185.0)"
    )
    assert repr(behind_a_gateway).startswith(f"{name}(base_url='https://***@gw.example/ps', ")
    assert "hunter2" not in repr(behind_a_gateway) + repr(production)
    assert "pw" not in repr(behind_a_gateway)
    # Its token cache too, whose token URL is the gateway's, password and all.
    assert repr(behind_a_gateway.tokens) == (
        "TokenCache(client_id='psc_1', token_url='https://***@gw.example/ps/oauth2/token')"
    )
