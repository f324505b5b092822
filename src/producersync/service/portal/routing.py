"""The portal's routes take a form body only as its pages send one, URL-encoded UTF-8,
and each query parameter once, as the API does.

Starlette decodes forms leniently: a percent-escape that is not UTF-8 becomes U+FFFD, a
raw byte is read as Latin-1, a multipart part falls back to Latin-1. So bytes the API
refuses as an unreadable body were saved by the portal as mangled text. And it keeps a
field's last value: ``csrf=forged&csrf=<token>`` passed the CSRF check,
``confirm=no&confirm=yes`` deleted, ``url=a&url=b`` saved ``b``, what came before never
checked. So a field given more than once is refused, unless the route takes it as a list
(the endpoint form's ``events``, the attempts filter's ``type``). The body is checked
before the route reads it (it is capped at 64 KiB by then, see ``app.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Iterator
from typing import Any, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from producersync.service.api.query_string import by_name
from producersync.service.errors import ApiError
from producersync.service.form_fields import decoded, fault, pairs
from producersync.service.portal.pages import PortalError

__all__ = ["FormRoute", "check_form_body"]

_FORM = "application/x-www-form-urlencoded"


def _unreadable(status: int, why: str) -> PortalError:
    return PortalError(
        status,
        "This form cannot be read",
        f"{why}. Nothing was changed: send the form from its page.",
        back=("endpoints", "Back to Endpoints"),
    )


def check_form_body(body: bytes, content_type: str, lists: Collection[str] = ()) -> None:
    """Nothing, or a ``PortalError`` naming the field whose bytes cannot be read as sent,
    or that is given more than once though it is not among ``lists``."""
    if not body:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != _FORM:
        raise _unreadable(415, f"A portal form is sent as {_FORM}, not '{media_type[:60]}'")
    given: dict[str, str] = {}
    for name, value in pairs(body):
        wrong = fault(name) or fault(value)
        field = decoded(name).decode("utf-8", "backslashreplace")
        shown = decoded(value).decode("utf-8", "backslashreplace")
        if wrong:
            raise _unreadable(400, f"Field '{field[:40]}' {wrong}: '{shown[:60]}'")
        if field in given and field not in lists:
            raise _unreadable(
                400,
                f"Field '{field[:40]}' is given more than once: '{given[field][:60]}', "
                f"'{shown[:60]}'",
            )
        given[field] = shown


def _list_fields(dependant: Dependant) -> Iterator[str]:
    """The form fields and query parameters a route (or a dependency of it) takes as a
    list."""
    for param in (*dependant.body_params, *dependant.query_params):
        annotation = param.field_info.annotation
        if list in {get_origin(a) for a in (annotation, *get_args(annotation))}:
            yield param.alias
    for sub in dependant.dependencies:
        yield from _list_fields(sub)


class FormRoute(APIRoute):
    """A route whose query has each parameter once, and whose POST body passes
    ``check_form_body``, before FastAPI parses either."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        lists = frozenset(_list_fields(self.dependant))

        async def checked(request: Request) -> Response:
            # A route reads a parameter's last value: outcome=failed&outcome=all would be all.
            try:
                by_name(request.query_params.multi_items(), lists)
            except ApiError as exc:
                raise PortalError.bad_address(exc.message) from None
            if request.method == "POST":
                body = await request.body()
                check_form_body(body, request.headers.get("content-type", ""), lists)
            return await handle(request)

        return checked
