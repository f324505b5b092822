"""The service's ``503 Service Unavailable``: while the store is out of reach, and to a
request that a stopping process cut (``retry_shortly.RetryShortly``).

A PostgreSQL restart, a server down or its connections cut made every request a 500
("Internal error; it has been logged") with a traceback each: a client cannot tell that
from a bug, and the SDK and webhook senders wait out a 503's ``Retry-After`` where they
give up on a 500 sooner. Every request from the token endpoint to the API (the gate
reads revocations from the store too) answers 503 with the standard body instead, and
the log gets a line a minute while it lasts (``db_outage.OutageLog``).
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import ASGIApp

from producersync.db_outage import OutageLog
from producersync.retry_shortly import RETRY_AFTER, RetryShortly
from producersync.service.errors import error_response

__all__ = ["StoreUnavailable"]

log = logging.getLogger(__name__)


def _retry_shortly(path: str) -> Response:
    return error_response(
        503, "The service is temporarily unavailable; retry shortly", path, RETRY_AFTER
    )


class StoreUnavailable(RetryShortly):
    """The service's standard error body, and its outages logged as the API's."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, _retry_shortly, OutageLog(log, "API"))
