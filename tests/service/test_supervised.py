"""A supervised background task that completes a round and dies right after, restart
after restart: ``/healthz`` holds it failing once it crash-loops, where it answered 200
after every round (503 only for each pause), until a run of it lasts the settle time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from producersync.service.supervised import Liveness, unhealthy

pytestmark = pytest.mark.slow(8)

_SETTLE_SECONDS = 2.0


def _health(liveness: Liveness) -> tuple[int, dict[str, object]]:
    response = unhealthy(liveness)
    if response is None:
        return 200, {"status": "ok"}
    return response.status_code, json.loads(bytes(response.body))


def test_a_task_dying_after_each_round_stays_failing_until_a_run_of_it_lasts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    liveness = Liveness(registry, settle_seconds=_SETTLE_SECONDS)
    seen: list[tuple[int, dict[str, object]]] = []  # /healthz's answer after each round
    stop = asyncio.Event()

    async def run(stop: asyncio.Event, ran: Callable[[], None]) -> None:
        ran()
        seen.append(_health(liveness))
        if len(seen) < 5:
            raise TypeError("a value in the store it cannot read")
        # The fault is gone: this run goes on, and a round past the settle time clears it.
        await asyncio.sleep(_SETTLE_SECONDS + 0.1)
        ran()
        seen.append(_health(liveness))
        stop.set()

    async def main() -> None:
        supervised = liveness.supervise("dies", run, stop)
        supervised.start()
        await supervised.finished()

    asyncio.run(main())

    statuses = [status for status, _ in seen]
    # The third death within the window makes it crash-loop: the rounds of the two runs
    # after it no longer tell it alive.
    assert statuses == [200, 200, 200, 503, 503, 200], seen
    failing = seen[4][1]["failing"]
    assert isinstance(failing, list)
    assert [(f["component"], f["error"], f["restarts"]) for f in failing] == [
        ("dies", "TypeError", 2)
    ]
    assert registry.get_sample_value("producersync_background_task_up", {"task": "dies"}) == 1
    held = [r.getMessage() for r in caplog.records if "completed a round, but" in r.getMessage()]
    assert held == [
        "dies completed a round, but died 3 times within 600 s: /healthz answers 503 until "
        "a run of it has lasted 2 s"
    ]
