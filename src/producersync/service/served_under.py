"""The service behind a proxy at a path prefix: the path of ``PRODUCERSYNC_PUBLIC_URL``
(``https://internal.example/producersync``) is the ASGI ``root_path`` it serves under.

The proxy strips the prefix before a request reaches the service; ``ServedUnder`` puts it
back in front of the request's path, as uvicorn's ``--root-path`` does, so that whatever
builds an address from the request (the portal's links, redirects and cookie paths, the
reference pages' spec and assets, the spec's ``servers``) builds it under the prefix.
Without it the portal's pages linked, posted their forms and set their cookies at the
host's root, outside the prefix, where the proxy sends nothing to the service.

Routing reads the path after ``root_path``, and so does every middleware that picks
requests by path (``route_path``): the API gate covers ``/v1/`` and ``/v2/`` under a
prefix as it does at the root.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ServedUnder", "after_root", "prefix_of", "route_path"]


def prefix_of(public_url: str | None) -> str:
    """The path ``public_url`` has, without its trailing slash: ``""`` at a host's root."""
    return unquote(urlsplit(public_url).path).rstrip("/") if public_url else ""


def after_root(path: str, root: str) -> str:
    """``path`` after ``root``, as Starlette's router reads a path after its ``root_path``."""
    return path[len(root) :] if root and path.startswith(root + "/") else path


def route_path(scope: Scope) -> str:
    """The request's path after its ``root_path``: the path its route matches."""
    return after_root(scope["path"], scope.get("root_path", ""))


class ServedUnder:
    """Pure ASGI: each request's ``root_path`` is ``prefix``, its path (and raw path)
    prefixed with it, unless the server gave it a ``root_path`` of its own already."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        self._raw = quote(prefix).encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            scope = {**scope, "root_path": self.prefix, "path": self.prefix + scope["path"]}
            if scope.get("raw_path") is not None:
                scope["raw_path"] = self._raw + scope["raw_path"]
        await self.app(scope, receive, send)
