"""The v1 API: single records by id, and page-based lists (``page``, ``size``)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations live.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from producersync.service.api.hal import (
    BY_ID,
    ERROR_RESPONSES,
    NUMBERED_PAGES,
    HalResponse,
    hal_responses,
    v1_page_model,
)
from producersync.service.api.listing import Call, request_call
from producersync.service.api.numbers import DIGITS_ONLY, MAX_ROW_ID
from producersync.service.api.params import PageQuery, list_query_model, to_filter
from producersync.service.api.resources import RESOURCES, Resource
from producersync.service.api.spec_responses import SharedResponsesRoute
from producersync.service.api.stray_params import refuse_strays

__all__ = ["router"]

router = APIRouter(
    dependencies=[Depends(refuse_strays)],
    default_response_class=HalResponse,
    responses=ERROR_RESPONSES,
    route_class=SharedResponsesRoute,
)

RecordId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Unique record ID"), DIGITS_ONLY]


def _add_by_id(resource: Resource) -> None:
    def get_by_id(id: RecordId, call: Call = Depends(request_call)) -> HalResponse:
        return HalResponse(call.visible_record(resource, id))

    router.add_api_route(
        f"/v1/{resource.key}/{{id}}",
        get_by_id,
        methods=["GET"],
        tags=[resource.tag],
        summary=f"Get {resource.singular} by ID",
        description=BY_ID,
        operation_id=resource.by_id_operation or f"get{resource.singular}ById",
        responses=hal_responses(resource.model),
    )


def _add_page_list(resource: Resource) -> None:
    query = list_query_model(resource, per_npn=False, base=PageQuery)

    def list_page(
        query_params: Annotated[query, Query()],  # type: ignore[valid-type]
        call: Call = Depends(request_call),
    ) -> HalResponse:
        params: PageQuery = query_params
        f = to_filter(params, resource)
        return HalResponse(call.v1_page(resource, call.population, f, params.page, params.size))

    router.add_api_route(
        f"/v1/{resource.key}",
        list_page,
        methods=["GET"],
        tags=[resource.tag],
        summary=f"Get {resource.key} for subscribed NPNs (page-based)",
        description=NUMBERED_PAGES,
        operation_id=f"get{resource.capitalized}Paged",
        responses=hal_responses(v1_page_model(resource.singular, resource.key, resource.model)),
    )


for _resource in RESOURCES:
    if _resource.key != "entities":
        _add_by_id(_resource)
    if _resource.v2_list:
        _add_page_list(_resource)
