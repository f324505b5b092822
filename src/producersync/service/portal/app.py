"""The webhook portal as an ASGI app, mounted by the service under ``/portal``.

It has its own session sign-in (``auth.py``), not the API's bearer tokens or rate limits,
and answers every error with a page, not the API's JSON body. The service sets
``state.context`` when it starts.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp

from producersync.db_outage import OutageLog, unavailable
from producersync.retry_shortly import RETRY_AFTER_SECONDS
from producersync.service.errors import allowed_methods, validation_message
from producersync.service.portal import (
    advanced,
    attempts,
    catalog,
    endpoints,
    login,
    messages,
    returning,
    testing,
)
from producersync.service.portal.headers import PortalHeaders
from producersync.service.portal.pages import PortalError, error_page
from producersync.service.portal.slashes import slash_less
from producersync.service.served_routes import serve

__all__ = ["create_portal"]

log = logging.getLogger(__name__)

_STATIC = Path(__file__).parent / "static"


class _Portal(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside the whole stack: added as middleware, the headers would be inside
        # Starlette's ServerErrorMiddleware, and the page it sends for an unexpected
        # error go without them (no content policy, framing allowed, cacheable).
        return PortalHeaders(super().build_middleware_stack())


def create_portal() -> FastAPI:
    # Its own redirect for a slash more (slashes.py), by a path, not a URL on the Host header.
    portal = _Portal(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    portal.mount("/static", StaticFiles(directory=_STATIC), name="static")
    serve(
        portal,
        *(m.router for m in (login, endpoints, testing, advanced, attempts, messages, catalog)),
    )
    _install_error_pages(portal)
    return portal


def _install_error_pages(portal: FastAPI) -> None:
    outage = OutageLog(log, "portal")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PortalError)
        page = error_page(request, exc)
        # A page asked for signed out (not a form sent, nor htmx's refresh of one, which
        # reloads it): signing in leads there.
        if exc.status == 401 and request.method == "GET" and "hx-request" not in request.headers:
            returning.remember(request, page)
        return page

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return slash_less(request) or error_page(request, _NOT_FOUND)
        phrase = HTTPStatus(exc.status_code).phrase
        page = error_page(request, PortalError(exc.status_code, phrase, str(exc.detail)))
        page.headers.update(exc.headers or {})  # a body refused (413, 408) closes its connection
        if exc.status_code == 405:
            page.headers["allow"] = allowed_methods(request)
        return page

    async def invalid(request: Request, exc: Exception) -> Response:
        # Only path and query parameters are validated by FastAPI here (form fields are
        # all optional text, checked by forms.py): a malformed id is a page not found. A
        # query parameter is named with its value, in the API's words.
        assert isinstance(exc, RequestValidationError)
        if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return error_page(request, _NOT_FOUND)
        return error_page(request, PortalError.bad_address(validation_message(exc)))

    async def store_error(request: Request, exc: Exception) -> Response:
        # The store out of reach is no bug of ours: a page that says so, not a 500 and a
        # traceback per page (the API answers its 503 in service/unavailable.py).
        if not unavailable(exc):
            raise exc
        outage.failed(exc, "answering 503")
        page = error_page(request, _UNAVAILABLE)
        page.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        return page

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback; the page shows no internals.
        return error_page(
            request,
            PortalError(500, "Something went wrong", "The error has been logged. Try again."),
        )

    portal.add_exception_handler(PortalError, refused)
    portal.add_exception_handler(StarletteHTTPException, http_error)
    portal.add_exception_handler(RequestValidationError, invalid)
    portal.add_exception_handler(sa.exc.DBAPIError, store_error)
    portal.add_exception_handler(sa.exc.TimeoutError, store_error)
    portal.add_exception_handler(Exception, unexpected)


_UNAVAILABLE = PortalError(
    503, "Temporarily unavailable", "The service cannot reach its database. Try again shortly."
)
_NOT_FOUND = PortalError(
    404,
    "Page not found",
    "There is nothing at this address.",
    back=("endpoints", "Back to Endpoints"),
)
