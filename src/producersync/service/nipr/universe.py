"""The synthetic NIPR universe: every producer the service knows, generated from a seed.

``generate`` yields batches of rows keyed by record table, with exactly the tables'
column names, ready for the loader. Producer ``i`` is drawn from its own sub-seed, so
its records do not depend on the batch size; ids are dense per table, in generation
order, from ``FIRST_ID`` up (the sandbox keeps the ids below).

NPNs rise with the producer index (a random point in each producer's own slot of the
NPN range) rather than being shuffled, so that inserting millions of rows touches NPN
indexes near one moving spot instead of all over their B-trees.

Dates are ``datetime.date`` objects shared from one precomputed calendar, booleans are
``bool``, ``renewal_periods`` is the JSON object as served (camelCase, ISO dates), and
``last_nipr_entity_update`` is an aware UTC datetime.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from typing import Any

from producersync.service.nipr import reference as ref
from producersync.service.nipr.bounds import (
    CALENDAR_DAYS_AHEAD,
    CALENDAR_YEARS_BACK,
    DEFAULT_START_DATE,
    EARLIEST_START_DATE,
    LATEST_START_DATE,
    MAX_PRODUCERS,
    NPN_HIGH,
    NPN_LOW,
)
from producersync.service.nipr.fields import (
    LOA_CATEGORIES,
    Weighted,
    action_number,
    anniversary,
    appointment_row,
    lapse_day,
    license_number,
    phone,
    regulatory_order,
    renewal_periods,
    street,
    transaction_id,
    zip_code,
)
from producersync.service.nipr.sandbox import SANDBOX_NPNS

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_START_DATE",
    "EARLIEST_START_DATE",
    "FIRST_ID",
    "LATEST_START_DATE",
    "MAX_PRODUCERS",
    "TABLES",
    "Batch",
    "generate",
]

Row = dict[str, Any]
Batch = dict[str, list[Row]]
# A license as carriers appoint under it: its state, whether they may (active, and NIPR
# lists it), its lines with the day each was issued, the day it ended (None while in
# force) and the reason that gives the appointments it ended.
_Held = tuple[str, bool, list[tuple[ref.Loa, int]], int | None, str]

TABLES: tuple[str, ...] = (
    "entities",
    "licenses",
    "license_loas",
    "appointments",
    "addresses",
    "contact_infos",
    "other_names",
    "regulatory_actions",
    "regulatory_action_values",
)
FIRST_ID = 10_000_000
DEFAULT_BATCH_SIZE = 5_000

_SANDBOX = frozenset(int(n) for n in SANDBOX_NPNS)
# AgentSync started mirroring NIPR then: nothing in the store was created earlier.
_AGENTSYNC_EPOCH = dt.date(2019, 1, 1)

_FIRM_SHARE = 0.07
# A state ends a non-resident license up to this many days after the resident one ended.
_NR_CANCEL_DAYS = 30
_NO_LICENSES_SHARE = 0.012
# The share of producers who move to another state in a year (the daily churn moves
# 1.3 % at 1 % churn).
_MOVED_A_YEAR = 0.015
# Of those, the share whose former home state cancelled the license, not kept it.
_MOVE_CANCELS_SHARE = 0.4
# Of those, the share who moved to a state where they held a non-resident license, which
# then became the resident one (its number and issue date kept).
_MOVE_TO_NONRESIDENT_SHARE = 0.3
# The days from a move to the new home state's resident license, as the daily runs draw.
_MOVE_LAG_DAYS = (7, 90)
_MOVE_LAG_SPAN = _MOVE_LAG_DAYS[1] - _MOVE_LAG_DAYS[0] + 1
_DELETED_SHARE = 0.01
# A license stays renewable (late) this many days past its expiration date.
_LATE_RENEWAL_DAYS = 90
_REGULATORY_SHARE = 0.015
# Non-resident license counts 0..8: most producers hold one to three.
_NR_COUNT_WEIGHTS = (18, 24, 19, 13, 9, 6, 4, 4, 3)
# Appointment counts 0..12.
_APPOINTMENT_WEIGHTS = (10, 8, 9, 9, 9, 9, 9, 8, 8, 7, 6, 5, 3)
_CE_COMPLIANCE = (
    (60, "IN COMPLIANCE"),
    (12, "N/A"),
    (14, None),
    (8, "EXEMPT"),
    (6, "NOT IN COMPLIANCE"),
)
_FIRM_NAME_TEMPLATES = (
    "{last} Insurance Agency, LLC",
    "{last} & {last2} Insurance Services, Inc.",
    "{city} Benefits Group, LLC",
    "{word} Risk Partners, LLC",
    "{last} Financial Group, Inc.",
    "{word} Insurance Brokers, Inc.",
    "{word} Insurance Group",
)


def generate(
    producers: int,
    seed: int = 1,
    start_date: dt.date = DEFAULT_START_DATE,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[Batch]:
    """Yield the universe of ``producers`` producers as batches of ``batch_size`` producers.

    The same ``(producers, seed, start_date)`` always gives the same rows; every date in
    them is before ``start_date``, the first day the daily NIPR runs will simulate.
    """
    if not 0 <= producers <= MAX_PRODUCERS:
        raise ValueError(f"producers must be between 0 and {MAX_PRODUCERS:,}")
    if not EARLIEST_START_DATE <= start_date <= LATEST_START_DATE:
        raise ValueError(f"start_date must be from {EARLIEST_START_DATE} to {LATEST_START_DATE}")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    return _batches(producers, seed, start_date, batch_size)


def _batches(producers: int, seed: int, start_date: dt.date, batch_size: int) -> Iterator[Batch]:
    universe = _Universe(producers, seed, start_date)
    for low in range(0, producers, batch_size):
        yield universe.batch(low, min(low + batch_size, producers))


def _npn(index: int, stride: int, u: float) -> str:
    """Producer ``index``'s NPN: the point ``u`` (in [0, 1)) of its slot of the range."""
    npn = NPN_LOW + index * stride + int(u * stride)
    if npn in _SANDBOX:
        npn += 1 if (npn - NPN_LOW) % stride + 1 < stride else -1
    return str(npn)


class _Universe:
    def __init__(self, producers: int, seed: int, start_date: dt.date) -> None:
        self.seed = seed
        self.stride = (NPN_HIGH - NPN_LOW) // max(producers, 1)
        self.rng = random.Random()
        self.ids = dict.fromkeys(TABLES, FIRST_ID)

        # The calendar: day index -> shared date object; far enough ahead for the
        # expiration of a license renewed just before start.
        first_day = dt.date(start_date.year - CALENDAR_YEARS_BACK, 1, 1)
        self.origin = first_day.toordinal()
        self.start = start_date.toordinal() - self.origin
        span = self.start + CALENDAR_DAYS_AHEAD
        self.days = [first_day + dt.timedelta(days=i) for i in range(span)]
        self.epoch = max(0, min(_AGENTSYNC_EPOCH.toordinal() - self.origin, self.start - 400))

        states = list(ref.STATE_WEIGHTS.items())
        self.states = Weighted([(w, s) for s, w in states])
        # Where a class some jurisdictions do not issue lives: the others, by population.
        self.class_homes = {
            cls.name: Weighted([(w, s) for s, w in states if s not in cls.unlicensed_in])
            for cls in ref.LICENSE_CLASSES
            if cls.unlicensed_in
        }
        self.classes = Weighted([(c.weight, c) for c in ref.LICENSE_CLASSES])
        self.profiles = {
            cls.name: Weighted(
                [
                    (weight, tuple(ref.LOAS[name] for name in names))
                    for weight, names in cls.loa_profiles
                ]
            )
            for cls in (*ref.LICENSE_CLASSES, ref.FIRM_LICENSE_CLASS)
        }
        self.nr_counts = Weighted(list(zip(_NR_COUNT_WEIGHTS, range(9), strict=True)))
        self.appointment_counts = Weighted(list(zip(_APPOINTMENT_WEIGHTS, range(13), strict=True)))
        self.ce = Weighted(_CE_COMPLIANCE)
        self.terminations = Weighted(ref.CARRIER_TERMINATION_REASONS)
        self.agent_types = {
            cls.name: ",".join(cls.agent_types)
            for cls in (*ref.LICENSE_CLASSES, ref.FIRM_LICENSE_CLASS)
        }
        self.name_slugs = {
            name: "".join(ch for ch in name.lower() if ch.isalnum())
            for name in (*ref.FIRST_NAMES, *ref.LAST_NAMES)
        }

    # --- one batch ----------------------------------------------------------------

    def batch(self, low: int, high: int) -> Batch:
        out: Batch = {table: [] for table in TABLES}
        for index in range(low, high):
            _Producer(self, index, out).build()
        return out

    def next_id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value


class _Producer:
    """One producer's records, appended to the batch being built."""

    def __init__(self, universe: _Universe, index: int, out: Batch) -> None:
        self.u = universe
        self.out = out
        rng = universe.rng
        # Sub-seed per producer: a batch's rows do not depend on the batches before it.
        rng.seed(universe.seed * (1 << 40) + index)
        self.r = rng.random
        r = self.r
        self.npn = _npn(index, universe.stride, r())
        self.firm = r() < _FIRM_SHARE
        self.home: str = universe.states.pick(r())
        start = universe.start
        # Careers skew recent: many producers are newly licensed.
        self.career = start - 30 - int(r() ** 1.6 * 32 * 365.25)
        epoch = universe.epoch
        # Producers licensed before AgentSync existed arrived in its first year.
        if self.career < epoch:
            self.created = epoch + int(r() * 365)
        else:
            self.created = min(self.career + int(r() * 20), start - 1)
        # Transactions: the ingests that last wrote this producer's records.
        count = 1 + (r() < 0.6) + (r() < 0.3)
        dates = sorted(self.created + int(r() * (start - self.created)) for _ in range(count - 1))
        self.tx_days = [self.created, *dates]
        self.tx_ids = [transaction_id(rng) for _ in self.tx_days]
        self.city: ref.City = self.pick(ref.CITIES[self.home])
        self.licensed_states: list[str] = []
        # The day each state's license ended (None while in force).
        self.ended_in: dict[str, int | None] = {}
        self.first: str = ""
        self.last: str = ""
        self.company: str = ""
        self.updated = self.created
        # The day the producer moved to ``home`` from another state, if it did, and
        # whether a non-resident license held there then became the resident one.
        self.moved: int | None = None
        self.converted = False
        # The day its addresses moved to ``home``: the move's, up to 90 days before it.
        self.arrived: int | None = None

    @property
    def settled(self) -> int:
        """The day the producer's addresses and contacts last changed: its move's."""
        return self.created if self.arrived is None else max(self.created, self.arrived)

    def pick(self, values: Sequence[Any]) -> Any:
        return values[int(self.r() * len(values))]

    def stamp(self, row: Row, born: int, changed: int) -> Row:
        """Set the record fields: one of the producer's transactions last wrote the row.

        ``born`` is when the record came to be (an issue date, say) and ``changed`` when
        its content last changed; the store created it no earlier than the producer and
        updated it no earlier than that change.
        """
        r = self.r
        last = len(self.tx_days) - 1
        j = last if r() < 0.5 else int(r() * len(self.tx_days))
        updated = self.tx_days[j]
        if updated < changed:
            j = last
            updated = max(self.tx_days[last], changed)
        self.updated = updated
        days = self.u.days
        row["transaction_id"] = self.tx_ids[j]
        row["created_at"] = days[min(max(born, self.created), updated)]
        row["updated_at"] = days[updated]
        row["nipr_deleted"] = r() < _DELETED_SHARE
        return row

    def build(self) -> None:
        u = self.u
        r = self.r
        licensed = r() >= _NO_LICENSES_SHARE
        entity_id = u.next_id("entities")
        names = self.firm_names() if self.firm else self.person_names()
        updated = self.tx_days[-1]
        h, m, s = int(r() * 24), int(r() * 60), int(r() * 60)
        nipr_update = dt.datetime.combine(
            u.days[updated], dt.time(h, m, s, int(r() * 1_000_000)), dt.UTC
        )
        self.out["entities"].append(
            {
                "id": entity_id,
                "npn": self.npn,
                **names,
                "no_licenses": not licensed,
                "subscription_count": 0,
                "last_nipr_entity_update": nipr_update,
                "transaction_id": self.tx_ids[-1],
                "created_at": u.days[self.created],
                "updated_at": u.days[updated],
                "nipr_deleted": False,
            }
        )
        if licensed:
            self.licenses()
        self.addresses()
        self.contact_infos()
        self.other_names()
        if r() < _REGULATORY_SHARE:
            self.regulatory_actions()

    # --- the entity -------------------------------------------------------------------

    def person_names(self) -> Row:
        r = self.r
        u = self.u
        self.first = self.pick(ref.FIRST_NAMES)
        self.last = self.pick(ref.LAST_NAMES)
        x = r()
        if x < 0.45:
            middle: str | None = self.pick(ref.FIRST_NAMES)
        elif x < 0.75:
            middle = chr(65 + int(r() * 26))
        else:
            middle = None
        self.middle = middle
        # Licensed at 18 to 50.
        birth = self.career - int((18 + r() * 32) * 365.25)
        return {
            "type": "INDIVIDUAL",
            "fein_id": None,
            "company_name": None,
            "first_name": self.first,
            "middle_name": middle,
            "last_name": self.last,
            "date_of_birth": u.days[birth],
        }

    def firm_names(self) -> Row:
        r = self.r
        template = self.pick(_FIRM_NAME_TEMPLATES)
        self.company = template.format(
            last=self.pick(ref.LAST_NAMES),
            last2=self.pick(ref.LAST_NAMES),
            city=self.city.name,
            word=self.pick(ref.AGENCY_WORDS),
        )
        fein = f"{self.pick(ref.FEIN_PREFIXES)}-{int(r() * 10_000_000):07d}"
        return {
            "type": "FIRM",
            "fein_id": fein,
            "company_name": self.company,
            "first_name": None,
            "middle_name": None,
            "last_name": None,
            "date_of_birth": None,
        }

    # --- licenses, LOAs, appointments ----------------------------------------------------

    def licenses(self) -> None:
        u = self.u
        r = self.r
        cls: ref.LicenseClass = ref.FIRM_LICENSE_CLASS if self.firm else u.classes.pick(r())
        profile: tuple[ref.Loa, ...] = u.profiles[cls.name].pick(r())
        if self.home in cls.unlicensed_in:
            # No license of the class there: its holder lives in a state that issues one.
            self.home = u.class_homes[cls.name].pick(r())
            self.city = self.pick(ref.CITIES[self.home])
        states = [self.home]
        wanted = 1 + u.nr_counts.pick(r())
        # A producer who moved holds the former home state's license as a non-resident
        # one (states[1]), the current one's issued the day of the move.
        years = (u.start - 30 - self.career) / 365.25
        if years > 1 and r() < 1 - (1 - _MOVED_A_YEAR) ** years:
            self.moved = self.career + 365 + int(r() * (u.start - 30 - self.career - 365))
            self.converted = r() < _MOVE_TO_NONRESIDENT_SHARE
            # The addresses moved then; a state with no license of the producer issued the
            # resident one 7 to 90 days on (one held there converted at once).
            lag = 0 if self.converted else _MOVE_LAG_DAYS[0] + int(r() * _MOVE_LAG_SPAN)
            self.arrived = self.moved - lag
            wanted = max(wanted, 2)
        while len(states) < wanted:
            state = u.states.pick(r())
            if state not in states and state not in cls.unlicensed_in:
                states.append(state)
        self.licensed_states = states

        held: list[_Held] = []
        # The day the resident license ended, if it has: a state licenses a non-resident
        # only on an active home-state license, and ends the license when that one ends.
        home_ended: int | None = None
        for position, state in enumerate(states):
            resident = position == 0
            former = self.moved is not None and position == 1
            issue = self.career if self.moved is None or not resident else self.moved
            # Converted on the move: issued as a non-resident license before it.
            converted = resident and self.converted
            if converted and self.moved is not None:
                issue = self.career + 1 + int(r() * (self.moved - self.career - 1))
            cancelled: int | None = None
            if former and r() < _MOVE_CANCELS_SHARE:
                cancelled = self.moved  # the former home state cancelled it on the move
            elif not resident:
                if not former:
                    last = u.start - 30 if home_ended is None else min(u.start - 30, home_ended)
                    issue += int(r() * (last - self.career))
                if home_ended is not None:
                    # Most states act within days; a few take weeks.
                    cancelled = min(home_ended + int(r() ** 3 * _NR_CANCEL_DAYS), u.start - 1)
            loas = profile
            if not resident and not former and len(loas) > 1 and r() < 0.1:
                dropped = int(r() * len(loas))
                loas = loas[:dropped] + loas[dropped + 1 :]
            license_held = self.license(
                cls,
                state,
                resident,
                issue,
                loas,
                cancelled,
                self.moved if former or converted else None,
            )
            if resident:
                home_ended = license_held[3]
            held.append(license_held)
            self.ended_in[state] = license_held[3]
        if cls.appointed and any(loa.categories[0] in ref.CARRIERS_BY_CATEGORY for loa in profile):
            self.appointments(held)

    def license(
        self,
        cls: ref.LicenseClass,
        state: str,
        resident: bool,
        issue: int,
        loas: tuple[ref.Loa, ...],
        cancelled: int | None,
        resident_until: int | None = None,
    ) -> _Held:
        """Write the license and its lines, ended on day ``cancelled`` if it was in force
        then (a non-resident license whose resident one ended), in force until day
        ``resident_until`` at least (the former home state's, resident until the move);
        return what carriers appoint under (``_Held``)."""
        u = self.u
        r = self.r
        days = u.days
        start = u.start
        expiration: int | None
        ended: int | None = None
        ending = ref.LICENSE_LAPSED
        if state in ref.PERPETUAL_STATES:
            expiration = None
            if r() >= 0.96:
                ended = max(issue + 1 + int(r() * (start - 1 - issue)), resident_until or 0)
            known = True
        else:
            # Two-year cycles on the anniversary of the original issue date.
            issued = days[issue]
            cycles = (start - issue) // 730 + 1
            lapsed = cycles > 1 and r() < (0.04 if resident else 0.13)
            if lapsed:
                cycles -= 1 + int(r() * min(3, cycles - 1))
            year = issued.year + 2 * cycles
            expiration = anniversary(issued, year).toordinal() - u.origin
            # Resident until the move, it did not lapse before: the non-resident licenses
            # rested on it (an anniversary after the move, or none before the start).
            while resident_until is not None and expiration < resident_until:
                year += 2
                expiration = anniversary(issued, year).toordinal() - u.origin
            if expiration < start and not lapsed:  # the anniversary fell just short
                expiration = anniversary(issued, year + 2).toordinal() - u.origin
            lapsed_on = lapse_day(days[expiration]).toordinal() - u.origin
            # In force on its expiration date, its last day: one whose last day is the eve
            # of the start lapses, if at all, by the first run, as the runs lapse them.
            if lapsed_on < start:
                ended = lapsed_on
            known = r() >= 0.03
        if cancelled is not None and (ended is None or ended > cancelled):
            # In force when the resident license ended: it ends that day, as a license
            # given up early does, not on its date.
            ended, ending = cancelled, ref.RESIDENT_LICENSE_ENDED
            if expiration is not None:
                expiration = cancelled
        active = ended is None
        # A license the state cancelled has no renewal window: its holder would apply anew.
        known = known and ending != ref.RESIDENT_LICENSE_ENDED
        renewals = renewal_periods(None if expiration is None else days[expiration], known=known)
        number = license_number(r, state, self.npn)
        license_id = u.next_id("licenses")
        row = self.stamp(
            {
                "id": license_id,
                "npn": self.npn,
                "for_state": state,
                "branch_id": None,
                "nipr_date_updated": None,
                "license_num": number,
                "original_issue_date": days[issue],
                "expiration_date": None if expiration is None else days[expiration],
                "license_class": cls.name,
                "license_class_code": cls.code,
                "residency_status": "R" if resident else "NR",
                "active": active,
                "agent_types": u.agent_types[cls.name],
                "renewal_periods": renewals,
            },
            issue,
            issue if ended is None else ended,
        )
        if resident:
            # NIPR does not drop a resident license while it still lists the producer.
            row["nipr_deleted"] = False
        # NIPR dates its update a day or two before the ingest, never before the issue.
        row["nipr_date_updated"] = days[max(issue, self.updated - int(r() * 3))]
        self.out["licenses"].append(row)

        held: list[tuple[ref.Loa, int]] = []
        carried: list[tuple[ref.Loa, int]] = []
        loa_rows = self.out["license_loas"]
        end = start if ended is None else ended
        # Lines came and went on their own before the license ended, and before a lapsed
        # one's expiration date, its last day: a line Cancelled on that date reads as a
        # state's cancellation, whose lines go Cancelled on the day it sets as the date.
        ran_out = ended is not None and ending == ref.LICENSE_LAPSED
        by = expiration if ran_out and expiration is not None else end
        # Continuing education is the license's: its lines report the first one's. Each
        # line draws all the same, so that the draws after it stay as they were.
        license_ce: tuple[str | None, int | None] | None = None
        for position, loa in enumerate(loas):
            loa_issue = issue if r() < 0.8 else issue + int(r() * (by - issue))
            x = r()
            # Whether the line was in force when the license ended, and went with it.
            with_license = False
            if active:
                status = "Active" if x < 0.9 else "Cancelled" if x < 0.96 else "Inactive"
                if not held and position == len(loas) - 1:
                    status = "Active"  # a license in force is for some line
            elif ending == ref.LICENSE_LAPSED:
                with_license = x < 0.7
                status = "Inactive" if with_license else "Cancelled"
            else:
                with_license = x < 0.9
                status = "Cancelled"
            carried.append((loa, loa_issue))
            if status == "Active":
                reason_date = loa_issue
                held.append((loa, loa_issue))
            elif with_license:
                reason_date = end
            else:
                # Ended while the license was in force: by its end at the latest.
                reason_date = loa_issue + int(r() * (by - loa_issue))
            ce = u.ce.pick(r())
            credits = None if ce is None else 1 + int(r() * 24) if ce == "NOT IN COMPLIANCE" else 0
            if license_ce is None:
                license_ce = ce, credits
            ce, credits = license_ce
            if self.firm:  # drawn all the same: a firm's later draws stay as they were
                ce, credits = ref.FIRM_CE_COMPLIANCE, 0
            loa_row = self.stamp(
                {
                    "id": u.next_id("license_loas"),
                    "npn": self.npn,
                    "for_state": state,
                    "license_id": license_id,
                    "loa": loa.name,
                    "loa_code": loa.code,
                    "issue_date": days[loa_issue],
                    "status": status,
                    "status_reason_date": days[reason_date],
                    "ce_compliance": ce,
                    "ce_credits_needed": credits,
                    "loa_categories": LOA_CATEGORIES[loa.name],
                },
                loa_issue,
                reason_date,
            )
            # NIPR deletes a license with its lines (a line may go on its own).
            loa_row["nipr_deleted"] = loa_row["nipr_deleted"] or row["nipr_deleted"]
            loa_rows.append(loa_row)
        if not held and not active:
            # A lapsed license still shows the carriers that once appointed under it, each
            # for a line from the day it was issued.
            held = carried
        # NIPR deleted the license: what stood on it has ended.
        return state, active and not row["nipr_deleted"], held, ended, ending

    def appointments(self, held: list[_Held]) -> None:
        u = self.u
        r = self.r
        days = u.days
        start = u.start
        rows = self.out["appointments"]
        seen: set[tuple[str, str, str]] = set()
        for _ in range(u.appointment_counts.pick(r())):
            # Carriers appoint most in the home state.
            state, in_force, loas, ended, ending = held[0] if r() < 0.4 else self.pick(held)
            if not loas:
                continue
            loa, loa_issue = self.pick(loas)
            carriers = ref.CARRIERS_BY_CATEGORY.get(loa.categories[0])
            if not carriers:
                continue
            carrier: ref.Carrier = self.pick(carriers)
            key = (carrier.co_code, state, loa.code)
            if key in seen:
                continue
            seen.add(key)
            end = start - 1 if ended is None else ended
            appointed = loa_issue + int(r() * (end - loa_issue))
            if in_force and r() < 0.8:
                status, reason_date, reason = "APPOINTED", appointed, None
            else:
                status = "TERMINATED"
                reason_date = appointed + int(r() * (end - appointed))
                with_license = not in_force and r() < 0.5
                reason = ending if with_license else u.terminations.pick(r())
                if with_license and ended is not None:
                    reason_date = ended  # ended with the license, on its day
            row = self.stamp(
                {
                    "id": u.next_id("appointments"),
                    "npn": self.npn,
                    **appointment_row(carrier, state, loa, status, days[reason_date], reason),
                },
                appointed,
                reason_date,
            )
            # NIPR drops an ended appointment, never one in force.
            row["nipr_deleted"] = row["nipr_deleted"] and status == "TERMINATED"
            rows.append(row)

    # --- addresses, contact information, other names -----------------------------------

    def address(
        self, kind: str, line1: str, line2: str | None, city: ref.City, zip_code: str
    ) -> None:
        u = self.u
        row = self.stamp(
            {
                "id": u.next_id("addresses"),
                "npn": self.npn,
                "for_state": self.home,
                "type": kind,
                "branch_id": None,
                "nipr_date_updated": None,
                "line1": line1,
                "line2": line2,
                "city": city.name,
                "state": self.home,
                "zip": zip_code,
                "country": "U.S.A.",
            },
            self.created,
            self.settled,
        )
        row["nipr_date_updated"] = row["updated_at"]
        self.out["addresses"].append(row)

    def addresses(self) -> None:
        r = self.r
        home_line, home_city, home_zip = street(r), self.city, zip_code(r, self.city)
        if not self.firm:
            self.address("RESIDENCE", home_line, None, home_city, home_zip)
        x = r()
        if x < 0.65:
            self.address("MAILING", home_line, None, home_city, home_zip)
        elif x < 0.85:
            self.address("MAILING", f"PO Box {1 + int(r() * 9999)}", None, home_city, home_zip)
        else:
            city = self.pick(ref.CITIES[self.home])
            self.address("MAILING", street(r), None, city, zip_code(r, city))
        if self.firm:
            suite = f"Suite {100 + int(r() * 900)}" if r() < 0.6 else None
            self.address("BUSINESS", home_line, suite, home_city, home_zip)
        else:
            city = home_city if r() < 0.6 else self.pick(ref.CITIES[self.home])
            suite = f"Suite {100 + int(r() * 900)}" if r() < 0.4 else None
            self.address("BUSINESS", street(r), suite, city, zip_code(r, city))

    def contact(self, kind: str, value: str) -> None:
        row = self.stamp(
            {
                "id": self.u.next_id("contact_infos"),
                "npn": self.npn,
                "for_state": self.home,
                "type": kind,
                "branch_id": None,
                "nipr_date_updated": None,
                "value": value,
            },
            self.created,
            self.settled,
        )
        row["nipr_date_updated"] = row["updated_at"]
        self.out["contact_infos"].append(row)

    def contact_infos(self) -> None:
        r = self.r
        domain = self.pick(ref.EMAIL_DOMAINS)
        if self.firm:
            slug = "".join(ch for ch in self.company.lower() if ch.isalnum())[:30]
            email = f"info@{slug}.{domain}"
        else:
            slugs = self.u.name_slugs
            suffix = str(int(r() * 100)) if r() < 0.3 else ""
            email = f"{slugs[self.first]}.{slugs[self.last]}{suffix}@{domain}"
        self.contact("BUSINESS_EMAIL", email)
        area = self.city.area_code
        self.contact("BUSINESS_PHONE", phone(r, area))
        if r() < (0.4 if self.firm else 0.15):
            self.contact("FAX", phone(r, area))

    def other_name(
        self,
        kind: str,
        state: str,
        name: str,
        branch: str | None,
        state_co_id: str | None,
        since: int | None = None,
    ) -> None:
        """The name on record in ``state`` from day ``since`` (the producer's creation by
        default)."""
        day = self.created if since is None else since
        self.out["other_names"].append(
            self.stamp(
                {
                    "id": self.u.next_id("other_names"),
                    "npn": self.npn,
                    "for_state": state,
                    "type": kind,
                    "branch_id": branch,
                    "state_co_id": state_co_id,
                    "name": name,
                },
                day,
                day,
            )
        )

    def other_names(self) -> None:
        r = self.r
        if self.firm:
            if r() < 0.3:
                for _ in range(1 + int(r() * 3)):
                    state = self.pick(self.licensed_states or [self.home])
                    city = self.pick(ref.CITIES[state])
                    self.other_name(
                        "FIRM_BRANCH",
                        state,
                        f"{self.company} - {city.name} Branch",
                        f"{int(r() * 10_000):04d}",
                        str(100_000 + int(r() * 900_000)),
                    )
        elif r() < 0.04:
            if r() < 0.4:
                nickname = ref.NICKNAMES.get(self.first)
                kind = "ALIAS"
                name = f"{nickname} {self.last}" if nickname else f"{self.last}, {self.first}"
            else:
                kind = "PREVIOUS"
                name = f"{self.first} {self.pick(ref.LAST_NAMES)}"
            if self.moved is None:
                self.other_name(kind, self.home, name, None, None)
            else:
                # Given to the former home state (states[1]) with its application, and to
                # the new one with its own on the move; the former keeps its record.
                self.other_name(kind, self.licensed_states[1], name, None, None)
                self.other_name(kind, self.home, name, None, None, self.moved)

    # --- regulatory actions --------------------------------------------------------------

    def regulatory_actions(self) -> None:
        u = self.u
        r = self.r
        days = u.days
        start = u.start
        for _ in range(1 if r() < 0.8 else 2):
            action_id = u.next_id("regulatory_actions")
            # Only a license out of force, and past its late renewal, was revoked,
            # suspended or surrendered (or its holder denied one): then, or after. A state
            # acts where a license ended, as often as not.
            gone_in = [
                state
                for state, ended in self.ended_in.items()
                if ended is not None and ended < start - _LATE_RENEWAL_DAYS
            ]
            if gone_in and r() < 0.5:
                state = self.pick(gone_in)
            else:
                state = self.pick(self.licensed_states or [self.home])
            ended = self.ended_in.get(state)
            gone = ended is not None and ended < start - _LATE_RENEWAL_DAYS
            order = regulatory_order(r, license_in_force=not gone)
            first = ended if ended is not None and order.disposition.ends_license else self.career
            action = first + int(r() * (start - 1 - first))
            effective = action if r() < 0.7 else min(action + int(r() * 30), start - 1)
            entered = min(action + int(r() * 400), start - 1)
            row = self.stamp(
                {
                    "id": action_id,
                    "npn": self.npn,
                    "for_state": state,
                    "action_id": action_number(r),
                    "action_date": days[action],
                    "effective_date": days[effective],
                    "enter_date": days[entered],
                    "penalty_fine_forfeiture": order.fine,
                    "length_of_order": order.length,
                },
                action,
                entered,
            )
            self.out["regulatory_actions"].append(row)
            values = self.out["regulatory_action_values"]
            for kind, value in order.values:
                values.append(
                    {
                        "id": u.next_id("regulatory_action_values"),
                        "npn": self.npn,
                        "regulatory_action_id": action_id,
                        "type": kind,
                        "value": value,
                        "transaction_id": row["transaction_id"],
                        "created_at": row["created_at"],
                        "updated_at": row["updated_at"],
                        "nipr_deleted": row["nipr_deleted"],
                    }
                )
