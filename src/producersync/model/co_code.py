"""A carrier's coCode: its NAIC company code, exactly 5 ASCII digits."""

from __future__ import annotations

__all__ = ["is_co_code"]


def is_co_code(value: str) -> bool:
    # isdigit alone takes any script's digits (full-width, Arabic-Indic): ASCII only.
    return len(value) == 5 and value.isascii() and value.isdigit()
