"""A deadline for each attempt: the request and its whole response, body included.

httpx2's timeouts bound each wait on its own (for a connection, to write, for the next
bytes of the response), so a server or a proxy that sent a byte every few seconds held a
call for ever. The deadline bounds an attempt as a whole, token request included, and
when it passes the attempt is a timeout like any other, for the one retry loop.

A call may also have an end (``request(ends=)``, a job wait's polls): each attempt's
deadline is cut to the time left before it (``cut``), and the call's other waits, for a
slot and to retry, end there too (``left``).

``AsyncClient`` cancels the attempt at its deadline. ``Client`` cannot interrupt a read
that blocks its thread: it caps every wait at the deadline, and holds each response's
body to it as the body comes (``hold_to_deadline``, a response hook), so an attempt ends
at most one wait past its deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx2

from producersync.client._constants import DEFAULT_TIMEOUT
from producersync.model.numbers import real

__all__ = [
    "DEADLINE",
    "call_end",
    "cut",
    "default_deadline",
    "hold_to_deadline",
    "left",
    "overrun",
    "positive",
    "set_deadline",
    "waits",
    "within",
]

# A request's extension: when its attempt ends, on ``time.monotonic``. The token request
# of an attempt gets its call's (``_auth``).
DEADLINE = "producersync.deadline"


def default_deadline(timeout: httpx2.Timeout) -> float:
    """Every wait's timeout once, added up: an attempt whose waits each run to their
    timeout still fits, and a response still coming after all of them is cut. A wait
    without a timeout counts as the default's: an attempt is unbounded only when asked
    (``deadline=math.inf``). ``timeout=None`` is httpx's "no timeout", and a deadline
    that followed it made a call to a server that never answered wait for ever."""
    names = ("pool", "connect", "write", "read")
    waits = (getattr(timeout, name) for name in names)
    defaults = (getattr(DEFAULT_TIMEOUT, name) for name in names)
    return math.fsum(d if w is None else w for w, d in zip(waits, defaults, strict=True))


def waits(timeout: httpx2.Timeout) -> httpx2.Timeout:
    """``timeout`` if each of its waits is a positive number of seconds or None (none);
    else ``ValueError`` naming it. A NaN wait made the default deadline NaN, which no
    attempt ever passes, and a negative one made every attempt overrun at once, retried
    as timeouts."""
    for name in ("connect", "read", "write", "pool"):
        wait = getattr(timeout, name)
        if wait is not None and not (real(wait) and wait > 0):
            raise ValueError(
                f"timeout: the {name} wait must be positive (None for none), not {wait!r:.60}"
            )
    return timeout


def positive(deadline: float) -> float:
    """``deadline`` if it is one (``math.inf``: none); else ``ValueError``."""
    if not (real(deadline) and deadline > 0):  # NaN too
        raise ValueError(f"deadline must be positive (math.inf for none), not {deadline!r:.60}")
    return deadline


def call_end(ends: float | None) -> float | None:
    """A call's end on ``time.monotonic`` as ``request(ends=)`` takes it: None (and
    ``math.inf``) for none; else ``ValueError`` if it is not a number (NaN: never)."""
    if ends is None or (real(ends) and math.isinf(ends) and ends > 0):
        return None
    if not (real(ends) and math.isfinite(ends)):
        raise ValueError(f"ends must be a time on time.monotonic, not {ends!r:.60}")
    return ends


def cut(deadline: float, ends: float | None) -> float:
    """An attempt's deadline in a call that ``ends`` then: the time left, if shorter;
    ``TimeoutError`` once none is left."""
    if ends is None:
        return deadline
    remaining = ends - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the call's end came before this attempt")
    return min(deadline, remaining)


def left(seconds: float, ends: float | None) -> float:
    """A wait of ``seconds`` (to retry), cut to end by the call's end."""
    return seconds if ends is None else min(seconds, max(0.0, ends - time.monotonic()))


def within(timeout: httpx2.Timeout, deadline: float) -> httpx2.Timeout:
    """``timeout`` with no wait longer than ``deadline``: one wait alone past it would
    run the attempt past it too."""

    def capped(wait: float | None) -> float | None:
        if math.isinf(deadline):
            return wait
        return deadline if wait is None else min(wait, deadline)

    return httpx2.Timeout(
        connect=capped(timeout.connect),
        read=capped(timeout.read),
        write=capped(timeout.write),
        pool=capped(timeout.pool),
    )


def set_deadline(request: httpx2.Request, deadline: float) -> None:
    """Set ``request``'s attempt to end ``deadline`` seconds from now."""
    if not math.isinf(deadline):
        request.extensions[DEADLINE] = time.monotonic() + deadline


def overrun(request: httpx2.Request) -> httpx2.TimeoutException:
    """The timeout an attempt past its deadline fails with."""
    return httpx2.TimeoutException(
        "the response did not come whole within the attempt's deadline", request=request
    )


def hold_to_deadline(response: httpx2.Response) -> None:
    """A sync client's response hook: the body, read as it comes, fails once the
    attempt's deadline has passed."""
    ends = response.request.extensions.get(DEADLINE)
    if ends is not None:
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _HeldToDeadline(response.stream, response.request, ends)


class _HeldToDeadline(httpx2.SyncByteStream):
    """A response body checked against the deadline before each read and as each part
    comes: the socket's read timeout bounds only the wait for the next part."""

    def __init__(self, stream: httpx2.SyncByteStream, request: httpx2.Request, ends: float):
        self._stream = stream
        self._request = request
        self._ends = ends

    def __iter__(self) -> Iterator[bytes]:
        self._check()
        for part in self._stream:
            self._check()
            yield part

    def close(self) -> None:
        self._stream.close()

    def _check(self) -> None:
        if time.monotonic() > self._ends:
            raise overrun(self._request)
