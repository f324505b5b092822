"""The fuzz of the published OpenAPI spec by schemathesis against a running service, as the
tests run it on each backend: each group of operations (``OPERATION_GROUPS``) in a file
of its own, and the linked call sequences in another (tests/service/test_openapi_fuzz_*.py),
so that xdist, which keeps a file on one worker, runs them side by side."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema
from schemathesis.transport.requests import ManagedCookiesSession

from producersync.service.api.webhook_models import WindowQuery
from producersync.service.idempotency import HEADER as IDEMPOTENCY_KEY
from tests.support.service import Credentials, RunningService
from tests.support.spec import published_spec

__all__ = [
    "HANG_GUARD",
    "OPERATION_GROUPS",
    "RATE_LIMIT_HEADERS",
    "api_conforms_to_its_spec",
    "conformance_failures",
    "group_operations",
    "linked_call_sequences_conform_to_the_spec",
    "published_schema",
]

RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
_FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
# Some 1,500 requests for every operation once took 321 s at load 18 on 2 cores, past the
# suite's 300 s, whose pytest.fail, raised mid-example, hypothesis reported as flaky; 774 s
# (SQLite's, setup included) at load 20. A guard against a hang, not a pace to keep.
HANG_GUARD = pytest.mark.timeout(1800)
# The published operations (the token endpoint aside) by path, each in one group (a test
# in test_openapi.py holds them to it): the record lists take most of the time, v1's most.
OPERATION_GROUPS = {
    "v1 records": r"^/v1/(?!accounts/|webhooks/)",
    "v2 records": r"^/v2/",
    "webhooks": r"^/v1/webhooks/",
    "subscriptions and health": r"^/(v1/accounts/|healthz$)",
}
_TOKEN_PATH = "/oauth2/token"


def published_schema(service: RunningService, token: str) -> BaseSchema:
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

    return schema.exclude(path=_TOKEN_PATH)


def _fuzzed_account(service: RunningService, npns: list[str]) -> Credentials:
    creds = service.account(sandbox=True)
    service.subscribe(creds, npns)
    return creds


def group_operations(group: str) -> list[str]:
    """The operations of the service's spec in ``group`` (``OPERATION_GROUPS``), as
    "METHOD /path"."""
    return [
        f"{method.upper()} {path}"
        for path, operations in published_spec()["paths"].items()
        if path != _TOKEN_PATH and re.search(OPERATION_GROUPS[group], path)
        for method in operations
    ]


def api_conforms_to_its_spec(service: RunningService, universe_npns: list[str], group: str) -> None:
    """Each operation of ``group`` (``OPERATION_GROUPS``) fuzzed: no 5xx, and no response
    (status, headers, body) that the spec does not describe."""
    creds = _fuzzed_account(service, universe_npns[:20])
    with service.client(creds) as http:
        webhook = http.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/fuzz"})
        endpoint = webhook.json()["id"]
        message = http.get("/v1/webhooks/messages").json()["data"][0]["id"]

    def aimed(case: schemathesis.Case) -> None:
        _fill_what_no_schema_can(case)
        _aim_at_real_webhook_objects(case, endpoint, message)

    schema = published_schema(service, service.token(creds))
    checked, failures = conformance_failures(
        schema.include(path_regex=OPERATION_GROUPS[group]), aimed
    )
    assert checked == len(group_operations(group)) > 0
    assert not failures, "\n\n".join(failures)


def conformance_failures(
    schema: BaseSchema, prepare: Callable[[schemathesis.Case], None]
) -> tuple[int, list[str]]:
    """Each operation of ``schema`` fuzzed, each case ``prepare``d before it is sent: how
    many operations were, and each failing one's failure, with what lies under it (the
    failures hypothesis found before it reported its replay of them flaky, the request,
    the response). Not an operation's failure but the test run's own (pytest-timeout's
    ``pytest.fail``, a Ctrl-C), raised within an example, ends the fuzz as itself."""
    failures: list[str] = []
    checked = 0
    with _calling() as sending:
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @_FUZZ
            def check(case: schemathesis.Case) -> None:
                prepare(case)
                _call_and_validate(case, sending)

            # BaseException: a schemathesis FailureGroup is not an Exception, and hypothesis,
            # which catches only Exceptions, lets it through as it is, unshrunk and unreplayed.
            try:
                check()
            except BaseException as exc:  # gather every operation's failure, not just the first
                if interruption := _interruption(exc):
                    where = f"{operation.method.upper()} {operation.path}"
                    interruption.add_note(f"raised fuzzing {where}")
                    raise interruption from None
                failures.append(f"{operation.method.upper()} {operation.path}: {_described(exc)}")
            checked += 1
    return checked, failures


def linked_call_sequences_conform_to_the_spec(
    service: RunningService, universe_npns: list[str]
) -> None:
    """Stateful: sequences follow the spec's links (a job's id to its status, a new
    endpoint to everything done with it, a message to its attempts, a record to its
    children), so calls reach real objects instead of 404s."""
    creds = _fuzzed_account(service, universe_npns[20:40])
    with _calling() as sending:
        _follow_links(published_schema(service, service.token(creds)), sending)


def _follow_links(schema: BaseSchema, sending: dict[str, Any]) -> None:
    machine = schema.as_state_machine()
    followed: set[str] = set()
    failures: list[str] = []

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            _fill_what_no_schema_can(case)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return dict(sending)

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
    # Which step a sequence may take next depends on what the service answered (a job's
    # state moves on as the worker gets to it), so a sequence hypothesis draws again along
    # a prefix it drew before can go another way, and hypothesis then stops generating
    # (FlakyStrategyDefinition). The calls made until then were checked (``failures``),
    # and the links they must have reached are asserted below.
    with contextlib.suppress(FlakyStrategyDefinition):
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


@contextmanager
def _calling() -> Iterator[dict[str, Any]]:
    """What each request of a fuzz is sent with. It waits as long as the service takes:
    schemathesis's default of 10 s made a slow answer on a loaded machine a failure, which
    hypothesis's replay, answered in time, then reported as flaky (a service that never
    answers is the test's timeout's to catch). And it goes on one kept-alive connection of
    the fuzz's session, its cookies dropped after each as schemathesis's own runs do, where
    each request made a session and a connection of its own, and the service a connection
    to serve it (some 5,000 a sequences run). The session adds no header of its own (its
    requests are schemathesis's as they were) and reads no proxy or netrc from the
    environment: the service is on loopback."""
    with ManagedCookiesSession() as session:
        session.headers.clear()
        session.trust_env = False
        yield {"timeout": None, "session": session}


def _call_and_validate(case: schemathesis.Case, sending: dict[str, Any]) -> None:
    """``case`` sent and its response checked; a failure that is not the check's own (whose
    message shows the request and the response) notes them."""
    answered: list[requests.Response] = []
    try:
        case.call_and_validate(
            **sending, hooks={"response": [lambda r, *_, **__: answered.append(r)]}
        )
    except Exception as exc:
        exc.add_note(f"request: {case.as_curl_command()}")
        for response in answered:
            exc.add_note(f"response: {response.status_code} {response.text[:1000]}")
        raise


def _interruption(exc: BaseException) -> BaseException | None:
    """What in ``exc`` is neither an operation's Exception nor schemathesis's failure, but
    the test run's own: pytest's ``Failed`` that pytest-timeout raises from its signal
    handler, wherever the test then is. Looked for in an exception group's members, and in
    the cause of an Exception, which is how hypothesis wraps one to put in a group."""
    if isinstance(exc, FailureGroup):
        return None
    if isinstance(exc, BaseExceptionGroup):
        members: tuple[BaseException | None, ...] = exc.exceptions
    elif isinstance(exc, Exception):
        members = (exc.__cause__,)
    else:
        return exc
    return next(filter(None, map(_interruption, filter(None, members))), None)


def _described(exc: BaseException, depth: int = 0) -> str:
    """``exc``, its notes, and what lies under it: an exception group's members (a flaky
    replay's FlakyFailure holds the failure first seen and the replay's) and its cause."""
    lines = [f"{type(exc).__name__}: {exc}", *getattr(exc, "__notes__", ())]
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
        lines += (f"- {_described(member, depth + 1)}" for member in exc.exceptions)
    if exc.__cause__ is not None and depth < 5:
        lines.append(f"caused by: {_described(exc.__cause__, depth + 1)}")
    return "\n".join(lines).replace("\n", "\n  ")


_KEYS_SENT: set[str] = set()


def _fill_what_no_schema_can(case: schemathesis.Case) -> None:
    """A continuation token is opaque and signed: no schema can generate a valid one (a
    forged one is a 400, tested in test_bad_input), so the fuzzer starts lists at their
    first page. And recover's `since` must lie within the last 14 days, and a list's
    `until` after its `since` (the two are swapped; one alone is left). And an
    `Idempotency-Key` the fuzzer made twice (`0`, say) would be one key sent with two
    bodies, the 400 the service owes that (test_idempotency): a key seen before is made new."""
    if key := (case.headers or {}).get(IDEMPOTENCY_KEY):
        if key in _KEYS_SENT:
            key = case.headers[IDEMPOTENCY_KEY] = uuid.uuid4().hex
        _KEYS_SENT.add(key)
    if case.query:
        case.query.pop("continuationToken", None)
        window = [case.query.get(name) for name in ("since", "until")]
        if all(isinstance(value, str) for value in window):
            # Read as the service reads them (spaces around them, a date alone...).
            read = WindowQuery.model_validate(dict(zip(("since", "until"), window, strict=True)))
            since, until = read.since, read.until
            assert since is not None and until is not None
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
