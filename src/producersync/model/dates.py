"""A date as the API writes it (``updatedSince``, ``runDate``): ``yyyy-MM-dd``."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["iso_date"]

# [0-9], not \d, which takes any script's digits (full-width, Arabic-Indic): ASCII only,
# as an NPN. And not date.fromisoformat alone, which also reads week dates (2026-W01-1)
# and basic ones (20260101).
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def iso_date(text: str) -> dt.date:
    """The date ``text`` writes as ``yyyy-MM-dd``; else ``ValueError`` saying why, as
    "not a date ..." (2026-02-30 has that shape: its day is out of range, not its
    format)."""
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        raise ValueError("not a date as yyyy-MM-dd")
    year, month, day = map(int, match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"not a date: {exc}") from None
