"""The database goes away and comes back while the service and the sync service run on
PostgreSQL: they answer 503 meanwhile, log a line rather than a traceback a second, and
carry on by themselves once it is back, nothing lost and nothing failed.

An outage is made on the shared server, one database at a time: it stops taking
connections and its sessions are ended (``pg_terminate_backend``), which the processes
see as a server that went down; no private cluster is needed."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NpnActivated, UpdatesAvailable
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from tests.support import plain_http
from tests.support.databases import ADMIN_URL
from tests.support.sync_harness import Harness, first_npns, running_harness
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow(90)]

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    # One retry of an API request, so that an outage of the service's store fails a sync
    # in seconds; a failed sync runs again 2 s later.
    sync_env = {"PRODUCERSYNC_API_MAX_RETRIES": "1", "PRODUCERSYNC_SYNC_RETRY_SECONDS": "2"}
    directory = tmp_path_factory.mktemp("outage")
    with running_harness("postgres", directory, sync_env=sync_env) as h:
        npns = first_npns(h, 20)
        h.subscribe(npns)
        eventually(lambda: h.status()["activeNpns"] == len(npns), what=h.status)
        h.wait_equal()
        yield h


@pytest.fixture(scope="module")
def admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _name(url: str) -> str:
    name = sa.make_url(url).database
    assert name
    return name


@contextmanager
def outage(admin: sa.Engine, *urls: str) -> Iterator[None]:
    """The databases of ``urls`` refuse connections and lose their sessions until the
    block ends."""
    names = [_name(url) for url in urls]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"
            ),
            {"names": names},
        )
    try:
        yield
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def test_an_outage_is_answered_503_and_everything_resumes_after_it(
    harness: Harness, admin: sa.Engine
) -> None:
    with write_transaction(harness.engine) as conn:
        account = accounts.create_account(conn, "outage-reader", sandbox=False)
        client_id, secret = accounts.create_client(conn, account, "producersync.read")
    credentials = {"grant_type": "client_credentials", "client_id": client_id}
    credentials["client_secret"] = secret
    token = plain_http.post(f"{harness.service_url}/oauth2/token", data=credentials)
    bearer = {"authorization": f"Bearer {token.json()['access_token']}"}
    with outage(admin, harness.store_url, harness.mirror_url):
        api = plain_http.get(f"{harness.service_url}/v2/entities", headers=bearer)
        assert api.status_code == 503, api.text
        assert api.headers["retry-after"] == "5"
        assert api.json()["message"] == "The service is temporarily unavailable; retry shortly"
        issued = plain_http.post(f"{harness.service_url}/oauth2/token", data=credentials)
        assert issued.status_code == 503, issued.text
        assert issued.json()["error"] == "temporarily_unavailable"  # RFC 6749's body
        page = plain_http.get(f"{harness.service_url}/portal/login/a-link-token")
        assert (page.status_code, page.headers["retry-after"]) == (503, "5"), page.text
        assert "Temporarily unavailable" in page.text
        now = dt.datetime.now(dt.UTC)
        received = harness.deliver(NpnActivated.create("1", now, timestamp=now))
        assert received.status_code == 503
        assert received.headers["retry-after"] == "5"
        time.sleep(2)  # the background loops find it down too
    day = TODAY - dt.timedelta(days=5)
    eventually(lambda: _answers(harness.service_url, bearer), timeout=30)
    harness.nipr_run(day)
    _synced_through(harness, day)
    assert harness.status()["failedRunsTotal"] == 0
    harness.wait_equal()
    service_log = "".join(p.read_text() for p in _logs(harness, "service-run-*.log"))
    assert "API: the database is unavailable, answering 503" in service_log
    assert "Exception in ASGI application" not in service_log
    assert "portal: the database is unavailable, answering 503" in service_log
    # DBOS's own warnings (each of its threads, about once a second) are collapsed: the
    # first of each line of its code, then one a minute.
    dbos = Counter(
        line.split(" WARNING dbos: ")[1].split(":")[0]
        for line in service_log.splitlines()
        if " WARNING dbos: " in line
    )
    assert dbos and max(dbos.values()) == 1, dbos


def test_a_sync_waits_out_an_outage_of_the_mirror(harness: Harness, admin: sa.Engine) -> None:
    # The store stays up, so the pages keep coming and their writes meet the outage.
    day = TODAY - dt.timedelta(days=4)
    harness.nipr_run_until_syncing(day, churn=0.9)
    with outage(admin, harness.mirror_url):
        time.sleep(3)
    _synced_through(harness, day)
    assert harness.status()["failedRunsTotal"] == 0
    harness.wait_equal()


def test_a_daily_sync_that_failed_runs_again_by_itself(harness: Harness, admin: sa.Engine) -> None:
    # The service's store is down past the sync's retries of its API requests; no other
    # event comes to start the day again.
    day = TODAY - dt.timedelta(days=3)
    harness.endpoint_enabled(False)
    harness.nipr_run(day, churn=0.5)
    failed = harness.status()["failedRunsTotal"]
    with outage(admin, harness.store_url):
        assert harness.deliver(UpdatesAvailable.create(day)).status_code == 200
        eventually(
            lambda: harness.status()["failedRunsTotal"] > failed, timeout=60, what=harness.status
        )
    harness.endpoint_enabled(True)
    _synced_through(harness, day)
    _all_processed(harness)
    harness.wait_equal()


def test_an_activation_whose_fetch_failed_is_fetched_again_by_itself(
    harness: Harness, admin: sa.Engine
) -> None:
    # As above, for the collector of activations: no later event nudges another.
    npn = first_npns(harness, 21)[-1]
    harness.endpoint_enabled(False)
    harness.subscribe([npn])
    failed = harness.status()["failedRunsTotal"]
    with outage(admin, harness.store_url):
        now = dt.datetime.now(dt.UTC)
        event = NpnActivated.create(npn, now, timestamp=now)
        assert harness.deliver(event).status_code == 200
        eventually(
            lambda: harness.status()["failedRunsTotal"] > failed, timeout=60, what=harness.status
        )
    harness.endpoint_enabled(True)
    harness.wait_equal()
    _all_processed(harness)


def _all_processed(harness: Harness) -> None:
    # Waited for: a receipt is marked processed once its workflow ends, a moment after
    # the position or the records it wrote are committed (one CI run read 1 unprocessed).
    eventually(
        lambda: harness.status()["receipts"]["unprocessed"] == 0, timeout=30, what=harness.report
    )


def _synced_through(harness: Harness, day: dt.date) -> None:
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(),
        timeout=60,
        what=harness.status,
    )


def _answers(service_url: str, bearer: dict[str, str]) -> bool:
    return plain_http.get(f"{service_url}/v2/entities", headers=bearer).status_code == 200


def _logs(harness: Harness, pattern: str) -> list[Path]:
    return sorted(harness.sync.log_dir.glob(pattern))
