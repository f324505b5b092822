"""Field values of NIPR records, drawn the same way by the universe and the daily runs.

Each helper takes ``r`` (a ``Random.random``) and draws in a fixed order, so a caller's
stream of draws, and so its output for a seed, depends only on the calls it makes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_right
from calendar import isleap
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import accumulate
from random import Random
from typing import Any, NamedTuple

from producersync.service.nipr import reference as ref

__all__ = [
    "LENGTHS_OF_ORDER",
    "LOA_CATEGORIES",
    "RegulatoryOrder",
    "Weighted",
    "action_number",
    "anniversary",
    "appointment_row",
    "lapse_day",
    "license_number",
    "penalty",
    "phone",
    "pick",
    "regulatory_order",
    "renewal_periods",
    "street",
    "transaction_id",
    "zip_code",
]

Draw = Callable[[], float]

_DIRECTIONS = ("", "", "", "", "N ", "S ", "E ", "W ")

# A line's categories as the store keeps them, joined once rather than per record.
LOA_CATEGORIES = {loa.name: ",".join(loa.categories) for loa in ref.LOAS.values()}

# Days a regulatory order runs; most orders (fines, reprimands) have no length.
LENGTHS_OF_ORDER = (0, 0, 0, 0, 30, 60, 90, 180, 365, 730)
_TIMED_LENGTHS = tuple(days for days in LENGTHS_OF_ORDER if days)


class Weighted:
    """Weighted choice by bisecting cumulative weights: far cheaper than Random.choices."""

    __slots__ = ("cum", "total", "values")

    def __init__(self, pairs: Sequence[tuple[float, Any]]) -> None:
        self.values = [value for _, value in pairs]
        self.cum = list(accumulate(weight for weight, _ in pairs))
        self.total = self.cum[-1]

    def pick(self, u: float) -> Any:
        return self.values[bisect_right(self.cum, u * self.total)]


def pick(r: Draw, values: Sequence[Any]) -> Any:
    return values[int(r() * len(values))]


def transaction_id(rng: Random) -> str:
    """A version-4 UUID from ``rng``: the id of the NIPR ingest that wrote a record."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def anniversary(day: dt.date, year: int) -> dt.date:
    """``day``'s anniversary in ``year``: a license renews on its issue date's, the 29th,
    30th and 31st of a month included; 29 February falls back to the 28th in a year
    without one."""
    if day.month == 2 and day.day == 29 and not isleap(year):
        return dt.date(year, 2, 28)
    return day.replace(year=year)


def lapse_day(expiration: dt.date) -> dt.date:
    """The day a license not renewed lapses: the day after its expiration date, its last
    day in force, as ``check`` reads it (and the day its late renewal opens). The
    universe's history and the daily runs date a lapse, its lines ``Inactive`` and its
    appointments ``TERMINATED``, from it alike: dated on the expiration date, a lapse
    made ``check --on`` that date a no beside "unexpired on it, its last day"."""
    return expiration + dt.timedelta(days=1)


def license_number(r: Draw, state: str, npn: str) -> str:
    """A license number in the state's format (the NPN where the state uses it)."""
    prefixes, digits = ref.LICENSE_NUMBER_FORMATS[state]
    if digits:
        return f"{pick(r, prefixes)}{int(r() * 10**digits):0{digits}d}"
    return npn


@lru_cache(maxsize=4096)
def _windows(expiration: dt.date) -> tuple[str, str, str, str, str, str]:
    # Expiration dates repeat across millions of licenses: compute each one's windows once.
    def day(offset: int) -> str:
        return (expiration + dt.timedelta(days=offset)).isoformat()

    return day(-90), day(0), day(1), day(90), day(91), day(365)


def renewal_periods(expiration: dt.date | None, *, known: bool = True) -> dict[str, Any]:
    """A license's ``renewalPeriods``: PERPETUAL without an expiration date, else the
    renewal window (90 days up to it), late renewal (90 days after) and reinstatement (to
    a year after); NO_RENEWAL_INFORMATION_AVAILABLE when the state reports none, and for
    a license it cancelled (``known=False``), which has no window: its holder would apply
    for a new one."""
    if expiration is None or not known:
        kind = "PERPETUAL" if expiration is None else "NO_RENEWAL_INFORMATION_AVAILABLE"
        return {"renewal": None, "lateRenewal": None, "reinstatement": None, "renewalType": kind}
    start, end, late_start, late_end, back_start, back_end = _windows(expiration)
    return {
        "renewal": {"startDate": start, "endDate": end},
        "lateRenewal": {"startDate": late_start, "endDate": late_end},
        "reinstatement": {"startDate": back_start, "endDate": back_end},
        "renewalType": "RENEWAL_REQUIRED",
    }


def street(r: Draw) -> str:
    return (
        f"{1 + int(r() ** 2 * 9999)} {pick(r, _DIRECTIONS)}{pick(r, ref.STREET_NAMES)} "
        f"{pick(r, ref.STREET_SUFFIXES)}"
    )


def zip_code(r: Draw, city: ref.City) -> str:
    return f"{city.zip3}{1 + int(r() * 98):02d}"


def phone(r: Draw, area_code: str, instead_of: str | None = None) -> str:
    """A number in the 555-01xx range, reserved for fiction; not ``instead_of``, a number
    it replaces (one drawn again would be a change that changed nothing)."""
    prefix = f"{area_code}-555-01"
    old = instead_of[len(prefix) :] if instead_of and instead_of.startswith(prefix) else ""
    taken = int(old) if len(old) == 2 and old.isdigit() else None
    # One draw either way: among the 99 others, stepping over the number replaced.
    ending = int(r() * (100 if taken is None else 99))
    if taken is not None and ending >= taken:
        ending += 1
    return f"{prefix}{ending:02d}"


def appointment_row(
    carrier: ref.Carrier,
    state: str,
    loa: ref.Loa,
    status: str,
    reason_date: dt.date,
    reason: str | None,
) -> dict[str, Any]:
    """An appointment's columns but its id, npn and record fields: the carrier's in
    ``state`` for ``loa``, ``status`` since ``reason_date`` (``reason``, if it ended)."""
    return {
        "for_state": state,
        "branch_id": None,
        "company_name": carrier.name,
        "fein_id": carrier.fein,
        "co_code": carrier.co_code,
        "loa": loa.name,
        "loa_code": loa.code,
        "status": status,
        "status_reason_date": reason_date,
        "termination_reason": reason,
        "county_code": None,
        "loa_categories": LOA_CATEGORIES[loa.name],
    }


class RegulatoryOrder(NamedTuple):
    """One regulatory action's disposition, its fine and length, and its values: the
    (type, value) pairs of a REASON, an ORIGIN and the DISPOSITION."""

    disposition: ref.Disposition
    fine: int
    length: int
    values: list[tuple[str, str]]


def regulatory_order(r: Draw, *, license_in_force: bool) -> RegulatoryOrder:
    """A regulatory action's order: a reason, an origin, a disposition (none that takes
    the license out of force while ``license_in_force``), then a fine and a length of
    order as the disposition has them (a fine always for ``Fined``, never for
    ``Dismissed``; a length for a suspension or a probation, none for a revocation)."""
    reason = pick(r, ref.REGULATORY_REASONS)
    origin = pick(r, ref.REGULATORY_ORIGINS)
    names = ref.LICENSE_KEPT_DISPOSITIONS if license_in_force else ref.REGULATORY_DISPOSITIONS
    disposition = ref.DISPOSITIONS[pick(r, names)]
    fine = 0 if disposition.fine == "never" else penalty(r, disposition.fine == "always")
    if disposition.length == "never":
        length = 0
    else:
        length = pick(r, _TIMED_LENGTHS if disposition.length == "always" else LENGTHS_OF_ORDER)
    values = [("REASON", reason), ("ORIGIN", origin), ("DISPOSITION", disposition.name)]
    return RegulatoryOrder(disposition, fine, length, values)


def action_number(r: Draw) -> str:
    """A state's regulatory action number (eight digits)."""
    return str(10_000_000 + int(r() * 90_000_000))


def penalty(r: Draw, required: bool = False) -> int:
    """A fine in dollars: none in about a third of actions (unless ``required``), mostly
    small, up to $10,050."""
    return 0 if not required and r() < 0.3 else 50 * (1 + int(r() ** 2 * 200))
