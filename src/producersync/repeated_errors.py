"""Log lines for the errors of a polling loop's rounds that are no outage (a bug, a row
in the database it cannot read): the traceback once, then the same error in a line.

The loop retries at its next poll, where the error comes back as long as its cause
stays: the subscription-job worker logged a traceback at every poll, twice a second by
default (some 7,200 a hour of one hand-edited row), burying whatever else the log said.
Outages of a database have their own lines (``db_outage.OutageLog``); ``RoundErrors``
tells a round's error to the one of the two it is for.
"""

from __future__ import annotations

import logging
import time

from producersync.db_outage import OutageLog, describe, unavailable

__all__ = ["RepeatedErrorLog", "RoundErrors"]


def _error(exc: BaseException) -> str:
    """The error in a line: its type and ``describe``'s line (no SQL, no parameters)."""
    return f"{type(exc).__name__}: {describe(exc)}"


class RepeatedErrorLog:
    """One loop's errors: the first of a run at ERROR with its traceback; the same error
    again (its type and first line) a WARNING line at its first repeat and then every
    ``every`` seconds, counting them; another error is a new run, and so is the first
    after a round that succeeded, which ends the run with a line of its own."""

    def __init__(self, logger: logging.Logger, what: str, every: float = 60.0) -> None:
        self._log, self._what, self._every = logger, what, every
        self._error: str | None = None  # the run's error, in a line; None: no run
        self._times = 0
        self._since = self._told = 0.0

    def failed(self, exc: BaseException, doing: str = "retrying") -> None:
        now, error = time.monotonic(), _error(exc)
        if error != self._error:
            self._error, self._times, self._since, self._told = error, 1, now, now
            self._log.error("%s: %s, %s", self._what, error, doing, exc_info=exc)
            return
        self._times += 1
        if self._times == 2 or now - self._told >= self._every:
            self._told = now
            self._log.warning(
                "%s: the same error again, %d times in %.0f s (the traceback is logged at "
                "the first), %s: %s",
                self._what,
                self._times,
                now - self._since,
                doing,
                error,
            )

    def succeeded(self) -> None:
        if self._error is not None:
            self._log.warning(
                "%s: runs again; %d rounds in %.0f s failed (%s)",
                self._what,
                self._times,
                time.monotonic() - self._since,
                self._error,
            )
            self._error = None


class RoundErrors:
    """A polling loop's failed rounds: the database out of reach as an outage
    (``OutageLog``), any other error as a run of the same (``RepeatedErrorLog``)."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        every: float = 60.0,
        resource: str = "the database",
    ) -> None:
        self.outage = OutageLog(logger, what, resource=resource)
        self.errors = RepeatedErrorLog(logger, what, every)

    def failed(self, exc: BaseException, doing: str = "retrying") -> None:
        (self.outage if unavailable(exc) else self.errors).failed(exc, doing)

    def succeeded(self) -> None:
        self.outage.succeeded()
        self.errors.succeeded()
