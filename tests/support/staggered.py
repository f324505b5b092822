"""Callers started a little apart, in threads or in tasks: the order they finished in."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

import anyio


def threads(call: Callable[[int], object], count: int, stagger: float) -> list[int]:
    """``call(i)`` in a thread for each ``i`` below ``count``, started ``stagger`` s
    apart: the ``i`` in the order the calls returned."""
    order: list[int] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        call(index)
        with lock:
            order.append(index)

    started = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in started:
        thread.start()
        time.sleep(stagger)
    for thread in started:
        thread.join()
    return order


def tasks(call: Callable[[int], Awaitable[object]], count: int, stagger: float) -> list[int]:
    """``threads``, with tasks."""
    order: list[int] = []

    async def run(index: int) -> None:
        await call(index)
        order.append(index)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(run, index)
                await anyio.sleep(stagger)

    anyio.run(main)
    return order
