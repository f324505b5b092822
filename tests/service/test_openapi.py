"""The published OpenAPI spec, fuzzed by schemathesis against the running service: no 5xx,
and no response (status, headers, body) that the spec does not describe."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import TypeAdapter
from schemathesis.checks import ignored_auth
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema
from starlette.testclient import TestClient

from producersync.model.events import UtcDatetime
from producersync.service.api.links import add_links
from producersync.service.api.params import LIST_PARAMETERS, MAX_LIST_ITEMS
from producersync.service.app import create_app
from producersync.service.settings import ServiceSettings
from tests.support.databases import store_url
from tests.support.service import Credentials, RunningService, running_service

pytestmark = pytest.mark.slow(280)

_UTC_TIME: TypeAdapter[dt.datetime] = TypeAdapter(UtcDatetime)
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
_OTHERS = ("retry-after", "www-authenticate")
_FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def _schema(service: RunningService, token: str) -> BaseSchema:
    """The published spec, without the token endpoint (its own tests cover it; fuzzing it
    only burns the token rate limit), with ``token`` registered as the schema's auth, so
    that schemathesis can also strip it and check that the API then refuses the request."""
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json")

    @schema.auth()
    class Bearer:
        def get(self, case: schemathesis.Case, context: object) -> str:
            return token

        def set(self, case: schemathesis.Case, data: str, context: object) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema.exclude(path="/oauth2/token")


def _fuzzed_account(service: RunningService, npns: list[str]) -> Credentials:
    creds = service.account(sandbox=True)
    service.subscribe(creds, npns)
    return creds


def test_api_conforms_to_its_spec(service: RunningService, universe_npns: list[str]) -> None:
    creds = _fuzzed_account(service, universe_npns[:20])
    with service.client(creds) as http:
        webhook = http.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/fuzz"})
        endpoint = webhook.json()["id"]
        message = http.get("/v1/webhooks/messages").json()["data"][0]["id"]

    failures: list[str] = []
    checked = 0
    for result in _schema(service, service.token(creds)).get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @_FUZZ
        def check(case: schemathesis.Case) -> None:
            _fill_what_no_schema_can(case)
            _aim_at_real_webhook_objects(case, endpoint, message)
            case.call_and_validate()

        try:
            check()
        except Exception as exc:  # gather every operation's failure, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        checked += 1
    assert checked >= 30
    assert not failures, "\n\n".join(failures)


def test_the_fuzz_fails_an_answer_without_a_rate_limit_header(service: RunningService) -> None:
    # The headers are set by the gate, which no route declares: the spec lacked them, and
    # the fuzz passed an answer whatever headers it had.
    creds = service.account(sandbox=True)
    case = _schema(service, service.token(creds))["/v2/licenses"]["GET"].Case()
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
    """The rate-limit headers and Retry-After, declared where the service sends them: on
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
        sent = {name for name in (*RATE_LIMIT_HEADERS, *_OTHERS) if name in answer.headers}
        required = {name for name, header in headers.items() if header["required"]}
        assert required <= sent <= set(headers), f"{method} {path} {answer.status_code}"


def test_linked_call_sequences_conform_to_the_spec(
    service: RunningService, universe_npns: list[str]
) -> None:
    """Stateful: sequences follow the spec's links (a job's id to its status, a new
    endpoint to everything done with it, a message to its attempts, a record to its
    children), so calls reach real objects instead of 404s."""
    creds = _fuzzed_account(service, universe_npns[20:40])
    schema = _schema(service, service.token(creds))
    machine = schema.as_state_machine()
    followed: set[str] = set()
    failures: list[str] = []

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            _fill_what_no_schema_can(case)

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            followed.add(f"{case.method} {case.operation.path} {response.status_code}")

        def validate_response(self, response: Any, case: schemathesis.Case, **kw: Any) -> None:
            # Collected, not raised: hypothesis would replay the sequence to confirm it,
            # meet a service that has moved on, and report its own replay as flaky
            # instead of the failure.
            try:
                super().validate_response(response, case, **kw)
            except Exception as exc:
                failures.append(f"{case.method} {case.operation.path}: {exc}")

    # Derandomized: the same sequences every run, so what they reach is no matter of luck.
    # Generated only (no targeting, no shrinking): what hypothesis replays meets a service
    # that has moved on.
    Sequences.run(
        settings=settings(
            _FUZZ,
            max_examples=100,
            stateful_step_count=10,
            derandomize=True,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        )
    )
    assert not failures, "\n\n".join(failures[:5])
    reached = {key.rsplit(" ", 1)[0] for key in followed if key.endswith((" 200", " 202", " 204"))}
    # The links took sequences to objects that exist: ids no schema can make up. Which
    # call a link leads to varies: the steps a sequence may take next depend on what the
    # service answered before, and so on the shared service's state (in one full run, the
    # sequences deleted their new endpoints but never read one; alone, they read them).
    for linked in (
        "/v1/accounts/subscriptions/status/{jobId}",
        "/v1/webhooks/endpoints/{endpointId}",
    ):
        assert any(linked in call for call in reached), (linked, sorted(followed))


def _fill_what_no_schema_can(case: schemathesis.Case) -> None:
    """A continuation token is opaque and signed: no schema can generate a valid one (a
    forged one is a 400, tested in test_bad_input), so the fuzzer starts lists at their
    first page. And recover's `since` must lie within the last 14 days, and a list's
    `until` after its `since` (the two are swapped; one alone is left)."""
    if case.query:
        case.query.pop("continuationToken", None)
        window = [case.query.get(name) for name in ("since", "until")]
        if all(isinstance(value, str) for value in window):
            since, until = (_UTC_TIME.validate_python(value) for value in window)
            if until < since:
                case.query["since"], case.query["until"] = window[1], window[0]
            elif until == since:
                del case.query["until"]
    if case.operation.path.endswith("/recover"):
        case.body = {"since": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()}


def _aim_at_real_webhook_objects(
    case: schemathesis.Case, endpoint_id: str, message_id: str
) -> None:
    """Made-up ids find only 404s: aim the webhook routes at a real endpoint and message of
    the account (DELETE keeps its made-up id, so the endpoint lives on)."""
    params = case.path_parameters or {}
    if "endpointId" in params and case.method != "DELETE":
        params["endpointId"] = endpoint_id
    if "messageId" in params:
        params["messageId"] = message_id


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
    for path, ops in create_app().openapi()["paths"].items():
        if path == "/healthz":
            continue  # stays 200 while the store is away: restarting would not help
        for method, op in ops.items():
            responses = op["responses"]
            assert "503" in responses, f"{method} {path}"
            assert "ErrorBody" in str(responses["503"]["content"]), f"{method} {path}"
            if "requestBody" in op and path != "/oauth2/token":  # the token's is a 400
                assert "413" in responses, f"{method} {path} takes a body"
                assert "ErrorBody" in str(responses["413"]["content"]), f"{method} {path}"


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
        for ops in create_app().openapi()["paths"].values()
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
        for ops in create_app().openapi()["paths"].values()
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
            items = schema["items"]
            if "enum" in items:
                assert set(example) <= set(items["enum"]), example
            else:
                assert all(re.match(items["pattern"], item) for item in example), example


def test_no_parameter_is_offered_as_null() -> None:
    """An optional parameter's ``str | None`` put a null beside its type, and its pattern
    and format beside the ``anyOf``: a generated client offered to send a null, which a
    query string cannot carry."""
    parameters = [
        p
        for ops in create_app().openapi()["paths"].values()
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
