"""The apps serve their modules' routes as built, not copies that FastAPI's include_router
builds on the first request (served_routes.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
from fastapi import APIRouter, Depends, FastAPI

from producersync.service.api import subscriptions, v1, v2, webhooks
from producersync.service.app import create_app
from producersync.service.auth import token_endpoint
from producersync.service.portal import advanced, attempts, catalog, endpoints, login, testing
from producersync.service.portal.app import create_portal
from producersync.service.served_routes import serve

_API = (token_endpoint, subscriptions, v2, v1, webhooks)
_PORTAL = (login, endpoints, testing, advanced, attempts, catalog)


@pytest.mark.parametrize(
    ("build", "modules"), [(create_app, _API), (create_portal, _PORTAL)], ids=["api", "portal"]
)
def test_an_app_serves_the_routes_its_modules_built(
    build: Callable[[], FastAPI], modules: tuple[ModuleType, ...]
) -> None:
    # Included, the app held the routers, and its first request, /healthz too, built each
    # of their routes again before it was answered (0.2-0.6 s for the API's 57).
    served = [id(route) for route in build().router.routes]
    built = [id(route) for module in modules for route in module.router.routes]
    assert [route for route in served if route in built] == built


def _one_route() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/thing", lambda: None)
    return router


@pytest.mark.parametrize(
    ("app", "router", "refused"),
    [
        (FastAPI(dependencies=[Depends(lambda: None)]), _one_route(), "the app's dependencies"),
        (FastAPI(responses={418: {}}), _one_route(), "the app's responses"),
        (FastAPI(deprecated=True), _one_route(), "the app's deprecated"),
        (FastAPI(max_body_size=10), _one_route(), "the app's max_body_size"),
        (FastAPI(), APIRouter(form_limits={"max_fields": 3}), "a router's form_limits"),
        (FastAPI(), APIRouter(on_startup=[lambda: None]), "a router's on_startup"),
    ],
)
def test_serve_refuses_what_only_an_inclusion_passes_on(
    app: FastAPI, router: APIRouter, refused: str
) -> None:
    # Served as built, a route would go without it: a dependency the app adds to every
    # route (an authentication) would be left out in silence.
    with pytest.raises(ValueError, match=f"go without {refused}$"):
        serve(app, router)
    assert len(app.router.routes) == len(FastAPI().router.routes)


def test_serve_appends_the_routes_in_order() -> None:
    app = FastAPI(openapi_url=None)
    first, second = _one_route(), _one_route()
    serve(app, first, second)
    assert app.router.routes == [*first.routes, *second.routes]
