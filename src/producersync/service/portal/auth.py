"""Who is signed in: the session cookie, the session it names, and the CSRF check that
every form submission passes before it changes anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.responses import Response

from producersync.service.context import get_context
from producersync.service.portal.csrf import csrf_matches, csrf_token
from producersync.service.portal.pages import PortalError
from producersync.service.store import portal as store

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "CsrfField",
    "Refused",
    "Sent",
    "SignedIn",
    "Submitted",
    "Visitor",
    "check_csrf",
    "clear_cookie",
    "read_cookie",
    "same_origin",
    "set_cookie",
    "signed_in",
    "submitted",
]

SESSION_COOKIE = "producersync_portal"
LOGIN_COOKIE = "producersync_portal_login"  # the nonce the sign-in form's CSRF token is of

CsrfField = Annotated[str, Form()]
"""The hidden ``csrf`` field of every portal form."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in browser: its session (the id never leaves the cookie) and account."""

    session_id: str = field(repr=False)
    account_id: int
    account_name: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)


def _signed_out() -> PortalError:
    return PortalError(
        401,
        "You are not signed in",
        "Open the login link you were given. Each link works once; if yours is used or "
        "has expired, ask for a new one.",
    )


def _visitor(request: Request) -> Visitor | None:
    session_id = read_cookie(request, SESSION_COOKIE)
    if not session_id:
        return None
    with get_context(request).engine.connect() as conn:
        session = store.find_session(conn, session_id)
    return (
        None if session is None else Visitor(session_id, session.account_id, session.account_name)
    )


def signed_in(request: Request) -> Visitor:
    """The visitor, or a 401 page that says how to get in."""
    visitor = _visitor(request)
    if visitor is None:
        raise _signed_out()
    return visitor


def check_csrf(secret: str | None, given: str) -> None:
    if not secret or not given or not csrf_matches(secret, given):
        raise PortalError(
            403,
            "This form has expired",
            "Nothing was changed: the form did not carry the security token of this "
            "page. Open the page again and retry.",
            back=("endpoints", "Back to Endpoints"),
        )


def submitted(visitor: Annotated[Visitor, Depends(signed_in)], csrf: CsrfField = "") -> Visitor:
    """The visitor of a form submission whose CSRF token is this session's."""
    check_csrf(visitor.session_id, csrf)
    return visitor


@dataclass(frozen=True, slots=True)
class Refused:
    """A form submission refused for its session or CSRF token, not yet answered: a form
    that is drawn again as sent, nothing done, is not lost to the refusal's page."""

    refusal: PortalError
    visitor: Visitor | None  # signed in, the token not this session's


def sending(request: Request, csrf: CsrfField = "") -> Visitor | Refused:
    """The visitor of a form submission whose CSRF token is this session's, else why not."""
    visitor = _visitor(request)
    if visitor is None:
        return Refused(_signed_out(), None)
    try:
        check_csrf(visitor.session_id, csrf)
    except PortalError as exc:
        return Refused(exc, visitor)
    return visitor


def same_origin(request: Request) -> bool:
    """Whether the browser says the request came from a page of the portal's own origin
    (``Sec-Fetch-Site``, which no page's script can set). Another site's form, or a
    sibling subdomain's, or a client that does not say, is not."""
    return request.headers.get("sec-fetch-site") == "same-origin"


def _secure(request: Request) -> bool:
    """Whether the browser reaches the portal over https: the page came over https, or the
    service's public URL is https. A TLS proxy that uvicorn does not trust to say so
    (``--forwarded-allow-ips``, loopback only by default) hands the page on as plain http,
    and the session cookie went without Secure: a browser would send it in clear to any
    http:// address of the host."""
    public = get_context(request).settings.public_url or ""
    return request.url.scheme == "https" or public.lower().startswith("https:")


def _cookie(request: Request, name: str, path: str) -> tuple[str, str, bool]:
    """The name, path and Secure flag a portal cookie is set, read and cleared with.

    Over https the name is ``__Host-`` prefixed, which a browser takes only from this host
    itself, over https, for the whole host (``Path=/``). Unprefixed, any sibling subdomain
    could plant the cookie for the portal's path (``Domain=`` the parent): its own login
    nonce, whose CSRF token it then knows, and the sign-in form posted from its page signed
    the browser in to the planter's account; or simply its own session. The whole host is
    wider than the portal's path, but a path is no boundary within an origin anyway. Plain
    http (loopback: tests, the demo) cannot have the prefix, and keeps the portal's path."""
    if _secure(request):
        return f"__Host-{name}", "/", True
    return name, (request.scope.get("root_path") or "/") + path, False


def read_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(_cookie(request, name, "")[0])


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, *, path: str = ""
) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no other site's form sends it),
    Secure and host-wide under a ``__Host-`` name over https, else scoped to the portal's
    path (``_cookie``)."""
    name, path, secure = _cookie(request, name, path)
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=secure
    )


def clear_cookie(request: Request, response: Response, name: str, *, path: str = "") -> None:
    name, path, secure = _cookie(request, name, path)
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=secure)


SignedIn = Annotated[Visitor, Depends(signed_in)]
Submitted = Annotated[Visitor, Depends(submitted)]
Sent = Annotated[Visitor | Refused, Depends(sending)]
