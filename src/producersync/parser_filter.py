"""uvicorn's line of a request its parser refused, dropped (``log_format`` puts the filter
on uvicorn's logger): ``Invalid HTTP request received.``, no path, no reason and no request
id, logged before ``bounded_head`` answers the 400 and logs a line that has them all."""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["ParserErrorFilter"]

_UVICORNS: Final = "Invalid HTTP request received."


class ParserErrorFilter(logging.Filter):
    """Drops uvicorn's bare line of a request its parser could not read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _UVICORNS
