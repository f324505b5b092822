"""JSON responses written by orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["JsonResponse"]


class JsonResponse(JSONResponse):
    """A body of plain values written once, by orjson: the same bytes as pydantic's JSON
    of a ``response_model`` (FastAPI's own path), without a model made of each item and
    validated again. A route that returns one keeps its ``response_model`` for the spec."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
