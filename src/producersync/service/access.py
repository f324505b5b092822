"""Each request's id (``x-request-id`` on every answer) and, when asked for, its access-log
line.

A customer reporting a failure could point at no request (the SDK's errors read
``x-request-id``, and ours sent none), and the logs could not be searched by one. Every
answer of the service now carries the request's id: the client's own ``x-request-id`` if
it is a sane token (``request_ids``), else a fresh ``req_...``. The lines logged while the
request is handled carry it (a 500's traceback, an outage's line), and with
``PRODUCERSYNC_ACCESS_LOG`` (``--access-log``) so does one line per request::

    ... INFO producersync.service.access: GET /v2/licenses/9 404 3.1 ms client=psc_...
        request_id=req_...

The path is as sent, without the query (an NPN filter holds a thousand numbers there), a
portal sign-in link's token shown as ``***`` (``/portal/login/***``: whoever read the line
could sign in with a link not yet used); in JSON the line has ``method``, ``path``,
``status`` and ``duration_ms`` too. A request whose bearer token was good names its OAuth
client (``client=``, ``client_id`` in JSON), answered or refused (a 429, a revoked
client's 401): which client is throttled is what a run of 429s asks.

The ids are ``request_ids.RequestIds``'s, wrapped around the whole app, Starlette's own
500 answer included, as the sync receiver's are; the access-log line is the service's.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote_from_bytes

from starlette.applications import Starlette
from starlette.types import Scope

from producersync import request_ids
from producersync.echo import PATH_SHOWN, cut
from producersync.service.portal.links import LOGIN_PATH

__all__ = ["CLIENT_ID", "identify_requests"]

CLIENT_ID = "client_id"  # the scope's state key the gate puts a token's client id under

log = logging.getLogger(__name__)

# Kept as sent: the path's own characters and its escapes; anything else escaped, so that
# a line is one line whatever the path held.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
# Anywhere in the path: under a proxy's prefix, the path holds it first.
_LOGIN_TOKEN = re.compile(f"({re.escape(LOGIN_PATH)})[^/]+")


def identify_requests(app: Starlette, *, access_log: bool = False) -> None:
    """The service's requests identified (``request_ids.identify_requests``), each
    answer logged with ``access_log``."""
    request_ids.identify_requests(app, answered=_log if access_log else None)


def _log(scope: Scope, status: int | None, seconds: float, request_id: str) -> None:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = _LOGIN_TOKEN.sub(r"\1***", quote_from_bytes(raw, safe=_PATH_SAFE))
    path = cut(path, PATH_SHOWN)
    ms = round(seconds * 1000, 1)
    client_id = scope.get("state", {}).get(CLIENT_ID)
    log.info(
        "%s %s %s %.1f ms%s",
        scope["method"],
        path,
        status or "-",  # none sent: the connection was dropped, or the client left
        ms,
        f" client={client_id}" if client_id else "",
        extra={
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": ms,
            "client_id": client_id,
            "request_id": request_id,
        },
    )
