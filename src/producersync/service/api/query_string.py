"""Repeated query parameters of API requests, settled before any route reads them.

A query model keeps a parameter's last value: ``states=XX&states=TX`` was answered for TX
alone, ``XX`` never checked, and ``npns=1&npns=2`` for one NPN of the two asked. So a list
parameter given more than once has its values joined (``states=CA&states=TX`` is
``states=CA,TX``: how many HTTP clients encode a list, and how Spring, which the public
API runs on, binds one), and any other parameter given more than once is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from producersync.service.api.params import LIST_PARAMETERS
from producersync.service.errors import ApiError, error_response
from producersync.service.gate import API_PREFIXES
from producersync.service.served_under import route_path

__all__ = ["OneValueEach", "by_name"]


class OneValueEach:
    """Pure ASGI: the rewritten query string reaches every route as if the client had
    sent it so, and the refusal costs no routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and route_path(scope).startswith(API_PREFIXES)
        if api and scope["query_string"]:
            try:
                scope = _joined(scope)
            except ApiError as exc:
                await error_response(exc.status, exc.message, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def by_name(pairs: Iterable[tuple[str, str]], lists: Collection[str] = ()) -> dict[str, list[str]]:
    """Each parameter's values; ``ApiError`` for one given more than once that is not
    among ``lists``."""
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        if len(given) > 1 and name not in lists:
            shown = ", ".join(given)
            raise ApiError.bad_parameter(name, shown, "given more than once; give it once")
    return values


def _joined(scope: Scope) -> Scope:
    # Decoded as Starlette decodes it for the routes, so that both read the same values.
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    values = by_name(pairs, LIST_PARAMETERS)
    if len(values) == len(pairs):
        return scope
    query = urlencode([(name, ",".join(given)) for name, given in values.items()])
    return {**scope, "query_string": query.encode()}
