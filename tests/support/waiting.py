"""Waiting for a condition that another process or thread makes true."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(
    check: Callable[[], bool],
    timeout: float = 30,
    what: Callable[[], object] | None = None,
    every: float = 0.05,
) -> None:
    """Return once ``check()`` holds; a ``TimeoutError`` after ``timeout`` s, carrying
    ``what()`` (the state that tells why it did not) when given."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the condition did not hold in time: {what() if what else ''}")
        time.sleep(every)
