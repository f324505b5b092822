"""Rendering: the Jinja2 templates shipped with the package, the helpers every page uses,
and ``PortalError``, the plain page that answers whatever cannot be done."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from producersync.service.store import outbox

__all__ = [
    "AGAIN",
    "PortalError",
    "error_page",
    "href",
    "notice",
    "query_string",
    "redirect",
    "render",
]

_templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("producersync.service.portal", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_templates.env.filters["when"] = _when

_NAMED = 80  # characters of an endpoint's URL that name it in a heading, title or crumb


def _named(url: str) -> str:
    """An endpoint's URL where it names the page: whole up to ``_NAMED`` characters,
    longer its start and its end around an ellipsis. The whole of one the API takes (2048
    characters) made the heading of each endpoint page some ten screens tall at 320 px,
    its tabs and a new secret below them, and the window's title as long. The Overview
    and the list show it whole."""
    if len(url) <= _NAMED:
        return url
    end = _NAMED // 3
    return f"{url[: _NAMED - end - 1]}…{url[-end:]}"


_templates.env.filters["named"] = _named
# A fresh one-time token for each action form as its page is drawn (once.py).
_templates.env.globals["once_token"] = lambda: secrets.token_hex(16)
# Whether a delivery is in a sender's hands (macros.next_attempt): the store's reading.
_templates.env.globals["in_flight"] = outbox.in_flight
# Whether a sender put it back unsent, and why (macros.next_attempt).
_templates.env.globals["held_back"] = outbox.held_back
_templates.env.globals["HELD_RATE_LIMIT"] = outbox.HELD_RATE_LIMIT

# What a redirect-after-post says on the page it lands on, by the ``notice`` it names (only
# these words can be shown, whatever a crafted link carries); "created" and "rotated" are
# said by the answers that show a secret, which are no redirect (see endpoints.py).
_NOTICES = {
    "sign_in_again": "This page was open too long to sign in from, or the browser did not "
    "keep its cookie. The link is not used yet: press Sign in again.",
    "created": "Endpoint created. A test event is on its way to it: see Message Attempts.",
    "created_before": "This form was sent before: the endpoint was created then, and its "
    "signing secret shown once, in that answer. If it was not copied, rotate the secret to "
    "get a new one.",
    "saved": "Changes saved.",
    "rotated": "Secret rotated. The previous secret keeps signing beside the new one for "
    "a grace period, so your receiver can switch without missing an event.",
    # Not "this form was sent before": the page of the form cannot tell that from a
    # rotation in another tab or through the API since it was drawn, and would say it of both.
    "rotated_before": "The secret was rotated after this page was opened: by this form, "
    "sent before, or in another tab or through the API. Nothing more was rotated; the new "
    "secret was shown once, in that answer. If it was not copied, rotate the secret again.",
    "enabled": "Endpoint enabled: deliveries that waited while it was disabled are due now.",
    "disabled": "Endpoint disabled: nothing is sent to it until it is enabled again.",
    "deleted": "Endpoint deleted.",
    # Not "it appears below": the list it is said on may be an older page, or filtered.
    "resent": "Message queued for one more attempt; once made, it is the newest attempt.",
    "recovered": "Failed messages queued for one more attempt: {queued}.",
}


def notice(name: str) -> str:
    """The words of a notice a page gives itself rather than after a redirect."""
    return _NOTICES[name]


AGAIN = "This form was sent before, and done then: nothing more was done."
"""Said where a form sent again leads (once.py's ``again=1``), before what the first did."""


def _notice(request: Request) -> str | None:
    text = _NOTICES.get(request.query_params.get("notice", ""))
    queued = request.query_params.get("queued", "")
    if text and "{queued}" in text:
        shown = queued.isascii() and queued.isdigit() and len(queued) < 9
        text = text.format(queued=int(queued)) if shown else None
    if text and request.query_params.get("again") == "1":
        return f"{AGAIN} {text}"
    return text


class PortalError(Exception):
    """A request the portal refuses, answered with a plain page: a title, a sentence, and
    where to go from there."""

    def __init__(
        self, status: int, title: str, message: str, *, back: tuple[str, str] | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.back = back  # (route name, label) of the way out, if any

    @classmethod
    def bad_address(cls, why: str) -> PortalError:
        """A query parameter refused: ``why`` names it and its value."""
        return cls(
            400,
            "That address is not valid",
            f"{why}. Follow a link from the page instead.",
            back=("endpoints", "Back to Endpoints"),
        )

    @classmethod
    def not_found(cls, what: str) -> PortalError:
        return cls(
            404,
            f"{what.capitalize()} not found",
            f"This account has no such {what}.",
            back=("endpoints", "Back to Endpoints"),
        )


def href(
    request: Request, name: str, query: Mapping[str, object] | None = None, **params: Any
) -> str:
    """The path of a portal route, under wherever the portal is mounted (no scheme or host,
    so a TLS-terminating proxy in front changes nothing)."""
    path: str = request.scope.get("root_path", "") + request.app.url_path_for(name, **params)
    encoded = query_string(query or {})
    return f"{path}?{encoded}" if encoded else path


def query_string(query: Mapping[str, object]) -> str:
    """``query`` encoded, without the parameters that are ``None``."""
    # A list is the parameter given once per item, as a form's checkboxes send it.
    pairs = [
        (key, item)
        for key, value in query.items()
        if value is not None
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return urlencode(pairs)


def redirect(
    request: Request, name: str, query: Mapping[str, object] | None = None, **params: Any
) -> RedirectResponse:
    """Redirect-after-post: 303, so the browser follows with a GET and a reload repeats
    nothing."""
    return RedirectResponse(href(request, name, query, **params), status_code=303)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    def page_href(name: str, query: Mapping[str, object] | None = None, **params: Any) -> str:
        return href(request, name, query, **params)

    context.setdefault("visitor", None)
    context.setdefault("section", "")
    context.setdefault("notice", _notice(request))
    response: HTMLResponse = _templates.TemplateResponse(
        request, template, {"href": page_href, **context}, status_code=status
    )
    return response


def error_page(request: Request, error: PortalError) -> HTMLResponse:
    response = render(request, "message.html", status=error.status, error=error)
    if request.headers.get("hx-request") == "true":
        # htmx swaps no error into the page, so the attempts table, refreshed every 2 s,
        # would go on polling a session signed out in another tab or an endpoint deleted
        # there, unchanged and saying nothing. Reloaded, the page itself tells why.
        response.headers["HX-Refresh"] = "true"
    return response
