"""The executor locks: one process per executor id (``producersync.executors``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.database_url import sqlalchemy_url
from producersync.executors import KEEPALIVE, ExecutorLock
from producersync.service.durable import SERVICE_PROCESSES
from tests.conftest import BACKENDS
from tests.support import plain_http
from tests.support.databases import migrated_store
from tests.support.processes import cli, service_process
from tests.support.service import free_port

pytestmark = pytest.mark.slow(40)

_WAIT = "PRODUCERSYNC_EXECUTOR_LOCK_WAIT_SECONDS"


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_process_under_a_live_ones_executor_id_exits_2_and_starts_once_it_is_killed(
    kind: str, tmp_path: Path
) -> None:
    """Started under an id a live process held, a second one only warned, and DBOS's
    recovery at its launch ran the first one's workflows again: every webhook of the
    batches in flight reached its endpoints twice."""
    with (
        migrated_store(kind, tmp_path) as url,
        service_process(url, tmp_path, "--executor-id", "one", command="worker") as first,
    ):
        second = cli(
            *("service", "worker", "--port", str(free_port()), "--database", url),
            *("--executor-id", "one"),
            env={_WAIT: "1"},
            check=False,
            timeout=60,  # the old code's second process served on
        )
        assert second.returncode == 2, second.stderr
        assert (
            "error: executor id 'one' (--executor-id or PRODUCERSYNC_EXECUTOR_ID) is held "
            "by another live service process (producersync service on "
        ) in second.stderr
        assert f"pid {first.process.pid}" in second.stderr
        assert (
            "still after 1 s (PRODUCERSYNC_EXECUTOR_LOCK_WAIT_SECONDS): started under it, "
            "this one would run again the workflows that one is running (a delivery "
            "batch's webhooks sent again, with the same webhook-id)"
        ) in second.stderr
        assert plain_http.get(f"{first.base_url}/healthz").status_code == 200
        # A SIGKILL ends its connection, or its file: the lock is let go with it.
        first.kill()
        with service_process(
            url, tmp_path, "--executor-id", "one", env={_WAIT: "30"}, command="worker"
        ) as third:
            assert "is held by another" not in third.log.read_text()


@pytest.mark.postgres
def test_the_lock_connection_has_postgresql_notice_a_dead_holder_within_a_minute(
    tmp_path: Path,
) -> None:
    """The server let a lock go once it noticed its connection dead: for a host that died
    holding it, by the kernel's keepalive, after 2 hours and 11 minutes."""
    with migrated_store("postgres", tmp_path) as url:
        lock = ExecutorLock(sa.make_url(sqlalchemy_url(url)), SERVICE_PROCESSES, "one")
        lock.take(0)
        try:
            own = lock.locks._own  # type: ignore[union-attr]  # the lock's own connection
            shown = {
                name: own.execute(sa.text(f"SHOW {name}")).scalar_one()
                for name in (
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                    "tcp_user_timeout",
                )
            }
        finally:
            lock.close()
    # As SHOW gives them: seconds, and tcp_user_timeout in milliseconds.
    assert shown == {
        "tcp_keepalives_idle": str(KEEPALIVE["idle"]),
        "tcp_keepalives_interval": str(KEEPALIVE["interval"]),
        "tcp_keepalives_count": str(KEEPALIVE["count"]),
        "tcp_user_timeout": str(KEEPALIVE["user_timeout_ms"]),
    }
