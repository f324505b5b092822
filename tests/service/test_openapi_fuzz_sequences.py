"""Sequences of calls along the published spec's links, fuzzed by schemathesis against the
service on each backend (tests/support/openapi_fuzz.py; each group of operations fuzzed
alone: the other test_openapi_fuzz_*.py)."""

from __future__ import annotations

import pytest

from tests.support.openapi_fuzz import HANG_GUARD, linked_call_sequences_conform_to_the_spec
from tests.support.service import RunningService

pytestmark = [pytest.mark.slow(60), HANG_GUARD]


def test_linked_call_sequences_conform_to_the_spec(
    service: RunningService, universe_npns: list[str]
) -> None:
    linked_call_sequences_conform_to_the_spec(service, universe_npns)
