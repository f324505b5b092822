"""Messages: every event sent to the account's endpoints, newest first, filtered by event
type and time and paged, each with its delivery to each endpoint; one message in full,
its payload, and a way to send it to an endpoint, one that had it or one that missed it
(the API's replay, the Resend of Message Attempts)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Literal, get_args

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from producersync.service.api.numbers import RowId
from producersync.service.api.webhook_models import ID_PATTERN
from producersync.service.context import get_context
from producersync.service.portal.auth import SignedIn
from producersync.service.portal.forms import FormInvalid
from producersync.service.portal.logs import TYPES, Filters, bounds_of, payload_of
from producersync.service.portal.lookup import MessageId
from producersync.service.portal.pages import PortalError, href, redirect, render
from producersync.service.portal.paging import Page, page_of
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

_STATES = (outbox.FAILED, outbox.PENDING, outbox.SUCCEEDED)
State = Literal["all", "failed", "pending", "succeeded"]


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
        counts = outbox.delivery_states(conn, [m.id for m in shown])
    return render(
        request,
        "messages.html",
        status=400 if filter_errors else 200,
        visitor=visitor,
        messages=[(m, _states(counts.get(m.id, {}))) for m in shown],
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


def _states(counts: dict[str, int]) -> dict[str, int]:
    """How many of a message's deliveries are in each state, in the order a row says them:
    the endpoints by name are on the message's page (a message may go to hundreds)."""
    return {state: counts[state] for state in _STATES if counts.get(state)}


_MESSAGE_ID = re.compile(ID_PATTERN)


# Before the message's own route, whose path would take "find" for a message id.
@router.get("/messages/find", name="find_message")
def find_message(
    request: Request, visitor: SignedIn, message_id: Annotated[str, Query(alias="id")]
) -> Response:
    """The page of the message of that id (a delivery's ``webhook-id``, as a receiver
    logged it): the list alone, newest first, left a message named in a receiver's log or
    a customer's report to be found page by page."""
    wanted = message_id.strip()  # as pasted from a log line
    if not _MESSAGE_ID.match(wanted):
        raise PortalError(
            400,
            "That is not a message id",
            f"'{message_id[:100]}' is not a message id (parameter 'id'): give the "
            "webhook-id a delivery carried, such as evt_8352360cec30480120f6b1f6.",
            back=("messages", "Back to Messages"),
        )
    with get_context(request).engine.connect() as conn:
        found = outbox.get_message(conn, visitor.account_id, wanted)
    if found is None:
        raise PortalError(
            404,
            "Message not found",
            f"No message of this account has the id '{wanted}' (parameter 'id').",
            back=("messages", "Back to Messages"),
        )
    return redirect(request, "message", message_id=found.id)


@router.get("/messages/{message_id}", name="message")
def message(
    request: Request,
    visitor: SignedIn,
    message_id: MessageId,
    deliveries_before: Annotated[RowId | None, Query()] = None,
    missed_before: Annotated[RowId | None, Query()] = None,
) -> Response:
    """The message in full: its payload, and its delivery to each endpoint that had it,
    with its latest attempt; those that did not have it (not subscribed then, disabled,
    made since) may be sent it from here, as the API's replay sends it. Each list is
    paged on its own, newest first (all of a message sent to 1,000 endpoints made a page
    of 0.7 MB, drawn in 0.6 s; a cap of 50 left the rest out of reach):
    ``deliveries_before``, the deliveries queued before the one of that id;
    ``missed_before``, the endpoints made before the one of that place in the order made
    (``seq``). Either may name one gone since (its endpoint deleted): a place in the order,
    as the Endpoints list's ``before``."""
    account = visitor.account_id
    view = {"deliveries_before": deliveries_before, "missed_before": missed_before}

    def address(cursor_name: str, section: str) -> Callable[[int | None], str]:
        # The other list stays on its page; the browser opens this one's at its heading.
        def at(cursor: int | None) -> str:
            query = {**view, cursor_name: cursor}
            return href(request, "message", query, message_id=message_id) + f"#{section}"

        return at

    with get_context(request).engine.connect() as conn:
        found = outbox.get_message(conn, account, message_id)
        if found is None:
            raise PortalError.not_found("message")
        payload = payload_of(found)
        deliveries = page_of(
            functools.partial(outbox.message_deliveries, conn, found.id),
            deliveries_before,
            address("deliveries_before", "deliveries-title"),
            key=lambda delivery: delivery.id,
        )
        # The page's endpoints and latest attempts in a query each, not two per delivery.
        owned = endpoints.endpoints_by_id(conn, account, {d.endpoint_id for d in deliveries.items})
        # Left out: an endpoint deleted since its delivery was read (and the delivery with it).
        kept = [d for d in deliveries.items if d.endpoint_id in owned]
        latest = outbox.latest_attempts(conn, [d.id for d in kept])
        rows = [(d, owned[d.endpoint_id], [latest[d.id]] if d.id in latest else []) for d in kept]
        delivered = outbox.count_deliveries(conn, found.id)
        # A pending delivery's next attempt is told against the store's clock, which set it.
        now = outbox.store_clock(conn)
        # An expired message can be sent nowhere: its endpoints that missed it are not read.
        missed = (
            page_of(
                functools.partial(endpoints.list_endpoints, conn, account, missed=found.id),
                missed_before,
                address("missed_before", "send-title"),
                key=lambda endpoint: endpoint.seq,
            )
            if payload is not None
            else Page([], [])
        )
    return render(
        request,
        "message_detail.html",
        visitor=visitor,
        message=found,
        payload=payload,
        deliveries=rows,
        delivery_pages=deliveries.links,
        delivered=delivered,
        now=now,
        missed=missed.items,
        missed_pages=missed.links,
        missed_before=missed_before,
        retention_days=get_context(request).settings.payload_retention_days,
    )
