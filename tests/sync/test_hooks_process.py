"""Hooks installed by entry point into a real `producersync sync run` process, over a
real service: every committed change reaches them once, in feed order, deletions by a
purge included; a hook that raises is logged by name and stops nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from producersync.sync import mirror
from tests.support.recording_hook import batches, hook_environment
from tests.support.service import removed
from tests.support.sync_harness import Harness, first_npns, running_harness
from tests.support.waiting import eventually
from tests.sync.test_mirror import T0


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[Harness, Path]]:
    env, log = hook_environment(tmp_path)
    # A beat of 0.5 s: the lease a killed process held runs out in 3.
    fast = {"PRODUCERSYNC_PURGE_DEACTIVATED": "true", "PRODUCERSYNC_RUN_HEARTBEAT_SECONDS": "0.5"}
    with running_harness("sqlite", tmp_path, sync_env={**env, **fast}) as h:
        yield h, log


def _settled(harness: Harness, active: int) -> None:
    eventually(lambda: harness.status()["activeNpns"] == active, what=harness.report)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.report)


def _feed(harness: Harness) -> list[tuple[int, str, str, str | None]]:
    with harness.mirror.connect() as conn:
        return [(c.id, c.action, c.resource, c.npn) for c in mirror.changes_since(conn, T0)]


def test_hooks_get_every_committed_change_once_in_order_purges_included(
    harness: tuple[Harness, Path],
) -> None:
    h, log = harness
    npns = first_npns(h, 6)
    h.client.subscriptions.wait(h.client.subscriptions.add(npns))
    _settled(h, len(npns))
    h.wait_equal()
    gone = npns[:2]
    removed(h.client.subscriptions, gone)
    _settled(h, len(npns) - len(gone))
    # A purge's deletions reached the feed, never the hooks.
    eventually(lambda: any(c[1] == "delete" for b in batches(log) for c in b), what=h.report)
    called = [change for batch in batches(log) for change in batch]
    assert called == _feed(h)  # each once, in feed order
    deleted = {npn for _, action, _, npn in called if action == "delete"}
    assert deleted == set(gone)
    # Logged by name, and tried again from its cursor; the next hook still ran.
    assert "sync hook 'broken' failed on a batch of" in h.sync.log.read_text()


def test_a_sync_killed_after_commits_before_its_hook_calls_delivers_them_after_restart(
    harness: tuple[Harness, Path],
) -> None:
    """At most once before: the batches committed while a hook's call was going on, and
    that call's, never reached it once the process was killed."""
    h, log = harness
    hold = log.parent / "hold"
    hold.touch()  # the hook's first call holds on, the writers go on past it
    npns = first_npns(h, 6)
    h.client.subscriptions.wait(h.client.subscriptions.add(npns))
    _settled(h, len(npns))
    h.wait_equal()
    assert len(_feed(h)) > 1 and batches(log) == []
    h.sync.stop(signal.SIGKILL)
    with h.mirror.connect() as conn:
        [cursor] = [
            c["lastChangeId"] for c in mirror.sync_status(conn)["hooks"] if c["name"] == "record"
        ]
    hold.unlink()
    h.sync.start()
    feed = _feed(h)
    eventually(lambda: [c for b in batches(log) for c in b] == feed, what=h.report)
    assert cursor == 0  # a new mirror: the hook's cursor at its start, moved by no call
