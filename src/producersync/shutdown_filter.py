"""uvicorn's reports of the requests a stop cut, as one line instead of a traceback each
(``log_format`` puts the filter on uvicorn's logger).

A stopping process answers the requests in flight for ``PRODUCERSYNC_SHUTDOWN_GRACE_SECONDS``
(10 s), then uvicorn cancels those left (a client sending its body slowly, a request stuck on the
database) and says so: ``Cancel 2 running task(s), timeout graceful shutdown exceeded``.
Each cancelled request then ended in ``Exception in ASGI application`` and the 60-line
traceback of a ``CancelledError``, which reads as a bug and is none: that line is dropped.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["CutRequestFilter"]


class CutRequestFilter(logging.Filter):
    """Drops uvicorn's traceback of a request cancelled as the process stopped."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        # Only uvicorn cancels a request's task, and only when its stop runs out of time.
        return not isinstance(error, asyncio.CancelledError)
