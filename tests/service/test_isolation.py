"""An account sees only its own population, jobs, records and webhook objects, by every
endpoint: the last tests walk the OpenAPI spec, so a new route is tried as well."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.service.api.resources import BY_KEY, RESOURCES
from tests.support import plain_http
from tests.support.service import Credentials, RunningService, wait_for_job
from tests.support.spec import published_spec


def _jobs_applied(service: RunningService, creds: Credentials) -> dict[str, object]:
    """Once the account's jobs queued so far have applied, the status of one more that
    changes nothing (it removes an NPN never subscribed): an account's jobs apply in
    order."""
    with service.client(creds) as http:
        accepted = http.request("DELETE", "/v1/accounts/subscriptions", json=["1"])
        assert accepted.status_code == 202, accepted.text
        return wait_for_job(http, accepted.json()["job_id"])


@pytest.fixture(scope="module")
def pair(
    service: RunningService, universe_npns: list[str]
) -> tuple[Credentials, Credentials, list[str], str]:
    a, b = service.account(), service.account()
    # A's population holds at least one record of every kind, rare ones included.
    with service.engine.connect() as conn:
        rare = [
            conn.execute(sa.select(BY_KEY[key].table.c.npn).limit(1)).scalar_one()
            for key in ("regulatoryActions", "otherNames")
        ]
    # The first is one of no rare kind: per-NPN GETs subscribe B to it (Owned.value).
    plain = [n for n in universe_npns[200:230] if n not in rare]
    a_npns = plain + sorted(set(rare))
    b_npns = [n for n in universe_npns[300:305] if n not in a_npns]
    with service.client(a) as http:
        job_id = http.put("/v1/accounts/subscriptions", json=a_npns).json()["job_id"]
    _jobs_applied(service, a)
    service.subscribe(b, b_npns)
    return a, b, a_npns, job_id


@pytest.mark.parametrize("key", [r.key for r in RESOURCES if r.v2_list])
def test_lists_of_b_hold_none_of_a_npns(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str], key: str
) -> None:
    _, b, a_npns, _ = pair
    with service.client(b) as http:
        v2 = http.get(f"/v2/{key}?size=1000&npns={','.join(a_npns)}").json()
        v2_all = http.get(f"/v2/{key}?size=1000").json()
        v1 = http.get(f"/v1/{key}?size=1000").json()
    assert "embedded" not in v2
    for body in (v2_all, v1):
        assert not {r["npn"] for r in body.get("embedded", {}).get(key, [])} & set(a_npns)


@pytest.mark.parametrize("key", [r.key for r in RESOURCES if r.key != "entities"])
def test_b_cannot_read_a_record_by_id(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str], key: str
) -> None:
    a, b, a_npns, _ = pair
    table = BY_KEY[key].table
    with service.engine.connect() as conn:
        record_id = conn.execute(
            sa.select(table.c.id).where(table.c.npn.in_(a_npns)).limit(1)
        ).scalar()
    assert record_id is not None
    with service.client(a) as http:
        assert http.get(f"/v1/{key}/{record_id}").status_code == 200
    with service.client(b) as http:
        response = http.get(f"/v1/{key}/{record_id}")
    assert response.status_code == 404


def test_b_cannot_read_a_children_lists(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    _, b, a_npns, _ = pair
    licenses = BY_KEY["licenses"].table
    with service.engine.connect() as conn:
        license_id = conn.execute(
            sa.select(licenses.c.id).where(licenses.c.npn.in_(a_npns)).limit(1)
        ).scalar_one()
    with service.client(b) as http:
        assert http.get(f"/v2/licenses/{license_id}/licenseLoas").status_code == 404


def test_b_cannot_read_a_jobs_or_subscriptions(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    a, b, a_npns, job_id = pair
    with service.client(a) as http:
        assert http.get(f"/v1/accounts/subscriptions/status/{job_id}").status_code == 200
    with service.client(b) as http:
        status = http.get(f"/v1/accounts/subscriptions/status/{job_id}")
        details = http.get(f"/v1/accounts/subscriptions/status/{job_id}/details")
        subs = http.get("/v1/accounts/subscriptions?size=1000").json()
    assert status.status_code == 404 and details.status_code == 404
    assert not {s["npn"] for s in subs["embedded"]["subscriptions"]} & set(a_npns)


def test_b_removing_a_npns_changes_nothing_for_a(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    a, b, a_npns, _ = pair
    with service.client(b) as http:
        job = http.request("DELETE", "/v1/accounts/subscriptions", json=a_npns[:3]).json()
    status = _jobs_applied(service, b)
    assert status["status"] == "COMPLETED"
    with service.client(b) as http:
        detail = http.get(f"/v1/accounts/subscriptions/status/{job['job_id']}/details").json()
    assert {d["result"] for d in detail["embedded"]["details"]} == {"UNCHANGED"}
    with service.client(a) as http:
        subs = http.get("/v1/accounts/subscriptions?size=1000").json()
    assert {s["npn"] for s in subs["embedded"]["subscriptions"]} == set(a_npns)


# --- every operation of the spec, with another account's token and ids -------------------

_SPEC = published_spec()
_OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in _SPEC["paths"].items()
    for method, operation in operations.items()
]
_PARAM = re.compile(r"{(\w+)}")

# Bodies for the operations that need one to reach the lookup of the id.
_BODIES: dict[str, Callable[[], Any]] = {
    "updateWebhookEndpoint": lambda: {"description": "taken over"},
    "sendWebhookExample": lambda: {"eventType": "producersync.npn.activated"},
    "recoverWebhookEndpoint": lambda: {
        "since": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    },
}
# NPNs are no account's: a per-NPN GET answers any caller, and subscribes it to the NPN
# (the reference: "Per-NPN endpoints auto-subscribe"). What is A's is its population, and
# the lists of records show none of it to B (the tests above).
_PUBLIC_PARAMS = {"npn"}
# Operations that take no id and touch no other account's data, and why.
_NOTHING_TO_TAKE = {
    "getAccessToken": "credentials, not data: see test_a_client_id_with_b_secret_gets_no_token",
    "createWebhookEndpoint": "creates an endpoint of the caller's own",
    "getHealth": "no account data",
}


@dataclass(frozen=True)
class Owned:
    """What account A owns, and what must never show in another account's answers."""

    creds: Credentials
    npns: list[str]
    job_id: str
    endpoint_id: str
    endpoint_url: str
    secret: str
    message_id: str

    def value(self, path: str, param: str, engine: sa.Engine) -> str:
        """A's id for ``{param}`` in ``path``: named by the parameter, or (``{id}``) by
        the resource before it."""
        named = {
            "jobId": self.job_id,
            "endpointId": self.endpoint_id,
            "messageId": self.message_id,
            "npn": self.npns[0],
        }
        if param in named:
            return named[param]
        key = {"licenseId": "licenses"}.get(param) or path.split(f"/{{{param}}}")[0].split("/")[-1]
        assert key in BY_KEY, f"no id of A for {{{param}}} in {path}: teach Owned.value"
        table = BY_KEY[key].table
        with engine.connect() as conn:
            # Not of npns[0]: the per-NPN GETs subscribe B to that one.
            found = conn.execute(
                sa.select(table.c.id).where(table.c.npn.in_(self.npns[1:])).limit(1)
            ).scalar()
        assert found is not None, f"A has no {key}"
        return str(found)

    def leaks(self, response: httpx2.Response, *, ids_sent: bool) -> list[str]:
        """A's data in a response to another account (an id the request sent may come
        back in the 404's message: that is an echo, not a leak)."""
        private = [self.endpoint_url, self.secret]
        if not ids_sent:
            private += [self.endpoint_id, self.message_id, self.job_id]
        return [what[:12] for what in private if what in response.text]

    def state(self, service: RunningService) -> list[Any]:
        """Everything of A's that another account's calls could change."""
        endpoint = f"/v1/webhooks/endpoints/{self.endpoint_id}"
        job = f"/v1/accounts/subscriptions/status/{self.job_id}"
        with service.client(self.creds) as http:
            return [
                http.get(path).json()
                for path in (
                    "/v1/accounts/subscriptions?size=1000",
                    endpoint,
                    f"{endpoint}/secret",
                    f"{endpoint}/attempts",
                    "/v1/webhooks/messages",
                    job,
                    f"{job}/details?size=1000",
                )
            ]


@pytest.fixture(scope="module")
def owned(service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]) -> Owned:
    a, _, a_npns, job_id = pair
    url = f"http://127.0.0.1:9/owned-{uuid.uuid4().hex}"
    with service.client(a) as http:
        created = http.post("/v1/webhooks/endpoints", json={"url": url}).json()
        message_id = http.get("/v1/webhooks/messages").json()["data"][0]["id"]
    return Owned(a, a_npns, job_id, created["id"], url, created["secret"], message_id)


@pytest.fixture(scope="module")
def intruder(service: RunningService) -> Credentials:
    """An account of its own (B's population is other tests' premise)."""
    return service.account()


@pytest.fixture(scope="module")
def owned_before(service: RunningService, owned: Owned) -> list[Any]:
    return owned.state(service)


def _by_id(operation: dict[str, Any]) -> bool:
    return any(p["in"] == "path" for p in operation.get("parameters", []))


def _body(operation: dict[str, Any], owned: Owned) -> Any:
    make = _BODIES.get(operation["operationId"])
    if make is not None:
        return make()
    if not operation.get("requestBody", {}).get("required"):
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema.get("type") == "array", f"teach _BODIES a body for {operation['operationId']}"
    return owned.npns  # the NPN management operations: A's NPNs


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in _OPERATIONS if _by_id(op[2])],
    ids=[f"{m} {p}" for m, p, op in _OPERATIONS if _by_id(op)],
)
def test_b_is_told_a_ids_do_not_exist_by_every_operation_taking_one(
    service: RunningService,
    owned: Owned,
    owned_before: list[Any],
    intruder: Credentials,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    url = _PARAM.sub(lambda m: owned.value(path, m.group(1), service.engine), path)
    body = _body(operation, owned)
    if method == "GET":  # the ids are A's indeed (a write would change what A owns)
        with service.client(owned.creds) as http:
            assert http.get(url).status_code == 200, url
    with service.client(intruder) as http:
        response = http.request(method, url, json=body)
    public = set(_PARAM.findall(path)) <= _PUBLIC_PARAMS
    expected = (200,) if public else (403, 404)
    assert response.status_code in expected, (url, response.status_code, response.text)
    assert not owned.leaks(response, ids_sent=True)


_WITHOUT_ID = [
    op for op in _OPERATIONS if not _by_id(op[2]) and op[2]["operationId"] not in _NOTHING_TO_TAKE
]


def test_every_operation_left_out_exists() -> None:
    assert set(_NOTHING_TO_TAKE) <= {op["operationId"] for _, _, op in _OPERATIONS}


@pytest.mark.parametrize(
    ("method", "path", "operation"), _WITHOUT_ID, ids=[f"{m} {p}" for m, p, _ in _WITHOUT_ID]
)
def test_b_finds_nothing_of_a_by_any_operation_without_an_id(
    service: RunningService,
    owned: Owned,
    owned_before: list[Any],
    intruder: Credentials,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    names = {p["name"] for p in operation.get("parameters", [])}
    params = {"npns": ",".join(owned.npns)} if "npns" in names else {}
    with service.client(intruder) as http:
        response = http.request(method, path, params=params, json=_body(operation, owned))
    assert response.status_code < 500
    assert not owned.leaks(response, ids_sent=False)


def test_a_client_id_with_b_secret_gets_no_token(
    service: RunningService, owned: Owned, intruder: Credentials
) -> None:
    response = plain_http.post(
        f"{service.base_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": owned.creds.client_id,
            "client_secret": intruder.client_secret,
        },
    )
    assert response.status_code == 401
    assert "access_token" not in response.text


def test_nothing_of_a_changed_by_the_calls_of_b(
    service: RunningService, owned: Owned, owned_before: list[Any], intruder: Credentials
) -> None:
    # The NPN management calls above queued jobs of B's: let them apply first.
    _jobs_applied(service, intruder)
    assert owned.state(service) == owned_before
