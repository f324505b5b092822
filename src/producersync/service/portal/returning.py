"""Back to the page that was asked for: a portal page opened signed out (the session ran
out over a kept address, a link shared by a colleague, a tab left open overnight) is
remembered, and the next sign-in leads there rather than to Endpoints, where the person
would have to find it again."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from producersync.service.portal.auth import clear_cookie, read_cookie, set_cookie

__all__ = ["forget", "remember", "way_back"]

_COOKIE = "producersync_portal_return"
# Long enough to ask for a new link and get it; a day on, the page is likely stale.
_KEPT_SECONDS = 86_400
_LONGEST = 2_000  # characters of the address kept; a longer one is not remembered
_PATH = "/login"  # sent with the sign-in alone


def remember(request: Request, response: Response) -> None:
    """Keep the page a signed-out GET asked for (its path and query) for the next
    sign-in of this browser."""
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if len(asked) <= _LONGEST:
        set_cookie(request, response, _COOKIE, asked, _KEPT_SECONDS, path=_PATH)


def way_back(request: Request) -> str | None:
    """The page kept, if it is one of the portal's: the cookie is not trusted to be the
    one ``remember`` set (a sibling subdomain can plant one over plain http), so it leads
    to a path under the portal only, never to another host (``//host``, ``/\\host``)."""
    kept = read_cookie(request, _COOKIE) or ""
    root = request.scope.get("root_path", "") + "/"
    inside = kept.startswith(root) and kept[len(root) : len(root) + 1] not in ("/", "\\")
    if inside and kept.isascii() and kept.isprintable() and "\\" not in kept:
        return kept
    return None


def forget(request: Request, response: Response) -> None:
    """Clear the page kept, once it is used (or refused): a later sign-in leads to
    Endpoints. Only if there is one, so an ordinary sign-in sets no cookie more."""
    if read_cookie(request, _COOKIE) is not None:
        clear_cookie(request, response, _COOKIE, path=_PATH)
