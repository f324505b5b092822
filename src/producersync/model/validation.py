"""pydantic's refusals in our words, for every place that shows one to a person."""

from __future__ import annotations

from pydantic_core import ErrorDetails

__all__ = ["reason"]


def reason(error: ErrorDetails) -> str:
    """Why ``error``'s value was refused: pydantic's message, without the ``Value error,``
    it puts before the words of our own validators."""
    return error["msg"].removeprefix("Value error, ")
