"""Signing in with a one-time link, and out.

Opening the link shows a Sign in button; only pressing it uses the link up. Mail
scanners and chat previews fetch links with GET, and a GET that used the link would burn
it before the person could. The button's form carries a CSRF token of a nonce cookie set
with the page, so another site cannot sign a browser in to an account of its choosing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from contextlib import suppress

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from producersync.service.context import get_context
from producersync.service.portal import returning
from producersync.service.portal.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CsrfField,
    Submitted,
    check_csrf,
    clear_cookie,
    read_cookie,
    same_origin,
    set_cookie,
)
from producersync.service.portal.csrf import csrf_token
from producersync.service.portal.pages import PortalError, redirect, render
from producersync.service.portal.routing import FormRoute
from producersync.service.store import portal as store
from producersync.service.store.engine import write_transaction

__all__ = ["router"]

router = APIRouter(route_class=FormRoute)

_LOGIN_FORM_SECONDS = 900
_REFUSALS = {
    "unknown": (404, "This login link is not valid", "Check that the whole link was copied."),
    "used": (410, "This login link has been used", "Each link signs in once."),
    "expired": (410, "This login link has expired", "A link is valid for a limited time."),
}


def _refused(error: store.LinkRefused) -> PortalError:
    status, title, why = _REFUSALS[error.reason]
    return PortalError(status, title, f"{why} Ask your ProducerSync contact for a new link.")


def _link_account(request: Request, conn: sa.Connection, token: str) -> str | None:
    """The name of the account the link signs in to; ``None`` if the link is spent but the
    browser is signed in to that account already; else ``LinkRefused``."""
    try:
        return store.check_link(conn, token)
    except store.LinkRefused as exc:
        session_id = read_cookie(request, SESSION_COOKIE)
        session = store.find_session(conn, session_id) if session_id else None
        if session is not None and session.account_id == exc.account_id:
            return None
        raise


def _to_endpoints(request: Request) -> Response:
    """Where a spent link takes a browser signed in to its account. The sign-in form's
    nonce is no use to it any more (its page is not shown): cleared, as signing in
    clears it."""
    response = redirect(request, "endpoints")
    clear_cookie(request, response, LOGIN_COOKIE, path="/login")
    return response


@router.get("/", name="home")
def home(request: Request) -> Response:
    return redirect(request, "endpoints")


@router.get("/login/{token}", name="login")
def login_page(token: str, request: Request) -> Response:
    with get_context(request).engine.connect() as conn:
        try:
            account = _link_account(request, conn, token)
        except store.LinkRefused as exc:
            raise _refused(exc) from None
    if account is None:
        return _to_endpoints(request)
    nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", account=account, token=token, csrf=csrf_token(nonce))
    set_cookie(request, response, LOGIN_COOKIE, nonce, _LOGIN_FORM_SECONDS, path="/login")
    return response


@router.post("/login/{token}")
def login(token: str, request: Request, csrf: CsrfField = "") -> Response:
    ctx = get_context(request)
    # Before the CSRF check, which a second press fails once the first answer has cleared
    # the nonce; a redirect to a page changes nothing, whoever sent the form.
    with suppress(store.LinkRefused), ctx.engine.connect() as conn:
        if _link_account(request, conn, token) is None:
            return _to_endpoints(request)
    try:
        check_csrf(read_cookie(request, LOGIN_COOKIE), csrf)
    except PortalError:
        if not same_origin(request):
            raise
        # The link's page again, with a nonce of its own: the 403 page's way out,
        # Endpoints, would say "You are not signed in ... if yours is used, ask for a new
        # one" of a link left open past its nonce's 15 minutes, and not used.
        return redirect(request, "login", {"notice": "sign_in_again"}, token=token)
    ttl = dt.timedelta(seconds=ctx.settings.portal_session_ttl_seconds)
    replaced = read_cookie(request, SESSION_COOKIE)
    with write_transaction(ctx.engine) as conn:
        try:
            session_id = store.redeem_link(conn, token, ttl)
        except store.LinkRefused as exc:
            raise _refused(exc) from None
        if replaced:
            # The browser drops it for the new one; kept, a copy of it would stay valid
            # for the rest of its 12 hours.
            store.end_session(conn, replaced)
    kept = returning.way_back(request)
    response = RedirectResponse(kept, 303) if kept else redirect(request, "endpoints")
    set_cookie(request, response, SESSION_COOKIE, session_id, int(ttl.total_seconds()))
    clear_cookie(request, response, LOGIN_COOKIE, path="/login")
    returning.forget(request, response)
    return response


@router.post("/logout", name="logout")
def logout(request: Request, visitor: Submitted) -> Response:
    with write_transaction(get_context(request).engine) as conn:
        store.end_session(conn, visitor.session_id)
    response = redirect(request, "signed_out")
    clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/signed-out", name="signed_out")
def signed_out(request: Request) -> Response:
    return render(request, "signed_out.html")
