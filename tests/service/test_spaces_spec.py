"""Space around a value, both ways against the published spec: around a valid value of
every query parameter and body field whose pattern allows space, each character that is
space to one regex dialect or another (ECMA-262's ``\\s``, Python's, both or neither)
is admitted by the spec, read by a JSON Schema validator as a client reads it, exactly
when the running service takes it; refused, it is the standard 400 naming the parameter
or field and the value. ``\\s`` in the spec was ECMA's to a client and Python's to the
service: '\\x1cwebhook.test' was refused by the one and taken by the other, '\\ufeff...'
the reverse."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx2
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producersync.model.spaces import SPACE, trim
from tests.support.service import Credentials, RunningService
from tests.support.spec import published_spec

pytestmark = pytest.mark.slow(60)

_SPEC = published_spec()

# Space to both dialects (ASCII), to Python alone (U+001C-U+001F, U+0085), to ECMA-262
# alone (U+FEFF), to both but not ASCII (U+00A0, U+2028, U+3000), and to neither (U+200B).
_CHARACTERS = [" ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x1f", "\x85", "\xa0"]
_CHARACTERS += ["\u2028", "\u3000", "\ufeff", "\u200b"]
_TRIMMED = " \t\n\v\f\r"


def _recent() -> str:
    # Recover's since lies within its 14 days.
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


# A valid value of each parameter or field whose pattern allows space around it.
_VALID = {
    "npns": "15645555",
    "states": "MO",
    "loaCodes": "12",
    "loaCategories": "life",
    "coCodes": "24740",
    "updatedSince": "2025-06-13",
    "eventType": "webhook.test",
    "since": "2026-06-01T00:00Z",
    "until": "2026-06-02",
    "url": "https://127.0.0.1/hook",
    "eventTypes": "producersync",
}


def _pattern(schema: dict[str, Any]) -> str | None:
    """The pattern of a string's schema, or of an array's items (a nullable field's too)."""
    for choice in schema.get("anyOf", [schema]):
        pattern = choice.get("pattern") or choice.get("items", {}).get("pattern")
        if pattern is not None:
            return str(pattern)
    return None


def _spaced(schema: dict[str, Any]) -> bool:
    """Whether the pattern allows space around a value (free text aside): a valid value
    with a space before it is admitted, and with another character before it is not."""
    pattern = _pattern(schema)
    return pattern is not None and any(
        re.fullmatch(pattern, " " + value) and not re.fullmatch(pattern, "~" + value)
        for value in _VALID.values()
    )


def _sites() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, name, schema) of each query parameter and body field with space
    around its value, once per parameter and schema: the operation of fewest path
    parameters, as the same model reads the others."""
    sites: dict[tuple[str, str], tuple[str, str, str, dict[str, Any]]] = {}
    operations = sorted(
        ((path, method, op) for path, ops in _SPEC["paths"].items() for method, op in ops.items()),
        key=lambda item: (item[0].count("{"), item[0], item[1]),
    )
    for path, method, op in operations:
        for parameter in op.get("parameters", []):
            if parameter["in"] == "query" and _spaced(parameter["schema"]):
                key = (parameter["name"], json.dumps(parameter["schema"], sort_keys=True))
                sites.setdefault(key, (method, path, parameter["name"], parameter["schema"]))
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = body.get("schema", {}).get("$ref", "")
        model = _SPEC["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        for name, schema in model.get("properties", {}).items():
            if _spaced(schema):
                sites.setdefault((ref, name), (method, path, name, schema))
    return list(sites.values())


_SITES = _sites()


def test_every_parameter_and_field_with_space_around_it_is_covered() -> None:
    endpoints = "/v1/webhooks/endpoints"
    assert sorted((method, path, name) for method, path, name, _ in _SITES) == [
        ("get", "/v1/addresses", "npns"),
        ("get", "/v1/addresses", "states"),
        ("get", "/v1/addresses", "updatedSince"),
        ("get", "/v1/appointments", "coCodes"),
        ("get", "/v1/appointments", "loaCategories"),
        ("get", "/v1/appointments", "loaCodes"),
        ("get", "/v1/webhooks/messages", "eventType"),
        ("get", "/v1/webhooks/messages", "since"),
        ("get", "/v1/webhooks/messages", "until"),
        ("patch", f"{endpoints}/{{endpointId}}", "eventTypes"),
        ("patch", f"{endpoints}/{{endpointId}}", "url"),
        ("post", endpoints, "eventTypes"),
        ("post", endpoints, "url"),
        ("post", f"{endpoints}/{{endpointId}}/recover", "since"),
    ]


def test_the_validator_reads_a_pattern_as_ecma_262_does() -> None:
    """The premise: jsonschema_rs reads ``\\s`` as ECMA-262 defines it, as a JavaScript
    client would, not as Python does."""
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": r"^\s$"})
    assert [validator.is_valid(c) for c in ("\ufeff", "\xa0", "\x1c", "\x85")] == [
        True,
        True,
        False,
        False,
    ]


def _admitted(schema: dict[str, Any], value: str) -> bool:
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    # An array, in a query sent comma-separated (form, not exploded); in a body, a list.
    array = any(choice.get("type") == "array" for choice in schema.get("anyOf", [schema]))
    return validator.is_valid([value] if array else value)


@pytest.fixture(scope="module")
def account(service: RunningService) -> Credentials:
    return service.account(sandbox=True)


@pytest.fixture(scope="module")
def endpoint_id(service: RunningService, account: Credentials) -> str:
    with service.client(account) as http:
        created = http.post("/v1/webhooks/endpoints", json={"url": _VALID["url"]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _send(
    http: httpx2.Client, site: tuple[str, str, str, dict[str, Any]], value: str, endpoint: str
) -> httpx2.Response:
    method, path, name, schema = site
    path = path.replace("{endpointId}", endpoint)
    if method == "get":
        return http.get(path, params={name: value})
    array = any(choice.get("type") == "array" for choice in schema.get("anyOf", [schema]))
    body: dict[str, Any] = {name: [value] if array else value}
    if name != "url" and method == "post" and path == "/v1/webhooks/endpoints":
        body["url"] = _VALID["url"]
    return http.request(method.upper(), path, json=body)


def _names_it(response: httpx2.Response, name: str, character: str) -> bool:
    message = str(response.json().get("message", ""))
    # A value in a list is shown as JSON, a control character escaped.
    shown = (character, json.dumps(character)[1:-1])
    return f"'{name}'" in message and any(c in message for c in shown)


@pytest.mark.parametrize("site", _SITES, ids=lambda site: f"{site[0]} {site[1]} {site[2]}")
def test_space_around_a_value_is_taken_exactly_when_the_spec_admits_it(
    service: RunningService,
    account: Credentials,
    endpoint_id: str,
    site: tuple[str, str, str, dict[str, Any]],
) -> None:
    name, schema = site[2], site[3]
    valid = _recent() if site[1].endswith("/recover") else _VALID[name]
    disagreements = []
    with service.client(account) as http:
        for character in _CHARACTERS:
            for value in (character + valid, valid + character):
                admitted = _admitted(schema, value)
                response = _send(http, site, value, endpoint_id)
                taken = response.status_code < 300
                refused = response.status_code == 400 and _names_it(response, name, character)
                if taken != admitted or not (taken or refused):
                    disagreements.append((value, admitted, response.status_code, response.text))
    assert disagreements == []


@pytest.mark.parametrize("character", _CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_whole_number_is_read_within_the_same_spaces(
    service: RunningService, account: Credentials, character: str
) -> None:
    """Spring's blanks around a number, as around every value: pydantic's int took any
    Unicode space (size=\\xa05 was size=5)."""
    with service.client(account) as http:
        response = http.get("/v2/entities", params={"size": f"{character}5{character}"})
    if character in _TRIMMED:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text
        assert _names_it(response, "size", character), response.text


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.text(alphabet=st.sampled_from([*_CHARACTERS, "a", "b"])))
def test_trim_strips_what_the_class_matches_around_a_value(text: str) -> None:
    match = re.fullmatch(rf"{SPACE}*(.*?){SPACE}*", text, re.DOTALL)
    assert match is not None
    assert trim(text) == match.group(1)
