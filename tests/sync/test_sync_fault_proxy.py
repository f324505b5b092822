"""The sync service reaching the service through a fault-injecting proxy on loopback
(``tests/support/fault_proxy.py``): per 100 API requests, 10 answered 5xx, 5 answered 429
with Retry-After, 2 connections reset and 1 answer slower than the client waits. The
activation and the daily update complete, and the mirror ends equal to the source.
Real processes, as in ``test_sync_process``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.fault_proxy import FaultMix, FaultProxy, fault_proxy
from tests.support.metrics import scrape
from tests.support.sync_harness import TODAY, Harness, first_npns, running_harness
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(80)

MIX = FaultMix(server_error=10, rate_limited=5, reset=2, slow=1, slow_seconds=3.0)
DOWN = FaultMix(server_error=100, rate_limited=0, reset=0, slow=0)  # an outage
CLEAN = FaultMix(server_error=0, rate_limited=0, reset=0, slow=0)
CLIENT_TIMEOUT = "1"  # seconds: the slow answers come after it
SEED = 8


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, FaultProxy]]:
    proxies: list[FaultProxy] = []

    @contextmanager
    def through_proxy(service_url: str) -> Iterator[str]:
        with fault_proxy(service_url, MIX, SEED) as proxy:
            proxies.append(proxy)
            yield proxy.url

    with running_harness(
        "sqlite",
        tmp_path_factory.mktemp("fault-proxy"),
        sync_env={"PRODUCERSYNC_API_TIMEOUT_SECONDS": CLIENT_TIMEOUT},
        upstream=through_proxy,
    ) as harness:
        yield harness, proxies[0]


def test_activation_and_daily_update_complete_through_the_faults(
    proxied: tuple[Harness, FaultProxy],
) -> None:
    harness, proxy = proxied
    npns = first_npns(harness, 20)
    harness.subscribe(npns)
    eventually(lambda: harness.status()["activeNpns"] == len(npns), what=harness.status)
    harness.wait_equal(timeout=120)
    day = TODAY - dt.timedelta(days=3)
    harness.nipr_run(day, churn=0.5)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(),
        timeout=120,
        what=harness.status,
    )
    harness.wait_equal()
    assert harness.status()["failedRunsTotal"] == 0
    assert " ERROR " not in _log(harness)  # faults retried past are no error
    # The premise: every kind of fault was dealt, each to a request of the sync's.
    assert set(proxy.dealt) == {"relayed", "server_error", "rate_limited", "reset", "slow"}


def test_npns_of_a_run_that_failed_are_fetched_by_the_next_collection(
    proxied: tuple[Harness, FaultProxy],
) -> None:
    harness, proxy = proxied
    first, second = first_npns(harness, len(harness.population()) + 2)[-2:]
    # A request given up after one retry, not eight (half a minute of backoff before the
    # run failed): what is tested is what comes after the failure. The restart catches
    # up the days since the one above first, without faults: a run failing then would
    # be counted as the activation's.
    proxy.use(CLEAN)
    harness.sync.stop()
    harness.sync.env["PRODUCERSYNC_API_MAX_RETRIES"] = "1"
    harness.sync.start()
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    eventually(lambda: harness.status()["lastSyncedRunDate"] == yesterday, what=harness.report)
    failed = harness.status()["failedRunsTotal"]
    proxy.use(DOWN)
    try:
        harness.subscribe([first])
        # Active in the mirror, its fetch given up on: its records are still owed.
        eventually(lambda: harness.status()["failedRunsTotal"] > failed, timeout=120)
    finally:
        proxy.use(CLEAN)
    harness.subscribe([second])
    harness.wait_equal()
    kind = frozenset({("kind", "activation")})
    # The mirror is equal once the last page is written, a moment before its run ends and
    # is counted: the failed run and the one after it.
    eventually(
        lambda: (
            scrape(harness.sync.url)[("producersync_sync_run_duration_seconds_count", kind)] >= 2
        )
    )
    # The failed run is logged once, with what follows it and the API's error as it was
    # raised, read back from DBOS as its own class; DBOS's traceback of each of its
    # workflows (the run's and one a stream) is not: the API failing is no bug.
    lines = _log(harness).splitlines()
    failed_lines = [line for line in lines if " ERROR " in line]
    assert len(failed_lines) == harness.status()["failedRunsTotal"] - failed, failed_lines
    assert re.search(
        r"Z ERROR producersync\.sync\.workflows: sync run \d+ \(activation\) failed after "
        r"[\d.]+ s: ServerError: 50\d .+: fault; its NPNs stay owed, fetched by the "
        r"collector's next pass, PRODUCERSYNC_SYNC_RETRY_SECONDS later at most$",
        failed_lines[-1],
    ), failed_lines
    assert not any(line.startswith("Traceback") for line in lines)
    assert scrape(harness.sync.url)[("producersync_sync_workflows_failed_total", kind)] >= 1


def _log(harness: Harness) -> str:
    return harness.sync.log.read_text()
