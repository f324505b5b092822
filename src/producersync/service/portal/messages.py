"""Messages: every event sent to the account's endpoints, newest first, filtered by event
type and time and paged, each with its delivery to each endpoint; one message in full,
its payload, and a way to send it to an endpoint, one that had it or one that missed it
(the API's replay, the Resend of Message Attempts)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from producersync.service.api.numbers import RowId
from producersync.service.context import get_context
from producersync.service.portal.auth import SignedIn
from producersync.service.portal.forms import FormInvalid
from producersync.service.portal.logs import TYPES, Filters, bounds_of, payload_of
from producersync.service.portal.lookup import MessageId
from producersync.service.portal.pages import PortalError, href, render
from producersync.service.portal.paging import page_of
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

_STATES = (outbox.FAILED, outbox.PENDING, outbox.SUCCEEDED)
State = Literal["all", "failed", "pending", "succeeded"]
_SHOWN = 50  # deliveries, and endpoints that had none, listed on a message's page


def _cursor(conn: sa.Connection, account_id: int, seq: int | None) -> outbox.Message | None:
    """The message a page's cursor names (its place in the order published); a ``404``
    page for a place that is none of the account's."""
    if seq is None:
        return None
    message = outbox.message_at(conn, account_id, seq)
    if message is None:
        raise PortalError(
            404,
            "Message not found",
            f"{seq} names no message of this account (parameter 'before'). "
            "Follow a link from the page instead.",
            back=("messages", "Back to Messages"),
        )
    return message


@router.get("/messages", name="messages")
def message_list(
    request: Request,
    visitor: SignedIn,
    types: Annotated[list[str] | None, Query(alias="type")] = None,
    since: str = "",
    until: str = "",
    before: Annotated[RowId | None, Query()] = None,
    state: State = "all",
) -> Response:
    """``type`` (any number), ``since`` and ``until`` (UTC, until not included): the
    filter form's, read as Message Attempts reads them; ``before``: the page of the
    messages published before the one of that place in the order published; ``state``:
    those with a delivery in that state (a message goes to several endpoints)."""
    filters = Filters.of("all", types or [], since, until, "live")
    account = visitor.account_id
    kept = {"state": state if state != "all" else None}

    def address(cursor: int | None) -> str:
        return href(request, "messages", filters.query(before=cursor, **kept))

    shown: list[outbox.Message] = []
    links: list[tuple[str, str]] = []
    with get_context(request).engine.connect() as conn:
        try:
            narrowed = filters.narrowed()
        except FormInvalid as exc:
            filter_errors, bounds = exc.errors, (filters.since, filters.until)
        else:
            filter_errors, bounds = {}, bounds_of(filters, narrowed)

            def fetch(
                *,
                limit: int,
                before: int | None = None,
                after: int | None = None,
                oldest: bool = False,
            ) -> list[outbox.Message]:
                return outbox.list_messages(
                    conn,
                    account,
                    limit=limit,
                    before=_cursor(conn, account, before),
                    after=_cursor(conn, account, after),
                    oldest=oldest,
                    narrowed=narrowed,
                    delivery_state=None if state == "all" else state,
                )

            page = page_of(fetch, before, address, key=lambda message: message.seq or 0)
            shown, links = list(page.items), page.links
        deliveries = outbox.deliveries_of(conn, [m.id for m in shown])
    return render(
        request,
        "messages.html",
        status=400 if filter_errors else 200,
        visitor=visitor,
        messages=[(m, _states(deliveries.get(m.id, []))) for m in shown],
        pages=links,
        filters=filters,
        state=state,
        states={
            name: href(request, "messages", filters.query(state=None if name == "all" else name))
            for name in get_args(State)
        },
        kept=kept,
        event_types=TYPES,
        before=before,
        filter_errors=filter_errors,
        bounds=bounds,
    )


def _states(deliveries: list[outbox.Delivery]) -> dict[str, int]:
    """How many of a message's deliveries are in each state, in the order a row says them:
    the endpoints by name are on the message's page (a message may go to hundreds)."""
    counts = dict.fromkeys(_STATES, 0)
    for delivery in deliveries:
        counts[delivery.state] += 1
    return {state: n for state, n in counts.items() if n}


@router.get("/messages/{message_id}", name="message")
def message(request: Request, visitor: SignedIn, message_id: MessageId) -> Response:
    """The message in full: its payload, and its delivery to each endpoint that had it,
    with its latest attempt; those that did not have it (not subscribed then, disabled,
    made since) may be sent it from here, as the API's replay sends it. Each list shows
    ``_SHOWN`` at most: all of a message sent to 1,000 endpoints made a page of 0.7 MB,
    drawn in 0.6 s."""
    account = visitor.account_id
    with get_context(request).engine.connect() as conn:
        found = outbox.get_message(conn, account, message_id)
        if found is None:
            raise PortalError.not_found("message")
        deliveries = outbox.list_deliveries(conn, message_id=found.id)
        shown = [
            (
                d,
                endpoints.get_endpoint(conn, account, d.endpoint_id),
                outbox.list_attempts(conn, endpoint_id=d.endpoint_id, message_id=found.id, limit=1),
            )
            for d in deliveries[:_SHOWN]
        ]
        had = {d.endpoint_id for d in deliveries}
        # Of the newest endpoints, at most len(had) had it: the _SHOWN newest that did not,
        # and whether there are more, are among one more than that many.
        newest = endpoints.list_endpoints(conn, account, limit=_SHOWN + len(had) + 1)
    missed = [e for e in newest if e.id not in had]
    return render(
        request,
        "message_detail.html",
        visitor=visitor,
        message=found,
        payload=payload_of(found),
        deliveries=shown,
        delivered=len(deliveries),
        missed=missed[:_SHOWN],
        more_missed=len(missed) > _SHOWN,
        retention_days=get_context(request).settings.payload_retention_days,
    )
