"""Giving up a ``Client`` call's waits from another thread.

A thread in ``Client.request`` spends most of a slow rate limit waiting: for its pacing
slot, behind every call queued before it, and between attempts (a ``Retry-After`` up to
two minutes). Nothing else can end those waits, so a program stopping (Ctrl-C, SIGTERM)
had to wait them out: seconds a call at 60 requests a minute, behind a queue of calls.
A call given a ``Cancellation`` stops waiting when it is cancelled, and raises
``CallCancelledError``: it never sends a request after that. A request already sent is
not interrupted (a thread blocked reading a response cannot be, from another thread):
its answer is awaited as it would be, within the call's deadline.

``AsyncClient`` needs none: its calls are cancelled as tasks are, their waits too.

A process forked from this one (``_fork``) gets each cancellation with its lock free and
without the wakers of the parent's threads, which do not run there: a parent thread
that held its lock at the fork (cancelling, or joining or leaving a wait) held it in the
child for good, and the child's first wait or ``close()`` under it hung. Cancelled before
the fork, it stays cancelled (a client closed then stays closed).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from producersync.client._closed import CLOSED
from producersync.client._exceptions import CallCancelledError, ClientClosedError
from producersync.client._fork import renewed_in_forks

__all__ = ["Cancellation", "check", "pause", "waking"]


class Cancellation:
    """Cancels the ``Client`` calls it is passed to (``cancel=``), those waiting and those
    to come, once ``cancel()`` is called: for good, one per set of calls to stop
    together. Thread-safe."""

    def __init__(self) -> None:
        self._cancelled = False  # set under the lock, for good
        self._renew_after_fork()
        renewed_in_forks(self)

    def _renew_after_fork(self) -> None:
        """A lock no thread holds, and no waiter: those of the parent's threads (``_fork``)."""
        self._lock = threading.Lock()
        self._wakers: list[Callable[[], None]] = []

    def cancel(self) -> None:
        """Stop every call under this cancellation from waiting, now and from now on.
        Not from a signal handler, which may have interrupted a call holding the lock
        this takes: raise there, and cancel where it is caught (as ``sync backfill``)."""
        with self._lock:
            self._cancelled = True
            wakers = list(self._wakers)
        for wake in wakers:  # outside the lock: a waker takes its waiter's lock
            wake()

    @property
    def cancelled(self) -> bool:
        return self._cancelled


def check(cancel: Cancellation | None) -> None:
    """Raise ``CallCancelledError`` if ``cancel`` is cancelled."""
    if cancel is not None and cancel.cancelled:
        raise CallCancelledError("the call was cancelled before it was sent")


@contextlib.contextmanager
def waking(cancel: Cancellation | None, wake: Callable[[], None]) -> Iterator[None]:
    """Within: cancelling ``cancel`` calls ``wake`` (in the cancelling thread), for a
    waiter that sleeps on a lock of its own. The waiter checks once it is within, so a
    cancellation just before is not missed."""
    if cancel is None:
        yield
        return
    with cancel._lock:
        cancel._wakers.append(wake)
    try:
        yield
    finally:
        with cancel._lock:
            cancel._wakers.remove(wake)


def pause(seconds: float, cancel: Cancellation | None, closing: Cancellation) -> None:
    """Sleep ``seconds`` (a retry's wait, a job's next poll), or until ``cancel`` is
    cancelled (``CallCancelledError``) or the client closes: ``closing``, its client's,
    cancelled by ``close()`` (``ClientClosedError``), so that a close does not leave the
    pause to be slept out, and the call then to fail on the closed pool."""
    woken = threading.Event()
    with waking(cancel, woken.set), waking(closing, woken.set):
        if not (closing.cancelled or (cancel is not None and cancel.cancelled)):
            woken.wait(seconds)
    if cancel is not None and cancel.cancelled:
        raise CallCancelledError(
            "the call was cancelled while it paused (to retry, or for a job's next poll): "
            "it sends no request after that"
        )
    if closing.cancelled:
        raise ClientClosedError(CLOSED)
