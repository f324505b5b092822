"""The sync service end to end, as the tests run it: a service process over a small
universe, publishing signed events to a real `producersync sync run` process on loopback,
and readers of both (the API with a credential of its own, the mirror)."""

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
from dbos import DBOSClient

from producersync.client import Client
from producersync.client.resources.records import SPECS
from producersync.model.events import Event
from producersync.service.delivery import management
from producersync.service.nipr.daily import run_day
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store import endpoints as store_endpoints
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from producersync.sync import mirror
from producersync.sync.mirror.queries import stored_records
from producersync.sync.settings import SyncSettings
from producersync.sync.verify import compare
from producersync.webhooks import headers
from tests.support import forked, plain_http
from tests.support.databases import migrated_mirror, universe_store
from tests.support.forked import Started
from tests.support.processes import FAST, service_process
from tests.support.service import free_port, removed
from tests.support.waiting import eventually

_ATTRIBUTE = {spec.key: name for name, spec in SPECS.items()}
TODAY = dt.datetime.now(dt.UTC).date()
RATE = 1200  # requests per minute, for both processes: the test's time is mostly pacing
# The test's waits for a subscription job, which the service takes as it is queued: the
# SDK's default second between two looks at the job was most of each wait.
JOB_POLL = 0.1
SERVICE_ENV = {**FAST, "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": str(RATE)}


def offline_env(mirror_url: str, secret: str, name: str) -> dict[str, str]:
    """The environment of a `sync run` whose API is never called (a new mirror,
    ``migrated_mirror``'s, has nothing to catch up): it receives deliveries signed with
    ``secret``."""
    return {
        "PRODUCERSYNC_API_URL": f"http://127.0.0.1:{free_port()}",
        "PRODUCERSYNC_CLIENT_ID": f"psc_{name}",
        "PRODUCERSYNC_CLIENT_SECRET": f"pss_{name}",
        "PRODUCERSYNC_WEBHOOK_SECRETS": secret,
        "PRODUCERSYNC_MIRROR_URL": mirror_url,
    }


@dataclass
class SyncProcess:
    """`producersync sync run`, restartable on the same port (so the same DBOS
    executor id: a restart recovers the killed process's workflows)."""

    port: int
    env: dict[str, str]
    log_dir: Path
    process: Started | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.log_dir / f"sync-{self.port}.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            # A stop that hangs: SIGABRT writes every thread's stack to the log.
            self.process = forked.start(
                ["sync", "run", "--port", str(self.port)],
                {**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                faults=True,
            )
        eventually(self._healthy, timeout=60)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(self.log.read_text())
        try:
            return plain_http.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it with ``sig``. Its stop has 10 s for requests in flight, 5 s for DBOS's
        workflows and the hooks' drain, more on a loaded machine: 60 s, then its threads'
        stacks (a stop once outlasted 30 s under CI, its cause unseen)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGABRT)
                self.process.wait(timeout=10)
                stacks = self.log.read_text(errors="replace")[-20_000:]
                raise AssertionError(f"sync run ignored {sig.name} for 60 s:\n{stacks}") from None
        self.process = None


@dataclass
class Harness:
    store_url: str
    mirror_url: str
    service_url: str
    sync: SyncProcess
    client: Client
    engine: sa.Engine  # the service's store: the NPNs to subscribe
    mirror: sa.Engine
    secret: str
    endpoint_id: str

    def nipr_run(self, day: dt.date, churn: float = 0.3) -> None:
        """``producersync nipr run --date day``, in this process (no interpreter to start):
        the service's dispatcher delivers what it publishes."""
        run_day(self.engine, day, churn_rate=churn)

    def nipr_run_until_syncing(self, day: dt.date, churn: float = 0.3) -> None:
        """``nipr_run``, returning once the sync it sets off is running (a new run)."""
        before = self.status()["lastRun"]
        self.nipr_run(day, churn)

        def running() -> bool:
            last = self.status()["lastRun"]
            return last != before and last["status"] == "running"

        eventually(running, what=self.status)

    def subscribe(self, npns: list[str]) -> None:
        """``npns`` added to the population, the job waited for."""
        subscriptions = self.client.subscriptions
        subscriptions.wait(subscriptions.add(npns), poll_interval=JOB_POLL)

    def unsubscribe(self, npns: list[str]) -> None:
        """``npns`` removed from the population, the job waited for."""
        removed(self.client.subscriptions, npns, poll_interval=JOB_POLL)

    def endpoint_enabled(self, enabled: bool) -> None:
        with write_transaction(self.engine) as conn:
            if enabled:
                store_endpoints.enable_endpoint(conn, None, self.endpoint_id)
            else:
                store_endpoints.disable_endpoint(conn, None, self.endpoint_id, "sync is down")

    def event_types(self, types: list[str] | None) -> None:
        """The endpoint's filter: ``types`` only, or every type (None)."""
        changes = store_endpoints.EndpointChanges(event_types=types, all_event_types=not types)
        with write_transaction(self.engine) as conn:
            store_endpoints.update_endpoint(conn, None, self.endpoint_id, changes)

    def population(self) -> list[str]:
        return sorted(s.npn for s in self.client.subscriptions.list())

    def served(self, resource: str, npns: list[str]) -> dict[int, dict[str, Any]]:
        records = getattr(self.client, _ATTRIBUTE[resource]).list(npns=npns, include_deleted=True)
        return {r.id: r.model_dump(mode="json", by_alias=True) for r in records}

    def mirrored(self, resource: str) -> dict[int, dict[str, Any]]:
        with self.mirror.connect() as conn:
            return stored_records(conn, resource)

    def differences(self) -> list[str]:
        """Every record the API serves for the population, against the mirror, field by
        field (``producersync sync verify``, with the sync process's purge setting); empty
        when they are equal."""
        purged = self.sync.env.get("PRODUCERSYNC_PURGE_DEACTIVATED") == "true"
        with self.mirror.connect() as conn:
            found = compare(self.client, conn, purged=purged)
        return found.population_differences + [
            f"{r.resource} {d}" for r in found.resources for d in r.differences
        ]

    def status(self) -> dict[str, Any]:
        with self.mirror.connect() as conn:
            return mirror.sync_status(conn)

    def workflow_status(self, workflow_id: str) -> str | None:
        """DBOS's status of the sync process's workflow ``workflow_id`` (None: unknown)."""
        settings = SyncSettings(mirror_url=self.mirror_url)
        client = DBOSClient(system_database_url=settings.system_database_url())
        try:
            found = client.list_workflows(
                workflow_ids=[workflow_id], load_input=False, load_output=False
            )
        finally:
            client.destroy()
        return found[0].status if found else None

    def report(self) -> str:
        """What a failed wait shows: the sync status and the end of the sync log."""
        return f"{self.status()}\n--- sync log, last lines:\n{self.sync.log.read_text()[-6000:]}"

    def deliver(self, event: Event, secret: str | None = None) -> httpx2.Response:
        """``event`` posted to the sync process as the service would, signed with the
        endpoint's secret (or ``secret``)."""
        body = event.to_json()
        sent = headers(event.id, int(time.time()), body, secret or self.secret)
        return plain_http.post(f"{self.sync.url}/webhooks/psapi", content=body, headers=sent)

    def wait_equal(self, timeout: float = 60) -> None:
        eventually(
            lambda: not self.differences(), timeout=timeout, what=self.differences, every=1.0
        )


@contextmanager
def running_harness(
    backend: str,
    directory: Path,
    service_env: dict[str, str] = SERVICE_ENV,
    *,
    sync_env: dict[str, str] | None = None,
    upstream: Callable[[str], AbstractContextManager[str]] = nullcontext,
) -> Iterator[Harness]:
    """A service process (``service_env``) over a 60-producer universe, an account whose
    endpoint is a running sync process (``sync_env`` added to its environment; it reaches
    the API at the URL ``upstream`` makes of the service's, e.g. through a proxy), and a
    reader of the API of its own."""
    with ExitStack() as stack:
        url = stack.enter_context(universe_store(backend, directory, 60, 5))
        mirror_url = stack.enter_context(migrated_mirror(backend, directory))
        engine = open_store(url)
        stack.callback(engine.dispose)
        service = stack.enter_context(service_process(url, directory, env=service_env))
        api_url = stack.enter_context(upstream(service.base_url))
        sync_port = free_port()
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "carrier", sandbox=False)
            client_id, client_secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
            settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
            # The test reads the API with a credential of its own: the rate limit is per
            # credential, and the sync process's is not ours to spend.
            reader = accounts.create_client(conn, account, "producersync.read producersync.write")
            endpoint, secret = management.create_endpoint(
                conn, settings, account.id, f"http://127.0.0.1:{sync_port}/webhooks/psapi"
            )
        env = {
            "PRODUCERSYNC_API_URL": api_url,
            "PRODUCERSYNC_CLIENT_ID": client_id,
            "PRODUCERSYNC_CLIENT_SECRET": client_secret,
            "PRODUCERSYNC_WEBHOOK_SECRETS": secret,
            "PRODUCERSYNC_MIRROR_URL": mirror_url,
            "PRODUCERSYNC_COALESCE_SECONDS": "0.5",
            "PRODUCERSYNC_POPULATION_SETTLE_SECONDS": "1",
            "PRODUCERSYNC_COLLECT_MAX": "7",  # the collector passes until none is left
            "PRODUCERSYNC_PAGE_SIZE": "10",
            "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": str(RATE),
            **(sync_env or {}),
        }
        sync = SyncProcess(sync_port, env, directory)
        sync.start()
        stack.callback(sync.stop)
        client = stack.enter_context(
            Client(*reader, base_url=service.base_url, rate_limit=RATE, max_retries=8)
        )
        mirror_engine = mirror.open_mirror(mirror_url)
        stack.callback(mirror_engine.dispose)
        yield Harness(
            url,
            mirror_url,
            service.base_url,
            sync,
            client,
            engine,
            mirror_engine,
            secret,
            endpoint.id,
        )


def first_npns(harness: Harness, count: int) -> list[str]:
    with harness.engine.connect() as conn:
        return list(
            conn.execute(sa.select(entities.c.npn).order_by(entities.c.npn).limit(count)).scalars()
        )


def subscribed_and_synced(harness: Harness, count: int, timeout: float) -> list[str]:
    """The first ``count`` NPNs subscribed, once the mirror holds them all, every receipt
    is processed and the last sync run succeeded."""
    npns = first_npns(harness, count)
    harness.subscribe(npns)

    def settled() -> bool:
        status = harness.status()
        last = status["lastRun"]
        return bool(
            status["activeNpns"] == len(npns)
            and status["receipts"]["unprocessed"] == 0
            and last is not None
            and last["status"] == "succeeded"
        )

    eventually(settled, timeout=timeout, what=harness.report)
    return npns
