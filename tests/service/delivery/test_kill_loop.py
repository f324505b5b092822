"""Twenty SIGKILLs of the service during one fan-out, each at a random point (as soon as
it is up, in DBOS recovery, or after a random number of deliveries), each restart in the
killed process's slot: no delivery lost, every delivery row succeeded.

On PostgreSQL, the store of the scaled-out deployment: twenty-one process starts are most
of the test's time, and the single kill of ``test_delivery_sigkill`` covers both stores."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.delivery import fan_out_through_sigkills

KILLS = 20
SEED = 20


@pytest.mark.slow(90)
@pytest.mark.postgres
@pytest.mark.timeout(900)  # twenty restarts: minutes on a loaded 2-core machine
def test_twenty_sigkills_during_a_fan_out_lose_no_delivery(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    kill_after = [rng.choice([0, rng.randint(1, 120)]) for _ in range(KILLS)]
    arrived = fan_out_through_sigkills("postgres", tmp_path, events=3000, kill_after=kill_after)
    print(f"{KILLS} SIGKILLs: 3001 messages, {arrived} deliveries, none lost")
