"""The log lines of the long-running processes (``service run``, ``service worker``,
``sync run``) and of the pulls (``sync now``, ``sync backfill``): one format for ours,
uvicorn's, DBOS's and every library's, on stderr.

``text``, the default, for people:

    2026-12-04T22:32:35.120Z WARNING producersync.service.delivery.dispatcher: endpoint ...

Time in UTC to the millisecond, level, logger, message; a line logged while a request
was handled ends with its id, `` request_id=req_...`` (``request_ids``); a traceback, when
there is one, follows on the lines after. ``json``, for log shippers, one object a line:
``log_json`` (the id a ``request_id`` field).

``--log-level`` (``PRODUCERSYNC_LOG_LEVEL``) sets ours and uvicorn's; DBOS's stay at
WARNING and every other library's at WARNING too. DBOS's warnings of a database outage
are collapsed (``outage_filter``).
"""

from __future__ import annotations

import logging
import logging.config
import sys
import time
from typing import Any, Final, Literal, TextIO, get_args

from producersync.url_userinfo import masked

__all__ = [
    "DATE_FORMAT",
    "FORMAT",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LogFormat",
    "LogLevel",
    "StderrHandler",
    "UtcFormatter",
    "configure_logging",
    "log_config",
    "logs_json",
]

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = get_args(LogFormat)
# uvicorn's names: another would be a KeyError traceback out of its logging configuration.
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LOG_LEVELS: Final[tuple[LogLevel, ...]] = get_args(LogLevel)

FORMAT: Final = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
# Each named, not imported (dictConfig makes every formatter it is given): a process
# logging text never imports structlog.
_FORMATTERS: Final[dict[LogFormat, dict[str, str]]] = {
    "text": {"()": f"{__name__}.UtcFormatter", "format": FORMAT, "datefmt": DATE_FORMAT},
    "json": {"()": "producersync.log_json.json_formatter"},
}
# uvicorn's own level below DEBUG; logging knows it once uvicorn is imported.
_LEVELS: Final[dict[LogLevel, int]] = {"trace": 5}


class UtcFormatter(logging.Formatter):
    """Record times in UTC; the id of the request the line was logged in after the
    message; a URL's user and password hidden in the whole line, the traceback's too (a
    hook's or a library's exception may quote the URL it failed on)."""

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line

    def format(self, record: logging.LogRecord) -> str:
        return masked(super().format(record))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Lines to ``sys.stderr`` as it is when each is written, not as it was when logging
    was configured: a Rich progress bar on a terminal (``sync now``, ``sync backfill``)
    puts a proxy there that prints each line above the bar, and lines written to the
    stream behind it would be drawn over by the bar."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def configure_logging(level: LogLevel = "info", log_format: LogFormat = "text") -> None:
    """The process's log lines at ``level``, in ``log_format``, from now on."""
    logging.config.dictConfig(log_config(level, log_format))


def logs_json() -> bool:
    """Whether this process logs in JSON (``configure_logging`` set it so)."""
    return any(getattr(h, "log_format", None) == "json" for h in logging.getLogger().handlers)


def log_config(level: LogLevel = "info", log_format: LogFormat = "text") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (as uvicorn takes it: ``log_config=``) for the
    process; ``level`` is a ``--log-level`` (``info``, ``debug``...), ``log_format`` the
    lines' format."""
    number = _LEVELS.get(level, level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # A copy: dictConfig takes the factory out of the dict it is given.
        "formatters": {"line": dict(_FORMATTERS[log_format])},
        "filters": {
            "outages": {"()": "producersync.outage_filter.OutageFilter"},
            "cut_requests": {"()": "producersync.shutdown_filter.CutRequestFilter"},
            "parser_errors": {"()": "producersync.parser_filter.ParserErrorFilter"},
            "request_ids": {"()": "producersync.request_ids.RequestIdFilter"},
        },
        "handlers": {
            "stderr": {
                "class": f"{__name__}.StderrHandler",
                "formatter": "line",
                "filters": ["request_ids"],
                ".": {"log_format": log_format},  # set on the handler: ``logs_json``
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "producersync": {"level": number},
            "uvicorn": {"level": number},
            "uvicorn.error": {"level": number, "filters": ["cut_requests", "parser_errors"]},
            "uvicorn.access": {"level": number},
            # DBOS adds a handler of its own (its format, the time without the date) to a
            # logger that has none: this one has ours, and its level is DBOS's setting.
            "dbos": {"handlers": ["stderr"], "propagate": False, "filters": ["outages"]},
        },
    }
