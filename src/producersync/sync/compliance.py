"""Compliance questions over the mirror, as pure functions of a connection.

with engine.connect() as conn:
    verdict = check(conn, "15645555", "CA", "Life", carrier="60483")
    print(verdict.allowed, *verdict.reasons, sep="\\n")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from producersync.sync.mirror import Change, changes_since
from producersync.sync.mirror.queries import (
    AppointmentRow,
    LicenseRow,
    LoaRow,
    appointments_with,
    licenses_expiring,
    licenses_in_state,
    population_entry,
)

__all__ = ["Verdict", "changes", "check", "expiring"]

_LOA_ACTIVE = "active"
_APPOINTED = "appointed"
_CE_FAILING = "not in compliance"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: list[str]  # one plain sentence per condition, passed or failed
    failed: list[str] = field(default_factory=list)  # the reasons that say no


@dataclass(frozen=True)
class _Finding:
    passed: bool
    reason: str


def check(
    conn: sa.Connection,
    npn: str,
    state: str,
    loa: str,
    *,
    carrier: str | None = None,
    on: dt.date | None = None,
) -> Verdict:
    """May ``npn`` sell ``loa`` (a line of authority's name or code, or a category such as
    "life"; any case) in ``state`` on ``on`` (default today), appointed with ``carrier``
    (a coCode) if given?"""
    on = on or dt.date.today()
    state = state.strip().upper()
    findings = [_population(conn, npn)]
    findings += _best_license(licenses_in_state(conn, npn, state), npn, state, loa, on)
    if carrier is not None:
        findings.append(_appointment(appointments_with(conn, npn, state, carrier), state, loa))
    failed = [f.reason for f in findings if not f.passed]
    return Verdict(not failed, [f.reason for f in findings], failed)


def expiring(
    conn: sa.Connection, within_days: int, *, today: dt.date | None = None
) -> list[LicenseRow]:
    """Active licenses of the active population that expire within ``within_days`` days
    of ``today`` (default: the real today), soonest first."""
    today = today or dt.date.today()
    return licenses_expiring(conn, today, today + dt.timedelta(days=within_days))


def changes(conn: sa.Connection, since: dt.datetime, *, limit: int | None = None) -> list[Change]:
    """The change feed from ``since``: the records inserted, changed or purged."""
    return changes_since(conn, since, limit=limit)


def _matches(wanted: str, name: str | None, code: str | None, categories: Sequence[str]) -> bool:
    key = wanted.strip().casefold()
    return any(key == (value or "").casefold() for value in (name, code, *categories))


def _population(conn: sa.Connection, npn: str) -> _Finding:
    entry = population_entry(conn, npn)
    if entry is None:
        return _Finding(False, f"NPN {npn} is not in the monitored population")
    if not entry.active:
        when = f" on {entry.deactivated_at:%Y-%m-%d}" if entry.deactivated_at else ""
        return _Finding(False, f"NPN {npn} was deactivated{when}: not in the active population")
    return _Finding(True, f"NPN {npn} is in the active population")


def _best_license(
    found: list[LicenseRow], npn: str, state: str, loa: str, on: dt.date
) -> list[_Finding]:
    """The findings of the license that gets furthest (an NPN can hold a resident and a
    firm license in one state); a verdict explains that one."""
    if not found:
        return [_Finding(False, f"NPN {npn} holds no license in {state}")]
    chains = [[*_license(lic, on), *_loa(lic, loa)] for lic in found]
    return max(chains, key=lambda chain: sum(f.passed for f in chain))


def _license(lic: LicenseRow, on: dt.date) -> list[_Finding]:
    name = f"license {lic.license_num or lic.id} in {lic.state}"
    if lic.nipr_deleted:
        return [_Finding(False, f"{name} was deleted by NIPR")]
    expires = lic.expiration_date
    return [
        _Finding(bool(lic.active), f"{name} is {'active' if lic.active else 'not active'}"),
        _Finding(expires is None or expires >= on, _expiry(name, expires, on)),
    ]


def _expiry(name: str, expires: dt.date | None, on: dt.date) -> str:
    if expires is None:
        return f"{name} has no expiration date"
    if expires < on:
        return f"{name} expired on {expires} (before {on})"
    return f"{name} is unexpired on {on} (expires {expires})"


def _loa(lic: LicenseRow, loa: str) -> list[_Finding]:
    matching = [
        row
        for row in lic.loas
        if not row.nipr_deleted and _matches(loa, row.loa, row.loa_code, row.categories)
    ]
    if not matching:
        return [_Finding(False, f"license {lic.license_num or lic.id} has no {loa!r} LOA")]
    # An active one if there is one: a cancelled duplicate must not hide it.
    row = next((r for r in matching if _status(r) == _LOA_ACTIVE), matching[0])
    name = f"LOA {row.loa} ({row.loa_code})"
    active = _status(row) == _LOA_ACTIVE
    ce = row.ce_compliance or "none reported"
    return [
        _Finding(active, f"{name} is {'active' if active else row.status or 'without a status'}"),
        _Finding(ce.casefold() != _CE_FAILING, f"{name} CE compliance: {ce}"),
    ]


def _appointment(found: list[AppointmentRow], state: str, loa: str) -> _Finding:
    current = [a for a in found if not a.nipr_deleted]
    if not current:
        return _Finding(False, f"no appointment with that carrier in {state}")
    carrier = f"{current[0].company_name} ({current[0].co_code})"
    covering = [a for a in current if _matches(loa, a.loa, a.loa_code, a.categories)]
    if not covering:
        return _Finding(False, f"appointed with {carrier} in {state}, but not for {loa!r}")
    appointed = [a for a in covering if _status(a) == _APPOINTED]
    if appointed:
        return _Finding(True, f"appointed with {carrier} in {state} for {appointed[0].loa}")
    last = covering[-1]
    why = f" ({last.termination_reason})" if last.termination_reason else ""
    appointment = f"appointment with {carrier} in {state} for {last.loa}"
    return _Finding(False, f"{appointment} is {last.status}{why}")


def _status(row: LoaRow | AppointmentRow) -> str:
    return (row.status or "").casefold()
