"""Whole numbers in query strings and paths, read as the public API reads them.

pydantic's lax mode reads ``1.0`` and ``1_000`` as integers, so ``size=1.0`` was
answered as ``size=1``. Spring, which the public API runs on, reads an
optional sign and ASCII digits, around which it trims blanks; anything else is a 400 naming
the parameter, like any other bad value.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["WholeNumber"]

_DIGITS = re.compile(r"\s*[+-]?[0-9]+\s*")


def _digits_only(value: object) -> object:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("int_parsing", "expected a whole number in digits")
    return value


WholeNumber = Annotated[int, BeforeValidator(_digits_only)]
"""An ``int`` that text gives only as digits, with an optional sign."""
