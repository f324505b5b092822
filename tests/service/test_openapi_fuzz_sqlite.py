"""The published OpenAPI spec fuzzed by schemathesis against the service on SQLite
(tests/support/openapi_fuzz.py); the other backend's file runs beside it under xdist."""

from __future__ import annotations

import pytest

from tests.support.openapi_fuzz import (
    api_conforms_to_its_spec,
    linked_call_sequences_conform_to_the_spec,
)
from tests.support.service import RunningService

pytestmark = [
    pytest.mark.slow(150),
    pytest.mark.parametrize("universe_url", ["sqlite"], indirect=True),
]


def test_api_conforms_to_its_spec(service: RunningService, universe_npns: list[str]) -> None:
    api_conforms_to_its_spec(service, universe_npns)


def test_linked_call_sequences_conform_to_the_spec(
    service: RunningService, universe_npns: list[str]
) -> None:
    linked_call_sequences_conform_to_the_spec(service, universe_npns)
