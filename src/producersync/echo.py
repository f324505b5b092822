"""What an answer or a log line echoes of what a client sent, cut short.

A refused value echoed whole came back at up to the 64 KiB that a URL or a body holds: a
70 KB path was a 140 KB 404 (in the message and in ``path``). The service's error body
and the sync receiver's answers cut each echo here; neither imports the other.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PATH_SHOWN", "cut"]

PATH_SHOWN: Final = 200
"""Characters of a request's path that an answer echoes."""


def cut(text: str, most: int) -> str:
    """``text`` up to ``most`` characters, then how many more it had: ``…(59804 more)``."""
    if len(text) <= most:
        return text
    return f"{text[:most]}…({len(text) - most} more)"
