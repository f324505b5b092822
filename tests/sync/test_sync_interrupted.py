"""A sync run whose process stops before finishing it is shown interrupted, and when:
`sync backfill` SIGKILLed, or stopped with Ctrl-C or SIGTERM; `sync run` SIGKILLed
mid-sync (until its restart takes the run back and finishes it); and a run still going
is not shown so.
Real processes on loopback, as in ``test_sync_process``."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from producersync.sync.heartbeat import LEASE_BEATS
from producersync.sync.mirror.tables import sync_runs
from tests.support.cli import in_process
from tests.support.processes import foreground
from tests.support.sync_harness import Harness, running_harness, subscribed_and_synced
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(90)

HEARTBEAT = 0.5
LEASE = HEARTBEAT * LEASE_BEATS  # 3 s
BEATING = {"PRODUCERSYNC_RUN_HEARTBEAT_SECONDS": str(HEARTBEAT)}
# A backfill of the 60 NPNs takes a couple of minutes at one request a second.
SLOW = {"PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": "60"}


def _signals(pid: int | str) -> str:
    """The signal masks /proc shows for a process, to tell why a stop went unheard."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return " ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp("interrupted")
    with running_harness("sqlite", directory, sync_env=BEATING) as harness:
        subscribed_and_synced(harness, 60, timeout=300)
        yield harness


def _last(harness: Harness) -> dict[str, Any]:
    last = harness.status()["lastRun"]
    assert last is not None
    return dict(last)


def _run_row(harness: Harness, run_id: int) -> sa.Row[Any]:
    with harness.mirror.connect() as conn:
        return conn.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id)).one()


def _backfill(harness: Harness, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`producersync sync backfill`, once its run has started: the process, the run."""
    before = _last(harness)["id"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            foreground("sync", "backfill"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **harness.sync.env, **BEATING, **SLOW},
        )

    def started() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the backfill ended early:\n{log.read_text()}")
        last = _last(harness)
        return bool(last["id"] > before and last["kind"] == "backfill")

    eventually(started, timeout=60, what=harness.status)
    return process, _last(harness)["id"]


def _going_on(harness: Harness, process: subprocess.Popen[bytes], run_id: int) -> None:
    """For two leases and more: the process still backfilling, and its run shown running
    all along (never taken for dead while it beats)."""
    until = time.monotonic() + 2 * LEASE + 1
    while time.monotonic() < until:
        assert process.poll() is None, "the backfill ended before it could be stopped"
        last = _last(harness)
        assert (last["id"], last["status"]) == (run_id, "running"), last
        time.sleep(0.2)


def test_a_backfill_killed_mid_way_is_shown_interrupted_with_when(
    harness: Harness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    process, run_id = _backfill(harness, tmp_path / "backfill.log")
    try:
        _going_on(harness, process, run_id)
    finally:
        process.kill()
        process.wait(timeout=30)
    killed = dt.datetime.now(dt.UTC)
    # Shown running until the lease of its last beat runs out: then interrupted.
    eventually(lambda: _last(harness)["status"] == "interrupted", timeout=LEASE + 10)
    last = _last(harness)
    assert (last["id"], last["finishedAt"], last["error"]) == (run_id, None, None)
    seen = dt.datetime.fromisoformat(last["lastSeenAt"])
    started = dt.datetime.fromisoformat(last["startedAt"])
    assert started < seen <= killed
    assert killed - seen < dt.timedelta(seconds=LEASE)  # it beat until it was killed
    # What `sync status` tells another shell, for people and as JSON (through main in
    # this process: it reads the mirror, as the killed process's run left it).
    run = in_process(monkeypatch, capsys)
    (code, as_json, err), (code_too, for_people, err_too) = (
        run(["sync", "status", *option], harness.sync.env) for option in (["--json"], [])
    )
    assert code == code_too == 0, err + err_too
    shown = orjson.loads(as_json)
    assert (shown["lastRun"]["id"], shown["lastRun"]["status"]) == (run_id, "interrupted")
    lines = for_people.splitlines()
    assert "  status: interrupted" in lines
    assert f"  lastSeenAt: {last['lastSeenAt']}" in lines


@pytest.mark.parametrize(
    ("stop", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_a_backfill_stopped_with_ctrl_c_or_sigterm_stops_soon_and_is_shown_interrupted_at_once(
    harness: Harness, tmp_path: Path, stop: signal.Signals, exit_code: int
) -> None:
    # SIGTERM is what systemd, `docker stop` and `kill` send: it stops the backfill as
    # Ctrl-C does, where it ended the process and left its run running for a lease.
    log = tmp_path / "backfill.log"
    process, run_id = _backfill(harness, log)
    _going_on(harness, process, run_id)
    process.send_signal(stop)
    stopped = dt.datetime.now(dt.UTC)
    try:
        # At once: the streams stop at their next page, and those waiting for a slot of
        # the rate limit (a second apart at this pace), their pages asked ahead too,
        # give up the wait. The old pool read every stream to its end first (minutes at
        # this pace); then the stop waited for a slot each (8-16 s, past 30 s on a
        # loaded machine). The 30 s is a guard against a hang, not the bound.
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        masks = f"the backfill's {_signals(process.pid)}; this process's {_signals('self')}"
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=10)
        raise AssertionError(f"the backfill did not stop ({masks}):\n{log.read_text()}") from None
    finally:
        process.kill()
    assert code == exit_code, log.read_text()  # 128 + the signal, as a shell tells it
    row = _run_row(harness, run_id)
    # Interrupted by the process itself, not left to its lease.
    assert row.finished_at is None and row.lease_until == row.heartbeat_at
    assert row.heartbeat_at >= stopped - dt.timedelta(seconds=1)
    assert _last(harness)["status"] == "interrupted"
    said = " ".join(log.read_text().split())
    assert f"stopped: sync run {run_id} (backfill) is recorded as interrupted" in said
    assert "Traceback" not in said


def test_a_sync_killed_mid_run_is_interrupted_until_its_restart_takes_it_back(
    harness: Harness,
) -> None:
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    before = _last(harness)["id"]
    harness.nipr_run(day, churn=0.9)

    def syncing() -> bool:
        last = _last(harness)
        return bool(last["id"] > before and last["kind"] == "updates" and not last["finishedAt"])

    eventually(syncing, what=harness.status)
    run_id = _last(harness)["id"]
    harness.sync.stop(signal.SIGKILL)
    eventually(lambda: _last(harness)["status"] == "interrupted", timeout=LEASE + 10)
    assert _last(harness)["id"] == run_id
    harness.sync.start()  # the same DBOS executor: the sync is taken back where it stopped
    eventually(
        lambda: _run_row(harness, run_id).finished_at is not None,
        timeout=120,
        what=harness.report,
    )
    row = _run_row(harness, run_id)
    assert row.error is None
    eventually(lambda: harness.status()["lastSyncedRunDate"] >= day.isoformat())
    harness.wait_equal()
