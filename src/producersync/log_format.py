"""The log lines of the long-running processes (``service run``, ``service worker``,
``sync run``): one format for ours, uvicorn's, DBOS's and every library's, on stderr.

    2026-12-04T22:32:35.120Z WARNING producersync.service.delivery.dispatcher: endpoint ...

Time in UTC to the millisecond, level, logger, message; a traceback, when there is one,
follows on the lines after. ``--log-level`` sets ours and uvicorn's; DBOS's stay at
WARNING and every other library's at WARNING too. DBOS's warnings of a database outage
are collapsed (``outage_filter``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

__all__ = ["FORMAT", "UtcFormatter", "log_config"]

FORMAT: Final = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
_DATE: Final = "%Y-%m-%dT%H:%M:%S"
# uvicorn's own level below DEBUG; logging knows it once uvicorn is imported.
_LEVELS: Final = {"trace": 5}


class UtcFormatter(logging.Formatter):
    """Record times in UTC."""

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (as uvicorn takes it: ``log_config=``) for the
    process; ``level`` is a ``--log-level`` (``info``, ``debug``...)."""
    number = _LEVELS.get(level, level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"()": f"{__name__}.UtcFormatter", "format": FORMAT, "datefmt": _DATE}
        },
        "filters": {"outages": {"()": "producersync.outage_filter.OutageFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "producersync": {"level": number},
            "uvicorn": {"level": number},
            "uvicorn.error": {"level": number},
            "uvicorn.access": {"level": number},
            # DBOS adds a handler of its own (its format, the time without the date) to a
            # logger that has none: this one has ours, and its level is DBOS's setting.
            "dbos": {"handlers": ["stderr"], "propagate": False, "filters": ["outages"]},
        },
    }
