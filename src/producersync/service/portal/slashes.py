"""A portal address with a slash more (``/portal/endpoints/``) is sent on to the page
without it, by a path. Starlette's own redirect (``redirect_slashes``) built an absolute URL
on the Host header, which any client sets: a forged one sent the browser to another site.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Match

__all__ = ["slash_less"]


def slash_less(request: Request) -> RedirectResponse | None:
    """A 307 to the portal route that the path names without its trailing slashes, if one
    answers it (in any method, as Starlette's was), the query kept; else ``None``."""
    path: str = request.scope["path"]
    stripped = path.rstrip("/")
    if stripped == path:
        return None
    # The full path, the mount's prefix included: it starts with "/portal", never "//".
    scope = {**request.scope, "path": stripped}
    if all(route.matches(scope)[0] is Match.NONE for route in request.app.router.routes):
        return None
    query = request.scope["query_string"].decode("latin-1")
    return RedirectResponse(f"{stripped}?{query}" if query else stripped)
