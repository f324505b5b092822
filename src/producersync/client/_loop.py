"""The event loop an ``AsyncClient`` belongs to.

Its pooled connections, and the waits of its token and pacing, belong to the event loop
of the call that made them. A call from another loop (each ``asyncio.run()`` starts one;
a test framework may start one per test) reused them there and failed as asyncio's bare
``RuntimeError: Event loop is closed``, or, the first loop still running in another
thread, used its sockets from two loops at once. So a client binds to the loop of its
first call, and a call from another is refused at once, saying what to do. A process
forked after that call (Celery's prefork pool) runs none of its parent's loops: every call
there is refused, as its pooled sockets are the parent's (an ``AsyncClient`` is not
renewed in a fork as a ``Client`` is); a client not yet called serves the child's loop.

So is its close: awaited in another loop, it failed as that bare ``Event loop is
closed`` once the first had ended, and while it ran (in another thread) it closed that
loop's connections and woke its tasks from a thread not its own.
"""

from __future__ import annotations

import anyio.lowlevel

__all__ = ["LoopBinding"]


class LoopBinding:
    """Shared by a client and its copies (``with_options``), as their pool is."""

    def __init__(self) -> None:
        self._token: anyio.lowlevel.EventLoopToken | None = None

    def check(self) -> None:
        """Bind to the running loop on the first call; ``RuntimeError`` in another."""
        here = anyio.lowlevel.current_token()
        if self._token is None:
            self._token = here
        elif here != self._token:
            raise RuntimeError(
                "this AsyncClient belongs to the event loop of its first call, and this "
                "call runs in another (each asyncio.run() starts a new one, and a forked "
                "process runs none of its parent's): its pooled connections cannot serve "
                "it. Make the client inside the loop that uses it (async with "
                "AsyncClient(...) in the coroutine asyncio.run runs), one per loop"
            )

    def check_close(self) -> None:
        """``RuntimeError`` for a close in a loop other than the calls' (none bound: any
        loop may close it, no connection is pooled yet)."""
        if self._token is not None and anyio.lowlevel.current_token() != self._token:
            raise RuntimeError(
                "this AsyncClient belongs to the event loop of its first call, and its "
                "close() is awaited in another: its pooled connections and waiting calls "
                "can be closed only in their own loop, and nothing was closed. Close it in "
                "that loop: async with AsyncClient(...) in the coroutine asyncio.run runs, "
                "or from another thread asyncio.run_coroutine_threadsafe(client.close(), "
                "loop). Once that loop has ended, its connections are closed only as they "
                "are garbage-collected"
            )
