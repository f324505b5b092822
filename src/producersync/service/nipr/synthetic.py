"""Synthetic churn: what one day of NIPR updates does to a sample of the producers.

First, every license NIPR lists as active whose expiration date has passed (before the
run's date: a license is in force on its expiration date, its last day) is renewed or
lapses, whoever holds it: ``_RENEWED_SHARE`` of them are
renewed, drawn from a generator seeded by ``seed``, the license and its expiration date,
so any run that reaches the date, on any store from the same universe, decides alike.
Then a share ``churn_rate`` of the producers NIPR still lists is drawn from a generator
seeded by the date (and ``seed``); each gets one change, a quarter of them two, of the kinds a
real day brings, weighted by how often they come: license renewals and expirations, new
and terminated appointments, address and contact changes, lines of authority added to a
license or cancelled, and rarely a new non-resident license, a regulatory action, a
NIPR deletion or a move to another state. Each producer draws from its own
generator, seeded by the date and its NPN, and new ids are handed out in NPN order, so
the same store, date and seed always give the same changes.

The sandbox producers never change: their records read the same in every store.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from producersync.service.nipr import reference as ref
from producersync.service.nipr.fields import (
    LOA_CATEGORIES,
    Weighted,
    action_number,
    anniversary,
    appointment_row,
    lapse_day,
    license_number,
    phone,
    pick,
    regulatory_order,
    renewal_periods,
    street,
    transaction_id,
    zip_code,
)
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import churn
from producersync.service.store import tables as t

__all__ = ["plan_churn"]

Row = dict[str, Any]

# The tables a change reads; entities are not among them.
_READ = (
    t.licenses,
    t.license_loas,
    t.appointments,
    t.addresses,
    t.contact_infos,
    t.other_names,
    t.regulatory_actions,
)
_CLASSES = {cls.name: cls for cls in (*ref.LICENSE_CLASSES, ref.FIRM_LICENSE_CLASS)}
_UNAPPOINTED = frozenset(name for name, cls in _CLASSES.items() if not cls.appointed)
_CARRIERS = {carrier.co_code: carrier for carrier in ref.CARRIERS}
_STATES = Weighted([(weight, state) for state, weight in ref.STATE_WEIGHTS.items()])
_TERMINATIONS = Weighted(ref.CARRIER_TERMINATION_REASONS)
# A license can be renewed from 90 days before its expiration to 90 days after (late).
_RENEWAL_WINDOW = dt.timedelta(days=90)
_ONE_DAY = dt.timedelta(days=1)
# Of the licenses reaching their expiration date, the share renewed; the rest lapse.
# Lapsed licenses stay listed and the day's own expirations end more, so the share of
# active licenses drifts down whatever this is; at 0.95 it went from 89.7 % to 85.6 %
# over a year of daily runs at 1 % churn (2,000 producers, seed 1), at 0.88 to 83.9 % (before
# moves took weeks).
_RENEWED_SHARE = 0.95
_SECOND_CHANGE_SHARE = 0.25
# Of the producers who move to another state, the share whose old home state cancels
# the license rather than keep it as a non-resident one.
_MOVE_CANCELS_SHARE = 0.4
# Of those holding a non-resident license in force, the share who move to one of its
# states, where it converts to the resident license (the others may draw one too).
_MOVE_TO_NONRESIDENT_SHARE = 0.3
# The days from a move to the new home state's resident license (the producer applies
# there; the old home state's license is resident until it comes).
_MOVE_LAG_DAYS = (7, 90)
_MOVE_LAG_SPAN = _MOVE_LAG_DAYS[1] - _MOVE_LAG_DAYS[0] + 1
_TRIES = 4


def plan_churn(
    conn: sa.Connection,
    run_date: dt.date,
    churn_rate: float,
    seed: int | None,
    dated: dt.date | None = None,
) -> churn.DayChanges:
    """The day's changes for the licenses whose expiration date has come and a
    ``churn_rate`` share of the producers (read, not written), dated ``dated``
    (``run_date`` by default).

    A run of a date before one already run is dated as that run, as it is stamped
    (``churn.stamp_date``): it reads the store as the later run left it, and a change
    dated before what it reads (an appointment under a line issued after it, a license
    renewed before the renewal it extends) would contradict the records."""
    base = run_date.isoformat() if seed is None else f"{seed}:{run_date.isoformat()}"
    day = dated or run_date
    npns = churn.producer_npns(conn, exclude=SANDBOX_NPNS)
    sample = set(random.Random(base).sample(npns, round(churn_rate * len(npns))))
    # A move's resident license comes within _MOVE_LAG_DAYS[1] days: one still to come
    # was a move of a run (none of the universe), after the latest but that many days,
    # its addresses stamped then (not the universe's, older than any run).
    runs = churn.other_runs(conn, run_date)
    moving: set[str] = set()
    if runs is not None:
        since = max(runs[0], runs[1] - dt.timedelta(days=_MOVE_LAG_DAYS[1]))
        moving = churn.moving_npns(conn, since, SANDBOX_NPNS)
    producers = sorted(sample | moving | churn.expired_license_npns(conn, day, SANDBOX_NPNS))
    records = {table.name: churn.producer_records(conn, table, producers) for table in _READ}
    by_npn: dict[str, dict[str, list[Row]]] = {npn: {} for npn in producers}
    for name, rows in records.items():
        for row in rows:
            by_npn[row["npn"]].setdefault(name, []).append(row)
    planned = _Day(day, churn.next_ids(conn), seed)
    for npn in producers:
        producer = _Producer(planned, npn, by_npn[npn], random.Random(f"{base}:{npn}"))
        # Before the sampled changes, which then read a license as in force only while
        # it is: none adds a line or an appointment to one past its date. Then a move's
        # resident license that has come, dated the day it came (no run reached it).
        producer.renew_or_lapse_expired()
        producer.settle_move()
        if npn in sample:
            producer.churn()
    entities = churn.entity_ids(conn, planned.moved)
    for npn, tx in planned.moved.items():
        planned.changes.update("entities", entities[npn], transaction_id=tx)
    return planned.changes


class _Day:
    """The day being planned: its date, the next free ids, the changes so far."""

    def __init__(self, run_date: dt.date, ids: dict[str, int], seed: int | None) -> None:
        self.date = run_date
        self.ids = ids
        self.seed = seed
        self.changes = churn.DayChanges(run_date)
        # Producers who moved, with their transaction: the entity's resident license is
        # another one, so it changed too.
        self.moved: dict[str, str] = {}

    def next_id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value


def _two_years_on(day: dt.date, issued: dt.date | None = None) -> dt.date:
    """``day``'s date two years on: on the anniversary of ``issued`` (the license's
    original issue date) when ``day`` is one, else on ``day``'s. From the issue date, a
    license issued on 29 February that expired on a 28th expires on the 29th again in a
    leap year, as the universe dates it; renewed from the 28th, it kept the 28th for good."""
    if issued is not None and anniversary(issued, day.year) == day:
        return anniversary(issued, day.year + 2)
    return anniversary(day, day.year + 2)


def _renewals(lic: Row, expiration: dt.date | None) -> Row:
    """The license's renewal periods for a new expiration date, in the state's terms."""
    kind = (lic["renewal_periods"] or {}).get("renewalType")
    return renewal_periods(expiration, known=kind != "NO_RENEWAL_INFORMATION_AVAILABLE")


class _Producer:
    """One sampled producer's records and the changes drawn for them."""

    def __init__(
        self, day: _Day, npn: str, records: dict[str, list[Row]], rng: random.Random
    ) -> None:
        self.day = day
        self.npn = npn
        self.r = rng.random
        self.tx = transaction_id(rng)  # one NIPR transaction carries the day's changes
        self.live = {
            name: [row for row in rows if not row["nipr_deleted"]] for name, rows in records.items()
        }
        self.records = records
        # Records changed today already: a second change leaves them alone, and so does
        # a day run after a later one, dated as that one, which changed them on its date.
        self.done: set[tuple[str, int]] = {
            (name, row["id"])
            for name, rows in records.items()
            for row in rows
            if row["updated_at"] >= day.date
        }

    def rows(self, table: str, keep: Callable[[Row], bool] = lambda _: True) -> list[Row]:
        """The producer's live records of ``table`` not changed today that ``keep`` takes."""
        return [
            row
            for row in self.live.get(table, [])
            if (table, row["id"]) not in self.done and keep(row)
        ]

    def update(self, table: str, row: Row, **values: Any) -> None:
        self.done.add((table, row["id"]))
        self.day.changes.update(table, row["id"], transaction_id=self.tx, **values)
        # The day's second change reads the first one's result: it terminated the
        # appointments of a license that had expired with them still APPOINTED.
        row.update(values)
        if values.get("nipr_deleted"):
            self.live[table] = [other for other in self.live[table] if other is not row]

    def insert(self, table: str, row: Row) -> int:
        record_id = self.day.next_id(table)
        full = {"id": record_id, "npn": self.npn, **row, "transaction_id": self.tx}
        full["nipr_deleted"] = False
        self.day.changes.insert(table, full)
        self.done.add((table, record_id))
        # Seen by the day's second change: two new licenses in one state, the same line
        # added twice to a license, the same appointment made twice, all came of it.
        self.records.setdefault(table, []).append(full)
        self.live.setdefault(table, []).append(full)
        return record_id

    def appointed(self, state: str, loa_codes: set[str] | None = None) -> list[Row]:
        """The producer's appointments in ``state`` (under ``loa_codes``) still in force,
        made or changed today too: those a lapsed license or line ends."""
        return [
            a
            for a in self.live.get("appointments", [])
            if a["status"] == "APPOINTED"
            and a["for_state"] == state
            and (loa_codes is None or a["loa_code"] in loa_codes)
        ]

    def churn(self) -> None:
        r = self.r
        for _ in range(1 + (r() < _SECOND_CHANGE_SHARE)):
            # A kind that finds nothing to change (no license near renewal, say) gives
            # way to another draw.
            for _ in range(_TRIES):
                if _KINDS.pick(r())(self):
                    break

    # --- licenses --------------------------------------------------------------------------

    def loas(self, license_id: int) -> list[Row]:
        return self.rows("license_loas", lambda loa: loa["license_id"] == license_id)

    def active_expiring_by(self, day: dt.date) -> list[Row]:
        return self.rows(
            "licenses",
            lambda lic: (
                lic["active"]
                and lic["expiration_date"] is not None
                and lic["expiration_date"] <= day
            ),
        )

    def renew_or_lapse_expired(self) -> None:
        """Every active license whose expiration date has passed is renewed or lapses, at
        each date it passed since the store last looked: a first run long after the
        universe's start renews most of them, cycle after cycle, as daily runs would
        have, where lapsing every one past a late-renewal window lapsed half a store.
        A license is in force on its expiration date, as ``check`` reads it, and lapses
        the day after: lapsed by the run of that date, it was a no on its last day, to
        ``check`` asked after the run and to the API's ``active`` all that day."""
        today = self.day.date
        # Each date passed in date order, across every license's cycles: a resident
        # license lapsing ends the non-resident ones still in force then, and a
        # non-resident one whose date came first, in any cycle, was decided by then.
        due = [
            (lic["expiration_date"], lic["id"], lic)
            for lic in self.active_expiring_by(today - _ONE_DAY)
        ]
        heapq.heapify(due)
        while due:
            expiration, license_id, lic = heapq.heappop(due)
            if not lic["active"]:
                continue  # ended with the resident license, before this date
            # Drawn by the license and that date, not the run's: a run catching up
            # missed days decides as the day's own run would have.
            draw = random.Random(f"{self.day.seed}:{license_id}:{expiration}")
            if draw.random() < _RENEWED_SHARE:
                renewed = _two_years_on(expiration, lic["original_issue_date"])
                if renewed < today:
                    heapq.heappush(due, (renewed, license_id, lic))
                else:
                    self.renew(lic, renewed)
            elif expiration == lic["expiration_date"]:
                self.lapse(lic, lapse_day(expiration))
            else:  # renewed, then lapsed at a later date
                self.lapse(
                    lic,
                    lapse_day(expiration),
                    expiration_date=expiration,
                    renewal_periods=_renewals(lic, expiration),
                )

    def renewal(self) -> bool:
        today = self.day.date
        # A state renews a non-resident license only on an active resident one.
        home_active = any(lic["active"] for lic in self.residents())
        due = self.rows(
            "licenses",
            lambda lic: (
                lic["expiration_date"] is not None
                and abs(lic["expiration_date"] - today) <= _RENEWAL_WINDOW
                and (home_active or lic["residency_status"] == "R")
                # A state renews a license for the lines it held: none, no renewal.
                and (lic["active"] or bool(self.lapsed_with(lic)))
            ),
        )
        if not due:
            return False
        lic = pick(self.r, due)
        self.renew(lic, _two_years_on(lic["expiration_date"], lic["original_issue_date"]))
        return True

    def lapsed_with(self, lic: Row) -> list[Row]:
        """The lines a lapsed license held when it lapsed: ``Inactive`` from that day, the
        day after its expiration date (its expiration date itself, given up early, or
        lapsed by a universe or a run before lapses waited for the day after). A license
        the state cancelled (with the resident license, or on
        a move) has none: its lines went ``Cancelled``, and a cancelled license is not
        renewed; its holder would apply for a new one, with a new number and issue date."""
        return [
            loa
            for loa in self.loas(lic["id"])
            if loa["status"] == "Inactive"
            and lic["expiration_date"] is not None
            and loa["status_reason_date"]
            in {lic["expiration_date"], lapse_day(lic["expiration_date"])}
        ]

    def renew(self, lic: Row, expiration: dt.date) -> None:
        """Active until ``expiration``; a lapsed license's lines held when it ended come
        back (an active one's stay as they are)."""
        today = self.day.date
        lines = [] if lic["active"] else self.lapsed_with(lic)
        self.update(
            "licenses",
            lic,
            expiration_date=expiration,
            active=True,
            renewal_periods=_renewals(lic, expiration),
            nipr_date_updated=today,
        )
        for loa in lines:
            self.update("license_loas", loa, status="Active", status_reason_date=today)

    def expiration(self) -> bool:
        """An active license given up inside its renewal window: it ends today, not on
        its date."""
        today = self.day.date
        due = self.active_expiring_by(today + _RENEWAL_WINDOW)
        if not due:
            return False
        lic = min(due, key=lambda row: (row["expiration_date"], row["id"]))
        self.lapse(lic, today, expiration_date=today, renewal_periods=_renewals(lic, today))
        return True

    def lapse(self, lic: Row, ended: dt.date, **values: Any) -> None:
        """The license inactive, its active lines ``Inactive``, and every carrier's
        appointment in its state ended with it, under a line NIPR has since deleted as
        well: all on ``ended``, the day it lapsed (the day after its expiration date, or
        the day it was given up), which a run catching up missed days reaches after it.
        A resident license takes the non-resident ones in force with it."""
        self.end(lic, ended, "Inactive", ref.LICENSE_LAPSED, **values)
        if lic["residency_status"] != "R":
            return
        for other in self.live.get("licenses", []):
            if other["active"] and other["residency_status"] != "R":
                # Cancelled the day the resident license ended, as a license given up
                # early ends: its expiration date is that day (a perpetual one has none).
                expiration = None if other["expiration_date"] is None else ended
                self.end(
                    other,
                    ended,
                    "Cancelled",
                    ref.RESIDENT_LICENSE_ENDED,
                    expiration_date=expiration,
                    renewal_periods=renewal_periods(expiration, known=False),
                )

    def end(self, lic: Row, on: dt.date, line_status: str, reason: str, **values: Any) -> None:
        """The license inactive from ``on``: its active lines ``line_status`` and the
        appointments in its state ended for ``reason``, that day. Lines changed today
        too: one added today ends with the license all the same."""
        self.update("licenses", lic, active=False, nipr_date_updated=self.day.date, **values)
        for loa in self.live.get("license_loas", []):
            if loa["license_id"] == lic["id"] and loa["status"] == "Active":
                self.update("license_loas", loa, status=line_status, status_reason_date=on)
        self.end_appointments(lic["for_state"], on, reason)

    def end_appointments(
        self, state: str, on: dt.date | None = None, reason: str = ref.LICENSE_LAPSED
    ) -> None:
        """End the appointments in force in ``state`` with its license, ``on`` that day
        (today by default)."""
        for appointment in self.appointed(state):
            self.terminate(appointment, reason, on)

    def residents(self) -> list[Row]:
        """The producer's resident license (NIPR lists one), changed today or not."""
        return [lic for lic in self.live.get("licenses", []) if lic["residency_status"] == "R"]

    def home_lines(self, resident: Row) -> list[str]:
        """The lines a state licenses a non-resident for: those Active on the resident
        license while it is active (and not changed today)."""
        if not resident["active"]:
            return []
        return [
            loa["loa"]
            for loa in self.loas(resident["id"])
            if loa["status"] == "Active" and loa["loa"] in ref.LOAS
        ]

    def new_license(self) -> bool:
        """A non-resident license in a new state, with the lines the resident license
        holds: a state licenses a non-resident on an active home-state license, for the
        lines active there."""
        r = self.r
        resident = self.rows("licenses", lambda lic: lic["residency_status"] == "R")
        if (
            not resident
            or not resident[0]["active"]
            or resident[0]["license_class"] not in _CLASSES
        ):
            return False
        cls = _CLASSES[resident[0]["license_class"]]
        lines = [ref.LOAS[name] for name in self.home_lines(resident[0])]
        held = {lic["for_state"] for lic in self.records.get("licenses", [])}
        pending = self.pending_move()
        if pending is not None:
            held.add(pending[0])  # the resident license it applied for comes there
        states = [
            s
            for s in (_STATES.pick(r()) for _ in range(_TRIES))
            if s not in held and s not in cls.unlicensed_in
        ]
        if not lines or not states:
            return False
        self.issue(states[0], cls, "NR", lines)
        return True

    def issue(
        self,
        state: str,
        cls: ref.LicenseClass,
        residency: str,
        lines: list[ref.Loa],
        on: dt.date | None = None,
    ) -> None:
        """A license issued in ``state`` on day ``on`` (today by default), for ``lines``,
        all ``Active``."""
        today = on or self.day.date
        expiration = None if state in ref.PERPETUAL_STATES else _two_years_on(today)
        license_id = self.insert(
            "licenses",
            {
                "for_state": state,
                "branch_id": None,
                "nipr_date_updated": today,
                "license_num": license_number(self.r, state, self.npn),
                "original_issue_date": today,
                "expiration_date": expiration,
                "license_class": cls.name,
                "license_class_code": cls.code,
                "residency_status": residency,
                "active": True,
                "agent_types": ",".join(cls.agent_types),
                "renewal_periods": renewal_periods(expiration),
            },
        )
        for loa in lines:
            self._new_loa(cls.name, license_id, state, loa, today)

    def move(self) -> bool:
        """The producer moves to another state, on an active resident license whose every
        line is Active (the non-resident lines, all carried on it, go to the new one
        too): the home-state addresses and contacts go to the new state. Where it holds
        a non-resident license in force, that one becomes the resident license today
        (``settle``); elsewhere the producer applies there, and the license comes 7 to
        90 days on (``settle_move``), the old one resident until then."""
        r = self.r
        old = next(iter(self.rows("licenses", lambda lic: lic["residency_status"] == "R")), None)
        if (
            old is None
            or not old["active"]
            or old["license_class"] not in _CLASSES
            or self.pending_move() is not None
        ):
            return False
        lines = [
            loa for loa in self.records.get("license_loas", []) if loa["license_id"] == old["id"]
        ]
        if not lines or any(
            loa["status"] != "Active"
            or loa["nipr_deleted"]
            or loa["loa"] not in ref.LOAS
            or ("license_loas", loa["id"]) in self.done
            for loa in lines
        ):
            return False
        # A non-resident license in force converts to the resident one where the producer
        # moves (one already working in a state is likelier to move there); a state that
        # cancelled or let lapse a license of the producer is applied to anew by no one.
        convertible = {
            lic["for_state"]: lic
            for lic in self.rows("licenses", lambda lic: lic["residency_status"] == "NR")
            if lic["active"]
            and lic["license_class"] == old["license_class"]
            and not any(
                ("license_loas", line["id"]) in self.done
                for line in self.live.get("license_loas", [])
                if line["license_id"] == lic["id"]
            )
        }
        held = {lic["for_state"] for lic in self.records.get("licenses", [])}
        if convertible and r() < _MOVE_TO_NONRESIDENT_SHARE:
            states = [pick(r, sorted(convertible))]
        else:
            # Never to a state that issues no license of the class: none would come.
            unlicensed = _CLASSES[old["license_class"]].unlicensed_in
            picked = (_STATES.pick(r()) for _ in range(_TRIES))
            states = [
                s for s in picked if (s not in held or s in convertible) and s not in unlicensed
            ]
        if not states:
            return False
        state = states[0]
        if state in convertible:
            self.settle(old, state, convertible[state], self.day.date)
        else:
            self.relocate_home(old["for_state"], state)
        return True

    def relocate_home(self, home: str, state: str) -> None:
        """The addresses and contacts of ``home`` moved to ``state`` (a new street and city):
        changed today already or not, none stays behind."""
        today = self.day.date
        for address in self.live.get("addresses", []):
            if address["for_state"] == home:
                self.relocate(address, state, for_state=state)
        for contact in self.live.get("contact_infos", []):
            if contact["for_state"] == home:
                self.update("contact_infos", contact, for_state=state, nipr_date_updated=today)

    def pending_move(self) -> tuple[str, dt.date] | None:
        """The state the producer moved to and the day, while it holds no resident license
        there yet: its addresses all in that state, its resident license in another."""
        residents = self.residents()
        addresses = self.live.get("addresses", [])
        states = {a["for_state"] for a in addresses}
        if len(residents) != 1 or len(states) != 1:
            return None
        (state,) = states
        if state == residents[0]["for_state"] or state not in ref.LICENSE_NUMBER_FORMATS:
            return None
        return state, min(a["updated_at"] for a in addresses)

    def settle_move(self) -> None:
        """A move whose resident license has come by today: it is issued on the day it
        came, 7 to 90 days after the move (drawn by the seed, the producer and the day it
        moved, so whichever run reaches that day issues it alike), the old one converted
        or cancelled that day."""
        pending = self.pending_move()
        if pending is None:
            return
        state, moved = pending
        old = self.residents()[0]
        if old["license_class"] not in _CLASSES or any(
            lic["for_state"] == state for lic in self.records.get("licenses", [])
        ):
            return
        draw = random.Random(f"{self.day.seed}:{self.npn}:{moved}").random()
        issued = moved + dt.timedelta(days=_MOVE_LAG_DAYS[0] + int(draw * _MOVE_LAG_SPAN))
        if issued <= self.day.date:
            self.settle(old, state, None, issued)

    def settle(self, old: Row, state: str, nonresident: Row | None, on: dt.date) -> None:
        """The resident license in ``state`` from day ``on``: ``nonresident`` converted to
        it, or one issued, with the lines of the ``old`` one, which becomes non-resident
        (kept, or cancelled that day with the appointments on it); the carriers appointing
        there as they did at home, the addresses and contacts there, and the aliases and
        previous names on record there too."""
        home = old["for_state"]
        cls = _CLASSES[old["license_class"]]
        appointed = self.appointed(home)
        lines = [
            loa
            for loa in self.records.get("license_loas", [])
            if loa["license_id"] == old["id"] and not loa["nipr_deleted"] and loa["loa"] in ref.LOAS
        ]
        # Those it holds (or held when it lapsed, while the producer was moving).
        held = [loa for loa in lines if loa["status"] == "Active"] or self.lapsed_with(old) or lines
        if not old["active"]:
            self.update("licenses", old, residency_status="NR", nipr_date_updated=self.day.date)
        elif self.r() < _MOVE_CANCELS_SHARE:
            expiration = None if old["expiration_date"] is None else on
            self.end(
                old,
                on,
                "Cancelled",
                ref.RESIDENT_LICENSE_ENDED,
                residency_status="NR",
                expiration_date=expiration,
                renewal_periods=renewal_periods(expiration, known=False),
            )
        else:
            self.update("licenses", old, residency_status="NR", nipr_date_updated=self.day.date)
        carried = {loa["loa_code"]: ref.LOAS[loa["loa"]] for loa in held}
        if nonresident is not None:
            self.convert(nonresident, cls, carried)
        else:
            self.issue(state, cls, "R", list(carried.values()), on)
        there = {(a["co_code"], a["loa_code"]) for a in self.appointed(state)}
        for appointment in appointed:
            if (appointment["co_code"], appointment["loa_code"]) in there:
                continue  # the carrier appoints there already
            loa = carried.get(appointment["loa_code"])
            if loa is None:
                continue
            carrier = _CARRIERS[appointment["co_code"]]
            self.insert("appointments", appointment_row(carrier, state, loa, "APPOINTED", on, None))
        self.relocate_home(home, state)
        # The new home state records the names given with the application; the old one
        # keeps its record of them, as it keeps its regulatory actions and firm branches.
        for other in self.rows("other_names", lambda o: o["for_state"] == home):
            if other["type"] in ref.PERSONAL_NAME_TYPES:
                self.insert(
                    "other_names",
                    {
                        "for_state": state,
                        "type": other["type"],
                        "branch_id": None,
                        "state_co_id": None,
                        "name": other["name"],
                    },
                )
        self.day.moved[self.npn] = self.tx

    def convert(self, lic: Row, cls: ref.LicenseClass, lines: dict[str, ref.Loa]) -> None:
        """The non-resident license ``lic`` becomes the resident one, its number and issue
        date kept, for ``lines`` (by code) too: one it never carried is added, one it
        no longer holds comes back ``Active``."""
        today = self.day.date
        self.update("licenses", lic, residency_status="R", nipr_date_updated=today)
        held = {loa["loa_code"]: loa for loa in self.loas(lic["id"])}
        for code, loa in lines.items():
            line = held.get(code)
            if line is None:
                self._new_loa(cls.name, lic["id"], lic["for_state"], loa)
            elif line["status"] != "Active":
                self.update("license_loas", line, status="Active", status_reason_date=today)

    def _new_loa(
        self,
        license_class: str,
        license_id: int,
        state: str,
        loa: ref.Loa,
        on: dt.date | None = None,
    ) -> None:
        today = on or self.day.date
        # Continuing education is the license's: a line added reports what its others do
        # (a new license's, in compliance: a first compliance period has just begun).
        ce, credits = next(
            (
                (loa["ce_compliance"], loa["ce_credits_needed"])
                for loa in self.records.get("license_loas", [])
                if loa["license_id"] == license_id
            ),
            (
                ref.FIRM_CE_COMPLIANCE
                if license_class == ref.FIRM_LICENSE_CLASS.name
                else "IN COMPLIANCE",
                0,
            ),
        )
        self.insert(
            "license_loas",
            {
                "for_state": state,
                "license_id": license_id,
                "loa": loa.name,
                "loa_code": loa.code,
                "issue_date": today,
                "status": "Active",
                "status_reason_date": today,
                "ce_compliance": ce,
                "ce_credits_needed": credits,
                "loa_categories": LOA_CATEGORIES[loa.name],
            },
        )

    def loa_added(self) -> bool:
        """A line of authority added to an active license: one its class offers that
        the license never carried, and on a non-resident license one Active on the
        resident license, as the line's state licenses it for no other."""
        choices: list[tuple[Row, ref.Loa]] = []
        licenses = self.live.get("licenses", [])
        resident = next((lic for lic in licenses if lic["residency_status"] == "R"), None)
        home = set(self.home_lines(resident)) if resident else set()
        for lic in self.rows("licenses", lambda lic: lic["active"]):
            cls = _CLASSES.get(lic["license_class"])
            if cls is None:
                continue
            carried = {
                loa["loa"]
                for loa in self.records.get("license_loas", [])
                if loa["license_id"] == lic["id"]
            }
            offered = {name for _, names in cls.loa_profiles for name in names} - carried
            if lic["residency_status"] != "R":
                offered &= home
            choices.extend((lic, ref.LOAS[name]) for name in sorted(offered) if name in ref.LOAS)
        if not choices:
            return False
        lic, loa = pick(self.r, choices)
        self._new_loa(lic["license_class"], lic["id"], lic["for_state"], loa)
        return True

    def loa_cancelled(self) -> bool:
        """A line of authority cancelled on a license that keeps another active one; the
        carriers' appointments under that line in the state end with it. None on the
        resident license while the producer moves: the new state licenses it for the
        lines it holds, which the non-resident licenses carry."""
        moving = self.pending_move() is not None
        active = {
            lic["id"]
            for lic in self.rows(
                "licenses",
                lambda lic: lic["active"] and not (moving and lic["residency_status"] == "R"),
            )
        }
        lines = [
            loa
            for loa in self.live.get("license_loas", [])
            if loa["license_id"] in active and loa["status"] == "Active"
        ]
        per_license = Counter(loa["license_id"] for loa in lines)
        choices = [
            loa
            for loa in lines
            if per_license[loa["license_id"]] > 1 and ("license_loas", loa["id"]) not in self.done
        ]
        if not choices:
            return False
        loa = pick(self.r, choices)
        self.update("license_loas", loa, status="Cancelled", status_reason_date=self.day.date)
        for appointment in self.appointed(loa["for_state"], {loa["loa_code"]}):
            self.terminate(appointment, "Company Terminated")
        return True

    # --- appointments ------------------------------------------------------------------------

    def new_appointment(self) -> bool:
        """A carrier appoints the producer for an Active line of an active license of a
        class carriers appoint under (not a consultant's), in a category it writes."""
        active = {
            lic["id"]: lic
            for lic in self.rows("licenses", lambda lic: lic["active"])
            if lic["license_class"] not in _UNAPPOINTED
        }
        lines = [
            (active[loa["license_id"]]["for_state"], ref.LOAS[loa["loa"]])
            for loa in self.rows("license_loas")
            if loa["license_id"] in active and loa["status"] == "Active" and loa["loa"] in ref.LOAS
        ]
        lines = [(s, loa) for s, loa in lines if loa.categories[0] in ref.CARRIERS_BY_CATEGORY]
        if not lines:
            return False
        state, loa = pick(self.r, lines)
        carrier: ref.Carrier = pick(self.r, ref.CARRIERS_BY_CATEGORY[loa.categories[0]])
        held = {
            (a["co_code"], a["for_state"], a["loa_code"]) for a in self.live.get("appointments", [])
        }
        if (carrier.co_code, state, loa.code) in held:
            return False
        self.insert(
            "appointments", appointment_row(carrier, state, loa, "APPOINTED", self.day.date, None)
        )
        return True

    def terminated_appointment(self) -> bool:
        appointed = self.rows("appointments", lambda a: a["status"] == "APPOINTED")
        if not appointed:
            return False
        self.terminate(pick(self.r, appointed), _TERMINATIONS.pick(self.r()))
        return True

    def terminate(self, appointment: Row, reason: str, on: dt.date | None = None) -> None:
        self.update(
            "appointments",
            appointment,
            status="TERMINATED",
            status_reason_date=on or self.day.date,
            termination_reason=reason,
        )

    # --- addresses and contacts ----------------------------------------------------------

    def address(self) -> bool:
        """A move within the address's state; none while the producer moves to another
        (the day it moved is its addresses')."""
        addresses = self.rows("addresses", lambda a: a["state"] in ref.CITIES)
        if not addresses or self.pending_move() is not None:
            return False
        address = pick(self.r, addresses)
        self.relocate(address, address["state"])
        return True

    def relocate(self, address: Row, state: str, **values: Any) -> None:
        """The address at a new street in a city of ``state``."""
        r = self.r
        city: ref.City = pick(r, ref.CITIES[state])
        suite = (
            f"Suite {100 + int(r() * 900)}" if address["type"] == "BUSINESS" and r() < 0.4 else None
        )
        self.update(
            "addresses",
            address,
            line1=street(r),
            line2=suite,
            city=city.name,
            state=state,
            zip=zip_code(r, city),
            nipr_date_updated=self.day.date,
            **values,
        )

    def contact(self) -> bool:
        """A new phone or fax number in the same area, or an e-mail at another domain."""
        r = self.r
        contacts = self.rows("contact_infos", lambda c: c["value"] is not None)
        if not contacts:
            return False
        contact = pick(r, contacts)
        value: str = contact["value"]
        if contact["type"] == "BUSINESS_EMAIL":
            local, _, domain = value.partition("@")
            others = [d for d in ref.EMAIL_DOMAINS if d != domain]
            value = f"{local}@{pick(r, others)}"
        else:
            area = value.split("-", 1)[0]
            value = phone(r, area if area.isdigit() and len(area) == 3 else "555", value)
        self.update("contact_infos", contact, value=value, nipr_date_updated=self.day.date)
        return True

    # --- regulatory actions and deletions ------------------------------------------------------

    def regulatory_action(self) -> bool:
        r = self.r
        today = self.day.date
        licenses = self.live.get("licenses", [])
        if not licenses:
            return False
        state = pick(r, [lic["for_state"] for lic in licenses])
        # A state revokes, suspends or takes the surrender of a license only out of force
        # and past its late renewal (none of its licenses can come back: new ones it
        # issues no holder of one, a move goes where one is in force), or denies one.
        gone = all(
            not lic["active"]
            and (lic["expiration_date"] is None or lic["expiration_date"] < today - _RENEWAL_WINDOW)
            for lic in licenses
            if lic["for_state"] == state
        )
        order = regulatory_order(r, license_in_force=not gone)
        # Reported some weeks after the department acted.
        action = today - dt.timedelta(days=int(r() * 60))
        action_id = self.insert(
            "regulatory_actions",
            {
                "for_state": state,
                "action_id": action_number(r),
                "action_date": action,
                "effective_date": action,
                "enter_date": today,
                "penalty_fine_forfeiture": order.fine,
                "length_of_order": order.length,
            },
        )
        for kind, value in order.values:
            self.insert(
                "regulatory_action_values",
                {"regulatory_action_id": action_id, "type": kind, "value": value},
            )
        return True

    def nipr_deletion(self) -> bool:
        """NIPR drops a non-resident license (with its lines) or an ended appointment."""
        choices = [
            *(
                ("licenses", lic)
                for lic in self.rows("licenses", lambda x: x["residency_status"] != "R")
            ),
            *(
                ("appointments", a)
                for a in self.rows("appointments", lambda a: a["status"] == "TERMINATED")
            ),
        ]
        if not choices:
            return False
        table, row = pick(self.r, choices)
        self.update(table, row, nipr_deleted=True)
        if table == "licenses":
            for loa in self.loas(row["id"]):
                self.update("license_loas", loa, nipr_deleted=True)
            # No license is left in the state for its appointments to stand on.
            self.end_appointments(row["for_state"])
        return True


# How often each kind of change comes, per hundred changes.
_KINDS = Weighted(
    [
        (28, _Producer.renewal),
        (8, _Producer.expiration),
        (18, _Producer.new_appointment),
        (12, _Producer.terminated_appointment),
        (12, _Producer.address),
        (10, _Producer.contact),
        (3, _Producer.loa_added),
        (2, _Producer.loa_cancelled),
        (5, _Producer.new_license),
        # Departments act on under 1 % of producers a year: at 1 % churn this is 0.46 %
        # (1 in 100 changes was 4.6 %).
        (0.1, _Producer.regulatory_action),
        (1, _Producer.nipr_deletion),
        # 1.3 % of producers a year at 1 % churn (25 of 2,000 licensed anew in a year, seed 1).
        (0.4, _Producer.move),
    ]
)
