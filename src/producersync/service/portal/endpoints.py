"""The Endpoints page, Add Endpoint, and an endpoint's Overview tab (with Edit and
rotation).

A signing secret is shown once, in the answer to the form that makes it (Create, Rotate
secret), and on no page after. Those two answers are the portal's only POSTs not answered
with a redirect: the page a redirect leads to is a GET, which would have to find the secret
in its URL or in state the server kept for it, and so could show it again (reloaded, from
history, from a shared or logged address). Without a redirect, a reload or Back asks the
browser to send the form again; each form names what it acts on (a key of the Add Endpoint
form's own, the secret it replaces), so sent again it changes nothing and leads to the
endpoint, without the secret."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from producersync.counted import counted
from producersync.service.api.numbers import RowId
from producersync.service.api.webhooks import EVENT_TYPE_DESCRIPTIONS
from producersync.service.context import get_context
from producersync.service.delivery import management
from producersync.service.portal.auth import (
    Refused,
    Sent,
    SignedIn,
    Submitted,
    Visitor,
    same_origin,
)
from producersync.service.portal.forms import EndpointForm, FormInvalid, form_fault, rule_errors
from producersync.service.portal.lookup import EndpointId, Owned, owned
from producersync.service.portal.pages import PortalError, href, notice, redirect, render
from producersync.service.portal.paging import page_of
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

_SUBMISSION = _DIGEST = re.compile(r"[0-9a-f]{32}")


def _submission(submission: Annotated[str, Form()] = "") -> str | None:
    """The key Add Endpoint's page made for its form, if sent."""
    if submission and not _SUBMISSION.fullmatch(submission):
        raise form_fault("submission", submission, "a key the Add Endpoint page made")
    return submission or None


def _replacing(rotating: Annotated[str, Form()] = "") -> int | None:
    """The secret the Overview's Rotate form was made to replace (its row, not the
    secret), if sent."""
    if rotating and not (rotating.isascii() and rotating.isdigit() and len(rotating) < 19):
        raise form_fault("rotating", rotating, "the id of a secret")
    return int(rotating) if rotating else None


def _shown(shown: Annotated[str, Form()] = "") -> str | None:
    """The digest of the endpoint as the Edit page showed it, if sent."""
    if shown and not _DIGEST.fullmatch(shown):
        raise form_fault("shown", shown, "a digest the Edit page made")
    return shown or None


def _digest(endpoint: endpoints.Endpoint) -> str:
    """What the Edit form shows of the endpoint, as 128 bits: the form sends it back, and
    a save onto something else (changed in another tab or through the API since) is not
    made unseen."""
    shown = orjson.dumps([endpoint.url, endpoint.description, endpoint.event_types])
    return hashlib.sha256(shown).hexdigest()[:32]


def _holds(form: EndpointForm, endpoint: endpoints.Endpoint) -> bool:
    """Whether the endpoint is already what the Edit form would save."""
    changes = form.changes(endpoint)

    def types(value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value))

    return (
        changes.url == endpoint.url
        and changes.description in (None, endpoint.description)
        and types(changes.event_types) == types(endpoint.event_types)
    )


SubmissionKey = Annotated[str | None, Depends(_submission)]
Replacing = Annotated[int | None, Depends(_replacing)]
Shown = Annotated[str | None, Depends(_shown)]


@router.get("/endpoints", name="endpoints")
def endpoint_list(
    request: Request, visitor: SignedIn, before: Annotated[RowId | None, Query()] = None
) -> Response:
    """``before``: the page of the endpoints made before the one of that place in the
    order made (``seq``), as the API's ``before``: all of them on one page, an account of
    5,000 would have a page of 1.8 MB, read and drawn a second or more each time it is
    shown."""

    def address(cursor: int | None) -> str:
        return href(request, "endpoints", {"before": cursor})

    with get_context(request).engine.connect() as conn:
        fetch = functools.partial(endpoints.list_endpoints, conn, visitor.account_id)
        page = page_of(fetch, before, address, key=lambda endpoint: endpoint.seq)
        # The store's clock, which stamped the attempts: by this process's own, a host an
        # hour ahead would leave the window's first hour out, one behind count an hour more.
        since = outbox.store_clock(conn) - STATS_WINDOW
        stats = outbox.attempt_stats(conn, [e.id for e in page.items], since)
    return render(
        request,
        "endpoints.html",
        visitor=visitor,
        rows=[
            (e, stats.get(e.id), _rate(*stats[e.id]) if e.id in stats else "") for e in page.items
        ],
        pages=page.links,
        before=before,
        window_days=STATS_WINDOW.days,
    )


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _span(seconds: float) -> str:
    """A setting's length of time in the largest unit it is a whole number of (a day,
    36 hours, 90 seconds); none, empty."""
    whole = round(seconds)
    if not seconds:
        return ""
    if whole != seconds:
        return f"{seconds:g} seconds"
    name, size = next((n, s) for n, s in _UNITS if whole % s == 0)
    count = whole // size
    return counted(count, name)


def _rate(attempts: int, succeeded: int) -> str:
    """The share of attempts that succeeded, in percent to a tenth: never 100.0 with a
    failure among them, nor 0.0 with a success, which rounding said of one failure in
    2,000 attempts (a receiver failing now and then, shown as one that never does)."""
    shown = f"{100 * succeeded / attempts:.1f}"
    if shown == "100.0" and succeeded < attempts:
        return ">99.9"
    if shown == "0.0" and succeeded:
        return "<0.1"
    return shown


def _form_page(
    request: Request,
    visitor: Visitor | None,
    form: EndpointForm,
    *,
    endpoint: endpoints.Endpoint | None = None,
    errors: dict[str, str] | None = None,
    submission: str | None = None,
    conflict: bool = False,
    refused: Refused | None = None,
    endpoint_id: str | None = None,
    shown: str | None = None,
) -> Response:
    """``endpoint_id``: the Edit form's, where its endpoint is not to be read (signed
    out); ``shown``: the digest the form was sent with, drawn again after a refusal."""
    endpoint_id = endpoint.id if endpoint else endpoint_id
    return render(
        request,
        "endpoint_form.html",
        status=refused.refusal.status if refused else 409 if conflict else 400 if errors else 200,
        visitor=visitor,
        form=form,
        endpoint=endpoint,
        endpoint_id=endpoint_id,
        # The endpoint the form is sent onto: after a conflict, the one as it is now.
        shown=shown or (_digest(endpoint) if endpoint else None),
        conflict=conflict,
        refused=refused.refusal if refused else None,
        # Made with the page, so the same form sent twice names the same endpoint; its id
        # is made when the form is sent (``_endpoint_tail``).
        submission=None if endpoint_id else submission or secrets.token_hex(16),
        errors=errors or {},
        choices=[(name, EVENT_TYPE_DESCRIPTIONS[name]) for name in management.SUBSCRIBABLE],
        # The sender's own timeout, for the hint, not a fixed 5 s.
        timeout=get_context(request).settings.webhook_timeout_seconds,
    )


def _kept(
    request: Request,
    refused: Refused,
    form: EndpointForm,
    *,
    endpoint_id: str | None = None,
    shown: str | None = None,
    submission: str | None = None,
) -> Response:
    """An Add Endpoint or Edit form refused for its session or CSRF token, drawn again as
    it was sent, nothing done: the refusal's page alone would lose what was typed, to a session
    that expired while the form was open, or a sign-out or new sign-in in another tab.
    Only for a form sent from a page of the portal: another site's gets the refusal, so
    none can draw a form of the portal filled as it likes."""
    if not same_origin(request):
        raise refused.refusal
    endpoint = None
    if refused.visitor is not None and endpoint_id is not None:
        with get_context(request).engine.connect() as conn:
            endpoint = owned(conn, refused.visitor, endpoint_id)
    return _form_page(
        request,
        refused.visitor,
        form,
        endpoint=endpoint,
        submission=submission,
        refused=refused,
        endpoint_id=endpoint_id,
        shown=shown,
    )


@router.get("/endpoints/new", name="new_endpoint")
def new_endpoint(request: Request, visitor: SignedIn) -> Response:
    return _form_page(request, visitor, EndpointForm())


def _secret_page(
    request: Request, visitor: Visitor, endpoint: endpoints.Endpoint, secret: str, *, created: bool
) -> Response:
    """The one page that shows a secret, once: a POST's answer, never cached (see
    headers.py) nor kept by htmx (base.html)."""
    with get_context(request).engine.connect() as conn:
        grace = endpoints.secrets_in_grace(conn, endpoint.id)
    return render(
        request,
        "secret.html",
        visitor=visitor,
        endpoint=endpoint,
        secret=secret,
        created=created,
        # The secret this one replaced signs until then: the receiver's deadline to switch.
        grace_until=grace[0] if grace and not created else None,
        notice=notice("created" if created else "rotated"),
    )


def _endpoint_tail(account_id: int, submission: str) -> str:
    """The last 12 hex digits of the id of the endpoint an Add Endpoint form creates: the
    rest is the time it is sent. Made with the page, the id sorted by the time the form
    was opened, a form left open made an endpoint listed before those created since, and
    a form sent again after its endpoint was deleted made it again under the same id."""
    return hashlib.sha256(f"{account_id}:{submission}".encode()).hexdigest()[:12]


def _sent_again(request: Request, endpoint_id: str, what: str) -> Response:
    # The endpoint, not the secret: a form sent again (a second press, a reload or Back
    # on the answer) shows no secret, the one its first sending showed included.
    return redirect(request, "overview", {"notice": what}, endpoint_id=endpoint_id)


@router.post("/endpoints", name="create_endpoint")
def create_endpoint(
    request: Request, sent: Sent, form: Submission, submission: SubmissionKey
) -> Response:
    if isinstance(sent, Refused):
        return _kept(request, sent, form, submission=submission)
    visitor = sent
    ctx = get_context(request)
    try:
        body = form.checked()
        with write_transaction(ctx.engine) as conn, rule_errors():
            endpoint_id = None
            if submission:
                tail = _endpoint_tail(visitor.account_id, submission)
                created = endpoints.endpoint_with_tail(conn, visitor.account_id, tail)
                if created is not None:
                    return _sent_again(request, created, "created_before")
                endpoint_id = endpoints.new_id("ep", tail)
            endpoint, secret = management.create_endpoint(
                conn,
                ctx.settings,
                visitor.account_id,
                body.url,
                description=body.description,
                event_types=body.event_types,
                endpoint_id=endpoint_id,
            )
    except FormInvalid as exc:
        return _form_page(request, visitor, form, errors=exc.errors, submission=submission)
    ctx.published()  # the test event
    return _secret_page(request, visitor, endpoint, secret, created=True)


def _overview(request: Request, visitor: Visitor, endpoint: endpoints.Endpoint) -> Response:
    ctx = get_context(request)
    with ctx.engine.connect() as conn:
        rotating = endpoints.current_secret_id(conn, endpoint.id)
        grace = endpoints.secrets_in_grace(conn, endpoint.id)
    return render(
        request,
        "overview.html",
        visitor=visitor,
        endpoint=endpoint,
        tab="overview",
        rotating=rotating,
        disable_after=dt.timedelta(seconds=ctx.settings.webhook_disable_after_seconds),
        grace=grace,
        # None: no grace, the previous secret stops signing at the rotation.
        grace_period=_span(ctx.settings.webhook_secret_grace_seconds) or None,
    )


@router.get("/endpoints/{endpoint_id}", name="overview")
def overview(request: Request, visitor: SignedIn, endpoint: Owned) -> Response:
    return _overview(request, visitor, endpoint)


@router.get("/endpoints/{endpoint_id}/edit", name="edit_endpoint")
def edit_page(request: Request, visitor: SignedIn, endpoint: Owned) -> Response:
    return _form_page(request, visitor, EndpointForm.of(endpoint), endpoint=endpoint)


@router.post("/endpoints/{endpoint_id}/edit")
def edit(
    endpoint_id: EndpointId, request: Request, sent: Sent, form: Submission, shown: Shown
) -> Response:
    if isinstance(sent, Refused):
        return _kept(request, sent, form, endpoint_id=endpoint_id, shown=shown)
    visitor = sent
    ctx = get_context(request)
    try:
        with write_transaction(ctx.engine) as conn, rule_errors():
            # Read again, locked: the form is compared with the endpoint it is saved onto.
            endpoint = owned(conn, visitor, endpoint_id, lock=True)
            # Changed since the form was drawn (another tab, the API), the form's stale
            # fields undid that unseen, a filter widened back to every type included.
            # Unless it has what the form asks already: the same form sent twice (a
            # second press without JavaScript, Back and send, a retrying proxy), whose
            # first sending saved it, was told it would undo a change made elsewhere.
            conflict = shown not in (None, _digest(endpoint)) and not _holds(form, endpoint)
            if not conflict:
                changes = form.changes(endpoint)
                updated = management.update_endpoint(
                    conn, ctx.settings, visitor.account_id, endpoint.id, changes
                )
    except FormInvalid as exc:
        return _form_page(request, visitor, form, endpoint=endpoint, errors=exc.errors)
    if conflict:  # drawn again as typed, onto the endpoint as it is now
        return _form_page(request, visitor, form, endpoint=endpoint, conflict=True)
    if updated is None:  # deleted since the page was read
        raise PortalError.not_found("endpoint")
    return redirect(request, "overview", {"notice": "saved"}, endpoint_id=endpoint.id)


@router.post("/endpoints/{endpoint_id}/secret/rotate", name="rotate_secret")
def rotate_secret(
    endpoint_id: EndpointId, request: Request, visitor: Submitted, replacing: Replacing
) -> Response:
    ctx = get_context(request)
    secret: str | None
    with write_transaction(ctx.engine) as conn:
        # Locked: deleted meanwhile, its new secret would fail the foreign key, a 500.
        endpoint = owned(conn, visitor, endpoint_id, lock=True)
        if replacing is None:  # a form not from the Overview: rotates whatever is current
            secret = management.rotate_secret(conn, ctx.settings, endpoint.id)
        else:
            secret = management.rotate_secret_from(conn, ctx.settings, endpoint.id, replacing)
    if secret is None:
        return _sent_again(request, endpoint.id, "rotated_before")
    return _secret_page(request, visitor, endpoint, secret, created=False)
