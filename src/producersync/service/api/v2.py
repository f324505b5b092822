"""The v2 API: lists over the population (continuation tokens), per-NPN lists, children."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations live.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from producersync.model import NPN_PATTERN
from producersync.service.api.hal import (
    AUTO_SUBSCRIBES,
    CONTINUATION_PAGES,
    ERROR_RESPONSES,
    HalResponse,
    hal_responses,
    v2_page_model,
)
from producersync.service.api.listing import Call, request_call
from producersync.service.api.numbers import DIGITS_ONLY, MAX_ROW_ID
from producersync.service.api.params import TokenQuery, list_query_model, to_filter
from producersync.service.api.resources import BY_KEY, RESOURCES, Resource
from producersync.service.api.spec_responses import SharedResponsesRoute
from producersync.service.api.stray_params import refuse_strays
from producersync.service.errors import ApiError
from producersync.service.store.records import RecordFilter, list_after

__all__ = ["router"]

router = APIRouter(
    dependencies=[Depends(refuse_strays)],
    default_response_class=HalResponse,
    responses=ERROR_RESPONSES,
    route_class=SharedResponsesRoute,
)

NpnPath = Annotated[
    str,
    Path(
        description="National Producer Number (1 to 10 digits)",
        examples=["15645555"],
        json_schema_extra={"pattern": NPN_PATTERN},  # checked by Call.checked_npn
    ),
]


def _add_list(resource: Resource) -> None:
    query = list_query_model(resource, per_npn=False, base=TokenQuery)

    def list_records(
        query_params: Annotated[query, Query()],  # type: ignore[valid-type]
        call: Call = Depends(request_call),
    ) -> HalResponse:
        params: TokenQuery = query_params
        f = to_filter(params, resource)
        return HalResponse(
            call.v2_page(resource, call.population, f, params.continuationToken, params.size)
        )

    router.add_api_route(
        f"/v2/{resource.key}",
        list_records,
        methods=["GET"],
        tags=[resource.tag],
        summary=f"Get {resource.key} for subscribed NPNs",
        description=CONTINUATION_PAGES,
        operation_id=resource.list_operation or f"get{resource.capitalized}",
        responses=hal_responses(v2_page_model(resource)),
    )


def _add_per_npn(resource: Resource) -> None:
    query = list_query_model(resource, per_npn=True, base=TokenQuery)

    def list_for_npn(
        npn: NpnPath,
        query_params: Annotated[query, Query()],  # type: ignore[valid-type]
        call: Call = Depends(request_call),
    ) -> HalResponse:
        params: TokenQuery = query_params
        f = to_filter(params, resource)
        call.position(f, params.continuationToken)  # a bad token must not subscribe anything
        call.auto_subscribe(npn)
        return HalResponse(call.v2_page(resource, npn, f, params.continuationToken, params.size))

    router.add_api_route(
        f"/v2/entities/{{npn}}/{resource.key}",
        list_for_npn,
        methods=["GET"],
        tags=[resource.tag],
        summary=f"Get {resource.key} for a specific NPN (auto-subscribes)",
        description=f"{AUTO_SUBSCRIBES} {CONTINUATION_PAGES}",
        operation_id=f"get{resource.capitalized}ByNPN",
        responses=hal_responses(v2_page_model(resource)),
    )


for _resource in RESOURCES:
    if _resource.v2_list:
        _add_list(_resource)
    if _resource.per_npn:
        _add_per_npn(_resource)

_ENTITIES = BY_KEY["entities"]


@router.get(
    "/v2/entities/{npn}",
    tags=[_ENTITIES.tag],
    operation_id="getEntityByNPN",
    summary="Get the entity for a specific NPN (auto-subscribes)",
    description=f"The bare entity, with its links. {AUTO_SUBSCRIBES}",
    responses=hal_responses(_ENTITIES.model),
)
def get_entity(npn: NpnPath, call: Call = Depends(request_call)) -> HalResponse:
    call.auto_subscribe(npn)
    with call.ctx.engine.connect() as conn:
        rows = list_after(conn, _ENTITIES.table, npn, RecordFilter(), None, 1)
    if not rows:
        raise ApiError(404, f"No entity with NPN {npn}")
    return HalResponse(call.rooted(rows[0].document))


def _add_children(parent: Resource, child: Resource, parent_column: str, param: str) -> None:
    def list_children(
        parent_id: Annotated[
            int,
            Path(alias=param, ge=1, le=MAX_ROW_ID, description=f"Unique {parent.singular} ID"),
            DIGITS_ONLY,
        ],
        params: Annotated[TokenQuery, Query()],
        call: Call = Depends(request_call),
    ) -> HalResponse:
        with call.ctx.engine.connect() as conn:
            npn = call.visible_npn(conn, parent, parent_id)  # 404 unless visible
        f = RecordFilter(parent=(parent_column, parent_id))
        return HalResponse(call.v2_page(child, npn, f, params.continuationToken, params.size))

    router.add_api_route(
        f"/v2/{parent.key}/{{{param}}}/{child.key}",
        list_children,
        methods=["GET"],
        tags=[child.tag],
        summary=f"Get {child.key} of one {parent.singular}",
        description=f"404 unless one of the account's NPNs holds the {parent.singular}. "
        f"{CONTINUATION_PAGES}",
        operation_id=f"get{child.capitalized}Of{parent.singular}",
        responses=hal_responses(v2_page_model(child)),
    )


_add_children(BY_KEY["licenses"], BY_KEY["licenseLoas"], "license_id", "licenseId")
_add_children(
    BY_KEY["regulatoryActions"], BY_KEY["regulatoryActionValues"], "regulatory_action_id", "id"
)
