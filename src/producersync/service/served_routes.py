"""An app serves the routes of our modules' routers as those routers built them.

Each module of routes (``api/v1.py``, ``portal/login.py``...) declares them on its
``APIRouter``, which builds each route whole as the module is imported: its parameters'
and models' validators, its handler. FastAPI's ``include_router`` keeps the router and, on
the first request the app routes, builds every route of it again for the app (a copy per
inclusion, in case the app adds a prefix, tags, dependencies or responses): the first
request after a start, ``/healthz`` included, waited 0.2-0.6 s on the event loop, and every
request behind it, while the API's 57 routes were built a second time (the portal's first
page, for its 24). Our apps add nothing to their routes, so they serve them as built.

``app.dependency_overrides`` does not reach routes served so; nothing of ours sets it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.datastructures import DefaultPlaceholder

__all__ = ["serve"]

# What an app's router gives each route it includes, and what a router gives its routes
# only when it is included: neither reaches a route served as built, so neither may be set.
_APP_GIVES = (
    "prefix",
    "tags",
    "dependencies",
    "responses",
    "callbacks",
    "deprecated",
    "include_in_schema",
    "default_response_class",
    "generate_unique_id_function",
    "strict_content_type",
    "max_body_size",
    "form_limits",
)
_ROUTER_GIVES = ("form_limits", "on_startup", "on_shutdown")


def _value(setting: Any) -> Any:
    return setting.value if isinstance(setting, DefaultPlaceholder) else setting


def serve(app: FastAPI, *routers: APIRouter) -> None:
    """Serve the routes of ``routers``, in their order, after those ``app`` has so far; a
    ``ValueError`` if the app or a router sets what only an inclusion would pass on."""
    bare = APIRouter()
    given = [
        f"{owner} {name}"
        for owner, router, names in (
            ("the app's", app.router, _APP_GIVES),
            *(("a router's", router, _ROUTER_GIVES) for router in routers),
        )
        for name in names
        if _value(getattr(router, name)) != _value(getattr(bare, name))
    ]
    if given:
        raise ValueError(f"Routes served as built would go without {', '.join(given)}")
    for router in routers:
        app.router.routes.extend(router.routes)
