"""Whole numbers in query strings and paths, read as the public API reads them.

pydantic's lax mode reads ``1.0`` and ``1_000`` as integers, so ``size=1.0`` was
answered as ``size=1``. Spring, which the public API runs on, reads an optional sign and
ASCII digits, around which it trims blanks; anything else is a 400 naming the parameter,
like any other bad value.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from producersync.model.spaces import spaced

__all__ = ["DIGITS_ONLY", "MAX_LIST_ITEMS", "MAX_ROW_ID", "RowId", "WholeNumber"]

_DIGITS = re.compile(spaced("[+-]?[0-9]+"))


def _digits_only(value: object) -> object:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("int_parsing", "expected a whole number in digits")
    return value


DIGITS_ONLY: Final = BeforeValidator(_digits_only)
"""Text only as digits, with an optional sign. Last in an ``Annotated``, after any
bounds: before them, the spec shows the bounds raw (``ge``), not as ``minimum``, and a
client generated from it sends what the service refuses."""

WholeNumber = Annotated[int, DIGITS_ONLY]
"""An ``int`` given only as digits, for a model field whose ``Field`` holds its bounds."""

MAX_ROW_ID: Final = 2**63 - 1  # a BIGINT

# Values in one list parameter (npns=, eventType=...). Here, not in params.py, which
# the CLI may not import: it brings in FastAPI.
MAX_LIST_ITEMS: Final = 1000

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), DIGITS_ONLY]
"""A record or attempt id in a query."""
