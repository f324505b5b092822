"""The Endpoints page, Add Endpoint, and an endpoint's Overview tab (with Edit, the secret
revealed on request, and rotation)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from producersync.service.api.webhooks import EVENT_TYPE_DESCRIPTIONS
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal.auth import SignedIn, Submitted, Visitor
from producersync.service.portal.forms import EndpointForm, FormInvalid, rule_errors
from producersync.service.portal.lookup import EndpointId, Owned, owned
from producersync.service.portal.pages import PortalError, redirect, render
from producersync.service.portal.routing import FormRoute
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

STATS_WINDOW = dt.timedelta(days=7)


def _endpoint_form(
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> EndpointForm:
    return EndpointForm(url, description, tuple(events or ()))


Submission = Annotated[EndpointForm, Depends(_endpoint_form)]


@router.get("/endpoints", name="endpoints")
def endpoint_list(request: Request, visitor: SignedIn) -> Response:
    with get_context(request).engine.connect() as conn:
        rows = endpoints.list_endpoints(conn, visitor.account_id)
        stats = outbox.attempt_stats(
            conn, [e.id for e in rows], dt.datetime.now(dt.UTC) - STATS_WINDOW
        )
    return render(
        request,
        "endpoints.html",
        visitor=visitor,
        rows=[(e, stats.get(e.id)) for e in rows],
        window_days=STATS_WINDOW.days,
    )


def _form_page(
    request: Request,
    visitor: Visitor,
    form: EndpointForm,
    *,
    endpoint: endpoints.Endpoint | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "endpoint_form.html",
        status=400 if errors else 200,
        visitor=visitor,
        form=form,
        endpoint=endpoint,
        errors=errors or {},
        choices=[(name, EVENT_TYPE_DESCRIPTIONS[name]) for name in management.SUBSCRIBABLE],
        # The sender's own timeout: the hint said 5 s whatever it was set to.
        timeout=get_context(request).settings.webhook_timeout_seconds,
    )


@router.get("/endpoints/new", name="new_endpoint")
def new_endpoint(request: Request, visitor: SignedIn) -> Response:
    return _form_page(request, visitor, EndpointForm())


@router.post("/endpoints", name="create_endpoint")
def create_endpoint(request: Request, visitor: Submitted, form: Submission) -> Response:
    ctx = get_context(request)
    try:
        body = form.checked()
        with write_transaction(ctx.engine) as conn, rule_errors():
            endpoint, _secret = management.create_endpoint(
                conn,
                ctx.settings,
                visitor.account_id,
                body.url,
                description=body.description,
                event_types=body.event_types,
            )
    except FormInvalid as exc:
        return _form_page(request, visitor, form, errors=exc.errors)
    ctx.published()  # the test event
    return redirect(request, "overview", {"notice": "created"}, endpoint_id=endpoint.id)


def _overview(
    request: Request, visitor: Visitor, endpoint: endpoints.Endpoint, secret: str | None = None
) -> Response:
    return render(
        request, "overview.html", visitor=visitor, endpoint=endpoint, tab="overview", secret=secret
    )


@router.get("/endpoints/{endpoint_id}", name="overview")
def overview(request: Request, visitor: SignedIn, endpoint: Owned) -> Response:
    return _overview(request, visitor, endpoint)


@router.get("/endpoints/{endpoint_id}/edit", name="edit_endpoint")
def edit_page(request: Request, visitor: SignedIn, endpoint: Owned) -> Response:
    return _form_page(request, visitor, EndpointForm.of(endpoint), endpoint=endpoint)


@router.post("/endpoints/{endpoint_id}/edit")
def edit(request: Request, visitor: Submitted, endpoint: Owned, form: Submission) -> Response:
    ctx = get_context(request)
    try:
        changes = form.changes(endpoint)
        with write_transaction(ctx.engine) as conn, rule_errors():
            updated = management.update_endpoint(
                conn, ctx.settings, visitor.account_id, endpoint.id, changes
            )
    except FormInvalid as exc:
        return _form_page(request, visitor, form, endpoint=endpoint, errors=exc.errors)
    if updated is None:  # deleted since the page was read
        raise PortalError.not_found("endpoint")
    return redirect(request, "overview", {"notice": "saved"}, endpoint_id=endpoint.id)


@router.post("/endpoints/{endpoint_id}/secret", name="reveal_secret")
def reveal_secret(request: Request, visitor: Submitted, endpoint: Owned) -> Response:
    # The one page that shows a secret: a POST's answer, never cached (see headers.py).
    with get_context(request).engine.connect() as conn:
        secret = endpoints.current_secret(conn, endpoint.id)
    if secret is None:  # deleted since the endpoint was read
        raise PortalError.not_found("endpoint")
    return _overview(request, visitor, endpoint, secret)


@router.post("/endpoints/{endpoint_id}/secret/rotate", name="rotate_secret")
def rotate_secret(endpoint_id: EndpointId, request: Request, visitor: Submitted) -> Response:
    ctx = get_context(request)
    with write_transaction(ctx.engine) as conn:
        endpoint = owned(conn, visitor, endpoint_id)
        management.rotate_secret(conn, ctx.settings, endpoint.id)
    return redirect(request, "overview", {"notice": "rotated"}, endpoint_id=endpoint.id)
