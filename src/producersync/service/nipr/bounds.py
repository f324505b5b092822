"""The synthetic universe's bounds: how many producers it holds, and the start dates its
calendar can hold. Apart from the generator, whose reference data and sandbox take a
quarter of a second to import: the CLI's options and their help name these."""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = [
    "CALENDAR_DAYS_AHEAD",
    "CALENDAR_YEARS_BACK",
    "DEFAULT_START_DATE",
    "EARLIEST_START_DATE",
    "LATEST_START_DATE",
    "MAX_PRODUCERS",
    "NPN_HIGH",
    "NPN_LOW",
]

DEFAULT_START_DATE: Final = dt.date(2025, 6, 1)

# Real NPNs run from 1 to about 21 million; each producer gets a slot of this range.
NPN_LOW: Final = 1_000_000
NPN_HIGH: Final = 21_000_000
MAX_PRODUCERS: Final = (NPN_HIGH - NPN_LOW) // 2  # a slot needs room to step around a sandbox NPN

# Careers reach back 32 years and births 50 more before that.
CALENDAR_YEARS_BACK: Final = 90
# Days the calendar runs past the start: the expiration of a license renewed just before.
CALENDAR_DAYS_AHEAD: Final = 4 * 366 + 400
# The start dates whose calendar fits in the years datetime can hold.
EARLIEST_START_DATE: Final = dt.date(dt.MINYEAR + CALENDAR_YEARS_BACK, 1, 1)
LATEST_START_DATE: Final = dt.date.max - dt.timedelta(days=CALENDAR_DAYS_AHEAD)
