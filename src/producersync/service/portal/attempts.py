"""An endpoint's Message Attempts tab: every attempt, newest first, filtered by outcome,
event type and time, and paged; one attempt in full; Resend of one message, and recovery
of the failed ones since a time."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated, Final, Literal, cast, get_args
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import APIRouter, Form, Path, Query, Request
from pydantic import PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from starlette.responses import RedirectResponse, Response

from producersync.service.api.numbers import MAX_ROW_ID, RowId, WholeNumber
from producersync.service.api.webhook_models import ID_PATTERN, RecoverRequest
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal import once
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.forms import FormInvalid, read_times, rule_errors
from producersync.service.portal.logs import TYPES, Filters, Outcome, Updates, bounds_of, payload_of
from producersync.service.portal.lookup import EndpointId, MessageId, Owned, owned
from producersync.service.portal.pages import PortalError, href, query_string, redirect, render
from producersync.service.portal.paging import PAGE_SIZE, page_of
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

_SUCCEEDED: dict[str, bool | None] = {"all": None, "succeeded": True, "failed": False}
_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and takes
# The parameters of a view of the list (not the refresh's seen, nor a notice), each once
# but the types: what a form's hidden view may name.
_VIEW = frozenset({"outcome", "type", "since", "until", "updates", "before"})
# The page's reading of its ``?before=``, by which a form's carried view is read too: a
# check of its own beside it would take only up to 19 plain digits, and a view the page
# shows (before=+5, before=%205) lead back to the plain list.
_CURSOR: TypeAdapter[int] = TypeAdapter(RowId)
# An attempt's history opens at the page that holds it: its newest page, which no cursor
# names, has a name of its own for the pager's Newest and for its rows' links.
_Newest = Literal["newest"]
_NEWEST: Final[_Newest] = "newest"


def _history_cursor(value: object) -> int | _Newest:
    """``newest``, or an attempt's id read as ``?before=`` is."""
    if value == _NEWEST:
        return _NEWEST
    try:
        return _CURSOR.validate_python(value)
    except ValidationError as exc:
        if exc.errors()[0]["type"] != "int_parsing":
            raise
        said = "expected 'newest' or an attempt's id, a whole number in digits"
        raise PydanticCustomError("int_parsing", said) from None


_HistoryCursor = Annotated[int | _Newest, PlainValidator(_history_cursor)]


def _page(
    request: Request,
    visitor: Visitor,
    endpoint: endpoints.Endpoint,
    *,
    filters: Filters = Filters(),
    before: int | None = None,
    seen: int | None = None,
    since: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    def address(cursor: int | None) -> str:
        return href(request, "attempts", filters.query(before=cursor), endpoint_id=endpoint.id)

    with get_context(request).engine.connect() as conn:
        # The store's time, which recover judges the window by: by this process's own,
        # the form offered minutes it refused (ahead) or held back ones it takes (behind).
        now = outbox.store_clock(conn)
        try:
            narrowed = filters.narrowed()
        except FormInvalid as exc:
            # A filter that cannot be read shows no list (not the unfiltered one, taken for
            # its answer): the page says why, beside the field.
            filter_errors, shown, links = exc.errors, [], []
            bounds = (filters.since, filters.until)
        else:
            filter_errors = {}
            bounds = bounds_of(filters, narrowed)
            fetch = functools.partial(
                outbox.list_attempts,
                conn,
                endpoint_id=endpoint.id,
                succeeded=_SUCCEEDED[filters.outcome],
                narrowed=narrowed,
            )
            try:
                page = page_of(fetch, before, address, key=lambda attempt: attempt.id)
            except outbox.UnknownCursor as exc:
                raise _not_listed(exc, "this endpoint's list", "before") from None
            shown, links = list(page.items), page.links
        expired = outbox.expired_messages(conn, {attempt.message_id for attempt in shown})
        latest = _latest(conn, shown)
    return render(
        request,
        "attempts.html",
        status=400 if errors or filter_errors else 200,
        visitor=visitor,
        endpoint=endpoint,
        tab="attempts",
        attempts=shown,
        latest=latest,
        now=now,
        expired=expired,
        pages=links,
        filters=filters,
        outcomes=list(_SUCCEEDED),
        event_types=TYPES,
        before=before,
        newest=shown[0].id if shown else 0,
        news=_news([a for a in shown if a.id > seen]) if seen is not None else "",
        since=since if since is not None else (now - dt.timedelta(days=1)).strftime(_MINUTE),
        since_min=(now - management.RECOVER_WINDOW).strftime(_MINUTE),
        since_max=now.strftime(_MINUTE),
        view=query_string(filters.query(before=before)),
        errors=errors or {},
        filter_errors=filter_errors,
        bounds=bounds,
    )


def _latest(conn: sa.Connection, shown: list[outbox.Attempt]) -> dict[int, outbox.Delivery]:
    """The delivery of each shown attempt that is its latest, by the attempt's id: what
    follows it (a retry and when, or none) is told on its row. A failed row alone did not
    say whether its message was still being retried or had failed for good, which
    Recover, and nothing else, sends again."""
    deliveries = outbox.deliveries_by_id(conn, {attempt.delivery_id for attempt in shown})
    newest = outbox.latest_attempts(conn, deliveries.keys())
    return {
        attempt.id: deliveries[attempt.delivery_id]
        for attempt in shown
        if attempt.delivery_id in newest and newest[attempt.delivery_id].id == attempt.id
    }


def _not_listed(exc: outbox.UnknownCursor, listed: str, parameter: str) -> PortalError:
    """A page of attempts named by one not in the list: not "this account has no such
    attempt", as another endpoint's is one, and the account's all the same. As the API
    says it (404, naming the cursor)."""
    return PortalError(
        404,
        "Attempt not found",
        f"Attempt {exc.attempt_id} is not an attempt of {listed} (parameter "
        f"'{parameter}'). Follow a link from the page instead.",
        back=("endpoints", "Back to Endpoints"),
    )


def _news(new: list[outbox.Attempt]) -> str:
    """What a screen reader says of the attempts a refresh brought (newest first)."""
    if not new:
        return ""
    latest = new[0]
    if latest.sent:
        said = (
            f"{latest.event_type}, {latest.status_code or 'no response'}, "
            f"{'succeeded' if latest.succeeded else 'failed'}"
        )
    else:
        said = f"{latest.event_type}, not sent"
    if len(new) == 1:
        return f"1 new attempt: {said}."
    return f"{len(new)} new attempts; newest: {said}."


@router.get("/endpoints/{endpoint_id}/attempts", name="attempts")
def attempts(
    request: Request,
    visitor: SignedIn,
    endpoint: Owned,
    outcome: Outcome = "all",
    types: Annotated[list[str] | None, Query(alias="type")] = None,
    since: str = "",
    until: str = "",
    before: Annotated[RowId | None, Query()] = None,
    updates: Updates = "live",
    seen: Annotated[WholeNumber | None, Query(ge=0, le=MAX_ROW_ID)] = None,
) -> Response:
    """``type`` (any number), ``since`` and ``until`` (UTC, until not included): the
    filter form's; a value it cannot take is said beside its field. ``updates=paused``:
    the newest page without its refresh (WCAG 2.2.2, a way to stop what moves by
    itself). ``seen``: the newest attempt the refreshing page shows, so that the refresh
    can say what is new since."""
    filters = Filters.of(outcome, types or [], since, until, updates)
    return _page(request, visitor, endpoint, filters=filters, before=before, seen=seen)


@router.get("/endpoints/{endpoint_id}/attempts/{attempt_id}", name="attempt")
def attempt(
    request: Request,
    visitor: SignedIn,
    endpoint: Owned,
    attempt_id: Annotated[RowId, Path()],
    view: str = "",
    history_before: Annotated[_HistoryCursor | None, Query()] = None,
) -> Response:
    """One attempt with all the receiver answered that is kept: the table shows the start
    of its response, and a title attribute (shown on hover only) was no way to read the
    rest by keyboard, touch or screen reader. ``view``: the view of the list its Details
    link was on (as Resend's hidden field names it), which Back to Message Attempts and
    its Resend come back to: they led to the plain newest page. ``history_before``: the
    page of the message's attempts to the endpoint older than the one of that id (the
    newest 20 alone left a message resent often with attempts out of the page's reach),
    or ``newest``; without it, the page that holds this attempt (the newest page was
    shown, an old attempt of a message resent often not on it)."""
    ctx = get_context(request)

    def address(cursor: int | None) -> str:
        query = {"view": view or None, "history_before": cursor or _NEWEST}
        page = href(request, "attempt", query, endpoint_id=endpoint.id, attempt_id=attempt_id)
        return f"{page}#history-title"  # the browser opens the page at the list

    with ctx.engine.connect() as conn:
        found = outbox.get_attempt(conn, endpoint.id, attempt_id)
        if found is None:
            raise PortalError.not_found("attempt")
        filters, before = _view_of(conn, endpoint.id, view)
        message = outbox.get_message(conn, None, found.message_id)
        if message is None:  # none: an attempt keys its delivery, which keys its message
            raise PortalError.not_found("attempt")
        fetch = functools.partial(
            outbox.list_attempts, conn, endpoint_id=endpoint.id, message_id=found.message_id
        )
        if history_before is None:
            cursor = outbox.page_above(
                conn,
                found.key,
                PAGE_SIZE,
                endpoint_id=endpoint.id,
                message_id=found.message_id,
            )
        else:
            cursor = None if history_before == _NEWEST else history_before
        try:
            history = page_of(fetch, cursor, address, key=lambda each: each.id)
        except outbox.UnknownCursor as exc:
            listed = "this message to this endpoint"
            raise _not_listed(exc, listed, "history_before") from None
        delivery = outbox.deliveries_by_id(conn, [found.delivery_id]).get(found.delivery_id)
        latest = outbox.latest_attempts(conn, [found.delivery_id]).get(found.delivery_id)
        if delivery is None or latest is None:  # the endpoint deleted since, its log with it
            raise PortalError.not_found("attempt")
        now = outbox.store_clock(conn)
    settings = ctx.settings
    # A body the receiver did send, dropped since: told apart from an empty one by age.
    aged = now - found.attempted_at >= dt.timedelta(days=settings.response_retention_days)
    return render(
        request,
        "attempt.html",
        visitor=visitor,
        endpoint=endpoint,
        tab="attempts",
        attempt=found,
        delivery=delivery,
        # The delivery's next attempt follows its latest; an earlier one's was made since.
        latest=latest.id == found.id,
        now=now,
        payload=payload_of(message),
        history=history.items,
        history_pages=history.links,
        # Each row's link keeps the page shown, this one's or the newest, named.
        history_before=cursor or _NEWEST,
        payload_expired=message.expired,
        response_expired=found.status_code != 0 and found.response is None and aged,
        retention={
            "payload_days": settings.payload_retention_days,
            "response_days": settings.response_retention_days,
        },
        back=filters.query(before=before),
        view=query_string(filters.query(before=before)),
    )


def _view_of(conn: sa.Connection, endpoint_id: str, view: str) -> tuple[Filters, int | None]:
    """The view of the list a form was sent from, as its hidden ``view`` names it (the
    query of its page), to come back to; the plain view for one the page cannot have
    had. Only the list's own parameters are read from it, and the way back is built from
    them, so no form leads anywhere but to this endpoint's attempts."""
    plain: tuple[Filters, int | None] = (Filters(), None)
    try:
        pairs = parse_qsl(
            view,
            keep_blank_values=True,
            strict_parsing=bool(view),
            errors="strict",
            max_num_fields=2 * len(_VIEW) + len(TYPES),
        )
    except ValueError:  # not a query, not UTF-8, or too many fields
        return plain
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        given.setdefault(name, []).append(value)
    if not given.keys() <= _VIEW or any(len(v) > 1 for k, v in given.items() if k != "type"):
        return plain
    one = {name: values[0] for name, values in given.items()}
    outcome, updates = one.get("outcome", "all"), one.get("updates", "live")
    if outcome not in get_args(Outcome) or updates not in get_args(Updates):
        return plain
    filters = Filters.of(
        cast(Outcome, outcome),
        given.get("type", []),
        one.get("since", ""),
        one.get("until", ""),
        cast(Updates, updates),
    )
    try:
        filters.narrowed()
    except FormInvalid:
        return plain
    cursor = one.get("before")
    if cursor is None:
        return filters, None
    try:
        before = _CURSOR.validate_python(cursor)
    except ValidationError:
        return plain
    # The page's own check of its cursor (outbox.UnknownCursor): an attempt of this endpoint.
    if outbox.get_attempt(conn, endpoint_id, before) is None:
        return plain
    return filters, before


@router.post("/endpoints/{endpoint_id}/messages/{message_id}/resend", name="resend")
def resend(
    endpoint_id: EndpointId,
    message_id: MessageId,
    request: Request,
    visitor: Submitted,
    token: once.Once,
    view: Annotated[str, Form()] = "",
) -> Response:
    def back(conn: sa.Connection) -> RedirectResponse:
        # To the view it was sent from (filters, page, a pause), not the plain list.
        filters, before = _view_of(conn, endpoint_id, view)
        query = filters.query(before=before, notice="resent")
        return redirect(request, "attempts", query, endpoint_id=endpoint_id)

    return _replayed(request, visitor, token, endpoint_id, message_id, back)


@router.post("/messages/{message_id}/send", name="send_message")
def send_message(
    message_id: MessageId,
    request: Request,
    visitor: Submitted,
    token: once.Once,
    endpoint: Annotated[str, Form(pattern=ID_PATTERN)],
) -> Response:
    """The message's page's Send: the message to an endpoint chosen, one that did not
    have it (not subscribed to its type then, disabled, or made since), as the API's
    replay sends it; on to that endpoint's Message Attempts, where it arrives."""

    def back(_: sa.Connection) -> RedirectResponse:
        return redirect(request, "attempts", {"notice": "resent"}, endpoint_id=endpoint)

    return _replayed(request, visitor, token, endpoint, message_id, back)


def _replayed(
    request: Request,
    visitor: Visitor,
    token: str | None,
    endpoint_id: str,
    message_id: str,
    back: Callable[[sa.Connection], RedirectResponse],
) -> Response:
    """One manual attempt of the account's message to its endpoint (``management.replay``)
    and the redirect ``back`` makes in the same transaction, kept for the form's once
    token (a second submission gets the same answer, and no second attempt); or the page
    that says why not."""
    ctx = get_context(request)
    with write_transaction(ctx.engine) as conn:
        claimed = once.claim(conn, request, visitor.account_id, token)
        if isinstance(claimed, Response):
            return claimed
        # Locked: deleted meanwhile, the delivery would fail the foreign key, a 500.
        endpoint = owned(conn, visitor, endpoint_id, lock=True)
        try:
            replayed = management.replay(conn, endpoint, message_id)
        except management.PayloadExpired:
            days = ctx.settings.payload_retention_days
            raise PortalError(
                410,
                "Message expired",
                f"This message's payload has expired (payloads are kept {days} days): "
                "there is nothing left to resend.",
                back=("endpoints", "Back to Endpoints"),
            ) from None
        if replayed is None:
            raise PortalError.not_found("message")
        response = back(conn)
        once.keep(conn, claimed, response)
    ctx.published()
    return response


@router.post("/endpoints/{endpoint_id}/recover", name="recover")
def recover(
    request: Request,
    visitor: Submitted,
    endpoint: Owned,
    token: once.Once,
    since: Annotated[str, Form()] = "",
    view: Annotated[str, Form()] = "",
) -> Response:
    ctx = get_context(request)
    with ctx.engine.connect() as conn:
        filters, before = _view_of(conn, endpoint.id, view)
    try:
        start = read_times(RecoverRequest, {"since": since}).since
        with write_transaction(ctx.engine) as conn, rule_errors():
            claimed = once.claim(conn, request, visitor.account_id, token)
            if isinstance(claimed, Response):
                return claimed  # sent before: it said how many it queued then
            # Read again, locked: deleted since the route read it, or while this ran, the
            # failed deliveries it read would be gone when it came to re-arm them: 'queued: 0'.
            endpoint = owned(conn, visitor, endpoint.id, lock=True)
            queued = management.recover(conn, endpoint, start)
            query = filters.query(before=before, notice="recovered", queued=queued)
            response = redirect(request, "attempts", query, endpoint_id=endpoint.id)
            once.keep(conn, claimed, response)
    except FormInvalid as exc:
        return _page(
            request,
            visitor,
            endpoint,
            filters=filters,
            before=before,
            since=since,
            errors=exc.errors,
        )
    if queued:
        ctx.published()
    return response
