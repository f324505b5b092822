"""Compliance questions over the mirror, as pure functions of a connection.

with engine.connect() as conn:
    verdict = check(conn, "15645555", "CA", "Life", carrier="60483")
    print(verdict.allowed, *verdict.reasons, sep="\\n")

A verdict is yes, no, or no answer (``answered`` false): what the mirror cannot tell, a
producer it does not monitor or a status that changed after the date asked, is neither.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from producersync.model import STATE_CODES, is_co_code
from producersync.model.npn import npn_number
from producersync.sync.mirror import (
    Change,
    Freshness,
    changes_since,
    fetched_since_activation,
    freshness,
)
from producersync.sync.mirror.queries import (
    AppointmentRow,
    LicenseRow,
    LoaRow,
    Pending,
    PopulationRow,
    RegulatoryActionRow,
    appointments_with,
    holds_a_license,
    iter_licenses_expiring,
    licenses_in_state,
    licenses_of,
    loa_terms,
    pending_fetches,
    population_entry,
    regulatory_actions_in,
)

__all__ = [
    "Expiring",
    "Freshness",
    "Pending",
    "UnknownLoa",
    "Verdict",
    "changes",
    "check",
    "co_code",
    "expiring",
    "fetching_again",
    "freshness",
    "iter_expiring",
    "not_covered",
    "pending",
    "regulatory_note",
    "state_code",
    "unknown_loa",
]

_LOA_ACTIVE = "active"
# A license's residencyStatus, casefolded: "R" (resident) or "NR" (non-resident).
_RESIDENT = "r"
_NON_RESIDENT = "nr"
# Ours and the API's filter say APPOINTED; the API's schema describes "e.g., Active,
# Terminated". Either is a current appointment.
_APPOINTED = frozenset({"appointed", "active"})
# The API's ceCompliance values (and none reported) that let an LOA be sold; a value it
# does not define is no more a compliance than its NOT IN COMPLIANCE.
_CE_PASSING = frozenset({"in compliance", "exempt", "n/a"})
_CE_FAILING = "not in compliance"
# What an appointment's yes reads, besides the names its LOA matches by.
_APPOINTMENT_READS = ("niprDeleted", "status", "statusReasonDate")
_CLOSEST = 3  # names a typo's suggestion offers
# A carrier's FEIN, as an appointment's feinId writes it (41-0417830), or its 9 digits:
# what a carrier knows itself by beside its coCode.
_FEIN = re.compile(r"[0-9]{2}-?[0-9]{7}")
# The words of a name that tell it (four letters or more): not "and", "or", "&", shared
# by names of other lines.
_TELLING = re.compile(r"[^\W_]{4,}")
# The NPNs owed a fetch a report names: under --json and in ``Expiring.pending``, and
# the first few in its sentence (``sync status`` tells of the fetches).
_PENDING_LISTED = 100
_PENDING_SAID = 5


@dataclass(frozen=True)
class Verdict:
    allowed: bool  # a yes: every condition passed
    reasons: list[str]  # one plain sentence per condition, passed, failed or unknown
    failed: list[str] = field(default_factory=list)  # the reasons that say no
    # The reasons the mirror cannot tell by. With none failed, the verdict is no answer:
    # a producer it does not monitor, or a record's status that changed after the date,
    # read as a no, looked like the producer's compliance failure (a lost sale).
    unknown: list[str] = field(default_factory=list)
    # The mirror the answer was read from, as ``sync status`` tells it: the NIPR run it
    # holds as of (``Freshness.as_of``: its last synced runDate, or before any, the day
    # before its first complete fetch; None before either) and the run days it lacks
    # (None with it, 0 when current). A yes of a mirror whose sync stopped days ago is a
    # yes as of then.
    as_of: dt.date | None = None
    lag_days: int | None = None
    # The NPN's regulatory actions in the state, not niprDeleted, the latest first: no
    # condition of the answer (a fine, a probation, a suspension whose order ended, which
    # the license's status already tells), but a yes to a producer the state suspended
    # or fined said nothing of it. Read only for an NPN the mirror answers of.
    regulatory_actions: list[RegulatoryActionRow] = field(default_factory=list)
    # What the mirror holds that bears on the answer and decides nothing, a sentence
    # each: a non-resident license's resident one not in good standing on the date,
    # then each regulatory action (``regulatory_note``).
    notes: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        """Yes or no, rather than what the mirror cannot tell: a condition that failed is
        a no whatever the mirror cannot tell of the others."""
        return bool(self.failed) or not self.unknown


@dataclass(frozen=True)
class UnknownLoa:
    loa: str  # as given
    names: list[str]  # every LOA name the mirror holds, sorted
    closest: list[str]  # its names, codes or categories nearest ``loa``, nearest first


@dataclass(frozen=True)
class _Finding:
    passed: bool | None  # None: the mirror cannot tell
    reason: str
    # A no for want of a record (no license in the state, no appointment with the
    # carrier): the mirror's word only once a fetch of the NPN's records has finished.
    missing: bool = False


class _Wanted:
    """The LOA asked for. A name or code of an LOA in the mirror means that LOA only:
    "Life" is also a category of Variable Life, and "Property" one of Personal Lines
    and of Public Adjuster, whose yes would not be one for it. Any other word is a
    category ("variable"). Whether it is a name is asked of the mirror once, and only
    when a category matches."""

    def __init__(self, conn: sa.Connection, loa: str) -> None:
        self.loa = loa
        self._conn = conn
        self._named: bool | None = None

    def matches(self, row: LoaRow | AppointmentRow) -> bool:
        if _matches(self.loa, row.loa, row.loa_code, ()):
            return True
        return _matches(self.loa, None, None, row.categories) and not self._is_named()

    def _is_named(self) -> bool:
        if self._named is None:
            terms = loa_terms(self._conn)
            self._named = _among(self.loa, [*terms.names, *terms.codes])
        return self._named


def check(
    conn: sa.Connection,
    npn: str,
    state: str,
    loa: str,
    *,
    carrier: str | None = None,
    on: dt.date | None = None,
) -> Verdict:
    """May ``npn`` sell ``loa`` (a line of authority's name or code, or else a category
    such as "variable"; any case) in ``state`` on ``on`` (default today), appointed with ``carrier``
    (a coCode) if given? ``npn`` is read as a number, as ``npn_number`` reads it: the
    reasons name 15645555 when asked of "015645555". A blank ``loa``, or an ``npn``,
    ``state`` (any case) or ``carrier`` that is none, is a ValueError: it asks nothing,
    and a no to it would read as an answer. Each is a ``str``: another type (an NPN as the
    int 15645555) is a TypeError naming it.

    What the mirror cannot tell is no answer (``Verdict.answered`` false), not a no: an
    NPN it does not monitor (never, or not since its deactivation: the records it kept
    are frozen), or whose records it has not fetched yet (nor again, subscribed again
    after a deactivation), and on a past ``on`` a status that took effect after it (or
    undated, in a record changed since).

    An ``loa`` that no LOA in the mirror carries is a no like any other: a true answer
    about the producer, and an LOA the mirror does not hold yet must not stop a caller's
    batch. Whether it is a typo is for the caller, once: see :func:`unknown_loa`.

    The verdict is as of the NIPR run the mirror holds (``Verdict.as_of``), itself
    ``Verdict.lag_days`` run days behind the latest it could hold, as ``sync status``
    tells them (:func:`freshness`): a yes of a mirror whose sync stopped is one of then."""
    npn = npn_number(_text("npn", npn, "15645555"))
    loa = _given("loa", _text("loa", loa, "Life"))
    carrier = None if carrier is None else co_code(_text("carrier", carrier, "60483"))
    on = dt.date.today() if on is None else _day("on", on)
    state = state_code(_text("state", state, "CA"))
    # Read first: a sync that finishes meanwhile makes the records newer, not older,
    # than the answer says.
    fresh = freshness(conn)
    wanted = _Wanted(conn, loa)
    entry = population_entry(conn, npn)
    findings = [_population(entry, npn)]
    if entry is None or not entry.active:
        # Records it does not keep (none, or no longer synced) answer nothing: their no
        # ("holds no license in CA") read as the producer's.
        return _verdict(findings, fresh)
    again = _fetching_again(conn, entry, npn)
    if again is not None:
        # Its records are those it had when it was deactivated: a license expired, an
        # appointment terminated while it was not monitored, read as a current yes.
        return _verdict([*findings, again], fresh)
    held = licenses_in_state(conn, npn, state)
    notes: list[str] = []
    if not held and not holds_a_license(conn, npn):
        findings.append(_no_license_yet(conn, entry, npn, state))
    else:
        best, chain = _best_license(held, npn, state, wanted, on)
        findings += chain
        if best is not None and _residency(best) == _NON_RESIDENT:
            notes += _without_a_resident_license(conn, best, npn, on)
    if carrier is not None:
        found = appointments_with(conn, npn, state, carrier)
        findings.append(_appointment(found, carrier, state, wanted, on))
    if any(f.missing for f in findings) and not fetched_since_activation(conn, [entry.npn]):
        # Its fetch goes on: its lists are written side by side, each a page at a time
        # (an NPN's licenses before its appointments, in a storm's pass for minutes),
        # and such a no was exit 1 for a producer whose records were still coming.
        findings = [_not_fetched_yet(f) if f.missing else f for f in findings]
    actions = sorted(regulatory_actions_in(conn, npn, state), key=_latest_first)
    notes += map(regulatory_note, actions)
    return _verdict(findings, fresh, actions, notes)


def _verdict(
    findings: list[_Finding],
    fresh: Freshness,
    actions: list[RegulatoryActionRow] | None = None,
    notes: list[str] | None = None,
) -> Verdict:
    failed = [f.reason for f in findings if f.passed is False]
    unknown = [f.reason for f in findings if f.passed is None]
    reasons = [f.reason for f in findings]
    allowed = not failed and not unknown
    return Verdict(
        allowed, reasons, failed, unknown, fresh.as_of, fresh.lag_days, actions or [], notes or []
    )


def _residency(lic: LicenseRow) -> str:
    return _words(lic.residency_status or "").casefold()


def _without_a_resident_license(
    conn: sa.Connection, lic: LicenseRow, npn: str, on: dt.date
) -> list[str]:
    """A note when ``lic``, non-resident, has no resident license of the NPN in good
    standing on ``on`` beside it (active, unexpired, not niprDeleted): a state grants a
    non-resident license on a resident one and ends it with that one, which the
    non-resident state's record, still active, tells only once it has. A yes said
    nothing of a resident license expired months ago. No condition: the state of the
    license asked of has it active."""
    name = f"license {lic.license_num or lic.id} in {lic.state} is non-resident"
    stands = "a non-resident license stands on a resident license in good standing"
    resident = [r for r in licenses_of(conn, npn) if _residency(r) == _RESIDENT]
    if not resident:
        return [f"{name}, and the mirror holds no resident license of NPN {npn}: {stands}"]
    chains = [_license(r, on) for r in resident]
    best = max(chains, key=_furthest)
    if all(f.passed for f in best):
        return []
    said = "; ".join(f.reason for f in best if not f.passed)
    return [f"{name}, and the resident {said}: {stands}"]


def _latest_first(action: RegulatoryActionRow) -> tuple[int, int]:
    """A regulatory action's place: by its date (effective, else taken), the latest
    first, an undated one last; then by id, the latest first."""
    day = action.effective_date or action.action_date or dt.date.min
    return -day.toordinal(), -action.id


def regulatory_note(action: RegulatoryActionRow) -> str:
    """``action`` in a sentence, as the records give it: "regulatory action 27474133 in
    IL, effective 2008-01-02: License Suspended (reason: Misrepresentation; origin:
    Other State; lengthOfOrder: 180; penaltyFineForfeiture: 0)". Which are in force,
    and what they bar, the records do not say: it is for information."""
    name = f"regulatory action {action.action_id or action.id} in {action.state}"
    effective = action.unreadable.get("effectiveDate") or action.effective_date
    dated = f"effective {effective}" if effective else None
    if dated is None and action.action_date is not None:
        dated = f"taken {action.action_date}"
    said: dict[str, list[str]] = {}
    for type_, value in action.values:
        if value:
            said.setdefault((type_ or "").casefold(), []).append(value)
    disposition = "; ".join(said.pop("disposition", [])) or "no disposition given"
    details = [f"{type_ or 'value'}: {'; '.join(values)}" for type_, values in said.items()]
    details += [
        f"{key}: {value}"
        for key, value in (
            ("lengthOfOrder", action.length_of_order),
            ("penaltyFineForfeiture", action.penalty_fine_forfeiture),
        )
        if value is not None
    ]
    detail = f" ({'; '.join(details)})" if details else ""
    return f"{name}{', ' + dated if dated else ''}: {disposition}{detail}"


def unknown_loa(conn: sa.Connection, loa: str) -> UnknownLoa | None:
    """What the mirror holds instead, when no license LOA in it (niprDeleted ones
    included) carries ``loa`` as its name, code or category: then ``loa`` is likelier a
    typo than a question. None when one does, or when the mirror holds no LOA word (a
    name, code or category) at all, where nothing tells a typo from a name."""
    terms = loa_terms(conn)
    # Names last, to be shown rather than a category or code spelt alike.
    words = [*terms.categories, *terms.codes, *terms.names]
    if not words or _among(loa, words):
        return None
    spelled = {word.casefold(): word for word in words}  # casefolded, as LOAs match
    near = difflib.get_close_matches(_words(loa).casefold(), spelled, n=_CLOSEST)
    closest = dict.fromkeys([*_sharing_words(loa, terms.names), *(spelled[w] for w in near)])
    return UnknownLoa(loa, terms.names, list(closest)[:_CLOSEST])


def _sharing_words(loa: str, names: list[str]) -> list[str]:
    """The names with a word of ``loa`` in them, most words shared first: "Life" for "Life
    Insurance", "Property" for "Property and Casualty", which are no typos of them (it
    offered none, or only "Property & Casualty Adjuster", an adjuster's line)."""
    asked = set(_TELLING.findall(loa.casefold()))
    shared = [(len(asked.intersection(_TELLING.findall(name.casefold()))), name) for name in names]
    return [name for count, name in sorted(shared, key=lambda pair: -pair[0]) if count]


class Expiring(list[LicenseRow]):
    """``expiring``'s licenses, a list, with the active NPNs whose fetch goes on
    (``pending``): none of their licenses is listed yet, or only some, and "none
    expiring" was no answer for them."""

    def __init__(self, licenses: Iterable[LicenseRow], pending: Pending) -> None:
        super().__init__(licenses)
        self.pending = pending

    @property
    def not_covered(self) -> str | None:
        """``not_covered(self.pending)``: what the report cannot tell, in ``check``'s words."""
        return not_covered(self.pending)


def expiring(conn: sa.Connection, within_days: int, *, today: dt.date | None = None) -> Expiring:
    """Active licenses of the active population that expire within ``within_days`` days
    of ``today`` (default: the real today), soonest first: on ``today`` itself for 0.
    Before them, those that expired before ``today`` but are still active in the mirror
    (an ``expiration_date`` before ``today``: overdue, the longest first), and first of
    all those whose expirationDate the mirror cannot read (each row's ``unreadable``
    names what it could not: see ``licenses_expiring``).
    A negative ``within_days`` is a ValueError, not the empty list of a window that
    ends before it starts; so is one that ends past 9999-12-31, the last date (it was
    an OverflowError, "date value out of range", naming neither).

    A license of an NPN subscribed again, written before its re-activation while no
    fetch since has finished, is as it was then: its ``unknown`` says so, as ``check``
    does (it may have been renewed, or have lapsed, since). An NPN deactivated is out of
    the population, and its licenses are not listed.

    An active NPN no fetch since its activation has finished for (activated moments
    ago, its records still coming) has none, or only some, of its licenses listed: the
    result's ``pending`` counts those NPNs and names the first ones, and its
    ``not_covered`` says so, as ``check`` says it cannot tell of one."""
    if within_days < 0:
        raise ValueError(f"within_days must be 0 or more, not {within_days}")
    today = dt.date.today() if today is None else _day("today", today)
    if within_days > (dt.date.max - today).days:
        raise ValueError(
            f"within_days {within_days} from {today} ends past {dt.date.max}, the last date"
        )
    # Read first: a fetch that finishes meanwhile is owed still here, its NPN's licenses
    # listed all the same; read after, an NPN could be neither listed nor counted.
    owed = pending(conn)
    return Expiring(iter_expiring(conn, today + dt.timedelta(days=within_days)), owed)


def pending(conn: sa.Connection) -> Pending:
    """The active NPNs no fetch since their activation has finished for, a report's
    ``Expiring.pending``: their count and the first ones (a hundred at most) by NPN."""
    return pending_fetches(conn, _PENDING_LISTED)


def not_covered(owed: Pending) -> str | None:
    """What a report of the mirror cannot tell of the NPNs ``owed`` a fetch, in the words
    of ``check``'s reason for one of them; None when none is."""
    if not owed.count:
        return None
    one = owed.count == 1
    said = ", ".join(owed.npns[:_PENDING_SAID])
    more = owed.count - min(len(owed.npns), _PENDING_SAID)
    listed = f"{said} and {more:,} more" if more else said
    its, them = ("its", "it") if one else ("their", "them")
    return (
        f"{owed.count:,} NPN{'' if one else 's'} subscribed {'is' if one else 'are'} still "
        f"being fetched ({listed}): {_no_fetch(its)}, and the report does not cover {them} "
        "yet (see sync status)"
    )


def _no_fetch(its: str) -> str:
    """Why the mirror cannot tell of an NPN's records yet (of ``its``: "its", "their"):
    ``check``'s reason and a report's."""
    return f"no fetch of {its} records since {its} activation has finished"


def iter_expiring(conn: sa.Connection, end: dt.date) -> Iterator[LicenseRow]:
    """``expiring``'s licenses up to ``end`` (included), read as they go
    (``iter_licenses_expiring``), each with what the mirror cannot tell of it."""
    for lic in iter_licenses_expiring(conn, end):
        since = lic.fetching_again_since
        yield lic if since is None else replace(lic, unknown=(fetching_again(lic.npn, since),))


def changes(
    conn: sa.Connection, since: dt.datetime, *, after: int | None = None, limit: int | None = None
) -> list[Change]:
    """The change feed from ``since``: the records inserted, changed or purged, by id
    (``after``: past that one; see ``mirror.changes_since`` for paging)."""
    return changes_since(conn, since, after=after, limit=limit)


def _day(name: str, value: dt.date) -> dt.date:
    """``value``, a date and not a datetime, or a TypeError that says so, as the SDK's
    ``updated_since`` is refused one: a datetime is a date to a type checker
    (``on=dt.datetime.now()`` passes), and compared with the records' dates it was a
    TypeError out of the comparisons ("can't compare datetime.datetime to
    datetime.date"). Which day it names (its clock's, UTC's) is the caller's to say."""
    if isinstance(value, dt.datetime):
        raise TypeError(f"{name} takes a date, not a datetime: pass {value!r:.60}.date()")
    return value


def _text(name: str, value: object, example: str) -> str:
    """``value``, a ``str``, or a TypeError naming ``name`` and what to pass: an NPN
    given as the int 15645555 failed deep in a regular expression, "expected string or
    bytes-like object, got 'int'", naming neither. Not read as its digits: the SDK and
    the records take an NPN as a string only, and an int drops a coCode's leading
    zeros."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} takes a str, as {example!r}, not {type(value).__name__} {value!r:.60}"
        )
    return value


def _given(name: str, value: str) -> str:
    if not value.strip():
        raise ValueError(f"{name} is blank ({value!r}): it names nothing to check")
    return _words(value)


def state_code(value: str) -> str:
    """The state code ``value`` is, in any case (" oh " is OH); a ValueError naming it
    when it is none. ``check`` took one for a no, "holds no license in OHIO"."""
    state = value.strip().upper()
    if state not in STATE_CODES:
        raise ValueError(f"{value!r} is not a state code, as CA")
    return state


def co_code(value: str) -> str:
    """The coCode ``value`` is; a ValueError naming it when it is none (blank too).
    ``check`` took one for a no, "no appointment with carrier 6048", a typo of 60483."""
    carrier = _given("carrier", value)
    if not is_co_code(carrier):
        if _FEIN.fullmatch(carrier):  # the appointment's other number: which to give
            raise ValueError(
                f"{value!r} is a FEIN (feinId), not a coCode: give the carrier's NAIC "
                "company code, exactly 5 digits, as 60483"
            )
        raise ValueError(f"{value!r} is not a coCode: exactly 5 digits, as 60483")
    return carrier


def _words(text: str) -> str:
    """``text``'s words, one space apart: a name typed or pasted with two spaces (or a
    tab) between its words is still that name."""
    return " ".join(text.split())


def _matches(wanted: str, name: str | None, code: str | None, categories: Sequence[str]) -> bool:
    return _among(wanted, [name, code, *categories])


def _among(wanted: str, values: Sequence[str | None]) -> bool:
    """Whether ``wanted`` is one of ``values``, in any case and spacing."""
    key = _words(wanted).casefold()
    return any(key == _words(value).casefold() for value in values if value)


def _no_license_yet(conn: sa.Connection, entry: PopulationRow, npn: str, state: str) -> _Finding:
    """An NPN of which the mirror holds no license at all: a no once a fetch of its
    records since its activation has finished (NIPR lists none), else no answer. Most
    often it was activated moments ago, its records still being fetched: a no would read
    as NIPR's word on a producer it has not been asked of."""
    if fetched_since_activation(conn, [entry.npn]):
        return _Finding(False, f"NPN {npn} holds no license in any state")
    return _Finding(
        None,
        f"NPN {npn} holds no license in {state} the mirror knows of: it holds none of it in "
        f"any state, and {_no_fetch('its')} (see sync status)",
    )


def _fetching_again(conn: sa.Connection, entry: PopulationRow, npn: str) -> _Finding | None:
    """No answer for ``entry``, subscribed again after a deactivation, while it holds
    records written before its current activation and no fetch since that activation
    has finished; else None. An NPN subscribed for the first time holds none of those:
    what it holds came with its fetch, and answers as it says. (Written by the mirror's
    clock, activated by the service's: a mirror whose clock is behind may take a first
    fetch's records for older ones, and then tells nothing until the fetch finishes, as
    for a record missing meanwhile.)"""
    activated = entry.activated_at
    if activated is None or not entry.held_before:
        return None
    if fetched_since_activation(conn, [entry.npn]):
        return None
    return _Finding(None, fetching_again(npn, activated))


def fetching_again(npn: str | None, activated: dt.datetime) -> str:
    """What the mirror cannot tell of the records of ``npn``, subscribed again at
    ``activated``, that it wrote before, while no fetch since has finished: ``check``'s
    reason, and a listed license's."""
    return (
        f"NPN {npn}'s records are being fetched again since its re-activation on "
        f"{activated:%Y-%m-%d}: those the mirror holds date from before it, and may have "
        "changed since (see sync status)"
    )


def _not_fetched_yet(finding: _Finding) -> _Finding:
    return _Finding(
        None,
        f"{finding.reason}, as far as the mirror knows: {_no_fetch('its')} (see sync status)",
    )


def _population(entry: PopulationRow | None, npn: str) -> _Finding:
    if entry is None:
        return _Finding(
            None, f"NPN {npn} is not in the monitored population: the mirror holds no records of it"
        )
    if not entry.active:
        # Not "no longer keeps its records": without PURGE_DEACTIVATED it keeps them as
        # they were on the deactivation, and the reason read as if they were gone.
        if entry.deactivated_at is None:
            return _Finding(
                None,
                f"NPN {npn} is not monitored (deactivated): the mirror no longer syncs its records",
            )
        return _Finding(
            None,
            f"NPN {npn} is not monitored since {entry.deactivated_at:%Y-%m-%d} (deactivated): "
            "the mirror has not synced its records since",
        )
    return _Finding(True, f"NPN {npn} is in the active population")


def _best_license(
    found: list[LicenseRow], npn: str, state: str, wanted: _Wanted, on: dt.date
) -> tuple[LicenseRow | None, list[_Finding]]:
    """The license that gets furthest (an NPN can hold a resident and a firm license in
    one state), and its findings; a verdict explains that one."""
    if not found:
        return None, [_Finding(False, f"NPN {npn} holds no license in {state}", missing=True)]
    chains = [(lic, [*_license(lic, on), *_loa(lic, wanted, on)]) for lic in found]
    return max(chains, key=lambda chain: _furthest(chain[1]))


def _furthest(chain: list[_Finding]) -> tuple[int, int]:
    """How far ``chain`` gets: its passes, then the fewest noes (one the mirror cannot
    tell might have held, which a no cannot)."""
    return sum(f.passed is True for f in chain), -sum(f.passed is False for f in chain)


def _license(lic: LicenseRow, on: dt.date) -> list[_Finding]:
    name = f"license {lic.license_num or lic.id} in {lic.state}"
    if lic.nipr_deleted:
        return [_Finding(False, f"{name} was deleted by NIPR")]
    gone = _unread(name, lic, "niprDeleted")
    if gone is not None:
        return [gone]
    expires, issued = lic.expiration_date, lic.original_issue_date
    active = _unread(name, lic, "active") or _undated(
        _Finding(bool(lic.active), f"{name} is {'active' if lic.active else 'not active'}"),
        lic.updated_at,
        on,
    )
    in_force = _unread(name, lic, "expirationDate", "originalIssueDate") or _Finding(
        (expires is None or expires >= on) and not _after(issued, on),
        _in_force(name, issued, expires, on),
    )
    return [active, in_force]


def _unread(name: str, row: LicenseRow | LoaRow | AppointmentRow, *keys: str) -> _Finding | None:
    """A no for the first of ``keys`` (wire names) that the mirror could not read in
    ``row``. Such a field is stored NULL (``niprDeleted``: false, as a column it cannot
    be NULL; ``mirror.malformed_fields`` lists it): read as "no expiration date", "not
    deleted", "none reported" or "issued before", a license expired upstream passed."""
    for key in keys:
        if key in row.unreadable:
            return _Finding(False, f"{name} has an unreadable {key}: {row.unreadable[key]}")
    return None


def _undated(found: _Finding, updated: dt.date | None, on: dt.date) -> _Finding:
    """``found``, a no by a value the record does not date (a license's ``active``, an
    LOA's ``ceCompliance``), as of ``on``. The mirror holds the value of now: it held on
    ``on`` if the record has not changed since (``updatedAt`` on or before it), or, its
    change undated, if ``on`` is not past. Else the mirror cannot tell: a license
    inactive now, active when a past sale was made, was a no to it; and so was one
    lapsed by NIPR's run of the UTC date, stamped so, while ``on`` was still today by
    this machine's clock (19:30 in New York), which was its last day."""
    unchanged = updated is not None and updated <= on
    current = updated is None and on >= dt.date.today()
    if found.passed is not False or unchanged or current:
        return found
    when = f"on {updated}, after {on}" if updated else "on a day it does not say"
    return _Finding(
        None,
        f"{found.reason} now, its record changed {when}: the mirror holds no earlier value "
        f"to tell the one on {on}",
    )


def _after(day: dt.date | None, on: dt.date) -> bool:
    """Whether ``day`` (an issue date, a status's start) comes after ``on``: then, on
    ``on``, what it dates did not hold yet."""
    return day is not None and day > on


def _in_force(name: str, issued: dt.date | None, expires: dt.date | None, on: dt.date) -> str:
    if _after(issued, on):
        return f"{name} was first issued on {issued} (after {on})"
    if expires is None:
        return f"{name} has no expiration date"
    if expires < on:
        return f"{name} expired on {expires} (before {on})"
    if expires == on:  # "unexpired on 2026-12-06 (expires 2026-12-06)" read as a contradiction
        return f"{name} is unexpired on {on}, its last day (expirationDate {expires})"
    return f"{name} is unexpired on {on} (expires {expires})"


def _loa(lic: LicenseRow, wanted: _Wanted, on: dt.date) -> list[_Finding]:
    named = [row for row in lic.loas if wanted.matches(row)]
    matching = [row for row in named if not row.nipr_deleted]
    license_ = f"license {lic.license_num or lic.id}"
    if not matching:
        if named:  # a no that says why: the LOA was there
            return [_Finding(False, f"{_loa_name(named[0])} of {license_} was deleted by NIPR")]
        return [_Finding(False, f"{license_} has no {wanted.loa!r} LOA{_carried(lic)}")]
    # The one that gets furthest, an active one among those: a cancelled duplicate, an
    # active one issued after ``on``, or another LOA of a category failing its CE must
    # not hide one that holds.
    chains = [(_loa_findings(row, on), _status(row) == _LOA_ACTIVE) for row in matching]
    best, _ = max(chains, key=lambda chain: (_furthest(chain[0]), chain[1]))
    return best


def _carried(lic: LicenseRow) -> str:
    """What ``lic`` carries, its LOAs not niprDeleted with their statuses, after a no for
    want of the one asked: "license L1 has no 'Life' LOA" said nothing of what it has,
    a line asked by another name, or a typo of one the mirror holds on other licenses."""
    held = [
        f"{_named(row.loa, row.loa_code)} {row.status or 'without a status'}"
        for row in lic.loas
        if not row.nipr_deleted
    ]
    return f"; its LOAs: {', '.join(held)}" if held else "; it has none"


def _loa_findings(row: LoaRow, on: dt.date) -> list[_Finding]:
    name = _loa_name(row)
    return [_loa_status(row, name, on), _ce(row, name, on)]


def _ce(row: LoaRow, name: str, on: dt.date) -> _Finding:
    found = _ce_compliance(row, name, on)
    return _Finding(found.passed, found.reason + _credits(row))


def _ce_compliance(row: LoaRow, name: str, on: dt.date) -> _Finding:
    unread = _unread(name, row, "ceCompliance")
    if unread is not None:
        return unread
    # Not as the API sent it, unchecked: " NOT IN COMPLIANCE ", padded, would be a yes.
    ce = _words(row.ce_compliance or "")
    if not ce:
        return _Finding(True, f"{name} CE compliance: none reported")
    if ce.casefold() in (*_CE_PASSING, _CE_FAILING):
        found = _Finding(ce.casefold() in _CE_PASSING, f"{name} CE compliance: {ce}")
        return _undated(found, row.updated_at, on)
    return _Finding(False, f"{name} CE compliance: {ce!r}, not a value the API defines")


def _credits(row: LoaRow) -> str:
    """The LOA's ``ceCreditsNeeded``, when it is not zero (or none), as information: the
    API's contract says only "CE credits required for compliance", not whether credits
    still needed make an LOA not in compliance (nor by when), which its ``ceCompliance``
    says. So it is no condition of the answer, and ``check`` decides nothing by it."""
    credits = row.unreadable.get("ceCreditsNeeded") or row.ce_credits_needed
    return f" (ceCreditsNeeded: {credits}, for information)" if credits else ""


def _loa_name(row: LoaRow) -> str:
    return f"LOA {_named(row.loa, row.loa_code)}"


def _named(name: str | None, code: str | None) -> str:
    """A name and its code, as the records give either or both: the API does not
    promise a carrier's companyName, nor an LOA's name ("appointed with None (60483)")."""
    if name and code:
        return f"{name} ({code})"
    return name or code or "(unnamed)"


def _loa_status(row: LoaRow, name: str, on: dt.date) -> _Finding:
    unread = _unread(name, row, "niprDeleted", "status")
    if unread is not None:
        return unread
    unread = _unread(name, row, "issueDate", "statusReasonDate")
    if unread is not None:
        return unread
    if _after(row.issue_date, on):
        return _Finding(False, f"{name} was issued on {row.issue_date} (after {on})")
    since = row.status_reason_date
    if _status(row) != _LOA_ACTIVE:
        status = row.status or "without a status"
        if _after(since, on):  # cancelled after a sale on ``on``: Active then, maybe
            return _Finding(None, f"{name} is {status} since {since}, {_BEFORE.format(on=on)}")
        return _Finding(False, f"{name} is {status}")
    if _after(since, on):  # lapsed and reinstated since
        return _Finding(False, f"{name} is active only from {since} (after {on})")
    return _Finding(True, f"{name} is active")


# What a status that took effect after the date says of the one on it.
_BEFORE = "after {on}: the mirror holds no earlier status to tell the one on {on}"


def _appointment(
    found: list[AppointmentRow], co_code: str, state: str, wanted: _Wanted, on: dt.date
) -> _Finding:
    current = [a for a in found if not a.nipr_deleted]
    if not current:  # not "with that carrier": which, the reasons alone would not say
        deleted = [a for a in found if wanted.matches(a)]
        if deleted:  # a no that says why, as an LOA's: the appointment was there
            carrier = _named(deleted[0].company_name, deleted[0].co_code)
            return _Finding(
                False, f"{_appointment_name(deleted[0], carrier, state)} was deleted by NIPR"
            )
        return _Finding(False, f"no appointment with carrier {co_code} in {state}", missing=True)
    carrier = _named(current[0].company_name, current[0].co_code)
    covering = [a for a in current if wanted.matches(a)]
    if not covering:
        return _Finding(
            False, f"appointed with {carrier} in {state}, but not for {wanted.loa!r}", missing=True
        )
    read = [
        (a, _unread(_appointment_name(a, carrier, state), a, *_APPOINTMENT_READS)) for a in covering
    ]
    readable = [a for a, unread in read if unread is None]
    appointed = [a for a in readable if _status(a) in _APPOINTED]
    current = [a for a in appointed if not _after(a.status_reason_date, on)]
    if current:
        lines = current[0].loa or current[0].loa_code
        return _Finding(True, f"appointed with {carrier} in {state} for {lines}")
    # Terminated after ``on``: appointed before, maybe on it (the API dates no
    # appointment's start), where a no would be a commission refused for a sale it covered;
    # a re-appointment since, after ``on`` too, does not make it one.
    ended = [a for a in readable if a not in appointed and _after(a.status_reason_date, on)]
    if ended:
        return _Finding(
            None,
            f"{_ended(ended[0], carrier, state)} since "
            f"{ended[0].status_reason_date}, {_BEFORE.format(on=on)}",
        )
    if appointed:
        since = appointed[0].status_reason_date
        return _Finding(
            False, f"appointed with {carrier} in {state} only from {since} (after {on})"
        )
    unreadable = [unread for _, unread in read if unread is not None]
    if unreadable:  # the one that might have held
        return unreadable[0]
    return _Finding(False, _ended(readable[-1], carrier, state))


def _ended(row: AppointmentRow, carrier: str, state: str) -> str:
    why = f" ({row.termination_reason})" if row.termination_reason else ""
    return f"{_appointment_name(row, carrier, state)} is {row.status or 'without a status'}{why}"


def _appointment_name(row: AppointmentRow, carrier: str, state: str) -> str:
    return f"appointment with {carrier} in {state} for {row.loa or row.loa_code}"


def _status(row: LoaRow | AppointmentRow) -> str:
    return (row.status or "").casefold()
