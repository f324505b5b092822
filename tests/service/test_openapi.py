"""The published OpenAPI spec: what it describes, and what the service answers against it.
Its fuzz by schemathesis: test_openapi_fuzz_*.py, a file per group of operations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest
from schemathesis.checks import ignored_auth
from schemathesis.core.failures import FailureGroup
from starlette.testclient import TestClient

from producersync.service.api.links import add_links
from producersync.service.api.params import LIST_PARAMETERS, MAX_LIST_ITEMS
from producersync.service.app import create_app
from producersync.service.settings import ServiceSettings
from tests.support.databases import store_url
from tests.support.openapi_fuzz import (
    OPERATION_GROUPS,
    RATE_LIMIT_HEADERS,
    group_operations,
    published_schema,
)
from tests.support.service import RunningService, running_service
from tests.support.spec import published_spec

pytestmark = pytest.mark.slow(60)


def test_the_fuzz_fails_an_answer_without_a_rate_limit_header(service: RunningService) -> None:
    # The headers are set by the gate, which no route declares: the spec lacked them, and
    # the fuzz passed an answer whatever headers it had.
    creds = service.account(sandbox=True)
    case = published_schema(service, service.token(creds))["/v2/licenses"]["GET"].Case()
    # The checks call_and_validate runs, but the one that sends the case again without the
    # auth a generated case has (this one is not generated).
    checks = {"excluded_checks": [ignored_auth]}
    with service.client(creds) as http:
        case.validate_response(http.get("/v2/licenses"), **checks)
        for name in RATE_LIMIT_HEADERS:
            answer = http.get("/v2/licenses")
            del answer.headers[name]
            with pytest.raises(FailureGroup) as failed:
                case.validate_response(answer, **checks)
            assert [getattr(e, "missing_headers", None) for e in failed.value.exceptions] == [
                [name]
            ]


def test_each_answer_carries_the_headers_its_spec_response_declares(tmp_path: Path) -> None:
    """The request's id, declared on every answer. The rate-limit headers and
    Retry-After, declared where the service sends them: on
    an admitted request's answers (on a 400 not required: the gate refuses an
    Authorization given twice before counting it), Retry-After too on a 429, none on a
    401 (which has WWW-Authenticate, as a 403 and the gate's 400 have). Each header sent
    is declared, and each declared as required is sent."""
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=4, token_rate_limit_per_minute=2) as svc,
    ):
        spec = svc.spec()
        creds = svc.account()
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        wrong = {**form, "client_secret": "guess"}
        twice = [("authorization", f"Bearer {svc.token(creds)}")] * 2  # a token spent
        with svc.client(creds) as http:
            answers = [
                ("GET", "/v2/licenses", http.get("/v2/licenses")),
                ("GET", "/v2/licenses", http.get("/v2/licenses?size=0")),
                ("GET", "/v2/entities/{npn}", http.get("/v2/entities/1")),
                ("GET", "/v2/licenses", http.get("/v2/licenses")),
                ("GET", "/v2/licenses", http.get("/v2/licenses")),  # the fifth
                ("GET", "/v2/licenses", httpx2.get(f"{svc.base_url}/v2/licenses")),
                ("GET", "/v2/licenses", httpx2.get(f"{svc.base_url}/v2/licenses", headers=twice)),
                ("POST", "/oauth2/token", httpx2.post(f"{svc.base_url}/oauth2/token", data=form)),
                ("POST", "/oauth2/token", httpx2.post(f"{svc.base_url}/oauth2/token", data=form)),
                ("POST", "/oauth2/token", httpx2.post(f"{svc.base_url}/oauth2/token", data=wrong)),
            ]
    statuses = [answer.status_code for _, _, answer in answers]
    assert statuses == [200, 400, 404, 200, 429, 401, 400, 200, 429, 401]
    for method, path, answer in answers:
        declared = spec["paths"][path][method.lower()]["responses"][str(answer.status_code)]
        headers = {name.lower(): header for name, header in declared.get("headers", {}).items()}
        sent = {
            name
            for name in (*RATE_LIMIT_HEADERS, "retry-after", "www-authenticate", "x-request-id")
            if name in answer.headers
        }
        required = {name for name, header in headers.items() if header["required"]}
        assert required <= sent <= set(headers), f"{method} {path} {answer.status_code}"


def test_spec_describes_every_documented_operation(service: RunningService) -> None:
    spec = service.spec()
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    documented = {
        ("POST", "/oauth2/token"),
        ("GET", "/v1/accounts/subscriptions"),
        ("POST", "/v1/accounts/subscriptions"),
        ("PUT", "/v1/accounts/subscriptions"),
        ("DELETE", "/v1/accounts/subscriptions"),
        ("GET", "/v1/accounts/subscriptions/status/{jobId}"),
        ("GET", "/v1/accounts/subscriptions/status/{jobId}/details"),
        ("GET", "/v2/entities"),
        ("GET", "/v2/entities/{npn}"),
        ("GET", "/v2/licenses/{licenseId}/licenseLoas"),
        ("GET", "/v2/regulatoryActions/{id}/regulatoryActionValues"),
        ("GET", "/v1/regulatoryActionValues/{id}"),
    }
    for key in (
        "addresses",
        "appointments",
        "contactInfos",
        "licenses",
        "otherNames",
        "regulatoryActions",
    ):
        documented |= {
            ("GET", f"/v2/{key}"),
            ("GET", f"/v2/entities/{{npn}}/{key}"),
            ("GET", f"/v1/{key}/{{id}}"),
            ("GET", f"/v1/{key}"),
        }
    documented |= {("GET", "/v2/licenseLoas"), ("GET", "/v1/licenseLoas/{id}")}
    assert documented <= operations
    ids = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    named_by_the_public_reference = {
        "getNpnManagementJobStatus",
        "getNpnManagementJobStatusDetails",
        "deleteActiveNpns",
        "getAddressesByNPN",
        "getAppointments",
        "getContactInfos",
        "getLicenseLoas",
        "getLicenseById",
        "getLicenseLoaById",
        "getOtherNamesForSubscribedNpns",
        "getRegulatoryActionsById",
    }
    assert named_by_the_public_reference <= ids
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "422" not in op["responses"], f"{method} {path} documents FastAPI's 422"


def test_the_spec_lists_what_the_middleware_answers_too() -> None:
    """A body past its cap is a 413 and the store out of reach a 503, answered by
    middleware before any route: the spec listed neither, so a client generated from it
    had no type for them."""
    for path, ops in published_spec()["paths"].items():
        if path == "/healthz":
            continue  # stays 200 while the store is away: restarting would not help
        for method, op in ops.items():
            responses = op["responses"]
            assert "503" in responses, f"{method} {path}"
            # The token endpoint's in RFC 6749's body, as its every answer.
            body = "OAuthError" if path == "/oauth2/token" else "ErrorBody"
            assert body in str(responses["503"]["content"]), f"{method} {path}"
            if "requestBody" in op and path != "/oauth2/token":  # the token's is a 400
                assert "413" in responses, f"{method} {path} takes a body"
                assert "ErrorBody" in str(responses["413"]["content"]), f"{method} {path}"


def test_the_description_tells_the_error_bodies_and_headers_the_responses_declare() -> None:
    """It said every error had the standard body and every API response the rate-limit
    headers, where the token endpoint's errors are RFC 6749's and a 401 or a 503 carries
    none, as the responses it sits above declared."""
    spec = create_app().openapi()
    description = " ".join(spec["info"]["description"].split())
    bodies: set[str] = set()
    bare: set[str] = set()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    bodies |= {m["schema"]["$ref"] for m in response["content"].values()}
                if path.startswith(("/v1/", "/v2/")) and "ratelimit-limit" not in response.get(
                    "headers", {}
                ):
                    bare.add(code)
    schemas = spec["components"]["schemas"]
    for ref in bodies:
        fields = ", ".join(schemas[ref.rsplit("/", 1)[1]]["properties"])
        assert f"`{{{fields}}}`" in description, ref
    assert bare, "every response declares the rate-limit headers: the test reads no more"
    for code in bare:
        assert f"`{code}`" in description, f"a {code} carries no rate-limit headers"


def test_the_fuzz_s_groups_hold_every_operation_but_the_token_once() -> None:
    """The fuzz goes a group of operations a file: an operation in no group would never be
    fuzzed, one in two fuzzed twice."""
    grouped = [op for group in OPERATION_GROUPS for op in group_operations(group)]
    published = [
        f"{method.upper()} {path}"
        for path, ops in published_spec()["paths"].items()
        for method in ops
        if path != "/oauth2/token"
    ]
    assert sorted(grouped) == sorted(published)
    assert all(group_operations(group) for group in OPERATION_GROUPS)


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in _keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in _keys(value)}
    return set()


def test_bounds_are_json_schema_keywords() -> None:
    # A validator placed before a bound made pydantic write it raw: licenseId showed
    # 'ge': 1, which no client reads, and the fuzzer's negative ids were refused as 400s.
    schemas = [
        p["schema"]
        for ops in published_spec()["paths"].values()
        for op in ops.values()
        for p in op.get("parameters", [])
    ]
    assert not _keys(schemas) & {"ge", "gt", "le", "lt"}


def test_list_parameters_state_the_limits_the_service_enforces() -> None:
    """Lists were strings with a pattern, which could not say that at most 1,000 values
    are taken: a client generated from the spec learnt it from a 400. Each is an array,
    sent comma-separated, with its bounds; its example holds to them."""
    listed = [
        p
        for ops in published_spec()["paths"].values()
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["name"] in LIST_PARAMETERS
    ]
    assert {p["name"] for p in listed} == LIST_PARAMETERS
    for p in listed:
        schema = p["schema"]
        assert (p["style"], p["explode"]) == ("form", False), p["name"]
        assert (schema["type"], schema["minItems"], schema["maxItems"]) == (
            "array",
            1,
            MAX_LIST_ITEMS,
        ), p["name"]
        for example in schema["examples"]:
            assert all(re.match(schema["items"]["pattern"], item) for item in example), example


def test_no_parameter_is_offered_as_null() -> None:
    """An optional parameter's ``str | None`` put a null beside its type, and its pattern
    and format beside the ``anyOf``: a generated client offered to send a null, which a
    query string cannot carry."""
    parameters = [
        p
        for ops in published_spec()["paths"].values()
        for op in ops.values()
        for p in op.get("parameters", [])
    ]
    nullable = [p["name"] for p in parameters if "null" in json.dumps(p["schema"])]
    assert parameters and nullable == []
    (token, *_) = [p for p in parameters if p["name"] == "continuationToken"]
    assert (token["schema"]["type"], "pattern" in token["schema"]) == ("string", True)


def test_links_that_name_a_missing_operation_are_refused() -> None:
    spec = {"paths": {"/x": {"get": {"operationId": "getX", "responses": {"200": {}}}}}}
    with pytest.raises(ValueError, match="replaceActiveNpns"):
        add_links(spec)


def test_the_spec_is_built_when_first_asked_for_not_at_start(tmp_path: Path) -> None:
    # It costs a start about a second of CPU, and most processes are never asked for it.
    store = f"sqlite:///{tmp_path / 'store.db'}"
    app = create_app(ServiceSettings(database_url=store, delivery_enabled=False))
    with TestClient(app) as http:
        # Refused at the gate, before routing: named by its template all the same.
        assert http.get("/v2/licenses").status_code == 401
        assert "/v2/licenses" in http.get("/metrics").text
        assert app.openapi_schema is None
        assert "/v2/licenses" in http.get("/openapi.json").json()["paths"]
        assert app.openapi_schema is not None


def test_the_subscription_lists_publish_the_limit_the_service_answers_413_above(
    tmp_path: Path,
) -> None:
    """The bodies had no maxItems: a list over PRODUCERSYNC_MAX_SUBSCRIPTION_NPNS was one
    the spec allowed and the service refused. Now the spec says this service's limit, and
    the service answers the 413 the operations declare for a list past it."""
    with store_url("sqlite", tmp_path) as url, running_service(url, max_subscription_npns=3) as svc:
        operations = svc.spec()["paths"]["/v1/accounts/subscriptions"]
        bodies = [op["requestBody"] for op in operations.values() if "requestBody" in op]
        assert len(bodies) == 3
        for body in bodies:
            assert body["content"]["application/json"]["schema"]["maxItems"] == 3
        creds = svc.account()
        with svc.client(creds) as http:
            path = "/v1/accounts/subscriptions"
            assert http.put(path, json=["1", "2", "3"]).status_code == 202
            refused = http.put(path, json=["1", "2", "3", "4"])
            assert refused.status_code == 413, refused.text
            assert "413" in operations["put"]["responses"]
    default = published_spec()["paths"]["/v1/accounts/subscriptions"]["post"]
    assert default["requestBody"]["content"]["application/json"]["schema"]["maxItems"] == 50_000
