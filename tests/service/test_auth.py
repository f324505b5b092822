"""The token endpoint and bearer authentication."""

from __future__ import annotations

import base64
import datetime as dt
import time
from urllib.parse import quote_plus

import httpx2
import jwt
import pytest
import sqlalchemy as sa

from producersync.service.auth import token_endpoint
from producersync.service.auth.principal import Principal
from producersync.service.auth.tokens import TokenCodec
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.keys import load_or_create_key
from producersync.service.store.tables import api_clients
from tests.support import plain_http
from tests.support.service import Credentials, RunningService


def _token(service: RunningService, **kwargs: object) -> httpx2.Response:
    return plain_http.post(f"{service.base_url}/oauth2/token", **kwargs)


def _assert_standard_error(response: httpx2.Response, status: int, path: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"timestamp", "status", "error", "message", "path"}
    assert body["status"] == status
    assert body["path"] == path
    assert isinstance(body["timestamp"], int)
    return dict(body)


def _form(creds: Credentials, secret: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": secret or creds.client_secret,
        **extra,
    }


def _basic(creds: Credentials) -> dict[str, str]:
    pair = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"authorization": f"Basic {base64.b64encode(pair).decode()}"}


def test_token_from_form_credentials(service: RunningService) -> None:
    creds = service.account()
    response = _token(
        service,
        data=_form(creds),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "producersync.read producersync.write"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"  # RFC 6749 §5.1, for HTTP/1.0 caches


def test_token_from_http_basic_ignoring_unknown_fields(service: RunningService) -> None:
    creds = service.account()
    response = _token(
        service,
        data={"grant_type": "client_credentials", "audience": "x", "foo": "bar"},
        headers=_basic(creds),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    with plain_http.client(
        base_url=service.base_url, headers={"authorization": f"Bearer {token}"}
    ) as http:
        assert http.get("/v2/licenses").status_code == 200


def test_basic_credentials_form_urlencoded_before_base64_are_decoded(
    service: RunningService,
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded
    (authlib's client_secret_basic escapes them; most clients send ours unchanged, since
    they hold no character that needs it). Every byte escaped here, to be sure."""
    creds = service.account()

    def escaped(text: str) -> str:
        return "".join(f"%{byte:02X}" for byte in text.encode())

    pair = f"{escaped(creds.client_id)}:{escaped(creds.client_secret)}".encode()
    response = _token(
        service,
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {base64.b64encode(pair).decode()}"},
    )
    assert response.status_code == 200, response.text


def test_a_space_sent_as_plus_in_basic_is_a_space(service: RunningService) -> None:
    """httpx's BasicAuth sends id and secret as given (UTF-8, no form-encoding, as
    requests does): given them form-encoded, as RFC 6749 §2.3.1 asks, the "+" that stands
    for a space was read as a "+" and the client refused."""
    creds = service.account(named=("odd id+%41:x", "s3cret +%2B:y"))
    auth = httpx2.BasicAuth(quote_plus(creds.client_id), quote_plus(creds.client_secret))
    response = _token(service, data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 200, response.text
    sent = base64.b64decode(response.request.headers["authorization"].split()[1]).decode()
    assert sent == "odd+id%2B%2541%3Ax:s3cret+%2B%252B%3Ay"


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_secret": "WRONG"}, 401, "invalid_client"),
        # PostgreSQL refuses a NUL in a compared text: it was a 500 there.
        ({"grant_type": "client_credentials", "client_id": "psc_\x00x"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "scope": "admin"}, 400, "invalid_scope"),
    ],
)
def test_token_errors_follow_rfc6749(
    service: RunningService, data: dict[str, str], status: int, error: str
) -> None:
    creds = service.account()
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret, **data}
    if data.get("client_secret") is None and status == 401:
        form.pop("client_secret")
    response = _token(service, data=form)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert creds.client_secret not in response.text


def test_a_refused_scope_is_named_cut_short(service: RunningService) -> None:
    creds = service.account()
    scope = " ".join(f"scope{i:05}" for i in range(5000))  # 50 KB
    form = {"grant_type": "client_credentials", "scope": scope}
    response = _token(
        service, data={**form, "client_id": creds.client_id, "client_secret": creds.client_secret}
    )
    assert response.status_code == 400
    description = response.json()["error_description"]
    assert description.startswith("scope not granted to this client: 'scope00000 scope00001")
    assert len(description) < 200, len(description)


_RULE = "RFC 6749 §3.3: scopes of printable ASCII but '\"' and '\\', one space between them"
_SPACES = f"it begins or ends with a space, or has two together ({_RULE})"


@pytest.mark.parametrize(
    ("scope", "why"),
    [
        ("producersync.read\tproducersync.write", f"it has the character U+0009 ({_RULE})"),
        ("producersync.read  producersync.write", _SPACES),
        (" producersync.read", _SPACES),
        ("producersync.read ", _SPACES),
        (" ", _SPACES),
        ('producersync."read"', f"it has the character '\"' (U+0022) ({_RULE})"),
        ("producersync\\read", f"it has the character '\\' (U+005C) ({_RULE})"),
        ("producersync.réad", f"it has the character 'é' (U+00E9) ({_RULE})"),
    ],
    ids=[
        "tab",
        "two spaces",
        "leading space",
        "trailing space",
        "space alone",
        "quote",
        "backslash",
        "past ascii",
    ],
)
def test_a_malformed_scope_is_invalid_naming_why(
    service: RunningService, scope: str, why: str
) -> None:
    """Split on any whitespace, each was granted as if written otherwise."""
    creds = service.account()
    response = _token(service, data=_form(creds, scope=scope))
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": f"malformed scope '{scope}': {why}",
    }


def test_an_empty_scope_is_as_if_omitted(service: RunningService) -> None:
    """RFC 6749 §3.1: a parameter without a value is treated as omitted."""
    creds = service.account()
    response = _token(service, data=_form(creds, scope=""))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "producersync.read producersync.write"


def test_token_rejects_a_body_that_is_not_a_form_naming_its_type(service: RunningService) -> None:
    response = _token(service, json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": (
            "the body must be application/x-www-form-urlencoded, not 'application/json'"
        ),
    }


@pytest.mark.parametrize("in_the_form_too", [False, True], ids=["url-only", "form-too"])
def test_a_secret_in_the_url_is_an_invalid_request(
    service: RunningService, in_the_form_too: bool
) -> None:
    """The query was ignored: a 401 for credentials "missing", or, with them in the form
    too, a 200 that never told the client its secret was in every proxy's log."""
    creds = service.account()
    form = _form(creds) if in_the_form_too else {"grant_type": "client_credentials"}
    # Not the real secret: a URL may be logged (httpx does, at INFO).
    url_only = {"client_id": creds.client_id, "client_secret": "in-the-url"}
    response = _token(service, params=url_only, data=form)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "client_secret was sent in the URL" in response.json()["error_description"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_another_method_is_405_in_rfc6749_s_body(service: RunningService, method: str) -> None:
    """It was the standard body, whose ``error`` a client library reads as an RFC 6749
    code (``Method Not Allowed``)."""
    response = plain_http.request(method, f"{service.base_url}/oauth2/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"Method {method} is not allowed on /oauth2/token",
    }


@pytest.mark.parametrize(
    "basic",
    [
        b"!!!",
        b"",
        base64.b64encode(b"psc_no_colon"),
        # Not ASCII, so not base64 either: base64 raised a ValueError of its own, a 500.
        b"cHNj\xe9:\xff",
    ],
)
def test_a_malformed_basic_header_is_refused_not_passed_over(
    service: RunningService, basic: bytes
) -> None:
    """A Basic header that is not base64 of id:secret was passed over for the form's
    credentials, and a token issued."""
    creds = service.account()
    header = (b"Basic " + basic).rstrip()  # "Basic" alone, for the empty one
    response = _token(service, data=_form(creds), headers={"authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "not base64 of client_id:client_secret" in response.json()["error_description"]
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "form",
    [
        {"client_secret": "WRONG"},
        {"client_secret": "RIGHT"},
        {"client_id": "psc_another", "client_secret": "WRONG"},
        {"client_id": "psc_another"},
    ],
    ids=["wrong-secret", "same-secret", "another-client", "another-client-id"],
)
def test_credentials_in_basic_and_in_the_form_are_an_invalid_request(
    service: RunningService, form: dict[str, str]
) -> None:
    """RFC 6749 §2.3: one authentication method per request. Basic won and the form's
    credentials went unchecked: a token for the Basic client, whatever the form said."""
    creds = service.account()
    form = {k: creds.client_secret if v == "RIGHT" else v for k, v in form.items()}
    response = _token(
        service, data={"grant_type": "client_credentials", **form}, headers=_basic(creds)
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": (
            "client credentials given both in HTTP Basic and in the form; give them once"
        ),
    }


def test_basic_with_the_same_client_id_in_the_form_is_one_method(
    service: RunningService,
) -> None:
    """A client_id alone identifies the client (RFC 6749 §3.2.1); it authenticates nothing."""
    creds = service.account()
    form = {"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": ""}
    assert _token(service, data=form, headers=_basic(creds)).status_code == 200


def test_authorization_given_twice_is_an_invalid_request(service: RunningService) -> None:
    """The first header was used, whatever the second said."""
    creds = service.account()
    good = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    twice = [("authorization", f"Basic {good}"), ("authorization", "Basic b3RoZXI6c2VjcmV0")]
    response = _token(service, data={"grant_type": "client_credentials"}, headers=twice)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Authorization given more than once",
    }
    token = service.token(creds)
    for second in (f"Bearer {token}", "Bearer forged"):
        response = plain_http.get(
            f"{service.base_url}/v2/entities",
            headers=[("authorization", f"Bearer {token}"), ("authorization", second)],
        )
        body = _assert_standard_error(response, 400, "/v2/entities")
        assert "Authorization header is given more than once" in str(body["message"])
        assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_api_without_token_is_401_with_standard_body(service: RunningService) -> None:
    """No token: the scheme alone (RFC 6750 §3.1: no error code for a request that had
    no credentials), also for a token sent in the query string, which is not read."""
    token = service.token(service.account())
    with service.client() as http:
        for path in ("/v2/licenses", f"/v2/licenses?access_token={token}"):
            response = http.get(path)
            _assert_standard_error(response, 401, "/v2/licenses")
            assert response.headers["www-authenticate"] == 'Bearer realm="producersync"'


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Basic cHNjX3g6cHNzX3NlY3JldA==", "the Authorization header's scheme is 'Basic'"),
        ("Token {token}", "the Authorization header's scheme is 'Token'"),
        ("{token}", "the Authorization header names no scheme"),
    ],
    ids=["basic", "another scheme", "bare token"],
)
def test_api_with_another_scheme_is_401_naming_the_scheme_alone(
    service: RunningService, header: str, why: str
) -> None:
    """Each was "Missing bearer token", with a token in the header; the credential itself
    is never echoed (RFC 6750 §3.1: no error code, as for no header at all)."""
    token = service.token(service.account())
    response = plain_http.get(
        f"{service.base_url}/v2/entities", headers={"authorization": header.format(token=token)}
    )
    body = _assert_standard_error(response, 401, "/v2/entities")
    assert body["message"] == f"Missing bearer token: {why}; send 'Bearer <token>'"
    assert token not in response.text and "cHNj" not in response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="producersync"'


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer"])
def test_api_with_malformed_token_is_401(service: RunningService, token: str) -> None:
    """Told as invalid_token in WWW-Authenticate (RFC 6750 §3.1), where OAuth clients look
    for it to fetch a new token; the header named the scheme alone."""
    response = plain_http.get(
        f"{service.base_url}/v2/entities", headers={"authorization": f"Bearer {token}"}
    )
    _assert_standard_error(response, 401, "/v2/entities")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="producersync", error="invalid_token", '
        'error_description="The access token is invalid"'
    )


def test_forged_token_is_401(service: RunningService) -> None:
    creds = service.account()
    forged = TokenCodec(b"a key that is not the service key!!", 3600).issue(
        Principal(creds.client_id, creds.account_id, False, "producersync.read")
    )
    response = plain_http.get(
        f"{service.base_url}/v2/licenses", headers={"authorization": f"Bearer {forged}"}
    )
    _assert_standard_error(response, 401, "/v2/licenses")


def test_expired_token_is_401(service: RunningService) -> None:
    creds = service.account()
    token = service.token(creds)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    # Re-sign the same claims, expired, with the service's own key: only expiry differs.
    key = load_or_create_key(service.engine, "token-signing")
    expired = TokenCodec(key, 60).issue(
        Principal(creds.client_id, creds.account_id, False, "producersync.read"),
        now=time.time() - 3600,
    )
    response = plain_http.get(
        f"{service.base_url}/v2/licenses", headers={"authorization": f"Bearer {expired}"}
    )
    body = _assert_standard_error(response, 401, "/v2/licenses")
    assert "expired" in str(body["message"])
    assert response.headers["www-authenticate"] == (
        'Bearer realm="producersync", error="invalid_token", '
        'error_description="The access token has expired"'
    )


def test_a_token_verified_once_still_expires() -> None:
    """The codec remembers tokens it verified; a remembered one is refused once its
    ``exp`` has passed, as a first look would refuse it."""
    from producersync.service.auth import tokens

    now = [time.time()]
    codec = TokenCodec(b"k" * 32, 60, clock=lambda: now[0])
    principal = Principal("psc_1", 1, False, "producersync.read")
    token = codec.issue(principal)
    assert codec.verify(token)[0] == principal
    assert codec.verify(token)[0] == principal  # remembered
    now[0] = jwt.decode(token, options={"verify_signature": False})["exp"]
    with pytest.raises(tokens.InvalidToken, match="expired"):
        codec.verify(token)
    # A token the codec never saw is checked in full: signed with another key, refused.
    forged = TokenCodec(b"another key, not the codec's own!!", 60).issue(principal)
    with pytest.raises(tokens.InvalidToken, match="invalid"):
        codec.verify(forged)


@pytest.mark.parametrize(
    "claims",
    [
        {"srt": 10**20},
        {"srt": -(10**20)},
        {"acct": 10**30},
        {"acct": 2**63},
        {"acct": -(2**63) - 1},
    ],
    ids=["srt-late", "srt-early", "acct-huge", "acct-past-bigint", "acct-below-bigint"],
)
def test_a_signed_token_whose_claims_are_out_of_range_is_invalid(claims: dict[str, int]) -> None:
    """Only the key's holder signs such a token, yet an srt past the datetimes' range (an
    OverflowError) and an account id past the store's BIGINT were each a 500, where every
    other bad token is a 401."""
    from producersync.service.auth import tokens

    key = b"k" * 32
    codec = TokenCodec(key, 60)
    issued = codec.issue(Principal("psc_1", 1, False, "producersync.read"))
    signed = jwt.encode({**jwt.decode(issued, options={"verify_signature": False}), **claims}, key)
    with pytest.raises(tokens.InvalidToken, match="invalid"):
        codec.verify(signed)


def test_a_token_issued_by_a_process_whose_clock_runs_ahead_is_taken() -> None:
    """Scaled out, another process issued the token with its clock a second ahead of this
    one's: PyJWT refused its iat, in the future here, as not yet valid (a 401)."""
    principal = Principal("psc_1", 1, False, "producersync.read")
    ahead = TokenCodec(b"k" * 32, 60).issue(principal, now=time.time() + 1)
    assert TokenCodec(b"k" * 32, 60).verify(ahead)[0] == principal


def test_the_codec_remembers_a_bounded_number_of_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from producersync.service.auth import tokens

    monkeypatch.setattr(tokens, "_VERIFIED_MOST", 3)
    codec = TokenCodec(b"k" * 32, 60)
    issued = [codec.issue(Principal(f"psc_{i}", i, False, "producersync.read")) for i in range(5)]
    for token in issued:
        codec.verify(token)
    assert len(codec._verified) == 3
    assert [codec.verify(token)[0].client_id for token in issued] == [f"psc_{i}" for i in range(5)]


def test_rotated_secret_replaces_the_old_one(service: RunningService) -> None:
    creds = service.account()
    with write_transaction(service.engine) as conn:
        new_secret = accounts.rotate_client_secret(conn, creds.client_id)
    old = _token(
        service,
        data=_form(creds),
    )
    new = _token(
        service,
        data=_form(creds, secret=new_secret),
    )
    assert old.status_code == 401
    assert new.status_code == 200


def _refused_within(http: httpx2.Client, token: str, seconds: float = 15) -> httpx2.Response:
    """The answer to a call with ``token`` once it is refused, waited for (each process
    rereads revocations and rotations at most every 5 s)."""
    deadline = time.monotonic() + seconds
    authorization = {"authorization": f"Bearer {token}"}
    while (answer := http.get("/v2/licenses", headers=authorization)).status_code != 401:
        assert time.monotonic() < deadline, "the token was not refused"
        time.sleep(0.5)
    return answer


def test_a_rotated_secret_cuts_off_the_tokens_issued_under_it(service: RunningService) -> None:
    """A secret is rotated because it leaked: the tokens a thief took with it were good for
    their hour. They are refused within seconds, as a revoked client's are, and a token
    taken with the new secret, even at once (before this process rereads the rotations),
    is not."""
    creds = service.account()
    old = service.token(creds)
    with service.client() as http:
        assert http.get("/v2/licenses", headers={"authorization": f"Bearer {old}"}).is_success
        with write_transaction(service.engine) as conn:
            new_secret = accounts.rotate_client_secret(conn, creds.client_id)
        new = _token(service, data=_form(creds, secret=new_secret)).json()["access_token"]
        new_auth = {"authorization": f"Bearer {new}"}
        assert http.get("/v2/licenses", headers=new_auth).status_code == 200
        refused = _refused_within(http, old)
        assert http.get("/v2/licenses", headers=new_auth).status_code == 200
    _assert_standard_error(refused, 401, "/v2/licenses")
    assert refused.headers["www-authenticate"] == (
        'Bearer realm="producersync", error="invalid_token", '
        'error_description="The client secret the token was issued under has been rotated"'
    )


@pytest.mark.parametrize(
    ("under_new_secret", "issued_after_rotation", "taken"),
    [
        (False, 0, False),  # the thief's, in the rotation's second: iat told it from a new one
        (False, 3600, False),  # by a host whose clock runs an hour ahead of the store's
        (True, 0, True),  # the owner's, in the rotation's second
        (True, -3600, True),  # by a host whose clock runs an hour behind the store's
    ],
)
def test_which_secret_a_token_was_issued_under_decides_not_its_iat(
    service: RunningService, under_new_secret: bool, issued_after_rotation: int, taken: bool
) -> None:
    """iat is in whole seconds by the issuing host's clock, the rotation to the microsecond
    by the store's: neither orders a token against a rotation. The token says which secret
    it was issued under, and that alone decides."""
    creds = service.account()
    witness = service.token(creds)  # refused once the service has read the rotation
    with write_transaction(service.engine) as conn:
        accounts.rotate_client_secret(conn, creds.client_id)
        client = accounts.find_client(conn, creds.client_id)
    assert client is not None and client.secret_rotated_at is not None
    rotated = client.secret_rotated_at
    codec = TokenCodec(load_or_create_key(service.engine, "token-signing"), 7200)
    principal = Principal(creds.client_id, creds.account_id, False, "producersync.read")
    token = codec.issue(
        principal,
        rotated if under_new_secret else None,
        now=int(rotated.timestamp()) + issued_after_rotation,
    )
    with service.client() as http:
        _refused_within(http, witness)
        answer = http.get("/v2/licenses", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == (200 if taken else 401), answer.text


def test_a_rotation_after_the_stores_clock_stepped_back_cuts_off_the_secret_before(
    service: RunningService,
) -> None:
    """A token is refused for naming a rotation older than the client's last: a rotation
    stamped by the store's clock after it stepped back an hour (here, the one before
    dated an hour ahead of it) was older than the one before, and the tokens issued under
    the secret it rotated out were taken."""
    creds = service.account()
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with write_transaction(service.engine) as conn:
        middle = accounts.rotate_client_secret(conn, creds.client_id)
        _dated(conn, creds, "secret_rotated_at", ahead)
    token = _token(service, data=_form(creds, secret=middle)).json()["access_token"]
    with write_transaction(service.engine) as conn:
        accounts.rotate_client_secret(conn, creds.client_id)
        client = accounts.find_client(conn, creds.client_id)
    assert client is not None and client.secret_rotated_at is not None
    assert client.secret_rotated_at > ahead
    with service.client() as http:
        _refused_within(http, token)


def test_cutoffs_older_than_a_tokens_lifetime_are_not_kept(service: RunningService) -> None:
    """The tokens issued before a revocation or a rotation expire within their lifetime,
    and none is issued after it to the client revoked or with the secret rotated out:
    every process read every revocation and rotation ever made, every few seconds."""
    old_rotation, old_revocation, rotation, revocation = (service.account() for _ in range(4))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with write_transaction(service.engine) as conn:
        for creds in (old_rotation, rotation):
            accounts.rotate_client_secret(conn, creds.client_id)
        for creds in (old_revocation, revocation):
            accounts.revoke_client(conn, creds.client_id)
        _dated(conn, old_rotation, "secret_rotated_at", long_ago)
        _dated(conn, old_revocation, "revoked_at", long_ago)
        kept = accounts.token_cutoffs(conn, dt.timedelta(days=2))
    made = {c.client_id for c in (old_rotation, old_revocation, rotation, revocation)}
    assert made & set(kept) == {rotation.client_id, revocation.client_id}
    assert kept[revocation.client_id].revoked


def _dated(conn: sa.Connection, creds: Credentials, column: str, at: dt.datetime) -> None:
    """The client's ``column`` (a revocation's or a rotation's time) set to ``at``."""
    clients = api_clients.update().where(api_clients.c.client_id == creds.client_id)
    conn.execute(clients.values({column: at}))


def test_revoked_client_loses_tokens_and_access(service: RunningService) -> None:
    creds = service.account()
    with service.client(creds) as http:
        assert http.get("/v2/licenses").status_code == 200
        with write_transaction(service.engine) as conn:
            accounts.revoke_client(conn, creds.client_id)
        deadline = time.monotonic() + 15
        while (refused_call := http.get("/v2/licenses")).status_code != 401:
            assert time.monotonic() < deadline, "revocation did not take effect"
            time.sleep(0.5)
    assert 'error="invalid_token"' in refused_call.headers["www-authenticate"]
    refused = _token(
        service,
        data=_form(creds),
    )
    assert refused.status_code == 401


def test_a_secret_is_hashed_whether_or_not_its_client_exists(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown or revoked client_id was refused without hashing the secret given, a
    wrong secret of a live client after: the answer's time told which ids were live."""
    hashed: list[str] = []
    real = token_endpoint.verify_secret

    def verify_secret(secret: str, stored: str) -> bool:
        hashed.append(secret)
        return real(secret, stored)

    monkeypatch.setattr(token_endpoint, "verify_secret", verify_secret)
    live, revoked = service.account(), service.account()
    with write_transaction(service.engine) as conn:
        accounts.revoke_client(conn, revoked.client_id)
    for client_id, secret in [
        (live.client_id, "wrong"),
        ("psc_" + "0" * 24, "unknown"),
        (revoked.client_id, revoked.client_secret),
    ]:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        assert _token(service, data={**form, "client_secret": secret}).status_code == 401
    assert hashed == ["wrong", "unknown", revoked.client_secret]


def test_read_only_token_cannot_change_subscriptions(service: RunningService) -> None:
    creds = service.account(scope="producersync.read")
    with service.client(creds) as http:
        assert http.get("/v1/accounts/subscriptions").status_code == 200
        response = http.put("/v1/accounts/subscriptions", json=["15645555"])
    _assert_standard_error(response, 403, "/v1/accounts/subscriptions")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="producersync", error="insufficient_scope", scope="producersync.write"'
    )


def test_narrower_scope_can_be_requested(service: RunningService) -> None:
    creds = service.account()
    response = _token(
        service,
        data=_form(creds, scope="producersync.read"),
    )
    assert response.json()["scope"] == "producersync.read"
