"""Waiting for a condition that another process or thread makes true."""

from __future__ import annotations

import time
from collections.abc import Callable

# A wait pauses at least this many times as long as its last check took, up to
# ``_LONGEST_PAUSE``: a check that reads a whole `sync status` (27 statements, 10-13 ms of
# CPU, and its database's) kept a fifth of a core busy for the length of each wait on it
# at a look every 0.05 s, more on a loaded machine, where a check takes longer.
_PAUSE_PER_CHECK = 9
_LONGEST_PAUSE = 0.25


def eventually(
    check: Callable[[], bool],
    timeout: float = 30,
    what: Callable[[], object] | None = None,
    every: float = 0.05,
) -> None:
    """Return once ``check()`` holds; a ``TimeoutError`` after ``timeout`` s, carrying
    ``what()`` (the state that tells why it did not) when given. Between two checks it
    pauses ``every`` s, or nine times as long as the check took when that is longer, up
    to 0.25 s: a check of up to 28 ms takes a tenth of the time waited at most."""
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        if check():
            return
        checked = time.monotonic()
        if checked > deadline:
            raise TimeoutError(f"the condition did not hold in time: {what() if what else ''}")
        took = checked - started
        time.sleep(max(every, min(_PAUSE_PER_CHECK * took, _LONGEST_PAUSE)))
