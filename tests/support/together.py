"""Context managers entered side by side: processes that each take seconds to start
(the interpreter, imports, DBOS's launch) started at once, as a supervisor starts them,
rather than each waiting for the one before it to answer."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from typing import TypeVar

__all__ = ["entered_together"]

T = TypeVar("T")


def entered_together(stack: ExitStack, managers: Sequence[AbstractContextManager[T]]) -> list[T]:
    """What each of ``managers`` gives, each entered in a thread of its own; ``stack``
    exits those that were entered. A failure is raised once every start has ended, the
    first in order."""
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
    for manager, future in zip(managers, futures, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
    return [future.result() for future in futures]
