"""The token endpoint as a standard OAuth2 client library meets it: requests-oauthlib over
oauthlib, the library most Python integrations fetch client-credentials tokens with. It
sends either authentication method of RFC 6749 §2.3.1 and reads each refusal's ``error``
as an RFC 6749 code, raising that code's exception."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote_plus

import pytest
import requests
import sqlalchemy as sa
from oauthlib.oauth2 import (
    BackendApplicationClient,
    InvalidClientError,
    InvalidScopeError,
    LegacyApplicationClient,
    OAuth2Error,
    ServerError,
    TemporarilyUnavailableError,
    UnsupportedGrantTypeError,
)
from oauthlib.oauth2.rfc6749.parameters import parse_token_response
from requests_oauthlib import OAuth2Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from producersync.service.auth import token_endpoint
from producersync.service.errors import PathBodies, install_error_handlers
from producersync.service.served_under import ServedUnder
from producersync.service.unavailable import StoreUnavailable
from tests.support.service import Credentials, RunningService


@pytest.fixture(autouse=True)
def _over_loopback_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # oauthlib refuses http:// (RFC 6749 §3.2 asks for TLS); its switch for local servers.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    yield


@pytest.fixture(scope="module")
def creds(service: RunningService) -> Credentials:
    return service.account(scope="producersync.read producersync.write")


def _session(creds: Credentials, scope: list[str] | None = None) -> OAuth2Session:
    return OAuth2Session(client=BackendApplicationClient(client_id=creds.client_id, scope=scope))


@pytest.mark.parametrize("in_the_form", [False, True], ids=["client_secret_basic", "post"])
def test_the_library_gets_a_token_with_either_method_and_calls_the_api(
    service: RunningService, creds: Credentials, in_the_form: bool
) -> None:
    session = _session(creds)
    token = session.fetch_token(
        f"{service.base_url}/oauth2/token",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        include_client_id=in_the_form,
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == ["producersync.read", "producersync.write"]
    assert session.get(f"{service.base_url}/v2/licenses").status_code == 200


def test_the_library_narrows_the_scope_it_asks_for(
    service: RunningService, creds: Credentials
) -> None:
    token = _session(creds, ["producersync.read"]).fetch_token(
        f"{service.base_url}/oauth2/token",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    assert token["scope"] == ["producersync.read"]


def _refusal(service: RunningService, session: OAuth2Session, **kwargs: object) -> OAuth2Error:
    with pytest.raises(OAuth2Error) as raised:
        session.fetch_token(f"{service.base_url}/oauth2/token", **kwargs)  # type: ignore[arg-type]
    return raised.value


@pytest.mark.parametrize("in_the_form", [False, True], ids=["client_secret_basic", "post"])
def test_a_wrong_secret_is_the_librarys_invalid_client(
    service: RunningService, creds: Credentials, in_the_form: bool
) -> None:
    error = _refusal(
        service,
        _session(creds),
        client_id=creds.client_id,
        client_secret="not-the-secret",
        include_client_id=in_the_form,
    )
    assert isinstance(error, InvalidClientError)


def test_a_scope_not_granted_is_the_librarys_invalid_scope(
    service: RunningService, creds: Credentials
) -> None:
    error = _refusal(
        service,
        _session(creds, ["producersync.admin"]),
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    assert isinstance(error, InvalidScopeError)
    assert "producersync.admin" in error.description


def test_another_grant_is_the_librarys_unsupported_grant_type(
    service: RunningService, creds: Credentials
) -> None:
    session = OAuth2Session(client=LegacyApplicationClient(client_id=creds.client_id))
    error = _refusal(
        service,
        session,
        username="someone",
        password="something",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    assert isinstance(error, UnsupportedGrantTypeError)


def test_a_token_request_by_get_is_the_librarys_invalid_request(
    service: RunningService, creds: Credentials
) -> None:
    """The 405 came in the standard body, whose ``error`` (``Method Not Allowed``) the
    library took for an unknown RFC 6749 code."""
    error = _refusal(
        service,
        _session(creds),
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        method="GET",
    )
    # oauthlib raises invalid_request as InvalidClientIdError, the first class of that code.
    assert error.error == "invalid_request", repr(error)
    response = requests.get(f"{service.base_url}/oauth2/token", timeout=30)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Method GET is not allowed on /oauth2/token",
    }


# A space, "+", "%" and ":" in both: each read otherwise by form-decoding or by Basic.
_ODD = ("odd id+%41:x", "s3cret +%2B:y")


def test_an_id_and_secret_form_encoded_as_rfc_6749_asks_get_a_token(
    service: RunningService,
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic joins them, so a
    "+" is a space. requests-oauthlib sends them as given (requests' HTTPBasicAuth, no
    encoding: an id with ":" is cut there), so they are given encoded; the space, sent
    "+", was read as a "+" and refused."""
    creds = service.account(named=_ODD)
    # The session's client's id is the one it sends, not fetch_token's client_id.
    encoded = BackendApplicationClient(client_id=quote_plus(creds.client_id))
    token = OAuth2Session(client=encoded).fetch_token(
        f"{service.base_url}/oauth2/token",
        client_secret=quote_plus(creds.client_secret),
    )
    assert token["token_type"] == "Bearer"
    unencoded = _refusal(
        service,
        _session(creds),
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    assert isinstance(unencoded, InvalidClientError)


def _failing_token_endpoint(failure: Exception, prefix: str) -> ASGIApp:
    """The token endpoint's path on a route that fails with ``failure``, inside the error
    handlers and the store-outage middleware the service wraps it in, served under
    ``prefix`` as the service is under its public URL's path."""

    async def fail(request: Request) -> Response:
        raise failure

    bodies = PathBodies({token_endpoint.PATH: token_endpoint.refusal}, root=prefix)
    app = Starlette(routes=[Route(token_endpoint.PATH, fail, methods=["POST"])])
    install_error_handlers(app, bodies)
    app.add_middleware(StoreUnavailable, bodies=bodies)
    return ServedUnder(app, prefix)


@pytest.mark.parametrize(
    ("failure", "status", "error", "raised"),
    [
        (
            sa.exc.TimeoutError("no pool slot"),
            503,
            "temporarily_unavailable",
            TemporarilyUnavailableError,
        ),
        (RuntimeError("a bug"), 500, "server_error", ServerError),
    ],
    ids=["store-out-of-reach", "bug"],
)
@pytest.mark.parametrize("prefix", ["", "/producersync"], ids=["at-the-root", "under-a-prefix"])
def test_the_services_own_failures_are_rfc_6749_errors_the_library_raises(
    failure: Exception, status: int, error: str, raised: type[OAuth2Error], prefix: str
) -> None:
    """The store out of reach (or a stop cutting the request) was a 503 in the standard
    body, whose ``error``, ``Service Unavailable``, oauthlib took for an unknown code
    (``CustomOAuth2Error``); a 500 likewise. Now RFC 6749's body: oauthlib raises
    TemporarilyUnavailableError and ServerError."""
    with TestClient(
        _failing_token_endpoint(failure, prefix), raise_server_exceptions=False
    ) as http:
        response = http.post(token_endpoint.PATH, data={"grant_type": "client_credentials"})
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error
    if status == 503:
        assert response.headers["retry-after"] == "5"
    with pytest.raises(raised):
        parse_token_response(response.text)
