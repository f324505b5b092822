"""HAL+JSON responses and the envelope models that the OpenAPI spec publishes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model
from starlette.requests import Request

from producersync.model import Href
from producersync.service.api.json_response import JsonResponse
from producersync.service.api.resources import Resource
from producersync.service.errors import ErrorBody
from producersync.service.served_under import after_root

__all__ = [
    "AUTO_SUBSCRIBES",
    "BY_ID",
    "CONTINUATION_PAGES",
    "ERROR_RESPONSES",
    "NUMBERED_PAGES",
    "UNAVAILABLE",
    "HalResponse",
    "PageInfo",
    "V1Links",
    "V2Links",
    "hal_responses",
    "href",
    "v1_page_model",
    "v2_page_model",
]

HAL = "application/hal+json"


class HalResponse(JsonResponse):
    media_type = HAL


def hal_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: its 200 is ``model`` as HAL+JSON."""
    return {200: {"model": model, "content": {HAL: {}}}}


class V2Links(BaseModel):
    self: Href
    next: Href


class V1Links(BaseModel):
    """Every page has ``self``, ``first`` and ``last``; ``next`` and ``prev`` where they apply."""

    self: Href
    first: Href
    last: Href
    next: Href | None = None
    prev: Href | None = None


class PageInfo(BaseModel):
    size: int
    totalElements: int
    totalPages: int
    number: int


def _embedded(name: str, key: str, item: Any) -> Any:
    return create_model(name, **{key: (list[item], ...)})  # type: ignore[call-overload]


def v2_page_model(resource: Resource) -> type[BaseModel]:
    embedded = _embedded(f"{resource.singular}V2Embedded", resource.key, resource.model)
    model: type[BaseModel] = create_model(
        f"{resource.singular}V2Page",
        embedded=(embedded | None, Field(None, description="Absent on the last page")),
        links=(V2Links, ...),
    )
    return model


def v1_page_model(name: str, key: str, item: Any) -> type[BaseModel]:
    embedded = _embedded(f"{name}V1Embedded", key, item)
    model: type[BaseModel] = create_model(
        f"{name}V1Page",
        embedded=(embedded | None, Field(None, description="Absent when the page is empty")),
        links=(V1Links, ...),
        page=(PageInfo, ...),
    )
    return model


# The operations' descriptions: what a generated client's docstrings say about paging.
CONTINUATION_PAGES = (
    "Pages by continuation token: follow `links.next.href` as given until its "
    "`continuationToken` is `0`; the last page and an empty result have no `embedded`."
)
NUMBERED_PAGES = (
    "Pages by number (`page`, 0-based, and `size`): `page` gives the totals, `links` "
    "has `self`, `first` and `last`, and `next` and `prev` where they apply; an empty "
    "page has no `embedded`."
)
AUTO_SUBSCRIBES = (
    "An NPN the account does not monitor yet is subscribed first (billable), unless it is "
    "unknown to NIPR (404)."
)
BY_ID = "The bare record, with its links; 404 unless one of the account's NPNs holds it."

UNAVAILABLE = "The store is out of reach (a restart, an outage); retry after Retry-After"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad request: a parameter or the body is invalid (the message names it)"),
        (401, "Missing, invalid or expired bearer token"),
        (403, "The token lacks the scope this operation needs"),
        (404, "No such record visible to this account"),
        (429, "Rate limit exceeded; see Retry-After and ratelimit-* headers"),
        (503, UNAVAILABLE),
    )
}


def href(request: Request, base: str, **params: str | int) -> dict[str, str]:
    """A HAL link to this request's URL rooted at ``base``, with ``params`` replaced.
    ``base`` has the path the service is served under (``served_under``), the public
    URL's or the request's ``root_path``: the request's path is taken after it."""
    url = request.url.include_query_params(**params)
    query = f"?{url.query}" if url.query else ""
    return {"href": f"{base}{after_root(url.path, request.scope.get('root_path', ''))}{query}"}
