"""A date as the API writes it (``updatedSince``, ``runDate``): ``yyyy-MM-dd``."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["DATETIME_PATTERN", "DATETIME_SHAPE", "DATE_PATTERN", "iso_date"]

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


# The same dates as a pattern, for the spec, which can say no more than a pattern can: no
# lookaround either, which hypothesis (schemathesis's generator) does not read.
def _any(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


_DAY_1_28 = "(?:0[1-9]|1[0-9]|2[0-8])"
_YEAR = _any("[0-9]{3}[1-9]", "[0-9]{2}[1-9]0", "[0-9][1-9]00", "[1-9]000")  # not 0000
_LEAP_YEAR = _any(
    "[0-9]{2}(?:0[48]|[2468][048]|[13579][26])", "(?:0[48]|[2468][048]|[13579][26])00"
)
_FEB_29 = f"{_LEAP_YEAR}-02-29"  # never of year 1 or 9999
_MONTH_DAY = _any(
    f"(?:0[1-9]|1[0-2])-{_DAY_1_28}", "(?:0[13-9]|1[0-2])-(?:29|30)", "(?:0[13578]|1[02])-31"
)
DATE_PATTERN = _any(f"{_YEAR}-{_MONTH_DAY}", _FEB_29)
"""The dates ``iso_date`` reads (0001-01-01 to 9999-12-31), unanchored."""

# The dates from which any offset reaches a UTC time: not the calendar's first and last,
# where 0001-01-01T00:00+01:00 is before year 1 in UTC.
_INNER_DATE = _any(
    _any("000[2-9]", "00[1-9][0-9]", "0[1-9][0-9]{2}", "[1-8][0-9]{3}") + f"-{_MONTH_DAY}",
    _any("9[0-8][0-9]{2}", "99[0-8][0-9]", "999[0-8]") + f"-{_MONTH_DAY}",
    "0001-"
    + _any(
        "01-(?:0[2-9]|[12][0-9]|3[01])",
        f"(?:0[2-9]|1[0-2])-{_DAY_1_28}",
        "(?:0[3-9]|1[0-2])-(?:29|30)",
        "(?:0[3578]|1[02])-31",
    ),
    "9999-"
    + _any(f"(?:0[1-9]|1[0-2])-{_DAY_1_28}", "(?:0[13-9]|1[0-2])-(?:29|30)", "(?:0[13578]|10)-31"),
    _FEB_29,
)
# Up to 9 decimals (nanoseconds, as Go writes them), of which microseconds are kept.
_CLOCK = "[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]{1,9})?)?"
_OFFSET = "[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9]"
DATETIME_PATTERN = _any(f"{DATE_PATTERN}(?:{_CLOCK}[Zz]?)?", f"{_INNER_DATE}{_CLOCK}{_OFFSET}")
"""ISO 8601 as the API reads a time (unanchored): a date alone (its midnight), or a date
and a time, to the minute or finer, with a Z, an offset, or neither (UTC)."""

# An offset of hours alone (-05) too, as Python's fromisoformat reads it: refused, a time
# written so by a tool or a person was "not an ISO 8601 time".
_OFFSET_READ = "[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?"
DATETIME_SHAPE = f"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:{_CLOCK}(?:[Zz]|{_OFFSET_READ})?)?"
"""The form of ``DATETIME_PATTERN``'s times, any day of it, and those of an offset of
hours alone: what a reader that says why a day is wrong (2026-02-30) or out of range in
UTC checks first."""
