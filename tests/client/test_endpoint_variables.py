"""Where a client finds the API: its arguments, else the variables the sync service reads
(PRODUCERSYNC_API_URL, PRODUCERSYNC_TOKEN_URL, PRODUCERSYNC_ENVIRONMENT) with their
meanings, else AgentSync's sandbox. One environment serves both, so that a ``Client()``
in a local service's calls that service, not the sandbox with the local credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from producersync.client import AsyncClient, Client, Environment
from producersync.sync.settings import SyncSettings
from tests.support.cli import sync_environment

LOCAL = "http://127.0.0.1:8000"
AUTH = "https://auth.example/oauth2/token"
SANDBOX = (Environment.SANDBOX.base_url, Environment.SANDBOX.token_url)
PRODUCTION = (Environment.PRODUCTION.base_url, Environment.PRODUCTION.token_url)

# (the variables, the arguments besides the credentials, the base and token URLs)
_FROM_VARIABLES = [
    ({}, SANDBOX),
    ({"PRODUCERSYNC_API_URL": f"{LOCAL}/"}, (LOCAL, f"{LOCAL}/oauth2/token")),
    ({"PRODUCERSYNC_API_URL": LOCAL, "PRODUCERSYNC_TOKEN_URL": AUTH}, (LOCAL, AUTH)),
    ({"PRODUCERSYNC_ENVIRONMENT": "production"}, PRODUCTION),
    (
        {"PRODUCERSYNC_ENVIRONMENT": "production", "PRODUCERSYNC_TOKEN_URL": AUTH},
        (PRODUCTION[0], AUTH),
    ),
    # The API URL outweighs the environment, and the token URL is the API's.
    (
        {"PRODUCERSYNC_ENVIRONMENT": "production", "PRODUCERSYNC_API_URL": LOCAL},
        (LOCAL, f"{LOCAL}/oauth2/token"),
    ),
]
_ARGUMENTS_FIRST = [
    # Where the API is, once an argument says it, no variable changes.
    ({"PRODUCERSYNC_API_URL": LOCAL}, {"environment": "sandbox"}, SANDBOX),
    (
        {"PRODUCERSYNC_API_URL": LOCAL, "PRODUCERSYNC_TOKEN_URL": AUTH},
        {"base_url": "https://api.example"},
        ("https://api.example", "https://api.example/oauth2/token"),
    ),
    (
        {"PRODUCERSYNC_ENVIRONMENT": "sandbox", "PRODUCERSYNC_TOKEN_URL": AUTH},
        {"environment": Environment.PRODUCTION},
        PRODUCTION,
    ),
    (
        {"PRODUCERSYNC_TOKEN_URL": AUTH},
        {"token_url": f"{LOCAL}/token"},
        (SANDBOX[0], f"{LOCAL}/token"),
    ),
    ({"PRODUCERSYNC_API_URL": LOCAL}, {"token_url": AUTH}, (LOCAL, AUTH)),
]


@pytest.fixture(autouse=True)
def _no_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each case sets its own: a shell set up for the README's local walk-through has some.
    for name in (
        "PRODUCERSYNC_API_URL",
        "PRODUCERSYNC_TOKEN_URL",
        "PRODUCERSYNC_ENVIRONMENT",
        "PRODUCERSYNC_ALLOW_PLAIN_HTTP_API",
    ):
        monkeypatch.delenv(name, raising=False)


def _endpoints(client_class: Any, **arguments: Any) -> tuple[str, str]:
    client = client_class("psc_id", "pss_secret", **arguments)
    found = (client.base_url, client.token_url)
    if isinstance(client, AsyncClient):
        anyio.run(client.close)
    else:
        client.close()
    return found


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize(
    ("variables", "arguments", "expected"),
    [(variables, {}, expected) for variables, expected in _FROM_VARIABLES] + _ARGUMENTS_FIRST,
)
def test_arguments_else_the_sync_service_s_variables_else_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
    client_class: Any,
    variables: dict[str, str],
    arguments: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert _endpoints(client_class, **arguments) == expected


@pytest.mark.parametrize(("variables", "expected"), _FROM_VARIABLES)
def test_a_client_and_the_sync_service_find_the_api_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: Any
) -> None:
    sync_environment(tmp_path, monkeypatch)
    credentials = {"PRODUCERSYNC_CLIENT_ID": "psc_id", "PRODUCERSYNC_CLIENT_SECRET": "pss_secret"}
    for name, value in {**variables, **credentials}.items():
        monkeypatch.setenv(name, value)
    with SyncSettings().client() as synced:
        assert (synced.base_url, synced.token_url) == _endpoints(Client) == expected


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"PRODUCERSYNC_API_URL": "api.example"},
            "PRODUCERSYNC_API_URL: 'api.example' is not an http(s) URL with a host",
        ),
        ({"PRODUCERSYNC_API_URL": ""}, "PRODUCERSYNC_API_URL: '' is not an http(s) URL"),
        (
            {"PRODUCERSYNC_API_URL": f"{LOCAL}/v1"},
            f"PRODUCERSYNC_API_URL: '{LOCAL}/v1' ends in the API's version /v1: give its root",
        ),
        (
            {"PRODUCERSYNC_API_URL": LOCAL, "PRODUCERSYNC_TOKEN_URL": "mailto://ops:hunter2@"},
            "PRODUCERSYNC_TOKEN_URL: 'mailto://***@' is not an http(s) URL",
        ),
        (
            {"PRODUCERSYNC_API_URL": LOCAL, "PRODUCERSYNC_ENVIRONMENT": "staging"},
            "PRODUCERSYNC_ENVIRONMENT: 'staging' is not 'sandbox' or 'production'",
        ),
    ],
)
def test_a_variable_the_client_cannot_work_with_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, client_class: Any, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        client_class("psc_id", "pss_hunter2")
    assert message in str(refused.value) and "hunter2" not in str(refused.value)


_IN_CLEAR = "plain http to another host sends the client secret, the access tokens and the records"
_ALLOW = "pass allow_plain_http=True, or set PRODUCERSYNC_ALLOW_PLAIN_HTTP_API=true"


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize(
    ("variables", "arguments", "named"),
    [
        ({}, {"base_url": "http://10.0.0.5:8000"}, "base_url: 'http://10.0.0.5:8000'"),
        (
            {},
            {"base_url": LOCAL, "token_url": "http://ops:hunter2@auth.internal/oauth2/token"},
            "token_url: 'http://***@auth.internal/oauth2/token'",
        ),
        (
            {"PRODUCERSYNC_API_URL": "http://producersync.internal"},
            {},
            "PRODUCERSYNC_API_URL: 'http://producersync.internal'",
        ),
        (
            {"PRODUCERSYNC_API_URL": LOCAL, "PRODUCERSYNC_TOKEN_URL": "http://auth.internal/t"},
            {},
            "PRODUCERSYNC_TOKEN_URL: 'http://auth.internal/t'",
        ),
    ],
    ids=["argument", "token-argument", "variable", "token-variable"],
)
def test_plain_http_to_another_host_is_refused_naming_the_url_and_how_to_allow_it(
    monkeypatch: pytest.MonkeyPatch,
    client_class: Any,
    variables: dict[str, str],
    arguments: dict[str, Any],
    named: str,
) -> None:
    """The sync service refused it; ``Client(base_url="http://api.internal")`` sent the
    client secret across the network unencrypted."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        client_class("psc_id", "pss_secret", **arguments)
    assert str(refused.value).startswith(f"{named}: {_IN_CLEAR}"), refused.value
    assert _ALLOW in str(refused.value) and "hunter2" not in str(refused.value)
    monkeypatch.setenv("PRODUCERSYNC_ALLOW_PLAIN_HTTP_API", "true")
    _endpoints(client_class, **arguments)
    monkeypatch.setenv("PRODUCERSYNC_ALLOW_PLAIN_HTTP_API", "false")
    _endpoints(client_class, **arguments, allow_plain_http=True)


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_allowing_plain_http_by_what_is_no_bool_is_refused(
    monkeypatch: pytest.MonkeyPatch, client_class: Any
) -> None:
    with pytest.raises(TypeError, match="allow_plain_http takes True or False, not 'false'"):
        client_class("psc_id", "pss_secret", base_url=LOCAL, allow_plain_http="false")
    monkeypatch.setenv("PRODUCERSYNC_ALLOW_PLAIN_HTTP_API", "maybe")
    with pytest.raises(
        ValueError, match="PRODUCERSYNC_ALLOW_PLAIN_HTTP_API: 'maybe' is not true or false"
    ):
        client_class("psc_id", "pss_secret", base_url=LOCAL)


@pytest.mark.parametrize(
    ("url", "clear"),
    [
        ("https://10.0.0.5:8443", False),
        ("http://127.1.2.3", False),
        ("http://[::1]:8000", False),
        ("http://api.localhost", False),
        ("http://producersync.internal:8000", True),
        ("http://10.0.0.5", True),
        ("http://localhost.example.com", True),
    ],
)
@pytest.mark.parametrize("allowed", [False, True])
def test_a_client_and_the_sync_service_refuse_plain_http_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, clear: bool, allowed: bool
) -> None:
    """One environment, one answer: a client the sync service's settings allowed was
    refused by the SDK, or the other way round."""
    sync_environment(tmp_path, monkeypatch)
    for name, value in {
        "PRODUCERSYNC_CLIENT_ID": "psc_id",
        "PRODUCERSYNC_CLIENT_SECRET": "pss_secret",
        "PRODUCERSYNC_API_URL": url,
        "PRODUCERSYNC_ALLOW_PLAIN_HTTP_API": str(allowed).lower(),
    }.items():
        monkeypatch.setenv(name, value)
    refused: list[bool] = []
    for make in (lambda: SyncSettings().client(), Client):
        try:
            make().close()
        except ValueError as exc:  # the settings' ValidationError is one
            assert _IN_CLEAR in str(exc)
            refused.append(True)
        else:
            refused.append(False)
    assert refused == [clear and not allowed] * 2


def test_the_sync_service_s_client_is_allowed_by_its_setting_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configuration file's allowance, not the variable's, reaches the SDK too."""
    sync_environment(tmp_path, monkeypatch)
    settings = SyncSettings(
        client_id="psc_id",
        client_secret="pss_secret",
        api_url="http://10.0.0.5",
        allow_plain_http_api=True,
    )
    with settings.client() as client:
        assert client.base_url == "http://10.0.0.5"
