"""An endpoint's Message Attempts tab: every attempt, newest first, filtered by outcome
and paged; one attempt in full; Resend of one message, and recovery of the failed ones
since a time."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from producersync.service.api.numbers import MAX_ROW_ID, RowId, WholeNumber
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.forms import FormInvalid, parse_since, rule_errors
from producersync.service.portal.lookup import EndpointId, MessageId, Owned, owned
from producersync.service.portal.pages import PortalError, href, redirect, render
from producersync.service.portal.paging import page_of
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

Outcome = Literal["all", "succeeded", "failed"]
Updates = Literal["live", "paused"]
_SUCCEEDED: dict[str, bool | None] = {"all": None, "succeeded": True, "failed": False}
_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and takes


def _page(
    request: Request,
    visitor: Visitor,
    endpoint: endpoints.Endpoint,
    *,
    outcome: Outcome = "all",
    before: int | None = None,
    updates: Updates = "live",
    seen: int | None = None,
    since: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    def address(cursor: int | None) -> str:
        filtered = outcome if outcome != "all" else None
        # Paused stays paused: back at the newest page, what was stopped moved again.
        kept = "paused" if updates == "paused" else None
        query = {"outcome": filtered, "before": cursor, "updates": kept}
        return href(request, "attempts", query, endpoint_id=endpoint.id)

    with get_context(request).engine.connect() as conn:
        fetch = functools.partial(
            outbox.list_attempts, conn, endpoint_id=endpoint.id, succeeded=_SUCCEEDED[outcome]
        )
        page = page_of(fetch, before, address)
    now = dt.datetime.now(dt.UTC)
    shown = page.items
    return render(
        request,
        "attempts.html",
        status=400 if errors else 200,
        visitor=visitor,
        endpoint=endpoint,
        tab="attempts",
        attempts=shown,
        pages=page.links,
        outcome=outcome,
        outcomes=list(_SUCCEEDED),
        before=before,
        updates=updates,
        newest=shown[0].id if shown else 0,
        news=_news([a for a in shown if a.id > seen]) if seen is not None else "",
        since=since if since is not None else (now - dt.timedelta(days=1)).strftime(_MINUTE),
        since_min=(now - management.RECOVER_WINDOW).strftime(_MINUTE),
        since_max=now.strftime(_MINUTE),
        errors=errors or {},
    )


def _news(new: list[outbox.Attempt]) -> str:
    """What a screen reader says of the attempts a refresh brought (newest first)."""
    if not new:
        return ""
    latest = new[0]
    said = (
        f"{latest.event_type}, {latest.status_code or 'no response'}, "
        f"{'succeeded' if latest.succeeded else 'failed'}"
    )
    if len(new) == 1:
        return f"1 new attempt: {said}."
    return f"{len(new)} new attempts; newest: {said}."


@router.get("/endpoints/{endpoint_id}/attempts", name="attempts")
def attempts(
    request: Request,
    visitor: SignedIn,
    endpoint: Owned,
    outcome: Outcome = "all",
    before: Annotated[RowId | None, Query()] = None,
    updates: Updates = "live",
    seen: Annotated[WholeNumber | None, Query(ge=0, le=MAX_ROW_ID)] = None,
) -> Response:
    """``updates=paused``: the newest page without its refresh (WCAG 2.2.2, a way to stop
    what moves by itself). ``seen``: the newest attempt the refreshing page shows, so
    that the refresh can say what is new since."""
    return _page(
        request, visitor, endpoint, outcome=outcome, before=before, updates=updates, seen=seen
    )


@router.get("/endpoints/{endpoint_id}/attempts/{attempt_id}", name="attempt")
def attempt(
    request: Request,
    visitor: SignedIn,
    endpoint: Owned,
    attempt_id: Annotated[RowId, Path()],
) -> Response:
    """One attempt with all the receiver answered that is kept: the table shows the start
    of its response, and a title attribute (shown on hover only) was no way to read the
    rest by keyboard, touch or screen reader."""
    with get_context(request).engine.connect() as conn:
        found = outbox.get_attempt(conn, endpoint.id, attempt_id)
    if found is None:
        raise PortalError.not_found("attempt")
    return render(
        request,
        "attempt.html",
        visitor=visitor,
        endpoint=endpoint,
        tab="attempts",
        attempt=found,
    )


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
