"""What a compliance officer relies on in the synthetic NIPR data, over many seeds: the
universe as generated, and the records each daily run changes.

Each rule is a function of the records that names what breaks it; the universe is held
to them as generated, and every day a run changes to them after the run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.service.nipr.test_daily import Snapshot, snapshot
from tests.support.databases import universe_store

from producersync.service.nipr.daily import run_day
from producersync.service.nipr.fields import lapse_day
from producersync.service.nipr.reference import (
    DISPOSITIONS,
    FIRM_LICENSE_CLASS,
    LICENSE_CLASSES,
    LICENSE_LAPSED,
    PERSONAL_NAME_TYPES,
    RESIDENT_LICENSE_ENDED,
)
from producersync.service.nipr.universe import DEFAULT_START_DATE, TABLES, Batch, generate
from producersync.service.store.churn import NESTED
from producersync.service.store.open import open_store

Row = dict[str, Any]


class Records:
    """Records to hold to the rules: ``checked`` rows of each table (those a run changed,
    or all of a universe), read beside every record of their producers (``all``), as of
    the run's date ``today`` (a universe's: None, every move long done)."""

    def __init__(
        self,
        rows: dict[str, list[Row]],
        checked: Callable[[Row], bool],
        today: dt.date | None = None,
    ) -> None:
        self.all = rows
        self._checked = checked
        self.today = today

    def checked(self, table: str) -> list[Row]:
        return [row for row in self.all[table] if self._checked(row)]


Rule = Callable[[Records], Iterable[Any]]
FIRM_CLASS = FIRM_LICENSE_CLASS.name
CLASSES = {cls.name: cls for cls in (*LICENSE_CLASSES, FIRM_LICENSE_CLASS)}
# A state ends a non-resident license at the latest this long after the resident one.
_NR_CANCEL_DAYS = dt.timedelta(days=30)

UNIVERSES = settings(derandomize=True, deadline=None, max_examples=40)
DAYS = settings(derandomize=True, deadline=None, max_examples=8)


def _by(rows: Iterable[Row], *keys: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[key] for key in keys)].append(row)
    return grouped


def _license_of(records: Records) -> Callable[[Row], Row | None]:
    """The live license an appointment stands on: its producer's in its state."""
    live = (r for r in records.all["licenses"] if not r["nipr_deleted"])
    licenses = _by(live, "npn", "for_state")
    return lambda row: (licenses.get((row["npn"], row["for_state"])) or [None])[0]


# --- the rules ---------------------------------------------------------------------------


def license_ended_only_with_its_license(records: Records) -> Iterable[Any]:
    """An appointment ended "License Expired" (or, on a non-resident license, "Resident
    License Inactive") stands under a license no longer active, and ended no earlier than
    that license's expiration date (a license ended early expires that day)."""
    license_of = _license_of(records)
    for row in records.checked("appointments"):
        reason = row["termination_reason"]
        if reason not in {LICENSE_LAPSED, RESIDENT_LICENSE_ENDED} or row["nipr_deleted"]:
            continue  # NIPR dropped it: its license may have been renewed late since
        lic = license_of(row)
        if lic is None:
            continue  # NIPR deleted the license: nothing left to be active
        if lic["active"]:
            yield (f"{reason} under an active license", row["id"], lic["id"])
        elif reason == RESIDENT_LICENSE_ENDED and lic["residency_status"] != "NR":
            yield (f"{reason} under a resident license", row["id"], lic["id"])
        elif lic["expiration_date"] and row["status_reason_date"] < lic["expiration_date"]:
            yield (f"{reason} before the license expired", row["id"], lic["id"])


def deceased_ends_everything(records: Records) -> Iterable[Any]:
    """A producer whose appointment ended "Deceased" has no appointment in force."""
    appointments = records.all["appointments"]
    deceased = {r["npn"] for r in appointments if r["termination_reason"] == "Deceased"}
    for row in appointments:
        if row["npn"] in deceased and row["status"] == "APPOINTED":
            yield ("appointed after an appointment ended Deceased", row["id"])


def appointments_stand_on_a_line_held(records: Records) -> Iterable[Any]:
    """An appointment in force stands on a live, active license of its state with the line
    Active on it (a line NIPR deleted alone may still read Active), and NIPR deletes only
    ended ones; none is dated before its line was issued."""
    license_of = _license_of(records)
    lines = _by(records.all["license_loas"], "npn", "for_state", "loa_code")
    for row in records.checked("appointments"):
        mine = lines.get((row["npn"], row["for_state"], row["loa_code"]), [])
        if not mine or row["status_reason_date"] < min(line["issue_date"] for line in mine):
            yield ("an appointment before its line", row["id"])
        if row["status"] != "APPOINTED":
            continue
        if row["nipr_deleted"]:
            yield ("NIPR deleted an appointment in force", row["id"])
        lic = license_of(row)
        if lic is None or not lic["active"]:
            yield ("appointed under no live, active license", row["id"])
        elif not any(
            line["license_id"] == lic["id"] and line["status"] == "Active" for line in mine
        ):
            yield ("appointed under no active line", row["id"])


def firms_complete_no_ce(records: Records) -> Iterable[Any]:
    """A business entity's lines report no continuing education of their own."""
    firms = {r["id"] for r in records.all["licenses"] if r["license_class"] == FIRM_CLASS}
    for row in records.checked("license_loas"):
        if row["license_id"] in firms and (row["ce_compliance"], row["ce_credits_needed"]) not in {
            (None, None),
            ("N/A", 0),
        }:
            yield ("a firm's line with CE", row["id"], row["ce_compliance"])


def nonresident_lines_are_the_home_states(records: Records) -> Iterable[Any]:
    """A non-resident license is for lines its holder's resident license carries: a state
    licenses a non-resident for the lines the home state does."""
    licenses = {r["id"]: r for r in records.all["licenses"]}
    resident = {r["npn"]: r["id"] for r in licenses.values() if r["residency_status"] == "R"}
    home = {(r["license_id"], r["loa_code"]) for r in records.all["license_loas"]}
    for row in records.checked("license_loas"):
        if licenses[row["license_id"]]["residency_status"] == "R":
            continue
        if (resident.get(row["npn"]), row["loa_code"]) not in home:
            yield ("a non-resident line the home state never licensed", row["id"])


def nonresident_licenses_rest_on_the_resident_one(records: Records) -> Iterable[Any]:
    """A non-resident license NIPR lists is active only while its holder's resident
    license is: the states end it, and the appointments on it, with that one."""
    live = [r for r in records.all["licenses"] if not r["nipr_deleted"]]
    home_active = {r["npn"] for r in live if r["residency_status"] == "R" and r["active"]}
    for row in live:
        if row["residency_status"] == "NR" and row["active"] and row["npn"] not in home_active:
            yield ("an active non-resident license on no active resident one", row["id"])


def an_active_license_holds_an_active_line(records: Records) -> Iterable[Any]:
    """A license in force is for some line: an active license NIPR lists has a line Active
    on it (a line NIPR deleted alone may still read Active), renewed late or not."""
    held = {r["license_id"] for r in records.all["license_loas"] if r["status"] == "Active"}
    for row in records.checked("licenses"):
        if row["active"] and not row["nipr_deleted"] and row["id"] not in held:
            yield ("an active license with no active line", row["id"])


# A move's resident license comes at the latest this long after it.
_MOVE_LAG = dt.timedelta(days=90)


def one_home_state(records: Records) -> Iterable[Any]:
    """A producer NIPR lists a resident license for has one, and its addresses are in
    that state: one who moved holds the new state's, the old one non-resident. For the
    days, up to 90, until the new state issues it, the addresses are there already and
    the old license still resident: a producer is never without one."""
    live = [r for r in records.all["licenses"] if not r["nipr_deleted"]]
    homes = _by((r for r in live if r["residency_status"] == "R"), "npn")
    for (npn,), rows in homes.items():
        if len(rows) > 1:
            yield ("more than one resident license", npn)
    today = records.today
    for row in records.checked("addresses"):
        home = homes.get((row["npn"],))
        if (
            home
            and not row["nipr_deleted"]
            and row["for_state"] != home[0]["for_state"]
            and (today is None or row["updated_at"] <= today - _MOVE_LAG)
        ):
            yield ("an address outside the resident state", row["id"], home[0]["for_state"])


def resident_license_follows_the_move(before: Snapshot, after: Snapshot) -> list[Any]:
    """A new state issues a resident license 7 to 90 days after the producer moved there
    (its addresses, unchanged meanwhile): the producer applies, and the state takes its
    time; never the day of the move. A non-resident license held there converts at once."""
    resident_before = {
        r["npn"] for r in before["licenses"].values() if r["residency_status"] == "R"
    }
    problems: list[Any] = []
    for i, lic in after["licenses"].items():
        if i in before["licenses"] or lic["residency_status"] != "R":
            continue
        if lic["npn"] not in resident_before:
            continue
        moved = [
            r["updated_at"]
            for r in before["addresses"].values()
            if r["npn"] == lic["npn"] and r["for_state"] == lic["for_state"]
        ]
        came = lic["original_issue_date"]
        if not moved or not all(7 <= (came - day).days <= 90 for day in moved):
            problems.append(("a resident license not 7 to 90 days after the move", i))
    return problems


def names_are_on_record_in_the_home_state(records: Records) -> Iterable[Any]:
    """An individual's aliases and previous names, given to a state with its application,
    are on record in the state of its resident license (one who moved gave them to the new
    state too; the old one keeps its record), none before that state first licensed it.
    Read for the producers whose names or resident license changed."""
    homes = {
        r["npn"]: r
        for r in records.all["licenses"]
        if r["residency_status"] == "R" and not r["nipr_deleted"]
    }
    issued: dict[tuple[str, str], dt.date] = {}
    for lic in records.all["licenses"]:
        key = (lic["npn"], lic["for_state"])
        issued[key] = min(issued.get(key, lic["original_issue_date"]), lic["original_issue_date"])
    names = [r for r in records.all["other_names"] if r["type"] in PERSONAL_NAME_TYPES]
    on_record = {(r["npn"], r["for_state"], r["type"], r["name"]) for r in names}
    moved = {r["npn"] for r in records.checked("licenses") if r["residency_status"] == "R"}
    checked = {r["id"] for r in records.checked("other_names")}
    for row in names:
        if row["nipr_deleted"] or (row["id"] not in checked and row["npn"] not in moved):
            continue
        first = issued.get((row["npn"], row["for_state"]))
        if first is not None and row["created_at"] < first:
            yield ("a name on record before the state licensed the producer", row["id"])
        home = homes.get(row["npn"])
        if home and (row["npn"], home["for_state"], row["type"], row["name"]) not in on_record:
            yield ("a name not on record in the home state", row["id"], home["for_state"])


def cancelled_ids(licenses: Iterable[Row], loas: Iterable[Row]) -> set[int]:
    """The licenses a state cancelled: inactive, and every line that ended with them (on
    their expiration date) ``Cancelled`` (with the resident license, or on a move), none
    ``Inactive`` as a lapse leaves them, the day after (a line cancelled on its own on a
    license's last day is not the license's end), or that day, given up."""
    by_id = {lic["id"]: lic for lic in licenses}
    ended: dict[int, list[str]] = defaultdict(list)
    for loa in loas:
        lic = by_id[loa["license_id"]]
        expiration, on = lic["expiration_date"], loa["status_reason_date"]
        if loa["status"] == "Active" or expiration is None:
            continue
        if on == expiration or (loa["status"] == "Inactive" and on == lapse_day(expiration)):
            ended[lic["id"]].append(loa["status"])
    return {
        i
        for i, lic in by_id.items()
        if not lic["active"] and ended[i] and set(ended[i]) == {"Cancelled"}
    }


def a_cancelled_license_has_no_renewal_window(records: Records) -> Iterable[Any]:
    """A license the state cancelled (not one that lapsed) cannot be renewed, late
    renewed nor reinstated: it shows no window (``NO_RENEWAL_INFORMATION_AVAILABLE``,
    or ``PERPETUAL`` in a state whose licenses have no expiration date)."""
    gone = cancelled_ids(records.all["licenses"], records.all["license_loas"])
    for row in records.checked("licenses"):
        periods = row["renewal_periods"] or {}
        if row["id"] in gone and (
            periods.get("renewalType") == "RENEWAL_REQUIRED"
            or any(periods.get(k) for k in ("renewal", "lateRenewal", "reinstatement"))
        ):
            yield ("a cancelled license with a renewal window", row["id"])


def a_license_is_updated_once_issued(records: Records) -> Iterable[Any]:
    """NIPR's update of a license (niprDateUpdated) is dated from its issue to the day the
    store wrote it."""
    for row in records.checked("licenses"):
        updated = row["nipr_date_updated"]
        if updated and not row["original_issue_date"] <= updated <= row["updated_at"]:
            yield ("a license updated before it was issued, or after it was written", row["id"])


def _lapsed(lic: Row) -> bool:
    """Whether ``lic`` ran out at its expiration date, not ended early: given up (its
    expiration date made that day, NIPR's update of it) or cancelled by the state (its
    lines ``Cancelled``, its appointments "Resident License Inactive")."""
    return (
        not lic["active"]
        and lic["expiration_date"] is not None
        and lic["nipr_date_updated"] != lic["expiration_date"]
    )


def a_license_lapses_after_its_last_day(records: Records) -> Iterable[Any]:
    """A license is in force on its expiration date, its last day, and lapses the day
    after: no line that lapsed with it (``Inactive``) nor appointment ended with it
    ("License Expired") is dated on or before that date, but for a license ended early
    (``_lapsed``); else ``check --on`` the date said no (LOA Inactive) beside "unexpired
    on it, its last day". A line or an appointment that ended on its own while the
    license was in force (a line cancelled, a carrier's termination) is not its end."""
    licenses = {r["id"]: r for r in records.all["licenses"]}
    for row in records.checked("license_loas"):
        lic = licenses[row["license_id"]]
        if (
            _lapsed(lic)
            and row["status"] == "Inactive"
            and not row["nipr_deleted"]
            and row["status_reason_date"] <= lic["expiration_date"]
        ):
            yield ("a line lapsed by its license's last day", row["id"], lic["id"])
    license_of = _license_of(records)
    for row in records.checked("appointments"):
        lic = license_of(row)
        if (
            lic is not None
            and _lapsed(lic)
            and row["termination_reason"] == LICENSE_LAPSED
            and not row["nipr_deleted"]
            and row["status_reason_date"] <= lic["expiration_date"]
        ):
            yield ("an appointment ended by its license's last day", row["id"], lic["id"])


def lines_end_with_their_license(records: Records) -> Iterable[Any]:
    """A license that lapsed took its lines with it the day after its expiration date (on
    it, given up early): none of them changed status later."""
    licenses = {r["id"]: r for r in records.all["licenses"]}
    for row in records.checked("license_loas"):
        lic = licenses[row["license_id"]]
        if lic["active"] or lic["expiration_date"] is None:
            continue
        if row["status_reason_date"] > lic["expiration_date"] + dt.timedelta(days=1):
            yield ("a line's status dated after its license lapsed", row["id"], lic["id"])


def a_cancelling_state_licenses_no_more(records: Records) -> Iterable[Any]:
    """A state that cancelled a producer's license issues it none after: the holder would
    apply anew, and no synthetic producer does (nor moves there, where a non-resident
    license in force converts to the resident one)."""
    licenses = records.all["licenses"]
    gone = cancelled_ids(licenses, records.all["license_loas"])
    cancelled_on: dict[tuple[str, str], dt.date] = {}
    for row in licenses:
        if row["id"] in gone:
            key = (row["npn"], row["for_state"])
            ended = row["expiration_date"] or row["original_issue_date"]
            cancelled_on[key] = min(cancelled_on.get(key, ended), ended)
    for row in records.checked("licenses"):
        since = cancelled_on.get((row["npn"], row["for_state"]))
        if since is not None and row["id"] not in gone and row["original_issue_date"] >= since:
            yield ("a license issued by a state that cancelled one", row["id"])


def a_licenses_lines_share_its_ce(records: Records) -> Iterable[Any]:
    """Continuing education is tracked per license (the producer's in that state), not per
    line: every line of a license reports the same compliance and credits needed."""
    ce: dict[int, set[tuple[str | None, int | None]]] = defaultdict(set)
    for row in records.all["license_loas"]:
        ce[row["license_id"]].add((row["ce_compliance"], row["ce_credits_needed"]))
    for row in records.checked("license_loas"):
        if len(ce[row["license_id"]]) > 1:
            yield (
                "a line's CE not its license's",
                row["id"],
                sorted(map(str, ce[row["license_id"]])),
            )


def licensed_where_the_class_is(records: Records) -> Iterable[Any]:
    """No license of a class a jurisdiction does not issue (an independent adjuster's in
    Illinois, a title agent's in Iowa) is held there."""
    for row in records.checked("licenses"):
        cls = CLASSES.get(row["license_class"])
        if cls is not None and row["for_state"] in cls.unlicensed_in:
            yield ("a license of a class the state does not issue", row["id"], row["for_state"])


def carriers_appoint_only_whom_they_may(records: Records) -> Iterable[Any]:
    """An appointment is an admitted carrier's, for a producer licensed to sell: none for
    surplus lines (the insurers are not admitted in the state, and appoint no one there),
    none under a consultant's license (a consultant sells nothing)."""
    license_of = _license_of(records)
    for row in records.checked("appointments"):
        lic = license_of(row)
        cls = None if lic is None else CLASSES.get(lic["license_class"])
        if "surplus" in (row["loa_categories"] or "").split(","):
            yield ("a surplus lines appointment", row["id"])
        elif cls is not None and not cls.appointed:
            yield ("an appointment under a license carriers do not appoint under", row["id"])


def regulatory_orders_agree_with_their_disposition(records: Records) -> Iterable[Any]:
    """A regulatory action's fine and length are its disposition's (``Fined`` fines,
    ``Dismissed`` neither fines nor runs, a suspension and a probation run for a time, a
    revocation for none), and a license revoked, suspended, surrendered or denied in a
    state is not in force there, nor is one after (renewed, issued anew or converted)."""
    dispositions = {
        v["regulatory_action_id"]: DISPOSITIONS[v["value"]]
        for v in records.all["regulatory_action_values"]
        if v["type"] == "DISPOSITION" and v["value"] in DISPOSITIONS
    }
    ended = {
        (a["npn"], a["for_state"])
        for a in records.all["regulatory_actions"]
        if not a["nipr_deleted"] and a["id"] in dispositions and dispositions[a["id"]].ends_license
    }
    kinds = {"always": {True}, "never": {False}, "maybe": {True, False}}
    for row in records.checked("regulatory_actions"):
        disposition = dispositions.get(row["id"])
        if disposition is None:
            continue
        if bool(row["penalty_fine_forfeiture"]) not in kinds[disposition.fine]:
            yield ("a fine its disposition does not have", row["id"], disposition.name)
        if bool(row["length_of_order"]) not in kinds[disposition.length]:
            yield ("a length its disposition does not have", row["id"], disposition.name)
    # The licenses changed, and those of the states of the actions changed.
    acted = {(a["npn"], a["for_state"]) for a in records.checked("regulatory_actions")}
    checked = {r["id"] for r in records.checked("licenses")}
    for row in records.all["licenses"]:
        key = (row["npn"], row["for_state"])
        in_force = row["active"] and not row["nipr_deleted"]
        if in_force and key in ended and (row["id"] in checked or key in acted):
            yield ("a license in force where the state revoked, suspended or denied", row["id"])


RULES: tuple[Rule, ...] = (
    license_ended_only_with_its_license,
    deceased_ends_everything,
    appointments_stand_on_a_line_held,
    firms_complete_no_ce,
    nonresident_lines_are_the_home_states,
    nonresident_licenses_rest_on_the_resident_one,
    an_active_license_holds_an_active_line,
    one_home_state,
    names_are_on_record_in_the_home_state,
    a_license_is_updated_once_issued,
    lines_end_with_their_license,
    a_license_lapses_after_its_last_day,
    a_cancelled_license_has_no_renewal_window,
    a_cancelling_state_licenses_no_more,
    a_licenses_lines_share_its_ce,
    licensed_where_the_class_is,
    carriers_appoint_only_whom_they_may,
    regulatory_orders_agree_with_their_disposition,
)


def broken(records: Records) -> list[Any]:
    return [problem for rule in RULES for problem in rule(records)]


def nonresident_licenses_rested_on_the_former_home_one(records: Records) -> Iterable[Any]:
    """A producer who moved held its former home state's license (its first, non-resident
    now) as the resident one until the move: had it lapsed before (the day after its
    expiration date), the non-resident licenses issued on it ended with it (within 30
    days), and none was issued on none.
    Read of a universe, where a producer moved once at most."""
    for (_,), licenses in _by(records.all["licenses"], "npn").items():
        home = next((r for r in licenses if r["residency_status"] == "R"), None)
        if home is None:
            continue
        earlier = [r for r in licenses if r["original_issue_date"] < home["original_issue_date"]]
        if not earlier:
            continue
        former = min(earlier, key=lambda r: (r["original_issue_date"], r["id"]))
        expiration = former["expiration_date"]
        if former["active"] or expiration is None or expiration >= home["original_issue_date"]:
            continue
        ended = lapse_day(expiration)  # in force on its expiration date, its last day
        for row in earlier:
            if row is former or row["nipr_deleted"]:
                continue
            if row["original_issue_date"] >= ended:
                yield ("a non-resident license issued on no resident one", row["id"])
            elif row["active"] or (row["expiration_date"] or ended) > ended + _NR_CANCEL_DAYS:
                yield ("a non-resident license outlived the former home one", row["id"])


def licenses_expire_on_their_anniversary(records: Records) -> Iterable[Any]:
    """A license with a renewal cycle expires on its original issue date's anniversary,
    the 29th, 30th or 31st of a month as any other day (29 February: the 28th in a year
    without one); none is moved to the 28th. Read of a universe, where no license was
    given up early nor renewed from that day."""
    for row in records.all["licenses"]:
        periods = row["renewal_periods"] or {}
        expiration, issued = row["expiration_date"], row["original_issue_date"]
        if periods.get("renewalType") != "RENEWAL_REQUIRED" or expiration is None:
            continue
        on, due = (expiration.month, expiration.day), (issued.month, issued.day)
        if on != due and not (due == (2, 29) and on == (2, 28)):
            yield ("a license expiring off its anniversary", row["id"], issued, expiration)


# --- the universe ----------------------------------------------------------------------------


def _world(seed: int, producers: int) -> Batch:
    merged: Batch = {table: [] for table in TABLES}
    for batch in generate(producers, seed=seed):
        for table, rows in batch.items():
            merged[table].extend(rows)
    return merged


@UNIVERSES
@given(seed=st.integers(0, 2**31), producers=st.integers(1, 300))
def test_a_universe_keeps_every_rule(seed: int, producers: int) -> None:
    records = Records(_world(seed, producers), lambda _: True)
    assert broken(records) == []
    assert list(nonresident_licenses_rested_on_the_former_home_one(records)) == []
    assert list(licenses_expire_on_their_anniversary(records)) == []


# --- the days --------------------------------------------------------------------------------


def _changed_on(snap: Snapshot, day: dt.date) -> Records:
    """The records stamped ``day``, read beside their producers' others: a rule about a
    changed appointment reads its license. Older ones may tell of a past since undone (an
    appointment ended "License Expired" under a license renewed late since)."""
    changed = [row for rows in snap.values() for row in rows.values() if row["updated_at"] == day]
    npns = {row["npn"] for row in changed}
    rows = {name: [r for r in rows.values() if r["npn"] in npns] for name, rows in snap.items()}
    return Records(rows, lambda row: row["updated_at"] == day, day)


def moves_settled_in_time(snap: Snapshot, day: dt.date) -> list[Any]:
    """Every producer's addresses, changed by the run or not, in the state of its resident
    license, or moved there within 90 days (``one_home_state``)."""
    rows = {name: list(rows.values()) for name, rows in snap.items()}
    return list(one_home_state(Records(rows, lambda _: True, day)))


# Written with every change, whatever changed: the ingest that wrote the record, NIPR's
# date of it, the store's stamps and the served document built from the rest.
_BOOKKEEPING = frozenset(
    {"transaction_id", "nipr_date_updated", "created_at", "updated_at", "document"}
)


def _content(row: Row) -> Row:
    return {name: value for name, value in row.items() if name not in _BOOKKEEPING}


def _resident_licenses(snap: Snapshot) -> dict[str, int]:
    """Each producer's resident license as its entity links it: the first NIPR lists."""
    homes: dict[str, int] = {}
    for i, row in sorted(snap["licenses"].items()):
        if row["residency_status"] == "R" and not row["nipr_deleted"]:
            homes.setdefault(row["npn"], i)
    return homes


def stamped_unchanged(before: Snapshot, after: Snapshot, stamp: dt.date) -> list[Any]:
    """Records a run stamped whose content is as it was, and records whose content changed
    not stamped ``stamp``, the run's. A license is changed by a changed line, an action by
    a changed value: the API serves them nested."""
    changed = {
        name: {
            i
            for i, row in rows.items()
            if i not in before[name] or _content(row) != _content(before[name][i])
        }
        for name, rows in after.items()
    }
    for child, parent, column in NESTED:
        changed[parent.name] |= {after[child.name][i][column] for i in changed[child.name]}
    # An entity is served with a link to its resident license: a move changes it.
    homes, moved = _resident_licenses(before), _resident_licenses(after)
    changed["entities"] |= {
        i for i, row in after["entities"].items() if moved.get(row["npn"]) != homes.get(row["npn"])
    }
    problems: list[Any] = []
    for name, rows in after.items():
        for i, row in rows.items():
            if i in changed[name] and row["updated_at"] != stamp:
                problems.append(("changed unstamped", name, i))
            elif i not in changed[name] and row["updated_at"] != before[name][i]["updated_at"]:
                problems.append(("stamped unchanged", name, i))
    return problems


def cancelled(snap: Snapshot) -> set[int]:
    """The licenses a state cancelled (``cancelled_ids``) of a snapshot."""
    return cancelled_ids(snap["licenses"].values(), snap["license_loas"].values())


def cancelled_licenses_stay_ended(before: Snapshot, after: Snapshot) -> list[Any]:
    """A license the state cancelled is not renewed: its holder would apply for a new one
    (a new number and issue date), and a run leaves it inactive."""
    return [
        ("a cancelled license renewed", i)
        for i in cancelled(before)
        if after["licenses"][i]["active"]
    ]


@DAYS
@given(
    universe=st.integers(1, 3),
    seed=st.integers(0, 2**31),
    offsets=st.lists(st.integers(0, 800), min_size=1, max_size=4, unique=True),
)
# A missed day run after a later one: it appointed under a line the later run issued,
# dated before that line was; dated as that run, it renewed a license that run let lapse.
@example(universe=1, seed=0, offsets=[4, 0])
@example(universe=1, seed=0, offsets=[13, 0])
# A phone number changed to itself (one in a hundred): stamped, told changed, unchanged.
@example(universe=2, seed=0, offsets=[0])
# A producer who moved, its previous name on record in the old home state alone.
@example(universe=2, seed=0, offsets=[2])
# A license cancelled with the resident license, renewed as if it had lapsed; a former
# home state's, cancelled on a move, renewed too.
@example(universe=1, seed=0, offsets=[463, 499])
@example(universe=2, seed=1080542040, offsets=[18, 101])
def test_every_day_keeps_every_rule(universe: int, seed: int, offsets: list[int]) -> None:
    """Days anywhere in the universe's first two years (its licenses' dates come), at a
        high churn, in any order (a day missed, run after a later one, reads the store as that
    one left it): every producer a run changed keeps every rule, no license a state
    cancelled is renewed, and what a client syncing ``updatedSince`` is told changed has,
    and nothing else."""
    with (
        tempfile.TemporaryDirectory() as directory,
        universe_store("sqlite", Path(directory), 150, universe) as url,
    ):
        engine = open_store(url)
        try:
            latest = dt.date.min
            after = snapshot(engine)
            for offset in offsets:
                day = DEFAULT_START_DATE + dt.timedelta(days=offset)
                assert run_day(engine, day, churn_rate=0.5, seed=seed).total_changes
                before, after = after, snapshot(engine)
                latest = max(latest, day)  # a day before one run is stamped with that one
                assert broken(_changed_on(after, latest)) == []
                assert stamped_unchanged(before, after, latest) == []
                assert cancelled_licenses_stay_ended(before, after) == []
                assert resident_license_follows_the_move(before, after) == []
                assert moves_settled_in_time(after, latest) == []
        finally:
            engine.dispose()


# --- reproducibility -------------------------------------------------------------------------


def _data(snap: Snapshot) -> Snapshot:
    """The records without their stored documents, whose spacing is each database's."""
    return {
        name: {i: {k: v for k, v in row.items() if k != "document"} for i, row in rows.items()}
        for name, rows in snap.items()
    }


@pytest.mark.postgres
def test_the_same_seed_gives_the_same_days_on_either_backend(tmp_path: Path) -> None:
    """One universe and seed, the same days (one missed, run last): the same records on
    SQLite and PostgreSQL, every id, date and draw."""
    days = [DEFAULT_START_DATE + dt.timedelta(days=n) for n in (3, 400, 1)]
    snaps = []
    for kind in ("sqlite", "postgres"):
        (tmp_path / kind).mkdir()
        with universe_store(kind, tmp_path / kind, 150, 1) as url:
            engine = open_store(url)
            try:
                for day in days:
                    run_day(engine, day, churn_rate=0.5, seed=7)
                snaps.append(_data(snapshot(engine)))
            finally:
                engine.dispose()
    sqlite, postgres = snaps
    assert sum(len(rows) for rows in sqlite.values()) > 3000
    assert sqlite == postgres
