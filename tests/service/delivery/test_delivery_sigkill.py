"""A SIGKILL of the service mid fan-out, on each store: nothing lost (twenty of them on
PostgreSQL: test_kill_loop.py). A file of its own, beside test_delivery_process.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.support.delivery import fan_out_through_sigkills

pytestmark = pytest.mark.slow(45)


@pytest.mark.parametrize("kind", BACKENDS)
def test_sigkill_mid_fan_out_loses_nothing(kind: str, tmp_path: Path) -> None:
    fan_out_through_sigkills(kind, tmp_path, events=1500, kill_after=[300])
