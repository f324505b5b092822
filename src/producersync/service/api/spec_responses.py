"""Routes whose ``responses=`` models are built once per model, not once per route.

FastAPI builds a field, with a pydantic ``TypeAdapter`` of its own, for every model of
every route's ``responses=`` (``Response_404_getLicenses``...), though only the published
spec reads them (each model's schema, a ``$ref`` to it). The API's routes all declare
``ERROR_RESPONSES``: 340 of the 382 were ``ErrorBody`` again, 0.15 CPU-s of the 1.3 that
importing the app took, at every `service run`'s start. A route of this class shares one
field per model: the spec is the same, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi.routing import APIRoute
from fastapi.utils import create_model_field

__all__ = ["SharedResponsesRoute"]


@cache
def _field(model: Any) -> Any:
    # A model's schema in the spec is a $ref to it, whatever the field is named.
    return create_model_field(
        name=f"Response_{getattr(model, '__name__', 'model')}", type_=model, mode="serialization"
    )


class SharedResponsesRoute(APIRoute):
    """An ``APIRoute`` whose ``responses=`` models share one field each."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        responses = responses or {}
        bare = {
            code: {key: value for key, value in response.items() if key != "model"}
            for code, response in responses.items()
        }
        super().__init__(path, endpoint, responses=bare, **kwargs)
        self.responses = responses
        self.response_fields = {
            code: _field(response["model"])
            for code, response in responses.items()
            if response.get("model")
        }
