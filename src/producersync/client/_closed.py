"""A closed client's refusal, the same wherever a call meets it: before its slot,
waiting for one, or pausing to retry when the client closes."""

from __future__ import annotations

import anyio
import httpx2

from producersync.client._exceptions import ClientClosedError

__all__ = ["CLOSED", "AsyncClosing", "refuse_closed"]

CLOSED = (
    "this ProducerSync client is closed (close() was called, or its with block ended): "
    "a closed client is not reopened, make a new one"
)


def refuse_closed(http: httpx2.Client | httpx2.AsyncClient) -> None:
    """``ClientClosedError`` at once for a call on a closed client (or a copy of one).
    httpx2 raised its own only when the request was sent: after a pacing slot, each call
    on a closed client waited its turn (up to the hour of a ``429``'s hold) to fail."""
    if http.is_closed:
        raise ClientClosedError(CLOSED)


class AsyncClosing:
    """An ``AsyncClient``'s close as its calls' pauses see it, shared with its copies.
    A pause (a retry's, up to two minutes) was slept out after the client closed, then
    failed on the closed pool. ``Client``'s threads see a ``Cancellation`` instead."""

    def __init__(self) -> None:
        self._closed = False
        # Made by the first pause, as an anyio event belongs to the loop that awaits it:
        # the client's, which ``LoopBinding`` keeps its calls and its close to.
        self._event: anyio.Event | None = None

    def close(self) -> None:
        self._closed = True
        if self._event is not None:
            self._event.set()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until the client closes: then ``ClientClosedError``."""
        if not self._closed:
            if self._event is None:
                self._event = anyio.Event()
            with anyio.move_on_after(seconds):
                await self._event.wait()
        if self._closed:
            raise ClientClosedError(CLOSED)
