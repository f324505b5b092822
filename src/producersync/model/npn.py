"""The NPN (National Producer Number): 1 to 10 ASCII digits, a number."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

__all__ = ["NPN", "NPN_PATTERN", "is_npn", "npn_number", "npn_spellings"]

_DIGITS = 10
NPN_PATTERN = rf"^[0-9]{{1,{_DIGITS}}}$"
_NPN_RE = re.compile(NPN_PATTERN)

NPN = Annotated[str, StringConstraints(pattern=NPN_PATTERN)]


def is_npn(value: str) -> bool:
    # re's $ also matches before a trailing newline; fullmatch on ASCII digits does not.
    return bool(_NPN_RE.fullmatch(value)) and value.isascii()


def npn_number(value: str) -> str:
    """The NPN ``value`` names, as NIPR issues it and the API's records write it: a
    number, so without leading zeros ("015645555", from a sheet that pads them, is
    15645555). A ValueError for a value that is not 1 to 10 digits."""
    if not is_npn(value):
        raise ValueError(f"{value!r} is not an NPN: 1 to {_DIGITS} digits, as 15645555")
    return value.lstrip("0") or "0"


def npn_spellings(value: str) -> list[str]:
    """Every way of writing the NPN ``value`` names in 1 to 10 digits, its number
    first: what a lookup by NPN matches (an index seek each), so that a record the
    API wrote with leading zeros is that producer's too."""
    number = npn_number(value)
    return ["0" * zeros + number for zeros in range(_DIGITS - len(number) + 1)]
