"""NPN management: the account's subscriptions and the asynchronous jobs that change them."""

# No `from __future__ import annotations`: FastAPI reads these annotations live.

import datetime as dt
import functools
import logging
import re
import uuid
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from producersync.model import Href, is_npn
from producersync.model.events import iso_z
from producersync.model.subscriptions import (
    JobAccepted,
    JobAcceptedLinks,
    JobDetail,
    JobStatus,
    Subscription,
)
from producersync.service.api.hal import ERROR_RESPONSES, NUMBERED_PAGES, HalResponse, v1_page_model
from producersync.service.api.json_body import refuse_other_content_types
from producersync.service.api.listing import Call, request_call
from producersync.service.api.params import PageQuery
from producersync.service.api.spec_responses import SharedResponsesRoute
from producersync.service.api.stray_params import refuse_strays
from producersync.service.auth.bearer import writer_principal
from producersync.service.auth.principal import Principal
from producersync.service.errors import ApiError, shown
from producersync.service.store.engine import read_snapshot, write_transaction
from producersync.service.store.jobs import (
    Job,
    JobRecord,
    Operation,
    UnreadableRecord,
    count_job_items,
    create_job,
    created_at_of,
    get_job,
    page_job_items,
)
from producersync.service.store.population import count_subscriptions, page_subscriptions

__all__ = ["MAX_BODY_BYTES", "PATH", "publish_npn_limit", "router"]

log = logging.getLogger(__name__)

router = APIRouter(
    tags=["NPN Management"],
    dependencies=[Depends(refuse_strays)],
    responses=ERROR_RESPONSES,
    route_class=SharedResponsesRoute,
)

PATH = "/v1/accounts/subscriptions"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""A list's body at most (``api/body_limit.py`` holds it to that): 50,000 NPNs of ten
digits and their quotes and commas are 700,000 bytes, spaced out well under 4 MiB."""


_NPN_LIST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "pattern": "^[0-9]{1,10}$"},
                    "example": ["912484758", "123456689", "999999999"],
                }
            }
        },
    }
}

JobId = Annotated[
    str, Path(description="ID of the NPN management job", json_schema_extra={"format": "uuid"})
]


_LISTED = 10
"""Refused NPNs a message names, as ``errors.validation_message`` names parameters."""


def _json_kind(value: object) -> str:
    kinds = {dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


# What an empty body should have been, by operation: only a replacement by nothing means
# "unsubscribe every NPN", which is a DELETE of the NPNs subscribed.
_EMPTY_HINT = {
    Operation.REPLACE: "to unsubscribe every NPN, DELETE the NPNs subscribed",
    Operation.APPEND: "list the NPNs to subscribe",
    Operation.REMOVE: "list the NPNs to unsubscribe",
}


async def _npn_body(request: Request, limit: int, operation: Operation) -> list[str]:
    """The body as a list of distinct NPNs, or a 4xx naming what is wrong."""
    try:
        body = await request.body()
    except ClientDisconnect:
        # The client's doing, not an error of ours to log with a traceback; no one reads
        # the answer.
        raise ApiError(400, "The client closed the connection before the body ended") from None
    # As the webhook API's bodies: JSON only, not any content type read as JSON, a form's.
    await refuse_other_content_types(request)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise ApiError(
            400, f"The body must be a JSON array of NPN strings, not a JSON {_json_kind(value)}"
        )
    if not value:
        # A list built from a query that failed, most likely: for POST it would have
        # unsubscribed every NPN, for PUT and DELETE made a job that does nothing.
        raise ApiError(400, f"The body lists no NPNs; {_EMPTY_HINT[operation]}")
    if len(value) > limit:
        raise ApiError(413, f"The body holds {len(value)} NPNs; at most {limit} per request")
    refused = [
        _refusal(index, item)
        for index, item in enumerate(value)
        if not isinstance(item, str) or not is_npn(item)
    ]
    if refused:
        # All of them, up to ten, as every 400 names its refusals: a list of thousands
        # would otherwise be fixed one request at a time.
        listed = refused[:_LISTED]
        if len(refused) > _LISTED:
            listed.append(f"and {len(refused) - _LISTED} more")
        raise ApiError(
            400,
            f"Invalid NPN {'; '.join(listed)}: an NPN is a string of 1 to 10 digits",
        )
    return list(dict.fromkeys(value))


def _refusal(index: int, item: object) -> str:
    where = f"{shown(item, 40)} at index {index}"
    # shown() quotes every value alike: the number 123 read as the string '123' would.
    return where if isinstance(item, str) else f"{where} (a JSON {_json_kind(item)}, not a string)"


def _accepted(call: Call, job: Job) -> JSONResponse:
    status = f"{call.base}{PATH}/status/{job.id}"
    body = JobAccepted(
        success=True,
        message="Job is in progress",
        job_id=job.id,
        links=JobAcceptedLinks(status=Href(href=status)),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


async def _submit(request: Request, principal: Principal, operation: Operation) -> JSONResponse:
    call = Call(request, principal)
    npns = await _npn_body(request, call.ctx.settings.max_subscription_npns, operation)

    def create() -> Job:
        with write_transaction(call.ctx.engine) as conn:
            return create_job(conn, principal.account_id, operation, npns)

    job = await anyio.to_thread.run_sync(create)
    request.app.state.job_worker.wake()
    return _accepted(call, job)


_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": JobAccepted, "description": "Accepted: the job is queued"},
    413: ERROR_RESPONSES[400]
    | {
        "description": "More NPNs than the body's maxItems (PRODUCERSYNC_MAX_SUBSCRIPTION_NPNS, "
        "50,000 by default), "
        f"or a body over {MAX_BODY_BYTES // 2**20} MiB"
    },
}


def publish_npn_limit(spec: dict[str, Any], limit: int) -> None:
    """The NPN lists' ``maxItems``: the service's limit (a setting), above which it answers
    the 413 the operations declare. Unpublished, a list of 50,001 was one the spec allowed
    and the service refused. A copy of the schema each time: the routes share it, and
    another app may have another limit."""
    for operation in spec["paths"][PATH].values():
        if body := operation.get("requestBody"):
            media = body["content"]["application/json"]
            media["schema"] = {**media["schema"], "maxItems": limit}


_ASYNC = (
    "Asynchronous: answers 202 with the job's id at once; poll its status "
    "(`links.status.href`) until COMPLETED or FAILED. The body is a JSON array of NPNs."
)


def _add_submission(method: str, operation: Operation, summary: str, operation_id: str) -> None:
    async def submit(
        request: Request, principal: Principal = Depends(writer_principal)
    ) -> JSONResponse:
        return await _submit(request, principal, operation)

    router.add_api_route(
        PATH,
        submit,
        methods=[method],
        summary=summary,
        description=_ASYNC,
        status_code=202,
        response_model=JobAccepted,
        responses=_ACCEPTED,
        openapi_extra=_NPN_LIST_BODY,
        operation_id=operation_id,
    )


_add_submission(
    "POST",
    Operation.REPLACE,
    "Replace the list of active NPNs subscribed to the account",
    "replaceActiveNpns",
)
_add_submission(
    "PUT",
    Operation.APPEND,
    "Append to the list of active NPNs subscribed to the account",
    "appendActiveNpns",
)
_add_submission(
    "DELETE", Operation.REMOVE, "Remove active NPNs subscribed to the account", "deleteActiveNpns"
)


@router.get(
    PATH,
    summary="Get active NPNs subscribed to the account (page-based)",
    description=NUMBERED_PAGES,
    response_class=HalResponse,
    operation_id="getActiveNpns",
    responses={
        200: {
            "model": v1_page_model("Subscription", "subscriptions", Subscription),
            "content": {"application/hal+json": {}},
        }
    },
)
def list_subscriptions(
    params: Annotated[PageQuery, Query()], call: Call = Depends(request_call)
) -> HalResponse:
    account = call.principal.account_id
    with read_snapshot(call.ctx.engine) as conn:
        total = count_subscriptions(conn, account)
        rows = page_subscriptions(conn, account, params.page, params.size)
    items = [{"npn": r.npn, "activatedAt": iso_z(r.activated_at)} for r in rows]
    return HalResponse(call.paged("subscriptions", items, params.page, params.size, total))


_JOB_ID = re.compile(
    r"(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})",
    re.IGNORECASE | re.ASCII,
)
"""A UUID as RFC 9562 spells it, or its 32 digits alone. ``uuid.UUID`` is laxer: it drops
braces, every "urn:" and "uuid:" and dashes anywhere, and ``int()`` takes a sign, spaces
and underscores among the digits, so ``+ded8367-…`` would name job ``0ded8367-…``."""


def _no_job(job_id: str, canonical: str, days: int) -> str:
    """A 404's message: a job pruned since (its id tells when it was made) says so, where
    the same message as for a mistyped id would leave its client looking for a bug."""
    made = created_at_of(canonical)
    if made is None or dt.datetime.now(dt.UTC) - made < dt.timedelta(days=days):
        return f"No NPN management job {job_id}"
    return (
        f"No NPN management job {job_id}: made on {made.date().isoformat()}, it has been "
        f"deleted (finished jobs are kept {days} days)"
    )


@functools.lru_cache(maxsize=1024)
def _tell_unreadable(job_id: str, account_id: int, problem: str) -> None:
    """Log a job's unreadable record once per process (the cache keeps what was logged): a
    client polling its status logged the same line at each poll. No traceback: the row is
    at fault, not the code."""
    log.error(
        "job %s of account %d answered 500 (its record cannot be read): %s (a row this "
        "service does not write)",
        job_id,
        account_id,
        problem,
    )


def _owned_job(call: Call, job_id: str) -> JobRecord:
    match = _JOB_ID.fullmatch(job_id)
    if match is None:
        raise ApiError(400, f"Invalid jobId {shown(job_id, 60)}: expected a UUID")
    # Ids are stored as issued, lowercase with dashes; any spelling of the same UUID
    # (uppercase, no dashes, urn:uuid:) names the same job.
    canonical = str(uuid.UUID(match[1]))
    with call.ctx.engine.connect() as conn:
        try:
            job = get_job(conn, call.principal.account_id, canonical)
        except UnreadableRecord as unreadable:
            # A 500: the request is sound, and sent again it is answered the same until
            # the row is mended.
            _tell_unreadable(canonical, call.principal.account_id, unreadable.problem)
            raise ApiError(
                500,
                f"The record of NPN management job {canonical} cannot be read, through no "
                "fault of the request; contact support, quoting the job's id",
            ) from None
    if job is None:
        raise ApiError(404, _no_job(job_id, canonical, call.ctx.settings.job_retention_days))
    return job


@router.get(
    f"{PATH}/status/{{jobId}}",
    summary="Get the status for an NPN management job",
    description="QUEUED, then COMPLETED or FAILED: a job is applied in one transaction, so "
    "this service never reports IN_PROGRESS, which the contract's vocabulary has and a client "
    "should accept. `details` counts the NPNs by outcome. 404 for another account's job.",
    response_class=HalResponse,
    operation_id="getNpnManagementJobStatus",
    responses={200: {"model": JobStatus, "content": {"application/hal+json": {}}}},
)
def job_status(jobId: JobId, call: Call = Depends(request_call)) -> HalResponse:
    job = _owned_job(call, jobId)
    status = f"{call.base}{PATH}/status/{job.id}"
    body: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "createdAt": job.created_at.date().isoformat(),
        "updatedAt": job.updated_at.date().isoformat(),
        "details": {
            "operation": job.operation,
            "status": job.status.value,
            "requested": job.requested,
            "activated": job.activated,
            "deactivated": job.deactivated,
            "unchanged": job.unchanged,
            "failed": job.failed,
            "error": job.error,
        },
        "links": {"self": {"href": status}, "details": {"href": f"{status}/details"}},
    }
    return HalResponse(body)


@router.get(
    f"{PATH}/status/{{jobId}}/details",
    summary="Get the status details for an NPN management job",
    description=f"One row per NPN of the job: its action and result. {NUMBERED_PAGES}",
    response_class=HalResponse,
    operation_id="getNpnManagementJobStatusDetails",
    responses={
        200: {
            "model": v1_page_model("JobDetail", "details", JobDetail),
            "content": {"application/hal+json": {}},
        }
    },
)
def job_details(
    jobId: JobId,
    params: Annotated[PageQuery, Query()],
    call: Call = Depends(request_call),
) -> HalResponse:
    job = _owned_job(call, jobId)
    with read_snapshot(call.ctx.engine) as conn:
        total = count_job_items(conn, job.id)
        items = page_job_items(conn, job.id, params.page, params.size)
    rows = [
        {"npn": i.npn, "action": i.action.value, "result": i.result.value, "reason": i.reason}
        for i in items
    ]
    return HalResponse(call.paged("details", rows, params.page, params.size, total))
