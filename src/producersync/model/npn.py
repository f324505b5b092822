"""The NPN (National Producer Number): 1 to 10 ASCII digits."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

__all__ = ["NPN", "NPN_PATTERN", "is_npn"]

NPN_PATTERN = r"^[0-9]{1,10}$"
_NPN_RE = re.compile(NPN_PATTERN)

NPN = Annotated[str, StringConstraints(pattern=NPN_PATTERN)]


def is_npn(value: str) -> bool:
    # re's $ also matches before a trailing newline; fullmatch on ASCII digits does not.
    return bool(_NPN_RE.fullmatch(value)) and value.isascii()
