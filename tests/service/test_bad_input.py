"""Bad input gets a precise 4xx with the standard body, naming the bad value, and changes
nothing."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator

import httpx2
import orjson
import pytest

from producersync.echo import cut
from producersync.service.api.params import MAX_LIST_ITEMS
from producersync.service.api.resources import RESOURCES
from producersync.service.errors import error_response
from tests.support import plain_http
from tests.support.raw_http import read_answer
from tests.support.service import Credentials, RunningService

pytestmark = pytest.mark.slow(60)


@pytest.fixture(scope="module")
def creds(service: RunningService, universe_npns: list[str]) -> Credentials:
    creds = service.account()
    service.subscribe(creds, universe_npns[:5])
    return creds


def _check(response_json: dict[str, object], status: int, *fragments: str) -> None:
    assert response_json["status"] == status
    assert set(response_json) == {"timestamp", "status", "error", "message", "path"}
    for fragment in fragments:
        assert fragment in str(response_json["message"]), response_json["message"]


BAD_QUERIES = [
    ("/v2/licenses?npns=12a45", "npns", "12a45"),
    ("/v2/licenses?npns=12345678901", "npns", "12345678901"),
    ("/v2/licenses?npns=", "npns", ""),
    # Digits, but not ASCII ones: str.isdigit() and a regex's \d take them.
    ("/v2/licenses?npns=%D9%A1%D9%A2%D9%A3", "npns", "\u0661\u0662\u0663"),
    ("/v2/licenses?states=ZZ", "states", "ZZ"),
    ("/v2/licenses?states=CA,California", "states", "California"),
    ("/v2/addresses?updatedSince=2025-02-30", "updatedSince", "2025-02-30"),
    ("/v2/addresses?updatedSince=yesterday", "updatedSince", "yesterday"),
    ("/v2/addresses?updatedSince=2025-6-1", "updatedSince", "2025-6-1"),
    ("/v2/addresses?updatedSince=2026-W01-1", "updatedSince", "2026-W01-1"),
    ("/v2/addresses?updatedSince=20260101", "updatedSince", "20260101"),
    ("/v2/licenses?size=0", "size", "0"),
    ("/v2/licenses?size=5000", "size", "5000"),
    ("/v2/licenses?size=ten", "size", "ten"),
    ("/v2/regulatoryActions/1/regulatoryActionValues?size=0", "size", "0"),
    ("/v2/licenses/1/licenseLoas?size=1001", "size", "1001"),
    ("/v2/entities/15645555/licenses?size=1001", "size", "1001"),
    # Digits only, as Spring reads them: pydantic alone took these as 1 and 1000.
    ("/v2/licenses?size=1.0", "size", "1.0"),
    ("/v1/licenses?page=1_000", "page", "1_000"),
    ("/v1/licenses/7.0", "id", "7.0"),
    ("/v2/licenses/3.0/licenseLoas", "licenseId", "3.0"),
    ("/v1/webhooks/messages?limit=2.0", "limit", "2.0"),
    ("/v2/licenses?active=maybe", "active", "maybe"),
    ("/v2/licenses?includeDeleted=2", "includeDeleted", "2"),
    ("/v2/appointments?coCodes=1234", "coCodes", "1234"),
    ("/v2/appointments?status=ACTIVE", "status", "ACTIVE"),
    ("/v2/licenses?loaCodes=%25%25", "loaCodes", "%%"),
    # A NUL ended SQLite's LIKE pattern (every record matched) and was a 500 on PostgreSQL.
    ("/v2/licenses?loaCategories=%00life", "loaCategories", "\x00life"),
    ("/v1/licenseLoas?loaCategories=life%22", "loaCategories", 'life"'),
    ("/v2/appointments?loaCategories=a%5Cb", "loaCategories", "a\\b"),
    # Repeated: a list's values join and each is checked; anything else is given once.
    ("/v1/licenses?states=XX&states=TX", "states", "XX"),
    ("/v2/licenses?size=1&size=2", "size", "1, 2"),
    ("/v2/licenses?includeDeleted=true&includeDeleted=false", "includeDeleted", "true, false"),
    ("/v1/webhooks/messages?limit=1&limit=2", "limit", "1, 2"),
    ("/v2/licenses?continuationToken=garbage", "continuationToken", "garbage"),
    (
        "/v2/licenses?continuationToken=15645555.1.AAAAAAAAAAAA",
        "continuationToken",
        "15645555.1.AAAAAAAAAAAA",
    ),
    # compare_digest refuses a string past ASCII: the MAC's comparison was a 500.
    (
        "/v2/licenses?continuationToken=15645555.1." + "%C3%A9" * 12,
        "continuationToken",
        "15645555.1." + "é" * 12,
    ),
    ("/v1/licenses?page=-1", "page", "-1"),
    ("/v1/licenses/abc", "id", "abc"),
    ("/v1/licenses/0", "id", "0"),
    ("/v2/entities/12x/licenses", "path parameter 'npn'", "12x"),
    ("/v2/entities/12x", "path parameter 'npn'", "12x"),
    ("/v2/entities/%EF%BC%91%EF%BC%92", "path parameter 'npn'", "\uff11\uff12"),
    ("/v1/accounts/subscriptions/status/not-a-uuid", "jobId", "not-a-uuid"),
    # uuid.UUID read digits with a sign or an underscore, a 404 (or another id's job).
    (
        "/v1/accounts/subscriptions/status/+ded8367-01ac-4519-8cd7-ce965d55c0b0",
        "jobId",
        "+ded8367-01ac-4519-8cd7-ce965d55c0b0",
    ),
    (
        "/v1/accounts/subscriptions/status/0ded_367-01ac-4519-8cd7-ce965d55c0b0",
        "jobId",
        "0ded_367-01ac-4519-8cd7-ce965d55c0b0",
    ),
]


@pytest.mark.parametrize(("url", "name", "value"), BAD_QUERIES, ids=[q[0] for q in BAD_QUERIES])
def test_bad_query_is_400_naming_parameter_and_value(
    service: RunningService, creds: Credentials, url: str, name: str, value: str
) -> None:
    before = service.subscribed(creds)
    with service.client(creds) as http:
        response = http.get(url)
    assert response.status_code == 400, response.text
    _check(response.json(), 400, name, f"'{value}'")
    assert service.subscribed(creds) == before


# Each list parameter at its limit, in values of the parameter's syntax.
_AT_LIMIT = {
    "npns": [str(10**6 + i) for i in range(MAX_LIST_ITEMS)],
    "loaCodes": [f"x{i}" for i in range(MAX_LIST_ITEMS)],
    "loaCategories": [f"c{i}" for i in range(MAX_LIST_ITEMS)],
    "coCodes": [f"{i:05d}" for i in range(MAX_LIST_ITEMS)],
}
AT_LIMIT = [
    (f"/{version}/{resource.key}", name)
    for resource in RESOURCES
    if resource.v2_list
    for name in ("npns", *resource.filters)
    if name in _AT_LIMIT
    for version in ("v1", "v2")
]


@pytest.mark.parametrize(("path", "name"), AT_LIMIT, ids=[f"{p}?{n}" for p, n in AT_LIMIT])
def test_a_list_parameter_at_its_limit_is_answered(
    service: RunningService, creds: Credentials, path: str, name: str
) -> None:
    """1,000 values are allowed: a license list's loaCategories of 500 was a 500 on
    SQLite, whose parser refused the OR of their 500 LIKEs as too deep."""
    values = _AT_LIMIT[name]
    with service.client(creds) as http:
        answered = http.get(path, params={name: ",".join(values)})
        refused = http.get(path, params={name: ",".join([*values, "x1000"])})
    assert answered.status_code == 200, answered.text
    assert refused.status_code == 400, refused.text
    _check(refused.json(), 400, name, f"at most {MAX_LIST_ITEMS} values")


def test_token_of_another_list_is_refused(service: RunningService, creds: Credentials) -> None:
    with service.client(creds) as http:
        nxt = http.get("/v2/licenses?size=1").json()["links"]["next"]["href"]
        token = nxt.split("continuationToken=")[1].split("&")[0]
        response = http.get(f"/v2/addresses?continuationToken={token}")
    assert response.status_code == 400
    _check(response.json(), 400, "continuationToken", "another list")


def test_token_of_another_account_is_refused(
    service: RunningService, creds: Credentials, universe_npns: list[str]
) -> None:
    other = service.account()
    service.subscribe(other, universe_npns[:5])
    with service.client(creds) as http:
        nxt = http.get("/v2/licenses?size=1").json()["links"]["next"]["href"]
    with service.client(other) as http:
        response = http.get(nxt.replace(service.base_url, ""))
    assert response.status_code == 400
    _check(response.json(), 400, "continuationToken", "another account")


def _second_page_token(http: httpx2.Client, url: str) -> str:
    nxt = http.get(url).json()["links"]["next"]["href"]
    return str(httpx2.URL(nxt).params["continuationToken"])


# A position is one in the order of every filter's list: taken to other filters, a token
# was answered as if it were theirs (200), skipping the records before it.
OTHER_FILTERS = [
    "npns={first}",  # before the token's NPN: was an empty list, as if at its end
    "npns={first},{later}",
    "",  # every NPN: those before the token's were left out
    "updatedSince=2000-01-01",
    "includeDeleted=false",
]


@pytest.mark.parametrize("query", OTHER_FILTERS)
def test_token_under_other_filters_is_refused(
    service: RunningService, creds: Credentials, universe_npns: list[str], query: str
) -> None:
    first, later = universe_npns[0], universe_npns[3]
    other = query.format(first=first, later=later)
    with service.client(creds) as http:
        token = _second_page_token(http, f"/v2/licenses?npns={later}&size=1")
        response = http.get(f"/v2/licenses?{other}&continuationToken={token}")
    assert response.status_code == 400, response.text
    _check(response.json(), 400, "continuationToken", token, "other filters")


def test_token_under_the_same_filters_written_otherwise_pages_on(
    service: RunningService, creds: Credentials, universe_npns: list[str]
) -> None:
    npns = universe_npns[:3]
    with service.client(creds) as http:
        token = _second_page_token(http, f"/v2/licenses?npns={npns[0]},{npns[1]}&size=1")
        for query in (
            f"npns={npns[1]},{npns[0]},{npns[0]}",  # order and repeats aside
            f"npns={npns[0]}&npns={npns[1]}&size=7",  # another page size
            f"npns={npns[0]},{npns[1]}&includeDeleted=true&unknown=1",  # defaults, unknowns
        ):
            response = http.get(f"/v2/licenses?{query}&continuationToken={token}")
            assert response.status_code == 200, (query, response.text)


BAD_BODIES: list[tuple[bytes, int, str]] = [
    (b"not json", 400, "not valid JSON"),
    (b'{"npns": ["15645555"]}', 400, "JSON array"),
    (b'"15645555"', 400, "JSON array"),
    (b"[15645555]", 400, "index 0"),
    # Shown as '15645555', a number read just like the string it should have been.
    (b'["15645555", 15645555]', 400, "'15645555' at index 1 (a JSON number, not a string)"),
    (b'["15645555", "abc"]', 400, "'abc' at index 1"),
    (b'["15645555", null]', 400, "index 1"),
    (b'[""]', 400, "index 0"),
    ('["\u0661\u0662\u0663"]'.encode(), 400, "'\u0661\u0662\u0663' at index 0"),
    (b"", 400, "not valid JSON"),
    # For POST, an empty list unsubscribed every NPN; for PUT and DELETE, a job doing nothing.
    (b"[]", 400, "lists no NPNs"),
    # Nested deeper than orjson writes: showing the bad item was a 500.
    (b"[" * 1000 + b"]" * 1000, 400, "'[[[["),
    (orjson.dumps([str(10_000_000 + i) for i in range(100_000)]), 413, "100000 NPNs"),
]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize(("body", "status", "fragment"), BAD_BODIES, ids=[b[2] for b in BAD_BODIES])
def test_bad_subscription_body_is_refused_and_changes_nothing(
    service: RunningService,
    creds: Credentials,
    method: str,
    body: bytes,
    status: int,
    fragment: str,
) -> None:
    before = service.subscribed(creds)
    with service.client(creds) as http:
        response = http.request(
            method,
            "/v1/accounts/subscriptions",
            content=body,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == status, response.text
    _check(response.json(), status, fragment)
    assert service.subscribed(creds) == before


@pytest.mark.parametrize(
    ("method", "hint"),
    [
        ("POST", "to unsubscribe every NPN, DELETE the NPNs subscribed"),
        ("PUT", "list the NPNs to subscribe"),
        ("DELETE", "list the NPNs to unsubscribe"),
    ],
)
def test_an_empty_subscription_body_is_told_what_its_method_needs(
    service: RunningService, creds: Credentials, method: str, hint: str
) -> None:
    """Only a replacement by nothing would have unsubscribed every NPN: told to PUT or
    DELETE, "DELETE the NPNs subscribed" pointed at a method that was not the mistake."""
    with service.client(creds) as http:
        response = http.request(
            method,
            "/v1/accounts/subscriptions",
            content=b"[]",
            headers={"content-type": "application/json"},
        )
    _check(response.json(), 400, f"The body lists no NPNs; {hint}")


def test_every_bad_npn_of_a_body_is_named_up_to_ten(
    service: RunningService, creds: Credentials
) -> None:
    """Only the first was named: a client fixed its list one request at a time."""
    body = [f"x{i}" if i % 2 else str(10_000_000 + i) for i in range(30)]  # 15 bad
    with service.client(creds) as http:
        response = http.put("/v1/accounts/subscriptions", json=body)
    assert response.status_code == 400, response.text
    _check(response.json(), 400, "'x1' at index 1", "'x19' at index 19", "and 5 more")
    assert "'x21'" not in response.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None]
)
def test_a_subscription_body_of_another_content_type_is_refused_naming_it(
    service: RunningService, creds: Credentials, method: str, content_type: str | None
) -> None:
    """Read as JSON whatever it was sent as, as the webhook API's bodies are not."""
    before = service.subscribed(creds)
    headers = {"content-type": content_type} if content_type else {}
    with service.client(creds) as http:
        response = http.request(
            method, "/v1/accounts/subscriptions", content=b'["15645555"]', headers=headers
        )
    assert response.status_code == 400, response.text
    _check(response.json(), 400, f"application/json, not '{content_type or 'none'}'")
    assert service.subscribed(creds) == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
def test_a_subscription_body_of_a_json_content_type_is_read(
    service: RunningService, creds: Credentials, content_type: str
) -> None:
    with service.client(creds) as http:
        response = http.request(
            "DELETE",
            "/v1/accounts/subscriptions",
            content=b'["1"]',  # not subscribed: the job changes nothing
            headers={"content-type": content_type},
        )
    assert response.status_code == 202, response.text


# Starlette reads Content-Type for its first value, where a proxy may have read the
# other, and no Content-Encoding at all (a plain body said to be gzipped would be taken).
BAD_BODY_HEADERS: list[tuple[str, list[tuple[str, str]], str]] = [
    (
        "content type twice",
        [("content-type", "application/json"), ("content-type", "text/plain")],
        "Invalid value 'application/json, text/plain' for header 'Content-Type': given more "
        "than once",
    ),
    (
        "gzip",
        [("content-type", "application/json"), ("content-encoding", "gzip")],
        "Invalid value 'gzip' for header 'Content-Encoding': the body is read as sent",
    ),
    (
        "a coding after identity",
        [("content-type", "application/json"), ("content-encoding", "identity, br")],
        "Invalid value 'identity, br' for header 'Content-Encoding'",
    ),
    (
        "content encoding twice",
        [
            ("content-type", "application/json"),
            ("content-encoding", "identity"),
            ("content-encoding", "identity"),
        ],
        "Invalid value 'identity, identity' for header 'Content-Encoding': given more than once",
    ),
]
_BODY_HEADER_IDS = [b[0] for b in BAD_BODY_HEADERS]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    ("headers", "fragment"), [b[1:] for b in BAD_BODY_HEADERS], ids=_BODY_HEADER_IDS
)
def test_a_subscription_body_whose_headers_cannot_be_honoured_is_refused(
    service: RunningService,
    creds: Credentials,
    universe_npns: list[str],
    method: str,
    headers: list[tuple[str, str]],
    fragment: str,
) -> None:
    before = service.subscribed(creds)
    body = orjson.dumps(before[:1] if method == "DELETE" else [universe_npns[5]])
    with service.client(creds) as http:
        response = http.request(method, "/v1/accounts/subscriptions", content=body, headers=headers)
    assert response.status_code == 400, response.text
    _check(response.json(), 400, fragment)
    assert service.subscribed(creds) == before


@pytest.mark.parametrize(
    ("headers", "fragment"), [b[1:] for b in BAD_BODY_HEADERS], ids=_BODY_HEADER_IDS
)
def test_a_webhook_body_whose_headers_cannot_be_honoured_is_refused(
    service: RunningService, creds: Credentials, headers: list[tuple[str, str]], fragment: str
) -> None:
    with service.client(creds) as http:
        listed = http.get("/v1/webhooks/endpoints").json()["data"]
        response = http.post("/v1/webhooks/endpoints", content=b"{" + _URL + b"}", headers=headers)
        assert response.status_code == 400, response.text
        _check(response.json(), 400, fragment)
        assert http.get("/v1/webhooks/endpoints").json()["data"] == listed


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        (
            [
                ("content-type", "application/x-www-form-urlencoded"),
                ("content-type", "application/json"),
            ],
            "Invalid value 'application/x-www-form-urlencoded, application/json' for header "
            "'Content-Type': given more than once",
        ),
        (
            [("content-type", "application/x-www-form-urlencoded"), ("content-encoding", "gzip")],
            "Invalid value 'gzip' for header 'Content-Encoding'",
        ),
    ],
    ids=["content type twice", "gzip"],
)
def test_a_token_request_whose_body_headers_cannot_be_honoured_is_invalid(
    service: RunningService, creds: Credentials, headers: list[tuple[str, str]], fragment: str
) -> None:
    form = f"grant_type=client_credentials&client_id={creds.client_id}"
    form += f"&client_secret={creds.client_secret}"
    response = plain_http.post(f"{service.base_url}/oauth2/token", content=form, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert fragment in response.json()["error_description"]


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("client_secret", b"{secret}\xff", "has bytes that are not percent-encoded"),
        ("client_secret", b"{secret}%FF", "is not UTF-8 text"),
        ("scope", b"producersync.r\xc3\xa9ad", "has bytes that are not percent-encoded"),
        ("scope", b"producersync.r%E9ad", "is not UTF-8 text"),
    ],
    ids=["raw secret byte", "latin-1 secret escape", "raw utf-8 scope", "latin-1 scope escape"],
)
def test_a_token_request_whose_field_is_not_percent_encoded_utf_8_is_invalid(
    service: RunningService, creds: Credentials, field: str, value: bytes, why: str
) -> None:
    """Read as Latin-1 or U+FFFD: a secret so sent was a failed authentication counted
    against the address, a scope refused as one the client never wrote ('producersync.
    rÃ©ad'). Named, never shown (RFC 6749 Appendix B: UTF-8, percent-encoded)."""
    fields = {
        "grant_type": b"client_credentials",
        "client_id": creds.client_id.encode(),
        "client_secret": creds.client_secret.encode(),
        field: value.replace(b"{secret}", creds.client_secret.encode()),
    }
    response = plain_http.post(
        f"{service.base_url}/oauth2/token",
        content=b"&".join(name.encode() + b"=" + sent for name, sent in fields.items()),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"the form's field '{field}' {why} (RFC 6749 Appendix B)",
    }


def test_a_body_said_unencoded_is_read(service: RunningService, creds: Credentials) -> None:
    """``identity`` names no coding at all."""
    with service.client(creds) as http:
        response = http.request(
            "DELETE",
            "/v1/accounts/subscriptions",
            content=b'["1"]',  # not subscribed: the job changes nothing
            headers={"content-type": "application/json", "content-encoding": "Identity"},
        )
    assert response.status_code == 202, response.text


_URL = b'"url": "http://127.0.0.1:9/x"'
BAD_WEBHOOK_BODIES: list[tuple[str, bytes, str | None, str]] = [
    # Nested deeper than orjson writes: showing the bad value was a 500.
    ("nested", b"[" * 900 + b"]" * 900, "application/json", "for field 'body'"),
    (
        "nested field",
        b"{" + _URL + b', "eventTypes": ' + b"[" * 300 + b"]" * 300 + b"}",
        "application/json",
        "'eventTypes.0'",
    ),
    # Read by Python's json, then shown: no UTF-8 error body could hold it (a 500).
    (
        "surrogate",
        b"{" + _URL + b', "description": "\\ud800"}',
        "application/json",
        "no low surrogate",
    ),
    # No JSON: refused as 'null' (NaN and 1e400 were read as floats, then shown in JSON).
    ("NaN", b"{" + _URL + b', "rateLimitPerSecond": NaN}', "application/json", "not valid JSON"),
    ("1e400", b"{" + _URL + b', "rateLimitPerSecond": 1e400}', "application/json", "infinity"),
    # "There was an error parsing the body", with no word of why.
    (
        "5000 digits",
        b"{" + _URL + b', "rateLimitPerSecond": ' + b"9" * 5000 + b"}",
        "application/json",
        "infinity",
    ),
    # Past 64 bits, orjson's float: shown as '1e+23', "exceeded maximum size".
    (
        "23 digits",
        b"{" + _URL + b', "rateLimitPerSecond": 99999999999999999999999}',
        "application/json",
        "Invalid value '99999999999999999999999' for field 'rateLimitPerSecond': "
        "99999999999999999999999 is not between 1 and 10000",
    ),
    (
        "23 digits in a list",
        b"{" + _URL + b', "eventTypes": [99999999999999999999999]}',
        "application/json",
        "Invalid value '99999999999999999999999' for field 'eventTypes.0'",
    ),
    ("not UTF-8", b'{"url": "http://127.0.0.1:9/\xff"}', "application/json", "not valid UTF-8"),
    # Saved for its last value, without a word.
    (
        "a name twice",
        b"{" + _URL + b", " + _URL.replace(b"/x", b"/y") + b"}",
        "application/json",
        "gives 'url' more than once",
    ),
    # A JSON object called not one ('Input should be a valid dictionary').
    ("text/plain", b"{" + _URL + b"}", "text/plain", "application/json, not 'text/plain'"),
    ("no content type", b"{" + _URL + b"}", None, "application/json, not 'none'"),
    # FastAPI's own words name a field 'body' the client never wrote ("Missing field 'body'").
    ("empty", b"", "application/json", "The request body is missing: send a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [b[1:] for b in BAD_WEBHOOK_BODIES],
    ids=[b[0] for b in BAD_WEBHOOK_BODIES],
)
def test_bad_webhook_body_is_400_saying_why_and_changes_nothing(
    service: RunningService,
    creds: Credentials,
    body: bytes,
    content_type: str | None,
    fragment: str,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    with service.client(creds) as http:
        listed = http.get("/v1/webhooks/endpoints").json()["data"]
        response = http.post("/v1/webhooks/endpoints", content=body, headers=headers)
        assert response.status_code == 400, response.text
        _check(response.json(), 400, fragment)
        assert http.get("/v1/webhooks/endpoints").json()["data"] == listed


def test_a_body_refused_many_times_over_lists_the_first_refusals(
    service: RunningService, creds: Credentials
) -> None:
    """Each was listed: these 60 KB made a 2.4 MB message."""
    body = b"{" + _URL + b', "eventTypes": [' + b",".join([b"1"] * 30_000) + b"]}"
    with service.client(creds) as http:
        response = http.post(
            "/v1/webhooks/endpoints", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    _check(response.json(), 400, "'eventTypes.0'", "'eventTypes.9'", "; and 29990 more")
    assert "'eventTypes.10'" not in response.json()["message"]


def test_a_body_the_client_cuts_short_is_no_error_and_no_job(
    service: RunningService, creds: Credentials
) -> None:
    """It was logged as the service's own error, with a traceback."""
    before = service.subscribed(creds)
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.addHandler(handler)
    url = httpx2.URL(service.base_url)
    head = (
        "PUT /v1/accounts/subscriptions HTTP/1.1\r\n"
        f"host: {url.host}\r\nauthorization: Bearer {service.token(creds)}\r\n"
        "content-type: application/json\r\ncontent-length: 100\r\n\r\n"
    )
    try:
        with socket.create_connection((url.host, url.port or 80)) as sock:
            sock.sendall(head.encode() + b'["100')
            time.sleep(0.2)  # the route is reading the body when the client goes
        deadline = time.monotonic() + 1.0
        while not errors and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        uvicorn_errors.removeHandler(handler)
    assert not errors, [record.getMessage() for record in errors]
    assert service.subscribed(creds) == before


def _chunks(data: bytes) -> Iterator[bytes]:
    """A body without a declared length: cut off as it passes the cap, not refused at once."""
    for start in range(0, len(data), 65_536):
        yield data[start : start + 65_536]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "size"),
    [("/v1/webhooks/endpoints", 70_000), ("/v1/accounts/subscriptions", 5_000_000)],
)
def test_a_body_over_its_cap_is_413_and_changes_nothing(
    service: RunningService, creds: Credentials, path: str, size: int, declared: bool
) -> None:
    """The webhook API read and parsed 104 MB; its bodies are a few hundred bytes."""
    npns = ",".join(['"1"'] * (size // 4))
    body = f'{{"url": "https://93.184.216.34/", "description": "{"x" * size}"}}'.encode()
    if path.endswith("subscriptions"):
        body = f"[{npns}]".encode()
    before = service.subscribed(creds)
    with service.client(creds) as http:
        listed = http.get("/v1/webhooks/endpoints").json()["data"]
        response = http.post(
            path,
            content=body if declared else _chunks(body),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413, response.text
        _check(response.json(), 413, "exceeds")
        assert response.headers["connection"] == "close"  # the rest of the body is not read
        assert "413" in http.get("/openapi.json").json()["paths"][path]["post"]["responses"]
        assert http.get("/v1/webhooks/endpoints").json()["data"] == listed
    assert service.subscribed(creds) == before


def test_a_token_request_over_the_cap_or_with_a_parameter_twice_is_invalid(
    service: RunningService, creds: Credentials
) -> None:
    form = f"grant_type=client_credentials&client_id={creds.client_id}"
    form += f"&client_secret={creds.client_secret}"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for body, why in (
        (form + "&pad=" + "x" * 70_000, "exceeds"),
        ("grant_type=password&" + form, "grant_type given more than once"),
    ):
        response = plain_http.post(
            f"{service.base_url}/oauth2/token", content=body, headers=headers
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert why in response.json()["error_description"]
        assert (response.headers.get("connection") == "close") == (why == "exceeds")


def test_unknown_path_is_404_with_standard_body(
    service: RunningService, creds: Credentials
) -> None:
    with service.client(creds) as http:
        response = http.get("/v2/producers")
    assert response.status_code == 404
    _check(response.json(), 404, "/v2/producers")


def test_wrong_method_is_405_with_standard_body(
    service: RunningService, creds: Credentials
) -> None:
    with service.client(creds) as http:
        response = http.delete("/v2/licenses")
    assert response.status_code == 405
    _check(response.json(), 405, "DELETE")


def test_405_allows_every_method_of_the_path(service: RunningService, creds: Credentials) -> None:
    """``allow`` named the first route's methods alone (POST on the subscriptions), and
    never HEAD."""
    with service.client(creds) as http:
        endpoint = http.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/a"})
        for method, path, allowed in (
            ("OPTIONS", "/v1/accounts/subscriptions", "GET, HEAD, POST, PUT, DELETE"),
            ("POST", f"/v1/webhooks/endpoints/{endpoint.json()['id']}", "GET, HEAD, PATCH, DELETE"),
            ("PUT", "/v2/licenses", "GET, HEAD"),
        ):
            response = http.request(method, path)
            assert response.status_code == 405
            _check(response.json(), 405, method)
            assert response.headers["allow"] == allowed


_SERVED = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def test_every_path_s_405_allows_the_methods_the_spec_lists(
    service: RunningService, creds: Credentials
) -> None:
    """The spec and the answers agree: a path's 405 allows the methods the spec lists for
    it, and HEAD wherever GET, which the spec leaves out of its operations (a generated
    client would have a function for each) and says in its description, with the 405."""
    spec = service.spec()
    assert "`405`" in spec["info"]["description"]
    assert "`Allow` naming every method the path serves" in spec["info"]["description"]
    with service.client(creds) as http:
        for template, operations in spec["paths"].items():
            listed = {method.upper() for method in operations}
            assert "HEAD" not in listed, template
            if "GET" in listed:
                listed.add("HEAD")
            allowed = ", ".join(m for m in _SERVED if m in listed)
            unserved = next((m for m in _SERVED if m not in listed), "OPTIONS")
            response = http.request(unserved, re.sub(r"\{[^}]+\}", "x1", template))
            assert response.status_code == 405, (template, response.text)
            assert response.headers["allow"] == allowed, template


@pytest.mark.parametrize(
    ("method", "path", "echoed"),
    [
        ("GET", "/v2/" + "p" * 20_000, "/v2/" + "p" * 196 + "…(19804 more)"),
        ("DELETE", "/v1/" + "p" * 20_000, "/v1/" + "p" * 196 + "…(19804 more)"),
        ("GET", "/v2/entities/" + "9" * 20_000, "'" + "9" * 100 + "…(19900 more)'"),
        ("GET", "/v2/licenses?updatedSince=" + "d" * 20_000, "'" + "d" * 100 + "…(19900 more)'"),
    ],
    ids=["404", "405", "path parameter", "query parameter"],
)
def test_a_long_path_or_value_is_echoed_cut_short(
    service: RunningService, creds: Credentials, method: str, path: str, echoed: str
) -> None:
    """A 20 KB path came back whole, in the message and in ``path``: a 40 KB 404."""
    with service.client(creds) as http:
        response = http.request(method, path)
    assert response.status_code in (400, 404, 405), response.text[:300]
    assert len(response.content) < 1000, response.text[:300]
    body = response.json()
    assert echoed in body["message"]
    assert body["path"] == cut(path.partition("?")[0], 200)


def test_an_error_body_cuts_any_message_short() -> None:
    """Whoever built the message: the standard body is built in one place."""
    body = orjson.loads(error_response(400, "m" * 10_000, "/x").body)
    assert body["message"] == "m" * 4000 + "…(6000 more)"


def test_a_long_key_of_a_body_is_named_cut_short(
    service: RunningService, creds: Credentials
) -> None:
    with service.client(creds) as http:
        response = http.post(
            "/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/a", "k" * 20_000: 1}
        )
    assert response.status_code == 400, response.text[:300]
    _check(response.json(), 400, "field '" + "k" * 100 + "…(19900 more)'")
    assert len(response.content) < 1000


@pytest.mark.parametrize("path", ["/v2/licenses/", "/v1/accounts/subscriptions/", "/healthz/"])
def test_a_path_with_a_slash_more_is_404_not_a_redirect(
    service: RunningService, creds: Credentials, path: str
) -> None:
    """It was a 307 to a URL built on the Host header, which any client sets."""
    with service.client(creds) as http:
        response = http.get(path, headers={"host": "elsewhere.example"})
    assert response.status_code == 404
    _check(response.json(), 404, f"GET {path}")
    assert "location" not in response.headers


def test_the_portal_without_its_slash_is_sent_on_by_path(service: RunningService) -> None:
    response = plain_http.get(f"{service.base_url}/portal", headers={"host": "elsewhere.example"})
    assert response.status_code == 307
    assert response.headers["location"] == "/portal/"


ENCODED_SLASHES = [
    # Decoded before routing, each reached another resource of the account.
    (
        "GET",
        "/v2/entities/{npn}%2Flicenses",
        400,
        "Invalid value '{npn}%2Flicenses' for path parameter 'npn'",
    ),
    (
        "GET",
        "/v2/entities/{npn}%2flicenses",
        400,
        "Invalid value '{npn}%2flicenses' for path parameter 'npn'",
    ),
    ("GET", "/v1/accounts/subscriptions/status/{job}%2Fdetails", 400, "'{job}%2Fdetails'"),
    ("GET", "/v1/webhooks/endpoints/{ep}%2Fsecret", 400, "'{ep}%2Fsecret'"),
    ("POST", "/v1/webhooks/endpoints/{ep}%2Fsecret%2Frotate", 405, "POST"),
    ("GET", "/v2%2Fentities/{npn}", 404, "/v2%2Fentities/{npn}"),
    # Not found already; now named as sent.
    ("GET", "/v2/entities/123%2F456", 400, "Invalid value '123%2F456' for path parameter 'npn'"),
]


@pytest.mark.parametrize(("method", "path", "status", "fragment"), ENCODED_SLASHES)
def test_an_encoded_slash_stays_in_its_segment(
    service: RunningService,
    creds: Credentials,
    universe_npns: list[str],
    method: str,
    path: str,
    status: int,
    fragment: str,
) -> None:
    with service.client(creds) as http:
        endpoint = http.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/slash"})
        secret = http.get(f"/v1/webhooks/endpoints/{endpoint.json()['id']}/secret").json()
        job = http.put("/v1/accounts/subscriptions", json=universe_npns[:1]).json()["job_id"]
        names = {"npn": universe_npns[0], "ep": endpoint.json()["id"], "job": job}
        response = http.request(method, path.format(**names))
        assert response.status_code == status, response.text
        _check(response.json(), status, fragment.format(**names))
        assert http.get(f"/v1/webhooks/endpoints/{names['ep']}/secret").json() == secret


def _raw(service: RunningService, request: str) -> tuple[bytes, bytes]:
    """The head and body of the service's answer to ``request``, sent byte for byte."""
    url = httpx2.URL(service.base_url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        sock.sendall(request.encode())
        head, _, body = read_answer(sock).partition(b"\r\n\r\n")
    return head, body


_NO_HOST = "Missing header 'Host': an HTTP/1.1 request names its host (RFC 9112 §3.2)"
_TWO_HOSTS = "Invalid value 'a.example, b.example' for header 'Host': given more than once"


@pytest.mark.parametrize("path", ["/healthz", "/v2/licenses", "/portal/", "/docs", "/metrics"])
@pytest.mark.parametrize(
    ("hosts", "fragment"),
    [("", _NO_HOST), ("host: a.example\r\nhost: b.example\r\n", _TWO_HOSTS)],
    ids=["no host", "two hosts"],
)
def test_a_request_without_one_host_is_400_on_every_path(
    service: RunningService, path: str, hosts: str, fragment: str
) -> None:
    """RFC 9112 §3.2; httptools hands either on, and both were served."""
    head, body = _raw(service, f"GET {path} HTTP/1.1\r\n{hosts}connection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    _check(orjson.loads(body), 400, fragment)
    assert orjson.loads(body)["path"] == path


def test_a_token_request_without_one_host_is_invalid(service: RunningService) -> None:
    form = "grant_type=client_credentials"
    request = (
        "POST /oauth2/token HTTP/1.1\r\nconnection: close\r\n"
        "content-type: application/x-www-form-urlencoded\r\n"
        f"content-length: {len(form)}\r\n\r\n{form}"
    )
    head, body = _raw(service, request)
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert orjson.loads(body) == {"error": "invalid_request", "error_description": _NO_HOST}


def test_an_http_1_0_request_names_no_host(service: RunningService) -> None:
    """HTTP/1.0 has no Host header of its own."""
    head, body = _raw(service, "GET /healthz HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert orjson.loads(body) == {"status": "ok"}


def test_unknown_job_is_404(service: RunningService, creds: Credentials) -> None:
    with service.client(creds) as http:
        response = http.get(
            "/v1/accounts/subscriptions/status/0ded8367-01ac-4519-8cd7-ce965d55c0b0"
        )
    assert response.status_code == 404
    _check(response.json(), 404, "0ded8367")
