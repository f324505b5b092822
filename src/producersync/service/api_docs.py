"""The API reference pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their
scripts and styles served by the service itself, from fastapi-offline's copies of both
projects' dist files. FastAPI's own pages load them from a CDN (and ReDoc its fonts from
Google), and so are blank offline, behind a proxy that blocks it or under a content
policy. These pages' policy allows the service's own origin only, and nothing on them asks
for more: ReDoc's bundle is served with its one fixed address elsewhere, the logo beside
its "API docs by Redocly" link, taken out (``_redoc_bundle``).

Like ``/openapi.json``, none of it needs a token or counts against the API's rate limit
(the gate covers only ``/v1`` and ``/v2``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.metadata import version
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

__all__ = ["ASSETS", "install_docs"]

# The package's version in the path, so that the files may be cached for good: another
# version of them is another URL.
ASSETS = f"/docs/assets/{version('fastapi-offline')}"
_IMMUTABLE = "public, max-age=31536000, immutable"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_POLICY = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'none'; base-uri 'none'{more}"
)
# Swagger UI shows its icons as data: images. ReDoc writes its styles as <style> elements
# as it renders (styled-components), which no hash can name ahead of time, and runs its
# search in a worker made from a blob: of its own script.
_SWAGGER_UI = {"styles": "", "more": ""}
_REDOC = {"styles": " 'unsafe-inline'", "more": "; worker-src blob:"}

# ReDoc draws its makers' logo from their CDN, an address no option changes (Redocly/redoc
# issue 2141): under the pages' policy the browser refuses it and reports an error, and
# without the policy every page view would tell that CDN. With no address the image fails
# at once, without a request, and ReDoc's own handler of that failure leaves the logo out.
_REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


@cache
def _redoc_bundle() -> tuple[str, bytes]:
    """The name ReDoc's script is served by, and the script without the logo's address.
    The name holds the script's digest: a browser keeps an asset for good, and a copy of
    the package's script as it is, or of another change to it, is another name."""
    script = (files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    script = script.replace(_REDOC_LOGO, b'src:""')
    return f"redoc.standalone.{hashlib.sha256(script).hexdigest()[:16]}.js", script


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == _redoc_bundle()[0]:
            response = self._redoc(scope)
        else:
            response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["cache-control"] = _IMMUTABLE
        response.headers["x-content-type-options"] = "nosniff"
        return response

    def _redoc(self, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        name, script = _redoc_bundle()
        response = Response(script, media_type="text/javascript", headers={"etag": f'"{name}"'})
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def _guarded(page: HTMLResponse, policy: dict[str, str]) -> HTMLResponse:
    # A page's own inline script (Swagger UI's set-up) is allowed by its hash, so that no
    # other inline script runs.
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["content-security-policy"] = _POLICY.format(scripts=hashes, **policy)
    page.headers["x-content-type-options"] = "nosniff"
    page.headers["x-frame-options"] = "DENY"
    page.headers["referrer-policy"] = "no-referrer"
    # Revalidated, so that a new version's asset URLs are seen at once.
    page.headers["cache-control"] = "no-cache"
    return page


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets on ``app``, one built with ``docs_url``
    and ``redoc_url`` None; a ``ValueError`` if it serves no spec for them to show."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("The reference pages show the spec, and the app's openapi_url is None")
    app.mount(ASSETS, _Assets(packages=[("fastapi_offline", "static")]), name="docs-assets")

    def urls(request: Request) -> tuple[str, str]:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return root + openapi_url, root + ASSETS

    async def swagger_ui(request: Request) -> HTMLResponse:
        spec, assets = urls(request)
        # No OAuth2 redirect page: the API's one flow, client credentials, redirects
        # nowhere.
        return _guarded(
            get_swagger_ui_html(
                openapi_url=spec,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon.png",
                oauth2_redirect_url=None,
            ),
            _SWAGGER_UI,
        )

    async def redoc(request: Request) -> HTMLResponse:
        spec, assets = urls(request)
        return _guarded(
            get_redoc_html(
                openapi_url=spec,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{assets}/{_redoc_bundle()[0]}",
                redoc_favicon_url=f"{assets}/favicon.png",
                with_google_fonts=False,
            ),
            _REDOC,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
