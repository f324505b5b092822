"""Python hooks: downstream code called with every committed change, at least once.

A distribution registers a callable in the entry-point group ``producersync.sync.hooks``::

    [project.entry-points."producersync.sync.hooks"]
    crm = "acme.crm:on_mirror_changes"

Each hook has a cursor in the mirror (``mirror.hook_cursors``): the last change it has
handled, moved on only once a call has returned. So a process that ends (SIGKILL, crash,
power) between a commit and a call loses nothing: at its next start (``sync run``,
``sync now``, ``sync backfill``) each hook is given the feed's changes after its cursor,
``_CATCH_UP`` at a time, before any new batch. A new hook's cursor starts at the feed's
end (its first call brings the next change committed), or before the feed's first
change if its callable has ``from_beginning = True``.

Each page the sync upserts is one batch, as is a purge of deactivated NPNs: once its
transaction commits, a hook whose cursor is just before it gets the batch's changes
(``list[Change]``, the change-feed rows just written); one whose cursor is further
back (behind, or another process wrote between) reads the feed from its cursor instead.
The batches are put in the order of the change ids (commit order), however many pages
are written side by side (``in_order``), and each hook is called from a thread of its
own, one call at a time, in that order: a hook that is slow, or hangs, holds no other.
A writer does not wait for the hooks, unless one that keeps up is ``_BACKLOG`` batches
behind. A hook whose call has run ``slow_call`` seconds (a dead socket without a
timeout: nothing can stop a call in its thread) is left behind: the writers no longer
wait for it, the batches after its ``_BACKLOG`` are not kept for it, and a warning names
it every ``slow_call`` seconds the call runs; its cursor stays (``sync status`` and
``/metrics`` show it behind, the feed keeps its changes) and, once the call returns, it
catches up from its cursor. A hook that raises (anything: a ``sys.exit()`` too) is
logged and tried again after a backoff (1 s, doubled each time, at most ``_LAST_RETRY``)
from its cursor; meanwhile it is left behind too. A hook that fails to load, names no
callable, or takes a name already loaded is logged and skipped; an ``async def`` hook is
run to its end. Two sync processes on one mirror never call one hook at once: each call
is made under the hook's lease (``mirror.hook_cursors``), renewed while it runs, and a
process that finds it held leaves the hook to its holder. Every beat each process looks
whether a hook has changes after its cursor, and if so calls it (its lease free, or run
out): what a process killed between a commit and a call, or mid-call, left reaches the
hook through another even if that one writes nothing.
A change may come twice (a process that died during a call, or after it and before its
cursor moved, calls again from the cursor): key what a hook does by ``Change.id``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Final

import sqlalchemy as sa

from producersync.counted import counted
from producersync.db_outage import describe, unavailable
from producersync.repeated_errors import RoundErrors
from producersync.sync.heartbeat import DEFAULT_INTERVAL, LEASE_BEATS
from producersync.sync.in_order import InOrder
from producersync.sync.mirror import Change, changes_since, write_transaction
from producersync.sync.mirror.hook_cursors import (
    advance_hook,
    claim_hook,
    hooks_behind,
    register_hooks,
    release_hook,
)
from producersync.url_userinfo import masked

__all__ = ["GROUP", "Batch", "Hook", "Hooks"]

GROUP: Final = "producersync.sync.hooks"
Hook = Callable[[list[Change]], object]

# Batches committed and not yet handed to a hook that keeps up, at most, before a writer
# waits: enough that a hook runs beside the next pages' writes, few enough that a hook
# slower than the sync holds it back rather than a backfill's changes in memory. A hook
# left behind keeps as many, and reads the rest from the feed.
_BACKLOG: Final = 16
# How long ``close`` delivers what was committed before a command ends (`sync now`,
# `sync backfill`; `sync run` gives what its stop has left: ``sync.app``).
_DRAIN_SECONDS: Final = 10.0
# Changes a hook is given at a time from the feed: a page's worth (the default page size).
_CATCH_UP: Final = 1_000
# Seconds before a hook that raised is tried again, doubled after each failure up to
# ``_LAST_RETRY``: a hook down for an hour is tried a dozen times, not a batch's count.
_FIRST_RETRY: Final = 1.0
_LAST_RETRY: Final = 300.0
# A call running this long is logged, and again each time as long, and its hook is left
# behind: nothing can stop a call in its thread, and a hook that hangs would hold the
# other hooks, then the sync once ``_BACKLOG`` batches are behind, for as long as it hangs.
_SLOW_CALL: Final = 60.0
_FEED_START: Final = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

_log = logging.getLogger(__name__)


class Batch:
    """A write transaction's changes on their way to the hooks (``Hooks.batch``)."""

    def __init__(self, order: InOrder[list[Change]] | None) -> None:
        self._order = order
        self._place: int | None = None
        self._changes: list[Change] = []

    @property
    def wanted(self) -> bool:
        """Whether any hook listens (else the changes need not be read back)."""
        return self._order is not None

    def hold(self, changes: Sequence[Change]) -> None:
        """The transaction's changes, kept for the hooks until it commits. Call it once,
        last in the transaction, after its last change is appended: the writer holds
        the feed's order then (``mirror.feed``), so the batch takes its place in the
        order of the commits."""
        if self._place is not None:
            raise RuntimeError("a batch holds the changes of one transaction, once")
        if self._order is not None and changes:
            self._changes = list(changes)
            self._place = self._order.take()

    def _committed(self) -> None:
        if self._order is None or self._place is None:
            return
        if not self._order.hand_over(self._place, self._changes):
            _log.warning("sync hooks closed: %s", _not_delivered([self._changes]))

    def _rolled_back(self) -> None:
        if self._order is not None and self._place is not None:
            self._order.give_up(self._place)


@dataclass
class _Hook:
    """A hook, and the work of its thread (read and changed under ``Hooks._changed``)."""

    name: str
    call: Hook
    failures: int = 0  # in a row
    retry_at: float = 0.0  # monotonic: left behind until then
    # Committed, in order, not yet delivered to it (the first maybe in its call).
    batches: deque[list[Change]] = field(default_factory=deque)
    # The feed may hold changes after its cursor that no batch kept for it brings: its
    # start, a beat's look, a batch not kept, a failed call.
    stale: bool = False
    busy: bool = False  # its thread is delivering
    calling_since: float | None = None  # monotonic: a call of it running since then

    @property
    def from_beginning(self) -> bool:
        return getattr(self.call, "from_beginning", False) is True

    def holds_writers_for(self, now: float, slow_call: float) -> float:
        """Seconds the writers wait for it, at most, while it has ``_BACKLOG`` batches:
        none once it is left behind (waiting to be retried, or in a call that has run
        ``slow_call``); no bound between calls (the next one is about to start)."""
        if self.retry_at > now:
            return 0.0
        if self.calling_since is None:
            return math.inf
        return max(0.0, self.calling_since + slow_call - now)

    def has_work(self, now: float) -> bool:
        return (bool(self.batches) or self.stale) and self.retry_at <= now


class _HookFailed(Exception):
    def __init__(self, cursor: int, changes: list[Change]) -> None:
        super().__init__(cursor, changes)
        self.cursor = cursor  # the change before ``changes``' first, bar a gap in the ids
        self.changes = changes


class Hooks:
    """The hooks of one process over the mirror ``engine``, and a thread for each that
    calls it: first with the feed after its cursor, then with each batch committed.
    ``interval``: the lease's beat (``RUN_HEARTBEAT_SECONDS``, as a run's);
    ``slow_call``: seconds a call runs before it is logged (then each time as long) and
    its hook left behind."""

    def __init__(
        self,
        engine: sa.Engine,
        hooks: Sequence[tuple[str, Hook]] = (),
        *,
        interval: float = DEFAULT_INTERVAL,
        slow_call: float = _SLOW_CALL,
    ) -> None:
        self._engine = engine
        self._hooks = [_Hook(name, call) for name, call in hooks]
        self._interval = interval
        self._slow_call = slow_call
        self._lease = dt.timedelta(seconds=interval * LEASE_BEATS)
        # Unique to this process's life: a process started again does not take over the
        # lease of the one it replaces (which may be alive, in a call).
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wakes: dict[float, threading.Timer] = {}
        self._wakes_lock = threading.Lock()
        self._closed = False  # no wake-up from now on
        self._changed = threading.Condition()  # the hooks' work, and ``_stopped``
        self._stopped = False  # no call from now on (bar the ones running)
        self._errors = RoundErrors(_log, "sync hooks", resource="the mirror")
        self._errors_lock = threading.Lock()  # told from every hook's thread
        self._order = InOrder(self._dispatch, name="sync-hooks") if self._hooks else None
        # Here, not on a thread: a hook new to the mirror gets every batch this process
        # commits from now on (unless the mirror is out of reach now: then once it is not).
        self._registered = bool(self._hooks) and self._register()
        for hook in self._hooks:
            hook.stale = self._registered  # the changes after its cursor, first
            name = f"sync-hook-{hook.name}"
            threading.Thread(target=self._run, args=(hook,), name=name, daemon=True).start()
        if self._hooks:
            self._wake(self._interval)

    @classmethod
    def from_entry_points(cls, engine: sa.Engine, *, interval: float = DEFAULT_INTERVAL) -> Hooks:
        loaded: dict[str, tuple[str, Hook]] = {}  # by name: (where, the callable)
        for point in entry_points(group=GROUP):
            if point.name in loaded:
                # One cursor a name: the second's calls would find it moved past every
                # batch by the first's, never given a change, and nothing would say so.
                _log.error(
                    "sync hook %r (%s) skipped: a hook of that name is already registered "
                    "(%s), and a name has one cursor; rename the entry point of one of them",
                    point.name,
                    _where(point),
                    loaded[point.name][0],
                )
                continue
            try:
                call = point.load()
            except Exception:
                _log.exception("sync hook %r (%s) could not be loaded", point.name, point.value)
                continue
            if not callable(call):
                # Else it would fail at every call, retried for good, the cause a TypeError.
                _log.error(
                    "sync hook %r (%s) skipped: it names %s, which cannot be called",
                    point.name,
                    point.value,
                    type(call).__name__,
                )
                continue
            loaded[point.name] = (_where(point), call)
        return cls(engine, [(name, call) for name, (_, call) in loaded.items()], interval=interval)

    def __bool__(self) -> bool:
        """Whether any hook is registered (a batch's changes have somewhere to go)."""
        return bool(self._hooks)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Around a write transaction, which ``hold``s its changes: once it has
        committed (the block ends without an error) they go to the hooks, after every
        batch committed before them. First waits while a hook that keeps up is behind."""
        self._room()
        batch = Batch(self._order)
        try:
            yield batch
        except BaseException:
            batch._rolled_back()
            raise
        batch._committed()

    def close(self, timeout: float = _DRAIN_SECONDS) -> None:
        """Deliver the batches committed, for at most ``timeout`` seconds, before the
        process ends; log what was not."""
        if self._order is None:
            return
        with self._wakes_lock:
            self._closed = True
            for timer in self._wakes.values():
                timer.cancel()
            self._wakes.clear()
        started = time.monotonic()
        deadline = started + timeout
        left = self._order.close(timeout)  # handed to the hooks' threads: no wait but a place
        with self._changed:
            self._changed.wait_for(
                lambda: not any(self._working(hook) for hook in self._hooks),
                max(0.0, deadline - time.monotonic()),
            )
            self._stopped = True
            self._changed.notify_all()
            kept = {id(changes): changes for hook in self._hooks for changes in hook.batches}
            behind = [hook.name for hook in self._hooks if hook.busy or hook.stale]
        batches = [changes for changes in left.batches if changes]
        batches[:0] = sorted(kept.values(), key=lambda changes: changes[0].id)
        told = [_not_delivered(batches)] if batches else []
        if left.open_places:
            told.append(f"{counted(left.open_places, 'write')} still open")
        if behind:
            told.append(
                f"not current: {', '.join(map(repr, behind))}, which read the feed from their "
                "cursors at the next start"
            )
        if told:
            # The time waited, not the bound: a stop gives them what its workflows left.
            waited = time.monotonic() - started
            _log.warning("sync hooks stopped after %.1f s: %s", waited, "; ".join(told))

    def _working(self, hook: _Hook) -> bool:
        """Whether ``close`` waits for ``hook``: it is delivering, or has work to do now
        (not a retry to come: its backoff is no reason to hold a process up)."""
        return hook.busy or hook.has_work(time.monotonic())

    def _room(self) -> None:
        """Wait while a hook that keeps up has ``_BACKLOG`` batches to deliver: until it
        delivers one, or is left behind (its call has run ``slow_call`` seconds)."""
        if self._order is None:
            return
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                waits = [
                    hook.holds_writers_for(now, self._slow_call)
                    for hook in self._hooks
                    if len(hook.batches) >= _BACKLOG
                ]
                wait = min((seconds for seconds in waits if seconds > 0), default=0.0)
                if wait == 0:
                    return
                self._changed.wait(None if wait == math.inf else wait)

    def _dispatch(self, live: list[Change]) -> None:
        """``live``, a batch just committed, kept for each hook, in commit order; for a
        hook left behind with ``_BACKLOG`` kept, read from the feed later instead."""
        if not self._registered:
            return  # its cursor, once written, starts after the batch
        with self._changed:
            now = time.monotonic()
            for hook in self._hooks:
                full = len(hook.batches) >= _BACKLOG
                if full and hook.holds_writers_for(now, self._slow_call) == 0:
                    hook.stale = True
                else:
                    hook.batches.append(live)
            self._changed.notify_all()

    def _run(self, hook: _Hook) -> None:
        """``hook``'s thread: each batch kept for it, or the feed from its cursor, one
        call at a time; after a failure, not before its retry."""
        while True:
            with self._changed:
                while not (self._stopped or hook.has_work(now := time.monotonic())):
                    waiting = bool(hook.batches) or hook.stale  # for its retry
                    self._changed.wait(hook.retry_at - now if waiting else None)
                if self._stopped:
                    return
                live = hook.batches[0] if hook.batches else []
                hook.stale = hook.stale and bool(live)  # read from its cursor now
                hook.busy = True
            try:
                self._deliver(hook, live)
                hook.failures = 0
            except _HookFailed as failed:
                self._failed(hook, failed)
            # The mirror out of reach: the hook's cursor stays, the batch in the feed.
            except Exception as exc:
                self._unreached(exc, f"hook {hook.name!r}: its cursor could not be read or moved")
            finally:
                with self._changed:
                    if live:
                        hook.batches.popleft()
                    hook.busy = False
                    self._changed.notify_all()

    def _wake(self, after: float) -> None:
        """A look at the hooks behind ``after`` seconds from now, unless one comes sooner."""
        at = time.monotonic() + after
        with self._wakes_lock:
            if self._closed or any(due <= at for due in self._wakes):
                return
            timer = threading.Timer(after, self._woken, (at,))
            timer.daemon = True
            self._wakes[at] = timer
            timer.start()

    def _woken(self, at: float) -> None:
        with self._wakes_lock:
            if self._wakes.pop(at, None) is None:
                return  # closed meanwhile
        self._look()

    def _look(self) -> None:
        """The hooks with changes after their cursors set to read them. Every beat,
        whatever this process writes: a hook may be behind with no batch of its own to
        come (a process that held its lease, or committed, was killed, and the one left
        writes nothing until the next day's sync)."""
        self._wake(self._interval)
        if not self._registered:
            self._registered = self._register()
            if not self._registered:
                return
        try:
            with self._engine.connect() as conn:
                behind = hooks_behind(conn)
        except Exception as exc:
            self._unreached(exc, "the feed could not be read; again in a beat")
            return
        with self._errors_lock:
            self._errors.succeeded()
        with self._changed:
            for hook in self._hooks:
                # One with nothing after its cursor is left be: no write to hold its lease.
                hook.stale |= hook.name in behind
            self._changed.notify_all()

    def _register(self) -> bool:
        """A cursor for each hook that has none; False if the mirror is out of reach."""
        try:
            with write_transaction(self._engine) as conn:
                register_hooks(conn, [(hook.name, hook.from_beginning) for hook in self._hooks])
        except Exception as exc:
            self._unreached(exc, "their cursors could not be written; again in a beat")
            return False
        with self._errors_lock:
            self._errors.succeeded()
        return True

    def _unreached(self, exc: Exception, what: str) -> None:
        """A mirror out of reach told as one outage (its start, a line a minute, its end),
        where a look every beat wrote a traceback a beat; any other fault the same way,
        its traceback once (``RoundErrors``)."""
        with self._errors_lock:
            self._errors.failed(exc, "again in a beat" if unavailable(exc) else what)

    def _deliver(self, hook: _Hook, live: list[Change]) -> None:
        """The changes after ``hook``'s cursor to it, up to ``live``'s last at least (none:
        to the feed's end), its cursor moved after each call; none if another process
        holds its lease (what is left to it, it or this process gets at a look a beat
        later). No call once the hooks are stopped."""
        with write_transaction(self._engine) as conn:
            after = claim_hook(conn, hook.name, self._holder, self._lease)
        if after is None:
            return
        held, error = True, None
        try:
            while not (self._stopped or (live and live[-1].id <= after)):
                if live and live[0].id == after + 1:
                    changes, live = live, []
                else:  # behind the batch (or none): the feed from the cursor
                    with self._engine.connect() as conn:
                        changes = changes_since(conn, _FEED_START, after=after, limit=_CATCH_UP)
                    if not changes:
                        break
                try:
                    self._call_one(hook, changes)
                # BaseException too: a hook's sys.exit() (SystemExit) would end the thread
                # that delivers every batch, and once 16 are waiting the sync stop for good.
                except BaseException as exc:
                    error = _failure_line(exc)
                    raise _HookFailed(after, changes) from exc
                after = changes[-1].id
                more = bool(live) or len(changes) == _CATCH_UP
                with write_transaction(self._engine) as conn:
                    lease = self._lease if more else None
                    held = advance_hook(conn, hook.name, self._holder, after, lease) and more
                if not held:
                    break
        finally:
            if held:
                with write_transaction(self._engine) as conn:
                    release_hook(conn, hook.name, self._holder, error)

    def _call_one(self, hook: _Hook, changes: list[Change]) -> None:
        """``hook`` called with ``changes``, its lease renewed every beat meanwhile, and
        the call logged each ``slow_call`` seconds it runs."""
        done = threading.Event()
        started = time.monotonic()

        def renew() -> None:
            told = started
            while not done.wait(min(self._interval, self._slow_call)):
                if time.monotonic() - told >= self._slow_call:
                    told = time.monotonic()
                    _log.warning(
                        "sync hook %r has run for %.0f s on a batch of %s (ids %d to %d), "
                        "not returned; left behind: the sync and the other hooks go on, and "
                        "it gets what is committed meanwhile from its cursor once it returns",
                        hook.name,
                        told - started,
                        counted(len(changes), "change"),
                        changes[0].id,
                        changes[-1].id,
                    )
                try:
                    with write_transaction(self._engine) as conn:
                        if claim_hook(conn, hook.name, self._holder, self._lease) is None:
                            _log.warning("sync hook %r: its lease was taken mid-call", hook.name)
                except Exception:
                    _log.warning("sync hook %r: its lease not renewed", hook.name, exc_info=True)

        renewal = threading.Thread(target=renew, name=f"sync-hook-lease-{hook.name}", daemon=True)
        renewal.start()
        with self._changed:
            hook.calling_since = started
        try:
            called = hook.call(list(changes))  # a list each: one hook cannot edit another's
            if inspect.iscoroutine(called):
                # An ``async def`` hook: the call only made the coroutine, and the cursor
                # moved past a batch it never handled.
                asyncio.run(called)
        finally:
            with self._changed:
                hook.calling_since = None
                self._changed.notify_all()
            done.set()
            renewal.join()

    def _failed(self, hook: _Hook, failed: _HookFailed) -> None:
        hook.failures += 1
        delay = min(_FIRST_RETRY * 2 ** (hook.failures - 1), _LAST_RETRY)
        with self._changed:
            hook.retry_at = time.monotonic() + delay
            hook.stale = True  # tried again from its cursor, a batch to come or not
            self._changed.notify_all()
        first, last = failed.changes[0].id, failed.changes[-1].id
        _log.error(
            "sync hook %r failed on a batch of %s (ids %d to %d); tried again in %.0f s "
            "from its cursor (change %d), the sync going on meanwhile",
            hook.name,
            counted(len(failed.changes), "change"),
            first,
            last,
            delay,
            failed.cursor,
            exc_info=failed.__cause__,
        )


def _where(point: EntryPoint) -> str:
    """An entry point's target, and the distribution that registers it if known."""
    dist = getattr(point, "dist", None)
    return point.value if dist is None else f"{point.value}, from {dist.name} {dist.version}"


def _not_delivered(batches: Sequence[list[Change]]) -> str:
    """What a log line says of ``batches`` left undelivered: where to read them again."""
    if not batches:
        return "every batch committed was delivered"
    ids = [change.id for changes in batches for change in changes]
    return (
        f"{counted(len(batches), 'batch')} committed ({counted(len(ids), 'change')}, ids "
        f"{min(ids)} to {max(ids)}) not delivered to every hook: the hooks get them at the next "
        "start, from their cursors"
    )


def _failure_line(exc: BaseException) -> str:
    """What ``sync status`` shows of a hook's failure: its type and first line, a URL's
    user and password hidden (the traceback is the log's)."""
    line, kind = describe(exc), type(exc).__name__
    return masked(line if line == kind else f"{kind}: {line}")
