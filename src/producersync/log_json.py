"""The ``json`` log format: one JSON object a line, for log shippers.

    {"timestamp": "2026-12-04T22:32:35.120Z", "level": "warning",
     "logger": "producersync.service.delivery.dispatcher", "message": "endpoint ep_01..."}

(one line in the log). Every record is a stdlib one, ours as uvicorn's, DBOS's and every
library's, so structlog's ``ProcessorFormatter`` renders them all through its
``foreign_pre_chain``. A record's structured fields (``extra=``) are keys of their own
beside these; a traceback is the ``exception`` string. Imported only by a process that
logs in JSON (``log_format.log_config`` names it): structlog takes 150 ms to import, and
every command imports the CLI.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import structlog
from structlog.typing import EventDict, WrappedLogger

from producersync.log_format import DATE_FORMAT
from producersync.url_userinfo import masked

__all__ = ["json_formatter"]

# Attributes a record may carry that are no fields of its own: uvicorn's copy of the
# message in terminal colours, and what a text formatter leaves on a record it formatted
# first (pytest's, in tests).
_NOT_FIELDS: Final = ("color_message", "message", "asctime")
# What every line has, first: a person reading the lines finds them in the same place.
_HEAD: Final = ("timestamp", "level", "logger", "message")


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the ``json`` format (a ``dictConfig`` factory, ``"()"``)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            # The fields first: those below are ours, whatever a record's extras say.
            structlog.stdlib.ExtraAdder(),
            _drop_not_fields,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _timestamp,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A plain traceback string: structlog's dict tracebacks can show each frame's
            # local variables, and those may hold a secret.
            structlog.processors.format_exc_info,
            # The key shippers read a line's text from (Elastic, Datadog, Cloud Logging).
            structlog.processors.EventRenamer("message"),
            _masked,
            _head_first,
            structlog.processors.JSONRenderer(),
        ],
    )


def _masked(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """A URL's user and password hidden in every text of the line, the traceback's too."""
    return {key: masked(v) if isinstance(v, str) else v for key, v in event.items()}


def _drop_not_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in _NOT_FIELDS:
        event.pop(key, None)
    return event


def _timestamp(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """When the record was made, as the text format writes it (ISO 8601, UTC, ms, ``Z``).
    structlog's ``TimeStamper`` takes the time of formatting instead."""
    record: logging.LogRecord = event["_record"]
    event["timestamp"] = (
        f"{time.strftime(DATE_FORMAT, time.gmtime(record.created))}.{int(record.msecs):03d}Z"
    )
    return event


def _head_first(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    head = {key: event.pop(key) for key in _HEAD}
    return {**head, **event}
