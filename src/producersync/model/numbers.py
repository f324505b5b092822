"""What the SDK and the webhook verifier take for a number of seconds, a rate or a
priority."""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["real"]


def real(value: object) -> TypeGuard[float]:
    """Whether ``value`` is an int or a float, and not a bool: True is 1 to Python, never
    what a caller giving it for seconds meant. A string or a bool failed the checks that
    use this as a bare TypeError naming no option, or was taken as 1."""
    return isinstance(value, int | float) and not isinstance(value, bool)
