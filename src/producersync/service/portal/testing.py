"""An endpoint's Testing tab: pick an event type, see its example, Send Example."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from producersync.model.events import EVENT_TYPES, UPDATES_AVAILABLE
from producersync.service.api.webhook_models import ID_PATTERN
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.delivery.publish import event_time
from producersync.service.errors import ApiError
from producersync.service.portal import once
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.catalog import pretty_example
from producersync.service.portal.forms import FormInvalid, rule_errors
from producersync.service.portal.lookup import Owned, owned
from producersync.service.portal.pages import AGAIN, PortalError, redirect, render
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

_TYPES = sorted(EVENT_TYPES)
_ID = re.compile(ID_PATTERN)


def _page(
    request: Request,
    visitor: Visitor,
    endpoint: endpoints.Endpoint,
    event_type: str,
    *,
    errors: dict[str, str] | None = None,
) -> Response:
    chosen = event_type if event_type in EVENT_TYPES else UPDATES_AVAILABLE
    with get_context(request).engine.connect() as conn:
        at = event_time(conn)
    return render(
        request,
        "testing.html",
        status=400 if errors else 200,
        visitor=visitor,
        endpoint=endpoint,
        tab="testing",
        types=_TYPES,
        chosen=chosen,
        example=pretty_example(chosen, at),
        # Only an id is echoed: a crafted link cannot put words on the page.
        sent=sent if _ID.fullmatch(sent := request.query_params.get("sent", "")) else None,
        again=AGAIN if request.query_params.get("again") == "1" else None,
        errors=errors or {},
    )


@router.get("/endpoints/{endpoint_id}/testing", name="testing")
def testing(
    request: Request, visitor: SignedIn, endpoint: Owned, type: str = UPDATES_AVAILABLE
) -> Response:
    if type not in EVENT_TYPES:  # not quietly the default example: the address is wrong
        why = f"one of {', '.join(_TYPES)}"
        raise PortalError.bad_address(ApiError.bad_parameter("type", type, why).message)
    return _page(request, visitor, endpoint, type)


@router.post("/endpoints/{endpoint_id}/testing", name="send_example")
def send_example(
    request: Request,
    visitor: Submitted,
    endpoint: Owned,
    token: once.Once,
    type: Annotated[str, Form()] = "",
    show: Annotated[str, Form()] = "",
) -> Response:
    """``show`` (the button without JavaScript): the type's example, nothing sent."""
    if show and type in EVENT_TYPES:
        return redirect(request, "testing", {"type": type}, endpoint_id=endpoint.id)
    ctx = get_context(request)
    try:
        with write_transaction(ctx.engine) as conn, rule_errors():
            claimed = once.claim(conn, request, visitor.account_id, token)
            if isinstance(claimed, Response):
                return claimed  # sent before: where it led says so (``again``)
            # Read again, locked: deleted since the route read it, or while this ran, the
            # example's delivery would fail the foreign key, a 500.
            endpoint = owned(conn, visitor, endpoint.id, lock=True)
            message_id = management.send_example(conn, endpoint, type)
            query = {"type": type, "sent": message_id}
            response = redirect(request, "testing", query, endpoint_id=endpoint.id)
            once.keep(conn, claimed, response)
    except FormInvalid as exc:
        return _page(request, visitor, endpoint, type, errors=exc.errors)
    ctx.published()
    return response
