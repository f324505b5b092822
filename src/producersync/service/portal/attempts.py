"""An endpoint's Message Attempts tab: every attempt, newest first, filtered by outcome
and paged; Resend of one message, and recovery of the failed ones since a time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from producersync.service.api.numbers import RowId
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.forms import FormInvalid, parse_since, rule_errors
from producersync.service.portal.lookup import EndpointId, MessageId, Owned, owned
from producersync.service.portal.pages import PortalError, redirect, render
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

PAGE_SIZE = 20
Outcome = Literal["all", "succeeded", "failed"]
_SUCCEEDED: dict[str, bool | None] = {"all": None, "succeeded": True, "failed": False}
_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and takes


def _page(
    request: Request,
    visitor: Visitor,
    endpoint: endpoints.Endpoint,
    *,
    outcome: Outcome = "all",
    before: int | None = None,
    since: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    with get_context(request).engine.connect() as conn:
        # One more than a page tells whether an older page exists.
        rows = outbox.list_attempts(
            conn,
            endpoint_id=endpoint.id,
            limit=PAGE_SIZE + 1,
            before=before,
            succeeded=_SUCCEEDED[outcome],
        )
    now = dt.datetime.now(dt.UTC)
    return render(
        request,
        "attempts.html",
        status=400 if errors else 200,
        visitor=visitor,
        endpoint=endpoint,
        tab="attempts",
        attempts=rows[:PAGE_SIZE],
        older=rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None,
        outcome=outcome,
        outcomes=list(_SUCCEEDED),
        before=before,
        since=since if since is not None else (now - dt.timedelta(days=1)).strftime(_MINUTE),
        since_min=(now - management.RECOVER_WINDOW).strftime(_MINUTE),
        since_max=now.strftime(_MINUTE),
        errors=errors or {},
    )


@router.get("/endpoints/{endpoint_id}/attempts", name="attempts")
def attempts(
    request: Request,
    visitor: SignedIn,
    endpoint: Owned,
    outcome: Outcome = "all",
    before: Annotated[RowId | None, Query()] = None,
) -> Response:
    return _page(request, visitor, endpoint, outcome=outcome, before=before)


@router.post("/endpoints/{endpoint_id}/messages/{message_id}/resend", name="resend")
def resend(
    endpoint_id: EndpointId, message_id: MessageId, request: Request, visitor: Submitted
) -> Response:
    ctx = get_context(request)
    with write_transaction(ctx.engine) as conn:
        delivery = management.replay(conn, owned(conn, visitor, endpoint_id), message_id)
    if delivery is None:
        raise PortalError.not_found("message")
    ctx.published()
    return redirect(request, "attempts", {"notice": "resent"}, endpoint_id=endpoint_id)


@router.post("/endpoints/{endpoint_id}/recover", name="recover")
def recover(
    request: Request,
    visitor: Submitted,
    endpoint: Owned,
    since: Annotated[str, Form()] = "",
) -> Response:
    ctx = get_context(request)
    try:
        start = parse_since(since)
        with write_transaction(ctx.engine) as conn, rule_errors():
            queued = management.recover(conn, endpoint, start)
    except FormInvalid as exc:
        return _page(request, visitor, endpoint, since=since, errors=exc.errors)
    if queued:
        ctx.published()
    return redirect(
        request, "attempts", {"notice": "recovered", "queued": queued}, endpoint_id=endpoint.id
    )
