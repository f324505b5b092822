"""Space around a value: the characters a value given to the API may carry around it, and
the trimming of exactly those.

One definition for the spec and the service. The spec's patterns are read by JSON Schema
validators as ECMA-262 regexes and the service's by Python, whose ``\\s`` differ: ECMA's
takes U+FEFF and not U+001C-U+001F or U+0085, Python's (and ``str.strip``) the reverse,
so a client validating by the spec and the service disagreed on ``'\\x1cwebhook.test'``.
The class below is spelled out in ASCII, which both dialects read alike; any other
character around a value (a no-break space, a byte order mark) is part of the value,
and refused as the value is.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SPACE", "spaced", "trim"]

_CHARACTERS: Final = "\t\n\v\f\r "

SPACE: Final = r"[\t\n\v\f\r ]"
"""The class of ``_CHARACTERS``, as a regex of either dialect writes it."""


def spaced(pattern: str) -> str:
    """``pattern`` (unanchored) as a whole value, with ``SPACE`` around it: anchored, as
    the spec's patterns are (a JSON Schema pattern is a search otherwise)."""
    return rf"^{SPACE}*(?:{pattern}){SPACE}*$"


def trim(text: str) -> str:
    """``text`` without the ``SPACE`` around it (``str.strip`` trims more)."""
    return text.strip(_CHARACTERS)
