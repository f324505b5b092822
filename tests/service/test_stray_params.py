"""A query parameter that another operation takes, or one misspelt, is a 400 naming it;
any other unknown parameter is ignored."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.service import Credentials, RunningService

pytestmark = pytest.mark.slow(20)

_JOB = "0ded8367-01ac-4519-8cd7-ce965d55c0b0"
_V2_LIST = "size, continuationToken, npns, updatedSince, includeDeleted"

# (url, parameter, value, what the message says beside them); {npn} is one the account
# does not monitor, which a per-NPN read would subscribe.
STRAYS = [
    # Another operation's parameter, where it filters nothing.
    ("/v2/entities?states=CA", "states", "CA", f"GET /v2/entities, which takes {_V2_LIST}"),
    ("/v1/entities?loaCodes=12", "loaCodes", "12", "not of GET /v1/entities"),
    ("/v2/entities/{npn}/licenses?npns=1,2", "npns", "1,2", "GET /v2/entities/{npn}/licenses"),
    ("/v2/entities/{npn}?npns=1", "npns", "1", "which takes no query parameter"),
    ("/v2/licenses?coCodes=24740", "coCodes", "24740", "other operations of this API"),
    ("/v2/addresses?status=APPOINTED", "status", "APPOINTED", "not of GET /v2/addresses"),
    ("/v1/licenses/1?states=CA", "states", "CA", "not of GET /v1/licenses/{id}"),
    ("/v1/licenses?continuationToken=0", "continuationToken", "0", "takes size, page,"),
    ("/v2/licenses/1/licenseLoas?states=CA", "states", "CA", "size, continuationToken"),
    ("/v1/accounts/subscriptions?npns=1", "npns", "1", "takes size, page"),
    (f"/v1/accounts/subscriptions/status/{_JOB}?size=1", "size", "1", "no query parameter"),
    ("/v1/webhooks/endpoints?eventType=npn.activated", "eventType", "npn.activated", "limit"),
    ("/v1/webhooks/messages?outcome=failed", "outcome", "failed", "eventType, since, until"),
    # One of this operation's, misspelt.
    ("/v2/licenses?updatedsince=2026-01-01", "updatedsince", "2026-01-01", "'updatedSince'"),
    ("/v2/licenses?updated_since=2026-01-01", "updated_since", "2026-01-01", "'updatedSince'"),
    ("/v1/licenses?UpdatedSince=2026-01-01", "UpdatedSince", "2026-01-01", "'updatedSince'"),
    ("/v2/licenses?Updated-Since=2026-01-01", "Updated-Since", "2026-01-01", "'updatedSince'"),
    ("/v2/licenses?continuation_token=0", "continuation_token", "0", "'continuationToken'"),
    ("/v2/addresses?include_deleted=false", "include_deleted", "false", "'includeDeleted'"),
    ("/v2/appointments?loacodes=12", "loacodes", "12", "did you mean 'loaCodes'?"),
    ("/v2/entities/{npn}/licenses?STATES=CA", "STATES", "CA", "did you mean 'states'?"),
    ("/v1/webhooks/messages?event_type=x", "event_type", "x", "did you mean 'eventType'?"),
    # Another operation's, misspelt.
    ("/v1/licenses?continuation_token=0", "continuation_token", "0", "('continuationToken')"),
]


def _check(body: dict[str, Any], name: str, value: str, said: str) -> None:
    assert set(body) == {"timestamp", "status", "error", "message", "path"}
    assert body["status"] == 400
    assert f"Invalid value '{value}' for parameter '{name}'" in body["message"], body
    assert said in body["message"], body["message"]


@pytest.fixture(scope="module")
def creds(service: RunningService, universe_npns: list[str]) -> Credentials:
    creds = service.account()
    service.subscribe(creds, universe_npns[:3])
    return creds


@pytest.mark.parametrize(("url", "name", "value", "said"), STRAYS, ids=[s[0] for s in STRAYS])
def test_a_parameter_this_operation_does_not_take_is_a_400_naming_it(
    service: RunningService,
    creds: Credentials,
    universe_npns: list[str],
    url: str,
    name: str,
    value: str,
    said: str,
) -> None:
    before = service.subscribed(creds)
    with service.client(creds) as http:
        response = http.get(url.replace("{npn}", universe_npns[10]))
    assert response.status_code == 400, response.text
    _check(response.json(), name, value, said)
    # Refused before the route: a per-NPN read subscribed its NPN.
    assert service.subscribed(creds) == before


# HEAD runs as a GET (service/head.py), so it is refused as the GET is, before the route
# (no per-NPN read subscribes its NPN): the GET's 400 and headers, without the body.
_ON_HEAD = [
    s
    for s in STRAYS
    if s[0] in ("/v2/entities/{npn}?npns=1", "/v1/licenses?UpdatedSince=2026-01-01")
]


@pytest.mark.parametrize(("url", "name", "value", "said"), _ON_HEAD, ids=[s[0] for s in _ON_HEAD])
def test_a_stray_parameter_on_head_is_the_gets_400_without_the_body(
    service: RunningService,
    creds: Credentials,
    universe_npns: list[str],
    url: str,
    name: str,
    value: str,
    said: str,
) -> None:
    before = service.subscribed(creds)
    url = url.replace("{npn}", universe_npns[11])
    with service.client(creds) as http:
        head = http.head(url)
        assert service.subscribed(creds) == before
        get = http.get(url)
    assert head.status_code == get.status_code == 400, head.headers
    assert head.content == b""
    for header in ("content-type", "content-length"):
        assert head.headers[header] == get.headers[header]
    _check(get.json(), name, value, said)


def test_a_misspelt_name_is_refused_where_an_unknown_one_is_ignored(
    service: RunningService, creds: Credentials
) -> None:
    """A cache-buster or a tracker's parameter is no API parameter in any spelling."""
    with service.client(creds) as http:
        plain = http.get("/v2/licenses?size=5&updatedSince=2000-01-01")
        unknown = http.get("/v2/licenses?size=5&updatedSince=2000-01-01&_=1712345&utm_source=x")
        misspelt = http.get("/v2/licenses?size=5&updatedSince=2000-01-01&updated_sinc=2")
        near = http.get("/v2/licenses?size=5&updatedSince=2000-01-01&updated_since=2000-01-01")
    assert plain.status_code == unknown.status_code == misspelt.status_code == 200
    assert unknown.json()["embedded"] == plain.json()["embedded"]
    assert near.status_code == 400, near.text
    _check(near.json(), "updated_since", "2000-01-01", "did you mean 'updatedSince'?")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (method.upper(), path, [p["name"] for p in op.get("parameters", []) if p["in"] == "query"])
        for path, item in spec["paths"].items()
        if path.startswith(("/v1/", "/v2/"))
        for method, op in item.items()
    ]


def test_every_operation_refuses_its_parameters_misspelt_and_the_others(
    service: RunningService, creds: Credentials
) -> None:
    """Every operation of the published spec, by what the spec says it takes: the check is
    one piece that each route gets, not a list per route."""
    operations = _operations(service.spec())
    every = {name for _, _, names in operations for name in names}
    # A well-formed value for each path parameter: the refusal comes before any is read.
    path_values = {"jobId": _JOB, "npn": "1", "endpointId": "ep_x", "messageId": "msg_x"}
    refusals: list[tuple[str, str, int, str]] = []
    with service.client(creds) as http:
        for method, template, takes in operations:
            path = re.sub(r"\{(\w+)\}", lambda m: path_values.get(m[1], "1"), template)
            operation = f"{method} {template}"
            strays = [(n.upper(), n) for n in takes] + [
                (other, "") for other in sorted(every - set(takes))[:1]
            ]
            for stray, meant in strays:
                response = http.request(method, path, params={stray: "1"})
                said = f"did you mean '{meant}'?" if meant else f"not of {operation}, which"
                message = str(response.json().get("message", ""))
                if response.status_code != 400 or said not in message:
                    refusals.append((operation, stray, response.status_code, message))
    assert refusals == []
