"""Collapsing a library's warnings of a database outage, as ``db_outage.OutageLog``
collapses ours (``log_format`` puts the filter on DBOS's logger).

While PostgreSQL is down, each of DBOS's threads (queues, scheduler, notification
listener, workflows waiting on their checkpoints) warns about once a second: five lines
a second in all, some with a traceback in their text. The first such warning of each
line of DBOS's code goes through, then one a minute at most, saying how many like it were
held back meanwhile. A warning is of an outage when the exception DBOS is handling as it
logs (in its ``except`` block; it writes the exception into the text rather than passing
it) is one ``db_outage.unavailable`` tells. Any other warning, and every error, goes
through.

An outage warning that goes through is one line, as ours are: the scheduler's wrote a
90-line traceback into its text at each outage and once a minute after, and the others
the driver's hint lines ("Is the server running on that host ..."), where the log shows a
traceback only for what is unexpected.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from producersync.db_outage import unavailable

__all__ = ["OutageFilter"]


class OutageFilter(logging.Filter):
    """Lets through the first outage warning of each line of code that logs one, then
    one a minute (``every`` seconds) carrying the count of those held back (also as the
    record's ``suppressed`` field, for the JSON format)."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every, self._clock = every, clock
        self._lock = threading.Lock()  # DBOS logs from many threads
        self._lines: dict[tuple[str, int], _Told] = {}  # by the line of code logging

    def filter(self, record: logging.LogRecord) -> bool:
        exc = _outage_of(record) if record.levelno <= logging.WARNING else None
        if exc is None:
            return True
        where, now = (record.pathname, record.lineno), self._clock()
        with self._lock:
            told = self._lines.setdefault(where, _Told(now - self._every))
            if now - told.at < self._every:
                told.held += 1
                return False
            held, since = told.held, now - told.at
            told.at, told.held = now, 0
        record.msg, record.args = _one_line(record.getMessage(), exc, bool(record.exc_info)), ()
        record.exc_info, record.exc_text = None, None
        if held:
            record.msg += f" (and {held} more like it in the {since:.0f} s before, not logged)"
            record.suppressed = held
        return True


@dataclass
class _Told:
    at: float  # when the last warning of the line went through
    held: int = 0  # how many it held back since


def _outage_of(record: logging.LogRecord) -> BaseException | None:
    """The database outage ``record`` was logged while handling, if any: its exception,
    or else the one its logger's caller is handling (filters run in the caller's thread,
    inside its ``except`` block)."""
    exc = record.exc_info[1] if record.exc_info else sys.exception()
    return exc if exc is not None and unavailable(exc) else None


_TRACEBACK = "Traceback (most recent call last):"


def _one_line(message: str, exc: BaseException, passed: bool) -> str:
    """The first line of ``message``, the exception told by its own first line: in place
    of a traceback written into the text, or after it when the exception was ``passed``
    to be printed below."""
    first, cause = message.split("\n", 1)[0], str(exc).split("\n", 1)[0]
    return f"{first}: {cause}" if passed else first.replace(_TRACEBACK, cause)
