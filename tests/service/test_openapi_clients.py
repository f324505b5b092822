"""What a client generated from the published spec needs of it (found by generating one
with openapi-python-client and calling every operation): every field the service sends
declared, the scopes and where to get a token, the challenge of a refused token, times
as date-times, the vocabularies as enums. No generator runs here: each property is
asserted on the spec itself."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.model import CeCompliance, ResidencyStatus
from producersync.model.subscriptions import JobAction, JobOperation, JobResult
from producersync.service.api.resources import RESOURCES
from producersync.service.auth.scopes import READ, WRITE
from producersync.service.auth.token_endpoint import PATH as TOKEN_PATH
from producersync.service.gate import API_PREFIXES
from producersync.service.store.jobs import Action, ItemResult, Operation
from producersync.service.store.tables import regulatory_actions
from tests.support import plain_http
from tests.support.service import RunningService
from tests.support.spec import published_spec


@cache
def _spec() -> dict[str, Any]:
    return published_spec()


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = _spec()["components"]["schemas"]
    return schemas


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in _spec()["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(_schemas()[schema["$ref"].rsplit("/", 1)[1]])
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's non-null alternatives, resolved."""
    return [_resolve(s) for s in schema.get("anyOf", [schema]) if s != {"type": "null"}]


def _enum_of(schema: dict[str, Any], prop: str) -> set[str]:
    return {v for branch in _branches(schema["properties"][prop]) for v in branch.get("enum", [])}


def test_each_served_record_and_its_links_are_declared(
    service: RunningService, universe_npns: list[str]
) -> None:
    """LicenseLoa lacked the forState it is served with, and each record's links were a
    free-form object: a generated client kept them as an untyped dict."""
    creds = service.account()
    # Every resource served: the first NPNs, and a few with regulatory actions (rare
    # enough that the first 60 of a universe may have none).
    with service.engine.connect() as conn:
        sanctioned = conn.execute(
            sa.select(regulatory_actions.c.npn)
            .where(regulatory_actions.c.npn.in_(universe_npns))
            .distinct()
            .order_by(regulatory_actions.c.npn)
            .limit(5)
        ).scalars()
        npns = sorted({*universe_npns[:60], *sanctioned})
    service.subscribe(creds, npns)
    served: dict[str, list[dict[str, Any]]] = {r.singular: [] for r in RESOURCES}
    with service.client(creds) as http:
        for resource in RESOURCES:
            if resource.v2_list:
                page = http.get(f"/v2/{resource.key}", params={"size": 100}).json()
                served[resource.singular] += page["embedded"][resource.key]
    served["LicenseLoa"] += [loa for lic in served["License"] for loa in lic["licenseLoas"]]
    served["RegulatoryActionValue"] += [
        value for action in served["RegulatoryAction"] for value in action["regulatoryActionValues"]
    ]
    for name, records in served.items():
        assert records, name
        schema = _schemas()[name]
        links = _resolve(schema["properties"]["links"])
        for record in records:
            assert set(record) <= set(schema["properties"]), (name, record)
            assert set(links["required"]) <= set(record["links"]) <= set(links["properties"])
    assert "residentLicense" in str([entity["links"] for entity in served["Entity"]])


def test_each_operation_names_the_scope_it_needs_and_where_to_get_a_token() -> None:
    """A bare bearer scheme told a generated client (and /docs) neither the token URL nor
    the scopes: it learnt of the write scope from a 403."""
    scheme = _spec()["components"]["securitySchemes"]["OAuth2"]
    flow = scheme["flows"]["clientCredentials"]
    assert (scheme["type"], flow["tokenUrl"], set(flow["scopes"])) == (
        "oauth2",
        TOKEN_PATH,
        {READ, WRITE},
    )
    for method, path, op in _operations():
        if not path.startswith(API_PREFIXES):
            assert "security" not in op, (method, path)
            continue
        changes = method != "get" or path.endswith("/secret")
        scopes = [READ, WRITE] if changes else [READ]
        # The bare bearer scheme too, for the tools that know no other.
        assert op["security"] == [{"OAuth2": scopes}, {"HTTPBearer": []}], (method, path)


def test_a_refused_token_declares_its_challenge(service: RunningService) -> None:
    """A 401 and a 403 carry WWW-Authenticate (invalid_token against insufficient_scope:
    fetch another token, or another will not help); the spec declared neither."""
    spec = service.spec()
    for method, path, op in _operations():
        for status in ("401", "403"):
            if status in op["responses"]:
                headers = op["responses"][status].get("headers", {})
                assert headers["WWW-Authenticate"]["required"], (method, path, status)
    reader = service.account(scope=READ)
    answers = {
        "401": plain_http.get(f"{service.base_url}/v2/licenses"),
        "403": plain_http.put(
            f"{service.base_url}/v1/accounts/subscriptions",
            json=["1"],
            headers={"Authorization": f"Bearer {service.token(reader)}"},
        ),
    }
    for status, answer in answers.items():
        assert str(answer.status_code) == status
        assert "www-authenticate" in answer.headers
    assert "WWW-Authenticate" in spec["paths"][TOKEN_PATH]["post"]["responses"]["401"]["headers"]


def test_webhook_times_are_date_times() -> None:
    """The serializer that writes them with a Z typed them as bare strings: a generated
    client had text where a datetime belonged."""
    times = [
        (name, prop, schema)
        for name in ("WebhookEndpoint", "WebhookMessage", "DeliveryState", "WebhookAttempt")
        for prop, schema in _schemas()[name]["properties"].items()
        if prop.endswith(("At", "Since"))
    ]
    assert len(times) == 8
    for name, prop, schema in times:
        assert [b.get("format") for b in _branches(schema)] == ["date-time"], (name, prop)
    # The event as sent, or what is left of it once its payload expired.
    payload, expired = _schemas()["WebhookMessage"]["properties"]["payload"]["anyOf"]
    assert payload["properties"]["timestamp"]["format"] == "date-time"
    assert set(payload["required"]) == {"id", "type", "timestamp", "data"}
    assert expired["required"] == ["expired"]


def test_vocabularies_are_listed_as_enums() -> None:
    """Job outcomes, a message's type and the LOA's CE compliance were strings with the
    values in prose (or nowhere): a generated client had no enum to match on."""
    for schema, prop, values in (
        ("JobDetail", "action", Action),
        ("JobDetail", "result", ItemResult),
        ("JobCounts", "operation", Operation),
    ):
        assert _enum_of(_schemas()[schema], prop) == {v.value for v in values}, prop
    assert [v.value for v in JobAction] == [v.value for v in Action]
    assert [v.value for v in JobResult] == [v.value for v in ItemResult]
    assert [v.value for v in JobOperation] == [v.value for v in Operation]
    assert _enum_of(_schemas()["LicenseLoa"], "ceCompliance") == set(CeCompliance)
    assert _enum_of(_schemas()["License"], "residencyStatus") == set(ResidencyStatus)
    assert "webhook.test" in _enum_of(_schemas()["WebhookMessage"], "eventType")
    assert _schemas()["JobStatus"]["properties"]["id"]["format"] == "uuid"
    assert _schemas()["JobAccepted"]["properties"]["job_id"]["format"] == "uuid"


def test_every_operation_is_named_and_described() -> None:
    """/healthz had FastAPI's made-up id (healthz_healthz_get) and a free-form answer, and
    45 operations no description: a generated client's docstrings said nothing of paging
    or of auto-subscribing."""
    for method, path, op in _operations():
        assert op["operationId"][0].islower() and "_" not in op["operationId"], (method, path)
        assert op.get("summary") and op.get("description"), (method, path)
    health = _spec()["paths"]["/healthz"]["get"]
    assert health["operationId"] == "getHealth"
    body = _resolve(health["responses"]["200"]["content"]["application/json"]["schema"])
    assert body["required"] == ["status"]


@pytest.mark.parametrize("path", ["/v2/licenses", "/v2/entities/{npn}/licenses"])
def test_continuation_lists_say_how_to_page(path: str) -> None:
    assert "continuationToken" in _spec()["paths"][path]["get"]["description"]


def test_numbered_pages_declare_the_links_every_page_has() -> None:
    """A v1 page always has ``links.first`` and ``links.last``: the spec had them optional
    and nullable, and a generated client made its caller test each for None."""
    pages = [
        (method, path, body)
        for method, path, op in _operations()
        for media in op["responses"].get("200", {}).get("content", {}).values()
        if "page" in (body := _resolve(media["schema"])).get("properties", {})
    ]
    assert len(pages) == 1 + 1 + sum(r.v2_list for r in RESOURCES)  # subscriptions, details
    for method, path, body in pages:
        links = _resolve(body["properties"]["links"])
        assert set(links["required"]) == {"self", "first", "last"}, (method, path)
        for name in ("first", "last"):
            assert _branches(links["properties"][name]) == [_schemas()["Href"]], (path, name)
        assert {"next", "prev"} <= set(links["properties"]), (method, path)
