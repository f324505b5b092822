"""The webhook operations, aimed at a real endpoint and message of the account, fuzzed by
schemathesis against the service on each backend (tests/support/openapi_fuzz.py; the
other groups of operations, each a file that xdist runs beside this one:
test_openapi_fuzz_*.py)."""

from __future__ import annotations

import pytest

from tests.support.openapi_fuzz import HANG_GUARD, api_conforms_to_its_spec
from tests.support.service import RunningService

pytestmark = [pytest.mark.slow(35), HANG_GUARD]


def test_webhook_operations_conform_to_the_spec(
    service: RunningService, universe_npns: list[str]
) -> None:
    api_conforms_to_its_spec(service, universe_npns, "webhooks")
