"""Scaled out on this machine's PostgreSQL and Redis, as docs/operations.md describes: two
API processes (no delivery) and two delivery workers over one store, one Redis rate
limiter and one DBOS system database; and two sync processes over one mirror.

- the rate limit is the account's, not each process's: 300 per minute in all;
- an activation storm is delivered to the endpoint once per event (by webhook-id), every
  delivery recorded succeeded once, while a worker is SIGKILLed halfway.

Two sync processes over one mirror: test_scale_out_sync.py.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from producersync.service.delivery import management
from producersync.service.nipr.loader import load
from producersync.service.nipr.universe import generate
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, webhook_attempts
from tests.support import plain_http
from tests.support.databases import REDIS_URL, migrated_store, redis_available
from tests.support.delivery import delivery_states
from tests.support.metrics import scrape
from tests.support.processes import FAST, ServiceProcess, service_process
from tests.support.receiver import Received, receiver
from tests.support.service import Credentials, wait_for_job
from tests.support.together import entered_together
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow(180)]

# 25 batches: the kill at halfway finds most of them sent and many still to send, and
# what its claims held waits out the lease. At 20,000 the load and the storm took 2 min
# of the suite; bench.activation_storm measures a storm of 100,000.
STORM = 5_000
# Seconds before a dead worker's claimed deliveries are taken by the other, and each
# attempt's timeout: long enough that a live worker on a loaded machine never times out a
# receiver that did answer (it would send twice, and the test bounds what only the kill
# may send twice). The lease is the least the policy allows (3 attempt timeouts), and the
# test waits it out after the kill: a live worker that outlives it hands back what it has
# not sent (``Sender._outlasts_claim``), it sends nothing twice.
LEASE, ATTEMPT_TIMEOUT = 15, 5
BATCH, CONCURRENCY = 200, 100


@dataclass
class Cluster:
    url: str
    engine: sa.Engine
    apis: list[ServiceProcess]
    workers: list[ServiceProcess]
    settings: ServiceSettings

    def credentials(self) -> Credentials:
        with write_transaction(self.engine) as conn:
            account = accounts.create_account(conn, f"acct-{time.time_ns()}", sandbox=False)
            client_id, secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
        return Credentials(account.name, account.id, client_id, secret)

    def token(self, creds: Credentials) -> str:
        response = plain_http.post(
            f"{self.apis[0].base_url}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis_available()
    directory = tmp_path_factory.mktemp("scale-out")
    env = {
        **FAST,
        "PRODUCERSYNC_RATE_LIMIT_STORAGE": REDIS_URL,
        "PRODUCERSYNC_WEBHOOK_CLAIM_LEASE_SECONDS": str(LEASE),
        "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": str(ATTEMPT_TIMEOUT),
        "PRODUCERSYNC_WEBHOOK_BATCH_SIZE": str(BATCH),
        "PRODUCERSYNC_WEBHOOK_CONCURRENCY": str(CONCURRENCY),
    }
    with ExitStack() as stack:
        url = stack.enter_context(migrated_store("postgres", directory))
        engine = open_store(url)
        stack.callback(engine.dispose)
        load(engine, generate(STORM, seed=11))
        apis = [service_process(url, directory, "--no-delivery", env=env) for _ in range(2)]
        workers = [
            service_process(
                url, directory, "--executor-id", f"worker-{n}", env=env, command="worker"
            )
            for n in range(2)
        ]
        started = entered_together(stack, [*apis, *workers])  # as a supervisor starts them
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        yield Cluster(url, engine, started[:2], started[2:], settings)


def test_two_api_processes_share_one_rate_limit(cluster: Cluster) -> None:
    creds = cluster.credentials()
    headers = {"authorization": f"Bearer {cluster.token(creds)}"}
    targets = itertools.cycle(api.base_url for api in cluster.apis)
    urls = [f"{next(targets)}/v2/entities?size=1" for _ in range(700)]
    with plain_http.client(headers=headers, timeout=30) as http, ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda url: http.get(url).status_code, urls))
    # 300 per minute in all (not 300 per process): the window is shared through Redis.
    assert (codes.count(200), codes.count(429)) == (300, 400)


@pytest.mark.timeout(900)
def test_an_activation_storm_survives_a_killed_worker(cluster: Cluster) -> None:
    creds = cluster.credentials()
    with cluster.engine.connect() as conn:
        npns = list(conn.execute(sa.select(entities.c.npn).order_by(entities.c.npn)).scalars())
    assert len(npns) >= STORM
    with receiver() as rx:
        with write_transaction(cluster.engine) as conn:
            endpoint, _ = management.create_endpoint(
                conn, cluster.settings, creds.account_id, rx.url
            )
        headers = {"authorization": f"Bearer {cluster.token(creds)}"}
        with plain_http.client(
            base_url=cluster.apis[1].base_url, headers=headers, timeout=60
        ) as api:
            accepted = api.put("/v1/accounts/subscriptions", json=npns[:STORM])
            assert accepted.status_code == 202, accepted.text
            assert wait_for_job(api, accepted.json()["job_id"], timeout=120)["status"] == (
                "COMPLETED"
            )
        expected = STORM + 1  # and the endpoint's test event

        def unique(got: list[Received]) -> int:
            return len({r.headers["webhook-id"] for r in got})

        rx.wait_for(lambda got: unique(got) >= expected // 2, timeout=300)
        cluster.workers[0].process.send_signal(signal.SIGKILL)
        cluster.workers[0].process.wait(timeout=10)
        rx.wait_for(lambda got: unique(got) == expected, timeout=300)
        eventually(
            lambda: delivery_states(cluster.engine, endpoint.id) == {"succeeded": expected}, 60
        )
        duplicates = len(rx.received) - unique(rx.received)
        print(f"storm: {expected} events, {duplicates} received twice")
    # A success is recorded once for each time it was sent, never more: a batch settled
    # again logs nothing twice. (One sent twice, by a worker that settled past its lease
    # and by the one that claimed it after, is two real attempts, and logged as two.)
    a = webhook_attempts
    with cluster.engine.connect() as conn:
        recorded = conn.execute(
            sa.select(a.c.message_id, sa.func.count())
            .where(a.c.endpoint_id == endpoint.id, a.c.succeeded.is_(True))
            .group_by(a.c.message_id)
        ).all()
    sent = Counter(r.headers["webhook-id"] for r in rx.received)
    assert [(message, times) for message, times in recorded if times > sent[message]] == []
    # Only what the killed worker had in flight can arrive twice (it was sent, not recorded).
    assert duplicates <= BATCH * (-(-CONCURRENCY // BATCH) + 1)
    survivor = scrape(cluster.workers[1].base_url)
    assert (
        survivor[("producersync_webhook_attempts_total", frozenset({("outcome", "succeeded")}))] > 0
    )
    assert survivor[("producersync_webhook_deliveries_pending", frozenset())] == 0
