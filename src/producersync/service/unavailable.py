"""The service's ``503 Service Unavailable``: while the store is out of reach, and to a
request that a stopping process cut (``retry_shortly.RetryShortly``).

A PostgreSQL restart, a server down or its connections cut made every request a 500
("Internal error; it has been logged") with a traceback each: a client cannot tell that
from a bug, and the SDK and webhook senders wait out a 503's ``Retry-After`` where they
give up on a 500 sooner. Every request from the token endpoint to the API (the gate
reads revocations from the store too) answers 503 with the standard body instead (the
token endpoint's in RFC 6749's, ``temporarily_unavailable``), and
the log gets a line a minute while it lasts (``db_outage.OutageLog``).
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import ASGIApp

from producersync.db_outage import OutageLog
from producersync.retry_shortly import RETRY_AFTER, RetryShortly
from producersync.service.errors import PathBodies

__all__ = ["StoreUnavailable"]

log = logging.getLogger(__name__)


_MESSAGE = "The service is temporarily unavailable; retry shortly"


class StoreUnavailable(RetryShortly):
    """The service's standard error body (``bodies``', a path's own where it has one, as
    ``install_error_handlers`` has it), and its outages logged as the API's."""

    def __init__(self, app: ASGIApp, bodies: PathBodies | None = None) -> None:
        answer = bodies or PathBodies()

        def retry_shortly(path: str) -> Response:
            return answer(503, _MESSAGE, path, RETRY_AFTER)

        super().__init__(app, retry_shortly, OutageLog(log, "API"))
