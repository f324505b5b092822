"""The OpenAPI document the service publishes, built when first asked for.

FastAPI builds it from the routes' models: about a second of CPU, which every start paid
while the route templates of ``/metrics`` were read from it. Now a process builds it only
when ``/openapi.json`` is first asked for, and in a thread, not on the event loop that
answers the API meanwhile.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from producersync.service.api.body_limit import MAX_BODY_BYTES
from producersync.service.api.link_schemas import add_link_schemas
from producersync.service.api.links import add_links
from producersync.service.api.params import describe_lists
from producersync.service.api.response_headers import add_response_headers
from producersync.service.api.subscriptions import publish_npn_limit
from producersync.service.auth.token_endpoint import PATH as TOKEN_PATH
from producersync.service.idempotency import add_idempotency_key
from producersync.service.served_under import route_path

__all__ = ["BuiltInThread", "openapi"]


def openapi(app: FastAPI, max_subscription_npns: int) -> dict[str, Any]:
    """FastAPI's spec, told the truth about errors: no 422 (validation errors are 400s with
    the standard body), error bodies as application/json, and a 413 wherever a body is
    read (the body limit is middleware, which no route declares), and the headers the
    middleware sets (rate-limit counts, Retry-After), and lists as comma-separated arrays,
    and the subscription lists' limit as this service sets it, and the writes'
    ``Idempotency-Key``."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for name, path in spec.get("paths", {}).items():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _not_null(parameter["schema"])
            responses = operation.get("responses", {})
            responses.pop("422", None)
            # The token endpoint answers an oversized body as RFC 6749 has it: a 400.
            if "requestBody" in operation and name != TOKEN_PATH:
                responses.setdefault("413", {**_TOO_LARGE})
            for code, response in responses.items():
                content = response.get("content")
                if code[0] in "45" and content:
                    # Errors are application/json whatever the route's success type.
                    response["content"] = {"application/json": next(iter(content.values()))}
    schemas = spec.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    add_idempotency_key(spec)
    add_links(spec)
    add_link_schemas(spec)
    add_response_headers(spec)
    describe_lists(spec)
    publish_npn_limit(spec, max_subscription_npns)
    app.openapi_schema = spec
    return spec


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without the null its ``X | None`` type adds: a query
    string has no null, and a client generated from the spec offered to send one, with
    the pattern and format set beside the ``anyOf`` where it would not apply them."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest}


# A body past the default limit (a subscription list declares its own): the standard body.
_TOO_LARGE: dict[str, Any] = {
    "description": f"The request body exceeds {MAX_BODY_BYTES // 1024} KiB",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


class BuiltInThread:
    """Pure ASGI: the first request for the spec has it built in a worker thread, so that
    FastAPI's own route (which builds it inline) finds it built."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = self.api
        if (
            scope["type"] == "http"
            and route_path(scope) == api.openapi_url
            and not api.openapi_schema
        ):
            await anyio.to_thread.run_sync(api.openapi)
        await self.app(scope, receive, send)
