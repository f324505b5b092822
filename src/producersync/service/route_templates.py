"""The route template a request is counted under in ``/metrics`` (``/v2/entities/{npn}``,
never ``/v2/entities/15645555``), whoever answered it.

The router names the route it ran (``scope["route"]``, on the scope every layer shares),
and a mount adds its prefix to ``root_path`` (the portal's pages are ``/portal/...``).
A request answered before routing (the API gate's 401s and 429s) is matched here against
the API's own templates, the paths of its routes in the OpenAPI document; one
answered by a route the router does not name (a mount's static files) is named by its
mount (``/portal/static/{path}``). Only what matches nothing is ``unmatched``.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import compile_path
from starlette.types import Scope

__all__ = ["UNMATCHED", "RouteTemplates"]

UNMATCHED = "unmatched"


class RouteTemplates:
    """Names requests by route template, for one app."""

    def __init__(self) -> None:
        self._api: list[tuple[re.Pattern[str], str]] | None = None

    def of(self, app: FastAPI, scope: Scope, root_path: str) -> str:
        """The template of the request ``scope`` once answered; ``root_path`` as it was
        when the request entered ``app``."""
        mounted = str(scope.get("root_path", ""))[len(root_path) :]
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return mounted + path
        if mounted:
            return mounted + "/{path}"
        return self._api_template(app, scope["path"][len(root_path) :])

    def _api_template(self, app: FastAPI, path: str) -> str:
        if self._api is None:
            # The routes the spec documents, read from the routes themselves: the spec
            # costs a second of CPU to build, which a process need not spend unless asked.
            documented = dict.fromkeys(
                route.path_format
                for route in iter_route_contexts(app.routes)
                if isinstance(route.original_route, APIRoute) and route.include_in_schema
            )
            self._api = [
                (compile_path(template)[0], template) for template in documented if template
            ]
        return next((t for regex, t in self._api if regex.match(path)), UNMATCHED)
