"""A response's JSON body, as every reader of one in the SDK takes it."""

from __future__ import annotations

from typing import Any

import httpx2

__all__ = ["json_body"]


def json_body(response: httpx2.Response) -> Any:
    """``response.json()``; a ``ValueError`` for any body that is not JSON to read. The
    standard library's parser recurses once per level of nesting, so a body such as
    ``[[[[…]]]]`` a few thousand deep raised a bare RecursionError past every reader's
    ``except ValueError`` (a record, an error body, a token response)."""
    try:
        return response.json()
    except RecursionError as exc:
        raise ValueError("JSON nested deeper than it can be read") from exc
