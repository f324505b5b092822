"""Hooks registered by entry point, called with each committed page's changes, one batch
at a time and in the order of the commits, however many pages are written at once."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.client import Client
from producersync.sync import hooks, mirror
from producersync.sync.mirror import tables as mirror_tables
from producersync.sync.mirror.hook_cursors import claim_hook
from producersync.sync.mirror.tables import MIRRORED
from producersync.sync.pull import Puller, Stream, pull
from tests.support.waiting import eventually
from tests.sync.mirror_data import BACKENDS, fresh_mirror, wire
from tests.sync.test_mirror import T0

RESOURCE = "entities"
STREAM = Stream(RESOURCE, ())
seen: list[tuple[list[mirror.Change], int]] = []  # each batch, and the rows committed then
_engine: list[sa.Engine] = []


def record_batch(changes: list[mirror.Change]) -> None:
    table = MIRRORED[RESOURCE].table
    with _engine[0].connect() as conn:  # another connection: sees only what is committed
        committed = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    seen.append((changes, committed))


def broken(changes: list[mirror.Change]) -> None:
    raise RuntimeError("the CRM is down")


def _points(*targets: str) -> list[EntryPoint]:
    return [
        EntryPoint(name=target.rsplit(":", 1)[1], value=target, group=hooks.GROUP)
        for target in targets
    ]


def _page(records: Sequence[dict[str, Any]]) -> Any:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oauth2/token":
            return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
        if request.url.path.startswith("/v1/"):  # the pass counts its records first
            return httpx2.Response(200, json={"page": {"totalElements": len(records)}})
        end = {"href": f"/v2/{RESOURCE}?continuationToken=0"}
        return httpx2.Response(
            200, json={"embedded": {RESOURCE: list(records)}, "links": {"self": end, "next": end}}
        )

    return handler


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    _engine[:] = [engine]
    seen.clear()
    yield engine
    engine.dispose()


def _puller(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, *targets: str
) -> tuple[Puller, hooks.Hooks, list[dict[str, Any]]]:
    monkeypatch.setattr(hooks, "entry_points", lambda group: _points(*targets))
    records = wire().records[RESOURCE][:3]
    client = Client(
        "id", "secret", base_url="https://api", transport=httpx2.MockTransport(_page(records))
    )
    delivered = hooks.Hooks.from_entry_points(engine)
    return Puller(client, engine, 1000, hooks=delivered), delivered, records


def test_a_hook_gets_each_page_s_changes_after_the_commit(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    puller, delivered, records = _puller(engine, monkeypatch, f"{__name__}:record_batch")
    puller.page(STREAM, None, None)
    puller.page(STREAM, None, None)  # the same records again: no change, no call
    delivered.close()
    [(changes, committed)] = seen
    assert committed == len(records)
    assert [c.record_id for c in changes] == [r["id"] for r in records]
    assert {c.action for c in changes} == {"insert"}
    with engine.connect() as conn:
        feed = mirror.changes_since(conn, changes[0].changed_at)
    assert [c.id for c in feed] == [c.id for c in changes]


def test_a_failing_hook_is_logged_and_the_sync_goes_on(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    puller, delivered, records = _puller(
        engine, monkeypatch, f"{__name__}:broken", f"{__name__}:record_batch"
    )
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        result = puller.page(STREAM, None, None)
        delivered.close()
    assert result.upserted == len(records)
    assert len(seen) == 1  # the hook after the broken one still ran
    assert "'broken' failed on a batch of" in caplog.text


def test_a_hook_cannot_change_the_fields_another_hook_is_given(engine: sa.Engine) -> None:
    """Every hook is handed the same changes: a hook that appended to a change's list of
    fields changed what the next hook saw."""
    given: list[tuple[str, ...]] = []

    def edits(changes: list[mirror.Change]) -> None:
        with contextlib.suppress(AttributeError):  # a tuple: nothing to append to
            changes[0].fields.append("forged")  # type: ignore[attr-defined]

    delivered = hooks.Hooks(
        engine, [("edits", edits), ("reads", lambda cs: given.append(cs[0].fields))]
    )
    _write(engine, delivered, wire().records[RESOURCE][:1])
    delivered.close(timeout=30)
    with engine.connect() as conn:
        [change] = mirror.changes_since(conn, T0)
    assert given == [change.fields] and "forged" not in change.fields


def test_a_hook_that_cannot_be_loaded_is_logged_and_skipped(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        puller, delivered, _ = _puller(
            engine, monkeypatch, f"{__name__}:missing", f"{__name__}:record_batch"
        )
    puller.page(STREAM, None, None)
    delivered.close()
    assert "'missing'" in caplog.text and "could not be loaded" in caplog.text
    assert len(seen) == 1


NOT_A_HOOK = 42
async_seen: list[list[int]] = []


async def record_async(changes: list[mirror.Change]) -> None:
    async_seen.append([c.id for c in changes])


def _named(*points: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name=name, value=value, group=hooks.GROUP) for name, value in points]


def test_a_second_hook_of_a_name_is_logged_and_skipped_not_starved(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, both were called on one cursor: the first moved it past every batch, and
    the second (another distribution's) was never given a change, and nothing said so."""
    points = _named(("crm", f"{__name__}:record_batch"), ("crm", f"{__name__}:broken"))
    monkeypatch.setattr(hooks, "entry_points", lambda group: points)
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        delivered = hooks.Hooks.from_entry_points(engine)
    _write(engine, delivered, wire().records[RESOURCE][:2])
    delivered.close()
    assert len(seen) == 1
    assert f"sync hook 'crm' ({__name__}:broken) skipped: a hook of that name" in caplog.text
    assert f"already registered ({__name__}:record_batch)" in caplog.text
    assert "failed on a batch" not in caplog.text  # the second was never called


def test_an_entry_point_that_names_no_callable_is_logged_at_load_and_skipped(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, it was called with every batch, failing with a TypeError, retried for good."""
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        puller, delivered, _ = _puller(
            engine, monkeypatch, f"{__name__}:NOT_A_HOOK", f"{__name__}:record_batch"
        )
    assert f"'NOT_A_HOOK' ({__name__}:NOT_A_HOOK) skipped: it names int" in caplog.text
    puller.page(STREAM, None, None)
    delivered.close()
    assert len(seen) == 1
    with engine.connect() as conn:
        assert [h["name"] for h in mirror.sync_status(conn)["hooks"]] == ["record_batch"]


def test_an_async_hook_is_run_to_its_end_before_its_cursor_moves(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, its call only made a coroutine, never run, and its cursor moved past the
    batch: every change lost, a RuntimeWarning the one trace."""
    async_seen.clear()
    puller, delivered, records = _puller(engine, monkeypatch, f"{__name__}:record_async")
    puller.page(STREAM, None, None)
    delivered.close()
    assert async_seen == [_feed_ids(engine)]
    assert len(async_seen[0]) == len(records)


def test_a_call_that_does_not_return_is_logged_by_name_while_it_runs(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, a hook that hung held the other hooks, then the sync once 16 batches were
    behind, for good, and nothing in the log said which hook, or that one did."""
    released = threading.Event()
    stuck = ("stuck", lambda changes: released.wait(30))
    with caplog.at_level(logging.WARNING, logger=hooks.__name__):
        delivered = hooks.Hooks(engine, [stuck], slow_call=0.05)
        _write(engine, delivered, wire().records[RESOURCE][:2])
        line = "sync hook 'stuck' has run for 0 s on a batch of 2 changes (ids 1 to 2)"
        try:
            eventually(lambda: line in caplog.text, what=lambda: caplog.text)
        finally:
            released.set()
            delivered.close()
    assert "left behind: the sync and the other hooks go on" in caplog.text


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_hung_hook_is_left_behind_and_catches_up_once_its_call_returns(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, one thread called the hooks in turn: a call that never returned (a dead
    socket without a timeout) held every other hook, then every writer once 16 batches
    were behind, for as long as it hung: the mirror stopped for downstream code."""
    released = threading.Event()
    hung: list[int] = []
    other: list[int] = []

    def hangs(changes: list[mirror.Change]) -> None:
        released.wait()  # no timeout: only the test lets it return
        hung.extend(change.id for change in changes)

    record = wire().records[RESOURCE][0]
    with fresh_mirror(kind, tmp_path) as engine:
        delivered = hooks.Hooks(
            engine,
            [("hung", hangs), ("other", lambda cs: other.extend(c.id for c in cs))],
            interval=0.1,
            slow_call=0.2,
        )
        try:
            with caplog.at_level(logging.WARNING, logger=hooks.__name__):
                _write(engine, delivered, [record])
                eventually(lambda: other == _feed_ids(engine))  # not held by the hung call
                for version in range(2 * hooks._BACKLOG):  # past the backlog: none waits
                    _write(engine, delivered, [dict(record, middleName=f"v{version}")])
                feed = _feed_ids(engine)
                eventually(lambda: other == feed, what=lambda: (other, feed))
                assert len(feed) == 2 * hooks._BACKLOG + 1 and hung == []
                # Left behind, and shown so: its cursor before its first batch, its lease
                # held (renewed while the call runs), every change after it counted.
                status = _hook_status(engine)
                assert status["hung"]["lastChangeId"] == feed[0] - 1
                assert status["hung"]["behind"] == len(feed)
                assert status["hung"]["holder"] is not None
                assert status["other"]["behind"] == 0
                assert "sync hook 'hung' has run for" in caplog.text
        finally:
            released.set()
        eventually(lambda: hung == feed, what=lambda: (hung, feed))  # each once, in order
        delivered.close(timeout=30)
        assert _cursors(engine) == {"hung": feed[-1], "other": feed[-1]}


PAGED = ("entities", "addresses", "appointments", "contactInfos")  # 65 pages of 25


def _paged(size: int) -> Any:
    """The API over the wire records: each list counted (v1) and read in pages of ``size``."""
    lists = wire().records  # fetched here, not by the first of several requests at once

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oauth2/token":
            return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
        key = request.url.path.rsplit("/", 1)[1]
        records = lists[key]
        if request.url.path.startswith("/v1/"):
            return httpx2.Response(200, json={"page": {"totalElements": len(records)}})
        at = int(request.url.params.get("continuationToken", "0"))
        links = {"self": {"href": str(request.url)}}
        if at + size < len(records):
            links["next"] = {"href": f"/v2/{key}?continuationToken={at + size}"}
        return httpx2.Response(
            200, json={"embedded": {key: records[at : at + size]}, "links": links}
        )

    return handler


class Recorder:
    """A hook that notes each batch's ids once it has handled it (as a hook keeping the
    last id it handled would), and whether it was ever called while a call was running.
    Its first call holds on until three more pages are committed (the writers going on
    beside it), or until another call begins beside it."""

    def __init__(self) -> None:
        self.handled: list[list[int]] = []
        self.overlapped = False
        self.writes_went_on = False
        self._pages = self._calls = self._running = 0
        self._changed = threading.Condition()

    def page_written(self, resource: str, upserted: int) -> None:  # the puller's on_upsert
        with self._changed:
            self._pages += 1
            self._changed.notify_all()

    def __call__(self, changes: list[mirror.Change]) -> None:
        with self._changed:
            self._calls += 1
            self._running += 1
            self.overlapped |= self._running > 1
            self._changed.notify_all()
            if self._calls == 1:
                until = self._pages + 3
                self._changed.wait_for(lambda: self._pages >= until or self._running > 1, 30)
                self.writes_went_on = self._pages >= until
            self._running -= 1
            self.handled.append([change.id for change in changes])


@pytest.mark.parametrize("kind", BACKENDS)
def test_hooks_get_the_batches_one_at_a_time_in_commit_order_at_any_concurrency(
    kind: str, tmp_path: Path
) -> None:
    """Four streams written four at a time: each batch's hook call came after its commit
    on the writer's thread, so calls ran side by side and ended out of order (first ids
    26, 51, 76, 1, ...), and a hook keeping the last id it handled could skip a batch."""
    recorder = Recorder()
    client = Client(
        "id",
        "secret",
        base_url="https://api",
        transport=httpx2.MockTransport(_paged(25)),
        rate_limit=1_000_000,
    )
    with fresh_mirror(kind, tmp_path) as engine:
        delivered = hooks.Hooks(engine, [("recorder", recorder)])
        puller = Puller(client, engine, 25, recorder.page_written, hooks=delivered)
        todo = [Stream(resource, ()) for resource in PAGED]
        counts = pull(todo, puller.page, None, concurrency=4)
        delivered.close()
        with engine.connect() as conn:
            feed = [change.id for change in mirror.changes_since(conn, T0)]
    assert {r: counts[r] for r in PAGED} == {r: len(wire().records[r]) for r in PAGED}
    assert not recorder.overlapped
    assert recorder.writes_went_on  # the first call did not hold the writers up
    assert [ids[0] for ids in recorder.handled] == sorted(ids[0] for ids in recorder.handled)
    assert [id_ for ids in recorder.handled for id_ in ids] == feed  # each once, in order


def test_a_transaction_rolled_back_after_taking_its_place_holds_no_batch_back(
    engine: sa.Engine,
) -> None:
    handled: list[list[int]] = []
    delivered = hooks.Hooks(
        engine, [("record", lambda changes: handled.append([c.id for c in changes]))]
    )
    first, second = wire().records[RESOURCE][:1], wire().records[RESOURCE][1:2]
    with (
        pytest.raises(RuntimeError, match="failed after its changes were appended"),
        delivered.batch() as batch,
        mirror.write_transaction(engine) as conn,
    ):
        counts = mirror.upsert_records(conn, RESOURCE, first, changes=batch.wanted)
        batch.hold(counts.changes)  # its place taken: the next batch comes after it
        raise RuntimeError("failed after its changes were appended")
    with delivered.batch() as batch, mirror.write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, RESOURCE, second, changes=batch.wanted)
        batch.hold(counts.changes)
    delivered.close(timeout=30)
    with engine.connect() as conn:
        feed = [change.id for change in mirror.changes_since(conn, T0)]
    assert handled == [feed] == [[c.id for c in counts.changes]]


def test_closing_logs_the_batches_it_could_not_deliver_and_where_to_read_them(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    delivered = hooks.Hooks(engine, [("stuck", lambda changes: release.wait(30))])
    try:
        for records in (wire().records[RESOURCE][:2], wire().records[RESOURCE][2:3]):
            with delivered.batch() as batch, mirror.write_transaction(engine) as conn:
                counts = mirror.upsert_records(conn, RESOURCE, records, changes=batch.wanted)
                batch.hold(counts.changes)
        with caplog.at_level(logging.WARNING, logger=hooks.__name__):
            delivered.close(timeout=0.1)
    finally:
        release.set()
    with engine.connect() as conn:
        first = mirror.changes_since(conn, T0)[0].id
    assert (
        f"2 batches committed (3 changes, ids {first} to {first + 2}) not delivered to every "
        "hook: the hooks get them at the next start, from their cursors"
    ) in caplog.text
    assert "not current: 'stuck', which read the feed from their cursors at the next start" in (
        caplog.text
    )


def exits(changes: list[mirror.Change]) -> None:
    sys.exit("the CRM's client gave up")


def test_a_hook_that_exits_is_logged_and_the_batches_after_it_come_all_the_same(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A SystemExit is no Exception: it ended the thread that delivers the batches, the
    hooks after it never got one again, and 16 batches later every writer waited for good."""
    puller, delivered, records = _puller(
        engine, monkeypatch, f"{__name__}:exits", f"{__name__}:record_batch"
    )
    with caplog.at_level(logging.ERROR, logger=hooks.__name__):
        puller.page(STREAM, None, None)
        for record in records:
            record["middleName"] = "Changed"  # the next page changes every record
        puller.page(STREAM, None, None)
        delivered.close(timeout=30)
    assert [[c.action for c in changes] for changes, _ in seen] == [["insert"] * 3, ["update"] * 3]
    assert "sync hook 'exits' failed on a batch of 3 changes (ids 1 to 3)" in caplog.text


def _write(engine: sa.Engine, delivered: hooks.Hooks, records: list[dict[str, Any]]) -> None:
    with delivered.batch() as batch, mirror.write_transaction(engine) as conn:
        counts = mirror.upsert_records(conn, RESOURCE, records, changes=batch.wanted)
        batch.hold(counts.changes)


def _cursors(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {lag["name"]: lag["lastChangeId"] for lag in mirror.sync_status(conn)["hooks"]}


def _feed_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [change.id for change in mirror.changes_since(conn, T0)]


class Flaky:
    """A hook that raises while ``down``, and notes the ids of each batch it handled."""

    def __init__(self) -> None:
        self.down = True
        self.handled: list[int] = []

    def __call__(self, changes: list[mirror.Change]) -> None:
        if self.down:
            raise RuntimeError("the CRM is down")
        self.handled.extend(change.id for change in changes)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_raising_hook_keeps_its_cursor_and_catches_up_once_fixed(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At most once before: the batches a raising hook was called with were gone for it."""
    flaky, handled = Flaky(), []
    with fresh_mirror(kind, tmp_path) as engine:
        ok = ("ok", lambda changes: handled.extend(c.id for c in changes))
        delivered = hooks.Hooks(engine, [("flaky", flaky), ok], interval=0.1)
        records = wire().records[RESOURCE]
        with caplog.at_level(logging.ERROR, logger=hooks.__name__):
            _write(engine, delivered, records[:2])
            eventually(lambda: "'flaky' failed on a batch of 2 changes" in caplog.text)
            _write(engine, delivered, records[2:5])
            feed = _feed_ids(engine)
            eventually(lambda: handled == feed)  # the other hook went on
            # Its cursor moves once its call has returned: a moment after ``handled``.
            eventually(lambda: _cursors(engine) == {"flaky": feed[0] - 1, "ok": feed[-1]})
            # Failing, not idle, in sync status: its failures in a row, since when, why.
            failing = _hook_status(engine)["flaky"]
            assert failing["failures"] >= 1 and failing["failingSince"] is not None
            assert failing["lastError"] == "RuntimeError: the CRM is down"
            assert _hook_status(engine)["ok"]["failures"] == 0
            flaky.down = False
            eventually(lambda: flaky.handled == feed)  # retried from its cursor, in order
        delivered.close(timeout=30)
        assert _cursors(engine) == {"flaky": feed[-1], "ok": feed[-1]}
        mended = _hook_status(engine)["flaky"]
        assert (mended["failures"], mended["failingSince"], mended["lastError"]) == (0, None, None)
        assert (mended["holder"], mended["leaseUntil"]) == (None, None)  # let go at close


def _hook_status(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {lag["name"]: lag for lag in mirror.sync_status(conn)["hooks"]}


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_raising_hook_s_log_line_names_its_cursor_across_a_gap_in_the_ids(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The line named the change before the batch's first as the cursor, which it is not
    once the ids skip (a write rolled back on PostgreSQL consumes ids; here, a change
    row deleted)."""
    with fresh_mirror(kind, tmp_path) as engine:
        hooks.Hooks(engine, [("flaky", Flaky())]).close(timeout=30)  # its cursor: 0
        _write(engine, hooks.Hooks(engine), wire().records[RESOURCE][:3])
        first, *rest = _feed_ids(engine)
        with mirror.write_transaction(engine) as conn:
            conn.execute(
                sa.delete(mirror_tables.changes).where(mirror_tables.changes.c.id == first)
            )
        with caplog.at_level(logging.ERROR, logger=hooks.__name__):
            delivered = hooks.Hooks(engine, [("flaky", Flaky())], interval=0.1)
            eventually(lambda: "'flaky' failed on a batch" in caplog.text)
            delivered.close(timeout=30)
    assert f"(ids {rest[0]} to {rest[-1]})" in caplog.text
    assert "from its cursor (change 0)," in caplog.text


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_hook_gets_what_was_committed_while_no_process_called_it_at_the_next_start(
    kind: str, tmp_path: Path
) -> None:
    handled: list[int] = []
    record = ("record", lambda changes: handled.extend(c.id for c in changes))
    records = wire().records[RESOURCE]
    with fresh_mirror(kind, tmp_path) as engine:
        _write(engine, hooks.Hooks(engine), records[:1])  # before the hook: not its
        hooks.Hooks(engine, [record]).close(timeout=30)  # its cursor: the feed's end
        _write(engine, hooks.Hooks(engine), records[1:3])  # a process without it
        later = hooks.Hooks(engine, [record])
        _write(engine, later, records[3:4])
        later.close(timeout=30)
        feed = _feed_ids(engine)
    assert handled == feed[1:]  # each once, in order, from its cursor on


def test_a_hook_from_the_beginning_gets_the_whole_feed(engine: sa.Engine) -> None:
    handled: list[int] = []

    def record(changes: list[mirror.Change]) -> None:
        handled.extend(c.id for c in changes)

    record.from_beginning = True  # type: ignore[attr-defined]
    _write(engine, hooks.Hooks(engine), wire().records[RESOURCE][:3])
    hooks.Hooks(engine, [("record", record)]).close(timeout=30)
    assert handled == _feed_ids(engine)


class Held:
    """A hook whose calls hold on until ``release``; notes whether two ever overlapped."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = self.running = 0
        self.overlapped = False
        self.handled: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, changes: list[mirror.Change]) -> None:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.overlapped |= self.running > 1
        self.release.wait(30)
        with self._lock:
            self.running -= 1
            self.handled.extend(c.id for c in changes)


@pytest.mark.parametrize("kind", BACKENDS)
def test_two_processes_never_call_one_hook_at_once(kind: str, tmp_path: Path) -> None:
    """Each process's own hooks object (as two `sync run` processes on one mirror): the
    one that finds the lease held leaves its batch to the feed, and delivers it later."""
    held = Held()
    records = wire().records[RESOURCE]
    with fresh_mirror(kind, tmp_path) as engine:
        first = hooks.Hooks(engine, [("crm", held)], interval=0.1)
        second = hooks.Hooks(engine, [("crm", held)], interval=0.1)
        _write(engine, first, records[:2])
        eventually(lambda: held.calls == 1)
        _write(engine, second, records[2:4])  # its lease held by the first, mid-call
        _write(engine, second, records[4:5])
        time.sleep(0.5)  # beats of the second finding the lease held
        assert held.calls == 1
        held.release.set()
        feed = _feed_ids(engine)
        eventually(lambda: held.handled == feed)
        first.close(timeout=30)
        second.close(timeout=30)
    assert not held.overlapped


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_process_that_writes_nothing_delivers_what_a_killed_one_left(
    kind: str, tmp_path: Path
) -> None:
    """Two `sync run`s on one mirror: one is killed during its hook's call (its lease
    held), its last batches committed. The other, idle (one process syncs each event),
    called the hook only when it wrote a batch itself: they waited for the next sync."""
    handled: list[int] = []
    records = wire().records[RESOURCE]
    with fresh_mirror(kind, tmp_path) as engine:
        survivor = hooks.Hooks(
            engine, [("crm", lambda cs: handled.extend(c.id for c in cs))], interval=0.1
        )
        _write(engine, survivor, records[:1])
        eventually(lambda: handled == _feed_ids(engine))
        eventually(lambda: _claim(engine, "crm", "killed"))  # once the survivor let it go
        _write(engine, hooks.Hooks(engine), records[1:3])  # the killed one's commits
        feed = _feed_ids(engine)
        eventually(lambda: handled == feed)
        survivor.close(timeout=30)
        assert _cursors(engine) == {"crm": feed[-1]}


def _claim(engine: sa.Engine, name: str, holder: str) -> bool:
    """Hook ``name`` held by ``holder`` for 0.6 s (six beats of 0.1 s), if no one holds it."""
    with mirror.write_transaction(engine) as conn:
        return claim_hook(conn, name, holder, dt.timedelta(seconds=0.6)) is not None


def test_a_mirror_out_of_reach_is_one_outage_in_the_log_not_a_traceback_a_beat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each beat tried the mirror again and logged its traceback: a line a beat for as long
    as a disk or a database was gone. SQLite's "cannot open" stands for the outage."""
    directory = tmp_path / "gone"
    url = f"sqlite:///{directory / 'mirror.db'}"
    engine = sa.create_engine(url)
    tries: list[sa.Engine] = []

    def counted(engine: sa.Engine) -> Any:
        tries.append(engine)
        return mirror.write_transaction(engine)

    monkeypatch.setattr(hooks, "write_transaction", counted)

    def registered() -> bool:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM hook_cursors")).scalar_one() == 1

    with caplog.at_level(logging.WARNING, logger=hooks.__name__):
        delivered = hooks.Hooks(engine, [("recorder", lambda changes: None)], interval=0.02)
        try:
            eventually(lambda: len(tries) >= 5)  # five beats, the mirror out of reach
            ready = tmp_path / "ready"  # made whole, then put in place at once
            ready.mkdir()
            mirror.open_mirror(f"sqlite:///{ready / 'mirror.db'}").dispose()
            ready.rename(directory)
            eventually(registered)
        finally:
            delivered.close()
            engine.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == hooks.__name__]
    assert lines[0].startswith("sync hooks: the mirror is unavailable, again in a beat: ")
    assert re.fullmatch(r"sync hooks: the mirror is back after \d+ s", lines[1])
    assert len(lines) == 2
