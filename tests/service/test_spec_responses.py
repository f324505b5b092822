"""The API's routes build each ``responses=`` model's field once (spec_responses.py)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from producersync.service.app import create_app
from producersync.service.errors import ErrorBody


def _api_routes() -> list[APIRoute]:
    return [route for route in create_app().routes if isinstance(route, APIRoute)]


def test_routes_share_one_field_per_response_model() -> None:
    # 340 fields of ErrorBody, one per route and status, were built at every start.
    fields: dict[object, set[int]] = {}
    for route in _api_routes():
        for field in route.response_fields.values():
            fields.setdefault(field.field_info.annotation, set()).add(id(field))
    assert len(fields[ErrorBody]) == 1
    assert all(len(ids) == 1 for ids in fields.values()), fields


def test_each_response_model_is_still_in_the_spec() -> None:
    app = create_app()
    spec = app.openapi()
    declared = 0
    for route in _api_routes():
        if not route.include_in_schema:
            continue
        for method in route.methods:
            answers = spec["paths"][route.path][method.lower()]["responses"]
            for code, response in route.responses.items():
                if model := response.get("model"):
                    content = answers[str(code)]["content"]
                    schemas = [media["schema"] for media in content.values()]
                    assert {"$ref": f"#/components/schemas/{model.__name__}"} in schemas
                    declared += 1
    assert declared > 300
