"""Query parameters an operation does not take, refused where the client surely meant one.

An unknown parameter is ignored: a cache-buster (``_=1712345``) or a tracker's
(``utm_source``) must not break a client. Two kinds were ignored as silently, and their
caller got the whole population for a filter it believed it had set (a daily sync's
``updated_since=`` fetched everything, every day):

- a parameter that other operations of the API take, not this one (``states`` on
  ``/v2/entities``, ``npns`` on a per-NPN list, ``status`` on addresses): a 400 saying so,
  and what this operation takes;
- one this operation takes, spelt otherwise in case, ``_`` or ``-`` (``updatedsince``,
  ``updated_since``, ``Updated-Since``): a 400 naming the right spelling. So is another
  operation's so misspelt (``continuation_token`` on a v1 list).

What an operation takes is what its route declares, the query parameters of its dependant
that ``/openapi.json`` lists for it; read from the app's routes once, when it is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import BaseRoute

from producersync.service.errors import ApiError
from producersync.service.gate import API_PREFIXES

__all__ = ["QueryParameters", "refuse_strays"]


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _declared(dependant: Dependant) -> tuple[str, ...]:
    """The query parameters of ``dependant`` and its dependencies, a model's fields each
    under the name a client sends (as FastAPI reads and publishes them)."""
    names: list[str] = []
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names += [info.alias or name for name, info in model.model_fields.items()]
            else:
                names.append(field.alias)
        pending += current.dependencies
    return tuple(dict.fromkeys(names))


class QueryParameters:
    """The query parameters each operation of the API takes, from its routes."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        api = [r for r in routes if isinstance(r, APIRoute) and r.path.startswith(API_PREFIXES)]
        self._takes = {r.unique_id: _declared(r.dependant) for r in api}
        self._folded = {uid: {_folded(n): n for n in names} for uid, names in self._takes.items()}
        self._api = {_folded(n): n for names in self._takes.values() for n in names}

    def check(self, operation: str, route: APIRoute, given: Iterable[tuple[str, str]]) -> None:
        """``ApiError`` for the first of ``given`` that ``route`` (``operation``, as
        ``GET /v2/entities``) does not take, and that is or folds to one of the API's."""
        takes, here = self._takes[route.unique_id], self._folded[route.unique_id]
        for name, value in given:
            if name in takes:
                continue
            folded = _folded(name)
            if folded in here:
                why = f"no parameter of {operation} is so spelt; did you mean '{here[folded]}'?"
            elif folded in self._api:
                known = self._api[folded]
                spelt = "" if known == name else f" ('{known}')"
                listed = ", ".join(takes) or "no query parameter"
                why = (
                    f"a parameter of other operations of this API{spelt}, not of "
                    f"{operation}, which takes {listed}"
                )
            else:
                continue
            raise ApiError.bad_parameter(name, value, why)


async def refuse_strays(request: Request) -> None:
    """A dependency of every API route (async: no thread for a few dictionary lookups)."""
    route: APIRoute = request.scope["route"]
    parameters: QueryParameters = request.app.state.query_parameters
    parameters.check(f"{request.method} {route.path}", route, request.query_params.multi_items())
