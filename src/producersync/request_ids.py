"""Request ids: the one a request is answered under (``x-request-id``), and the log lines
made while it is handled, which carry it.

A client's own id is kept only if it is a sane token (``REQUEST_ID_PATTERN``): up to
128 characters of letters, digits and ``. _ ~ : @ + / = -`` (a UUID, a ULID, base64, a
proxy's own id). Anything else (a line break, a quote, a space, a kilobyte) gets a fresh
id, never echoed into the logs or the answer. The log lines of a request carry the id
(``RequestIdFilter`` on the handler): the text format ends the message with
``request_id=...``, the JSON format has a ``request_id`` field. Imported by the log
configuration of every process, so it imports nothing heavy.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar
from typing import Final

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_ID_PATTERN",
    "RequestIdFilter",
    "current_request_id",
    "new_request_id",
    "request_id_given",
]

REQUEST_ID_HEADER: Final = "x-request-id"
REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._~:@+/=-]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being handled, in its task (and the threads it hands work to)."""


def new_request_id() -> str:
    """A fresh id: ``req_`` and 24 hex digits (96 random bits)."""
    return "req_" + secrets.token_hex(12)


def request_id_given(values: list[bytes]) -> str | None:
    """The client's id, from the values of its ``x-request-id`` headers: one, and sane;
    else None (none, two, or one that is not a sane token)."""
    if len(values) != 1:
        return None
    text = values[0].decode("latin-1")
    return text if REQUEST_ID_PATTERN.fullmatch(text) else None


class RequestIdFilter(logging.Filter):
    """Gives each record made while a request is handled that request's id
    (``record.request_id``), unless the record names one itself. On the handler, so that
    every logger's records pass it, uvicorn's and the libraries' too."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True
