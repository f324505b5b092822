"""Two sync processes over one mirror on this machine's PostgreSQL, as docs/operations.md
describes scaling out (the service's processes: test_scale_out.py): each receiving every
event, they never sync at the same time, and a Python hook gets every change, once, in
order, though the process calling it is killed."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.service.delivery import management
from producersync.service.nipr.daily import run_day
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from producersync.sync import mirror
from producersync.sync.mirror.tables import hook_cursors, sync_runs
from tests.support import plain_http
from tests.support.databases import migrated_mirror, universe_store
from tests.support.processes import service_process
from tests.support.recording_hook import batches, hook_environment
from tests.support.service import free_port, wait_for_job
from tests.support.sync_harness import RATE, SERVICE_ENV, SyncProcess
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow(70)]


@dataclass
class TwoSyncs:
    """Two `sync run` processes over one PostgreSQL mirror, each its own endpoint of one
    account, its population subscribed (the activation synced by them)."""

    syncs: list[SyncProcess]
    store: sa.Engine
    mirror: sa.Engine
    api: httpx2.Client
    npns: list[str]

    def subscribe(self) -> None:
        accepted = self.api.put("/v1/accounts/subscriptions", json=self.npns)
        wait_for_job(self.api, accepted.json()["job_id"])

    def run_days(self, days: list[dt.date]) -> None:
        """The service's runs of ``days``, each announced; back once the mirror has the last."""
        for day in days:
            run_day(self.store, day, churn_rate=0.5)

        def synced() -> bool:
            with self.mirror.connect() as conn:
                return mirror.last_synced_run_date(conn) == days[-1]

        eventually(synced, timeout=120)


@contextmanager
def two_syncs(tmp_path: Path, sync_env: dict[str, str] | None = None) -> Iterator[TwoSyncs]:
    with ExitStack() as stack:
        url = stack.enter_context(universe_store("postgres", tmp_path, 60, 5))
        # A migrated mirror, as the harness's: racing migrations are test_migrate_once's.
        mirror_url = stack.enter_context(migrated_mirror("postgres", tmp_path))
        engine = open_store(url)
        stack.callback(engine.dispose)
        service = stack.enter_context(service_process(url, tmp_path, env=SERVICE_ENV))
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        ports = [free_port(), free_port()]
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "carrier", sandbox=False)
            client_id, client_secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
            # Both processes receive every event: each its own endpoint of the account.
            secrets = [
                management.create_endpoint(
                    conn, settings, account.id, f"http://127.0.0.1:{port}/webhooks/psapi"
                )[1]
                for port in ports
            ]
            npns = list(conn.execute(sa.select(entities.c.npn).limit(20)).scalars())
        env = {
            "PRODUCERSYNC_API_URL": service.base_url,
            "PRODUCERSYNC_CLIENT_ID": client_id,
            "PRODUCERSYNC_CLIENT_SECRET": client_secret,
            "PRODUCERSYNC_WEBHOOK_SECRETS": ",".join(secrets),
            "PRODUCERSYNC_MIRROR_URL": mirror_url,
            "PRODUCERSYNC_COALESCE_SECONDS": "0.5",
            "PRODUCERSYNC_POPULATION_SETTLE_SECONDS": "1",
            "PRODUCERSYNC_PAGE_SIZE": "5",  # many pages: syncs that last
            # The harness's pace, not the default 300 a minute: the syncs' time was pacing.
            "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": str(RATE),
            **(sync_env or {}),
        }
        syncs = [SyncProcess(port, env, tmp_path) for port in ports]
        for sync in syncs:
            stack.callback(sync.stop)
        with ThreadPoolExecutor(len(syncs)) as pool:  # started at once, as replicas are
            list(pool.map(SyncProcess.start, syncs))
        api = stack.enter_context(plain_http.client(base_url=service.base_url, timeout=30))
        token = api.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        ).json()["access_token"]
        api.headers["authorization"] = f"Bearer {token}"
        mirror_engine = mirror.open_mirror(mirror_url)
        stack.callback(mirror_engine.dispose)
        yield TwoSyncs(syncs, engine, mirror_engine, api, npns)


def _days_before(today: dt.date, *back: int) -> list[dt.date]:
    return [today - dt.timedelta(days=n) for n in back]


def test_two_sync_processes_never_sync_at_once(tmp_path: Path) -> None:
    days = _days_before(dt.datetime.now(dt.UTC).date(), 4, 3, 2, 1)
    with two_syncs(tmp_path) as two:
        two.subscribe()
        two.run_days(days)

        def runs() -> list[sa.Row[Any]]:
            with two.mirror.connect() as conn:
                return list(
                    conn.execute(
                        sa.select(sync_runs.c.kind, sync_runs.c.started_at, sync_runs.c.finished_at)
                        .where(sync_runs.c.kind.in_(["updates", "catch-up"]))
                        .order_by(sync_runs.c.started_at)
                    )
                )

        def updates() -> int:
            return sum(r.kind == "updates" for r in runs())

        # The mirror has the last day once its event's sync ran, which on a loaded machine
        # may come before an earlier day's (the events are queued, not run, in order).
        eventually(lambda: updates() >= len(days), timeout=120)
        finished = runs()
    # One sync per event, though both processes got each.
    assert sum(r.kind == "updates" for r in finished) == len(days)
    for earlier, later in itertools.pairwise(finished):
        assert earlier.finished_at is not None
        assert earlier.finished_at <= later.started_at, (earlier, later)


def test_a_hook_gets_every_change_once_in_order_when_the_process_calling_it_is_killed(
    tmp_path: Path,
) -> None:
    """The process calling the hook is killed mid-call, its lease held: the other takes it
    over once the lease has run out, with the batch it died in and every one after it."""
    env, log = hook_environment(tmp_path)
    hold = tmp_path / "hold"
    hold.touch()  # ``record``'s first call holds on: it is under way when its process dies
    beat = {"PRODUCERSYNC_RUN_HEARTBEAT_SECONDS": "0.5"}  # a lease of 3 s
    with two_syncs(tmp_path, {**env, **beat}) as two:
        two.subscribe()

        def holder() -> str | None:
            with two.mirror.connect() as conn:
                return conn.execute(
                    sa.select(hook_cursors.c.holder).where(hook_cursors.c.name == "record")
                ).scalar_one_or_none()

        eventually(lambda: holder() is not None)
        pid = int(str(holder()).split(":")[1])
        [calling] = [s for s in two.syncs if s.process is not None and s.process.pid == pid]
        calling.stop(signal.SIGKILL)
        hold.unlink()

        def feed() -> list[int]:
            with two.mirror.connect() as conn:
                return [c.id for c in mirror.changes_since(conn, dt.datetime.min)]

        def called() -> list[int]:
            return [change[0] for batch in batches(log) for change in batch]

        eventually(lambda: called() == feed(), timeout=60)  # no write of the other's needed
        two.run_days(_days_before(dt.datetime.now(dt.UTC).date(), 2, 1))
        eventually(lambda: called() == feed(), timeout=60)
        assert len(feed()) > 0
