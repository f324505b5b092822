"""An endpoint's Advanced tab: enable or disable it, its rate limit, delete it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal import once
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.forms import FormInvalid, parse_rate_limit, rule_errors
from producersync.service.portal.lookup import EndpointId, Owned, owned
from producersync.service.portal.pages import PortalError, redirect, render
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

DISABLED_REASON = "disabled in the portal"

# The state each notice of a change of state says the endpoint is in. The notice is named
# by the address Disable or Enable leads to, which Back, a reload or a kept address shows
# again: after Disable, Enable and Back, "Endpoint disabled: nothing is sent to it" stood
# above the Enabled of an endpoint sent to. It is said only of the state it names.
_STATE_NOTICES = {"enabled": True, "disabled": False}


def _page(
    request: Request,
    visitor: Visitor,
    endpoint: endpoints.Endpoint,
    *,
    rate_limit: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    shown = endpoint.rate_limit_per_second
    # What disabling holds and deleting drops, said before either is done: "the deliveries
    # still waiting" could be none or 50,000.
    with get_context(request).engine.connect() as conn:
        waiting = outbox.count_pending(conn, endpoint.id)
    said = _STATE_NOTICES.get(request.query_params.get("notice", ""), endpoint.enabled)
    stale: dict[str, None] = {"notice": None} if said != endpoint.enabled else {}
    return render(
        request,
        "advanced.html",
        status=400 if errors else 200,
        visitor=visitor,
        endpoint=endpoint,
        tab="advanced",
        waiting=waiting,
        rate_limit=rate_limit if rate_limit is not None else ("" if shown is None else str(shown)),
        errors=errors or {},
        **stale,
    )


@router.get("/endpoints/{endpoint_id}/advanced", name="advanced")
def advanced(request: Request, visitor: SignedIn, endpoint: Owned) -> Response:
    return _page(request, visitor, endpoint)


def _change_state(
    request: Request,
    endpoint_id: str,
    change: Callable[[sa.Connection], endpoints.Endpoint | None],
    notice: str,
) -> Response:
    with write_transaction(get_context(request).engine) as conn:
        endpoint = change(conn)
    if endpoint is None:
        raise PortalError.not_found("endpoint")
    return redirect(request, "advanced", {"notice": notice}, endpoint_id=endpoint_id)


@router.post("/endpoints/{endpoint_id}/enable", name="enable_endpoint")
def enable(endpoint_id: EndpointId, request: Request, visitor: Submitted) -> Response:
    def change(conn: sa.Connection) -> endpoints.Endpoint | None:
        return endpoints.enable_endpoint(conn, visitor.account_id, endpoint_id)

    response = _change_state(request, endpoint_id, change, "enabled")
    get_context(request).published()  # deliveries held while it was disabled are due now
    return response


@router.post("/endpoints/{endpoint_id}/disable", name="disable_endpoint")
def disable(endpoint_id: EndpointId, request: Request, visitor: Submitted) -> Response:
    def change(conn: sa.Connection) -> endpoints.Endpoint | None:
        return endpoints.disable_endpoint(conn, visitor.account_id, endpoint_id, DISABLED_REASON)

    return _change_state(request, endpoint_id, change, "disabled")


@router.post("/endpoints/{endpoint_id}/rate-limit", name="rate_limit")
def rate_limit(
    request: Request,
    visitor: Submitted,
    endpoint: Owned,
    rate_limit: Annotated[str, Form()] = "",
) -> Response:
    ctx = get_context(request)
    try:
        limit = parse_rate_limit(rate_limit)
        changes = endpoints.EndpointChanges(
            rate_limit_per_second=limit, no_rate_limit=limit is None
        )
        with write_transaction(ctx.engine) as conn, rule_errors():
            updated = management.update_endpoint(
                conn, ctx.settings, visitor.account_id, endpoint.id, changes
            )
    except FormInvalid as exc:
        return _page(request, visitor, endpoint, rate_limit=rate_limit, errors=exc.errors)
    if updated is None:
        raise PortalError.not_found("endpoint")
    return redirect(request, "advanced", {"notice": "saved"}, endpoint_id=endpoint.id)


@router.post("/endpoints/{endpoint_id}/delete", name="delete_endpoint")
def delete(
    endpoint_id: EndpointId,
    request: Request,
    visitor: Submitted,
    token: once.Once,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Not ``Owned``: the endpoint a form sent again deleted is gone, and that form leads
    where the first led, not to 'Endpoint not found'."""
    engine = get_context(request).engine
    if confirm != "yes":
        with engine.connect() as conn:
            endpoint = owned(conn, visitor, endpoint_id)
        errors = {"confirm": "Tick the box to confirm that the endpoint should be deleted"}
        return _page(request, visitor, endpoint, errors=errors)
    with write_transaction(engine) as conn:
        claimed = once.claim(conn, request, visitor.account_id, token)
        if isinstance(claimed, Response):
            return claimed
        if not endpoints.delete_endpoint(conn, visitor.account_id, endpoint_id):
            raise PortalError.not_found("endpoint")
        response = redirect(request, "endpoints", {"notice": "deleted"})
        once.keep(conn, claimed, response)
    return response
