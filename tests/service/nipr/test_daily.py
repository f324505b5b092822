"""The daily NIPR run: churn or a feed file, stamped, announced, once per date."""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.conftest import BACKENDS
from tests.support.cli import error_both_ways, producersync_output
from tests.support.databases import migrated_copy, store_url
from tests.support.documents import stale_documents
from tests.support.processes import cli_together
from tests.support.snippets import ROOT

from producersync.service.nipr import synthetic
from producersync.service.nipr.daily import run_day
from producersync.service.nipr.feed import FeedError, FeedLimits, read_feed
from producersync.service.nipr.loader import load
from producersync.service.nipr.reference import RESIDENT_LICENSE_ENDED
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.synthetic import plan_churn
from producersync.service.nipr.universe import DEFAULT_START_DATE, generate
from producersync.service.store import tables
from producersync.service.store.accounts import create_account
from producersync.service.store.documents import document
from producersync.service.store.open import open_store

pytestmark = pytest.mark.slow(90)

START = DEFAULT_START_DATE  # the universe's, its first day to run
DAY = dt.date(2025, 6, 10)  # after the universe's start: no record carries it yet
ONE = dt.timedelta(days=1)
PRODUCERS = 300
# Days at 30 % churn (seed 11) that move a producer of each kind.
DAYS_OF_MOVES = 5

Snapshot = dict[str, dict[int, dict[str, Any]]]


def _universe(url: str) -> sa.Engine:
    """A small universe and two accounts in the store at ``url``."""
    engine = open_store(url)
    load(engine, generate(PRODUCERS, seed=11))
    with engine.begin() as conn:
        create_account(conn, "carrier-a", sandbox=False)
        create_account(conn, "agency-b", sandbox=False)
    return engine


@pytest.fixture(params=BACKENDS)
def universe_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a store holding a small universe and two accounts, on each backend: a
    copy of one the worker loaded, not a load of 300 producers for each of 24 tests."""
    with migrated_copy(request.param, tmp_path, "universe", _universe) as url:
        yield url


@pytest.fixture
def engine(universe_url: str) -> Iterator[sa.Engine]:
    """An engine on the store at ``universe_url``."""
    engine = open_store(universe_url)
    yield engine
    engine.dispose()


def snapshot(engine: sa.Engine) -> Snapshot:
    with engine.connect() as conn:
        return {
            table.name: {row["id"]: row for row in _dicts(conn.execute(sa.select(table)))}
            for table in tables.RECORD_TABLES
        }


def _dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """Each row as a dict of its columns, their names taken once: ``dict(mapping)`` makes
    them for each row, and a snapshot (a third of this file's CPU) took 95 ms, now 67."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def stamped(snap: Snapshot, day: dt.date) -> dict[str, set[int]]:
    return {
        name: {i for i, row in rows.items() if row["updated_at"] == day}
        for name, rows in snap.items()
    }


def messages(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = sa.select(tables.webhook_messages).order_by(tables.webhook_messages.c.account_id)
        return _dicts(conn.execute(query))


def runs(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(tables.nipr_runs)
        return int(conn.execute(count).scalar_one())


# --- synthetic churn ----------------------------------------------------------------------


def test_churn_stamps_exactly_the_records_it_changes(engine: sa.Engine) -> None:
    before = snapshot(engine)
    run = run_day(engine, DAY, churn_rate=0.3, seed=4)
    after = snapshot(engine)

    assert not run.already_applied
    assert run.source == "synthetic"
    changed = {
        name: {i for i, row in rows.items() if before[name].get(i) != row}
        for name, rows in after.items()
    }
    assert stamped(after, DAY) == changed
    assert run.changes == {name: len(ids) for name, ids in changed.items()}
    # The served documents moved with their records (a changed LOA's license's too).
    with engine.connect() as conn:
        assert stale_documents(conn) == {}
    assert run.total_changes > 100
    # Nothing is removed: NIPR deletions are flags.
    assert all(set(before[name]) <= set(after[name]) for name in before)

    licenses, new_licenses = after["licenses"], changed["licenses"] - set(before["licenses"])
    renewed = [
        i
        for i in changed["licenses"] - new_licenses
        if licenses[i]["expiration_date"] and licenses[i]["active"]
        if licenses[i]["expiration_date"] > before["licenses"][i]["expiration_date"]
    ]
    expired = [
        i
        for i in changed["licenses"] - new_licenses
        if before["licenses"][i]["active"] and not licenses[i]["active"]
    ]
    assert renewed and expired and new_licenses
    movers = moved(before, after)
    for i in new_licenses:
        # A resident one is a move's: test_a_producer_who_moves_takes_a_resident_license...
        assert licenses[i]["residency_status"] == "NR" or licenses[i]["npn"] in movers
        assert licenses[i]["original_issue_date"] == DAY
        loas = [r for r in after["license_loas"].values() if r["license_id"] == i]
        assert loas and all(r["status"] == "Active" and r["updated_at"] == DAY for r in loas)
    for i in expired:
        loas = [
            r
            for r in after["license_loas"].values()
            if r["license_id"] == i and not r["nipr_deleted"]
        ]
        assert all(r["status"] != "Active" for r in loas)

    appointments = after["appointments"]
    new_appointments = changed["appointments"] - set(before["appointments"])
    terminated = [
        i
        for i in changed["appointments"] - new_appointments
        if appointments[i]["status"] == "TERMINATED"
    ]
    assert new_appointments and terminated
    assert all(appointments[i]["status"] == "APPOINTED" for i in new_appointments)
    assert all(appointments[i]["termination_reason"] for i in terminated)
    assert changed["addresses"] and changed["contact_infos"]

    actions = changed["regulatory_actions"]
    kinds = [
        (row["regulatory_action_id"], row["type"])
        for row in after["regulatory_action_values"].values()
        if row["regulatory_action_id"] in actions
    ]
    assert sorted(kinds) == sorted(
        (a, kind) for a in actions for kind in ("REASON", "ORIGIN", "DISPOSITION")
    )


def test_regulatory_actions_come_to_few_producers(engine: sa.Engine) -> None:
    """Departments act on well under 1 % of producers a year: three days on which every
    producer changes (about as many changes as a year at 1 % churn brings 300 producers)
    bring new regulatory actions to 1 % of them at most (the mix gave one in a hundred
    changes: 4.6 % of producers a year at 1 % churn)."""
    before = snapshot(engine)
    for offset in range(3):
        run_day(engine, DAY + offset * ONE, churn_rate=1.0, seed=3)
    after = snapshot(engine)
    new = set(after["regulatory_actions"]) - set(before["regulatory_actions"])
    assert len(new) <= PRODUCERS // 100


def moved(before: Snapshot, after: Snapshot) -> dict[str, tuple[int, int]]:
    """The producers whose resident license changed: their old one and their new one
    (issued, or a non-resident one converted)."""
    new = {
        r["npn"]: i
        for i, r in after["licenses"].items()
        if r["residency_status"] == "R"
        and (i not in before["licenses"] or before["licenses"][i]["residency_status"] != "R")
    }
    return {
        r["npn"]: (i, new[r["npn"]])
        for i, r in before["licenses"].items()
        if r["residency_status"] == "R" and r["npn"] in new
    }


def _lines(snap: Snapshot, license_id: int) -> set[tuple[str, str]]:
    return {
        (r["loa_code"], r["status"])
        for r in snap["license_loas"].values()
        if r["license_id"] == license_id
    }


def test_a_producer_who_moves_takes_a_resident_license_in_the_new_state(
    engine: sa.Engine,
) -> None:
    """A producer moves: the addresses and contacts go to the new state, which 7 to 90
    days on issues a resident license for the old one's lines (dated the day it came, a
    run reaching that day after it: no run of the days between), or converts to it at
    once a non-resident license in force there; the old state keeps that license as a
    non-resident one or cancels it (and the appointments on it), the carriers appoint in
    the new state as in the old, the entity linking the new license: all stamped."""
    outcomes: set[object] = set()
    after = snapshot(engine)
    days = [DAY + n * ONE for n in range(DAYS_OF_MOVES)]
    for day in [*days, days[-1] + 91 * ONE]:
        before = after
        run_day(engine, day, churn_rate=0.3 if day in days else 0, seed=11)
        after = snapshot(engine)
        _moves_of_the_day(engine, before, after, day, outcomes)
    # Kept as a non-resident license, and cancelled; one issued, and one converted.
    assert outcomes == {True, False, "converted", "issued"}


def _moves_of_the_day(
    engine: sa.Engine, before: Snapshot, after: Snapshot, day: dt.date, outcomes: set[object]
) -> None:
    """Check the moves of the run of ``day``; add what became of each old license."""
    changed = stamped(after, day)
    movers = moved(before, after)
    for npn, (old_id, new_id) in movers.items():
        old, new = after["licenses"][old_id], after["licenses"][new_id]
        home, state = before["licenses"][old_id]["for_state"], new["for_state"]
        held = {r["for_state"] for r in before["licenses"].values() if r["npn"] == npn}
        converted = before["licenses"].get(new_id)
        came = new["original_issue_date"]
        if converted is None:
            assert state not in held
            assert new["active"]
            moved_on = {
                r["updated_at"]
                for r in before["addresses"].values()
                if r["npn"] == npn and r["for_state"] == state
            }
            assert len(moved_on) == 1
            assert 7 <= (came - moved_on.pop()).days <= 90
            outcomes.add("issued")
        else:  # a non-resident license in force there, its number and issue date kept
            assert converted["active"] and converted["residency_status"] == "NR"
            assert _fields(new, "license_num", "original_issue_date") == _fields(
                converted, "license_num", "original_issue_date"
            )
            outcomes.add("converted")
        assert new["license_class"] == old["license_class"]
        assert old["residency_status"] == "NR" and {old_id, new_id} <= changed["licenses"]
        codes = {code for code, _ in _lines(after, old_id)}
        assert {(code, "Active") for code in codes} <= _lines(after, new_id)
        was_appointed = [
            r
            for r in before["appointments"].values()
            if (r["npn"], r["for_state"], r["status"]) == (npn, home, "APPOINTED")
        ]
        appointed_there = {
            (r["co_code"], r["loa_code"])
            for r in after["appointments"].values()
            if (r["npn"], r["for_state"], r["status"]) == (npn, state, "APPOINTED")
        }
        assert {(r["co_code"], r["loa_code"]) for r in was_appointed} <= appointed_there
        outcomes.add(old["active"])
        if old["active"]:
            assert _lines(after, old_id) == {(code, "Active") for code in codes}
        else:
            assert old["expiration_date"] in {None, came if converted is None else day}
            assert _lines(after, old_id) == {(code, "Cancelled") for code in codes}
            for r in was_appointed:
                ended = after["appointments"][r["id"]]
                assert ended["status"] == "TERMINATED"
                assert ended["termination_reason"] == RESIDENT_LICENSE_ENDED
        for table in ("addresses", "contact_infos"):
            rows = [r for r in after[table].values() if r["npn"] == npn and not r["nipr_deleted"]]
            assert rows and {r["for_state"] for r in rows} == {state}
            assert converted is None or {r["id"] for r in rows} <= changed[table]
            assert table == "contact_infos" or {r["state"] for r in rows} == {state}
        entity = first_of(after, "entities", npn=npn)
        assert entity["id"] in changed["entities"]
        with engine.connect() as conn:
            served = conn.execute(
                sa.select(document(tables.entities)).where(tables.entities.c.id == entity["id"])
            ).scalar_one()
        links = orjson.loads(served)["links"]
        assert links["residentLicense"]["href"] == f"/v1/licenses/{new_id}"


def test_a_producer_moving_keeps_the_resident_licenses_lines() -> None:
    """While the new state's resident license is to come, no line of the old one is
    cancelled: the new one is for the lines the old holds, and the non-resident licenses
    carry any of them (a line gone would be one they carry, the home state's never)."""
    day = START + 30 * ONE
    record = {"npn": "1234567", "nipr_deleted": False, "updated_at": START}
    lines = [
        {**record, "id": i, "license_id": 1, "for_state": "TX", "loa": loa, "loa_code": code}
        | {"status": "Active", "status_reason_date": START}
        for i, (loa, code) in enumerate((("Life", "10"), ("Health", "11")), 1)
    ]
    records: dict[str, list[dict[str, Any]]] = {
        "licenses": [
            {**record, "id": 1, "for_state": "TX", "residency_status": "R", "active": True}
            | {"license_class": "Insurance Producer", "expiration_date": START + 400 * ONE}
        ],
        "license_loas": lines,
        "addresses": [{**record, "id": 1, "for_state": "CA", "state": "CA", "type": "MAILING"}],
    }
    producer = synthetic._Producer(synthetic._Day(day, {}, 1), "1234567", records, random.Random(1))
    assert producer.pending_move() == ("CA", START)
    assert not producer.loa_cancelled()


def _fields(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[name] for name in names)


def test_a_day_adds_and_cancels_lines_of_authority_on_licenses_held(engine: sa.Engine) -> None:
    """Producers add a line to a license they hold, or have one cancelled while the
    license stays: LOAs changed only with a whole license (new, expired, renewed late)."""
    before = snapshot(engine)
    run_day(engine, DAY, churn_rate=0.6, seed=4)
    after = snapshot(engine)
    old_loas, loas, licenses = before["license_loas"], after["license_loas"], after["licenses"]
    added = [
        row
        for i, row in loas.items()
        if i not in old_loas and row["license_id"] in before["licenses"]
    ]
    # Not those a non-resident license took with it, ended with the resident one.
    ended = {i for i, row in before["licenses"].items() if row["active"] > licenses[i]["active"]}
    cancelled = [
        row
        for i, row in loas.items()
        if i in old_loas and old_loas[i]["status"] == "Active" and row["status"] == "Cancelled"
        if row["license_id"] not in ended
    ]
    assert added and cancelled
    for row in added:
        assert licenses[row["license_id"]]["active"]
        assert (row["status"], row["issue_date"], row["updated_at"]) == ("Active", DAY, DAY)
        carried = {r["loa"] for r in old_loas.values() if r["license_id"] == row["license_id"]}
        assert row["loa"] not in carried
    for row in cancelled:
        license_ = licenses[row["license_id"]]
        assert license_["active"] and license_["updated_at"] == DAY
        assert row["status_reason_date"] == DAY
        appointed_under_it = [
            a
            for a in after["appointments"].values()
            if (a["npn"], a["for_state"], a["loa_code"])
            == (row["npn"], row["for_state"], row["loa_code"])
            and a["status"] == "APPOINTED"
        ]
        assert appointed_under_it == []


def test_a_new_nonresident_license_carries_the_lines_the_resident_license_holds(
    engine: sa.Engine,
) -> None:
    """A non-resident license is issued on an active resident license, with the lines
    active on it: a line cancelled there (or lapsed with it) came back Active on the
    new license, and a lapsed resident license still had non-resident ones issued."""
    before = snapshot(engine)
    run_day(engine, DAY, churn_rate=1, seed=4)
    after = snapshot(engine)
    new = [row for i, row in after["licenses"].items() if i not in before["licenses"]]
    assert new
    for license_ in new:
        resident = first_of(
            before, "licenses", npn=license_["npn"], residency_status="R", nipr_deleted=False
        )
        assert resident["active"], license_
        held = {
            row["loa"]
            for row in before["license_loas"].values()
            if row["license_id"] == resident["id"]
            and row["status"] == "Active"
            and not row["nipr_deleted"]
        }
        lines = [
            r["loa"] for r in after["license_loas"].values() if r["license_id"] == license_["id"]
        ]
        assert lines and set(lines) <= held, (license_["npn"], lines, held)


def incoherent(snap: Snapshot, day: dt.date) -> list[tuple[str, Any]]:
    """Where a producer's live records contradict each other, or the date ``day`` run
    last: one license per state, a line once per license, none issued after its license
    expired, an active license not past its expiration date (in force on it), an
    appointment in force only under a line active on a live, active license in its
    state, and once per carrier, state and line."""
    live = {
        name: [r for r in rows.values() if not r["nipr_deleted"]] for name, rows in snap.items()
    }
    listed = {r["npn"] for r in live["entities"]} - set(SANDBOX_NPNS)
    problems: list[tuple[str, Any]] = []
    licenses = Counter((r["npn"], r["for_state"]) for r in live["licenses"])
    problems += [("two licenses in a state", key) for key, n in licenses.items() if n > 1]
    lines = Counter((r["license_id"], r["loa_code"]) for r in live["license_loas"])
    problems += [("a line twice on a license", key) for key, n in lines.items() if n > 1]
    expiry = {i: r["expiration_date"] for i, r in snap["licenses"].items()}
    problems += [
        ("a line issued after its license expired", r["id"])
        for r in live["license_loas"]
        if expiry[r["license_id"]] and r["issue_date"] > expiry[r["license_id"]]
    ]
    problems += [
        ("active past its expiration date", r["id"])
        for r in live["licenses"]
        if r["active"] and r["expiration_date"] and r["expiration_date"] < day
        if r["npn"] in listed
    ]
    # A line NIPR deleted on its own still reads Active: its appointments may stand.
    in_force = {
        (r["npn"], r["for_state"], r["loa_code"])
        for r in snap["license_loas"].values()
        if r["status"] == "Active"
        and snap["licenses"][r["license_id"]]["active"]
        and not snap["licenses"][r["license_id"]]["nipr_deleted"]
    }
    appointed = [r for r in live["appointments"] if r["status"] == "APPOINTED"]
    problems += [
        ("appointed under no active line", r["id"])
        for r in appointed
        if (r["npn"], r["for_state"], r["loa_code"]) not in in_force
        and r["npn"] not in SANDBOX_NPNS
    ]
    same = Counter((r["npn"], r["co_code"], r["for_state"], r["loa_code"]) for r in appointed)
    problems += [("appointed twice", key) for key, n in same.items() if n > 1]
    return problems


# Seeds whose days, before, gave two licenses in one state (17), a line twice on a
# license (6), an appointment made twice or left in force under a lapsed line (14).
@pytest.mark.parametrize("seed", [6, 14, 17])
def test_a_producers_changes_of_a_day_agree_with_each_other(engine: sa.Engine, seed: int) -> None:
    # A day's second change for a producer read its records as they were before the
    # first, and an expiration ended only the appointments under the license's live lines.
    assert incoherent(snapshot(engine), START - ONE) == []
    for week in range(3):
        day = DAY + dt.timedelta(weeks=week)
        run_day(engine, day, churn_rate=1, seed=seed)
        assert incoherent(snapshot(engine), day) == []


def test_after_a_month_of_daily_runs_no_record_contradicts_another(engine: sa.Engine) -> None:
    # Only the day's sampled producers' licenses expired: most stayed active past their
    # date, and got new lines and appointments there; an active license NIPR deleted
    # left its state's appointments in force.
    for days in range(30):
        day = START + days * ONE
        run_day(engine, day, churn_rate=0.05, seed=3)
        assert incoherent(snapshot(engine), day) == []


def due_licenses(snap: Snapshot, day: dt.date) -> set[int]:
    """The live licenses of the listed producers that are active with an expiration date
    before ``day`` (a license is in force on its date, and lapses the day after)."""
    listed = {r["npn"] for r in snap["entities"].values() if not r["nipr_deleted"]}
    return {
        i
        for i, r in snap["licenses"].items()
        if r["active"] and not r["nipr_deleted"] and r["npn"] in listed - set(SANDBOX_NPNS)
        if r["expiration_date"] and r["expiration_date"] < day
    }


def test_a_license_whose_date_has_come_is_renewed_or_lapses_on_that_run(
    engine: sa.Engine,
) -> None:
    day = START + 90 * ONE  # by then one of them lapses too (seed 11, 300 producers)
    before = snapshot(engine)
    due = due_licenses(before, day)
    run = run_day(engine, day, churn_rate=0)
    after = snapshot(engine)

    assert due
    # Even without churn: whoever holds them, and listed by updatedSince=day (the
    # licenses with their changed LOAs, the appointments they ended, the non-resident
    # licenses a lapsed resident one took with it).
    assert stamped(after, day)["licenses"] == due | ended_with_resident(before, after)
    assert run.events_published == 2
    licenses = after["licenses"]
    renewed = {i for i in due if licenses[i]["active"]}
    lapsed = due - renewed
    assert renewed and lapsed
    for i in renewed:
        was = before["licenses"][i]["expiration_date"]
        # The anniversary, the 29th to 31st included (29 February: the 28th, but in a leap
        # year, whichever the license expired on).
        issued = before["licenses"][i]["original_issue_date"]
        leap_born = (issued.month, issued.day) == (2, 29) and (was.month, was.day) in {
            (2, 28),
            (2, 29),
        }
        on = (29 if calendar.isleap(was.year + 2) else 28) if leap_born else was.day
        two_years_on = was.replace(year=was.year + 2, day=on)
        assert licenses[i]["expiration_date"] == two_years_on
        periods = licenses[i]["renewal_periods"]
        assert periods["renewalType"] == before["licenses"][i]["renewal_periods"]["renewalType"]
        assert periods["renewal"] is None or periods["renewal"]["endDate"] == str(
            licenses[i]["expiration_date"]
        )
    loas = [r for r in after["license_loas"].values() if r["license_id"] in due]
    assert all(r == before["license_loas"][r["id"]] for r in loas if r["license_id"] in renewed)
    assert not [r for r in loas if r["license_id"] in lapsed and r["status"] == "Active"]
    # Ended the day after the license's last day, its expiration date, not on it.
    ended_on = {i: licenses[i]["expiration_date"] + ONE for i in lapsed}
    assert {
        (r["license_id"], r["status_reason_date"])
        for r in loas
        if r["license_id"] in lapsed and before["license_loas"][r["id"]]["status"] == "Active"
    } <= set(ended_on.items())
    ended = {(licenses[i]["npn"], licenses[i]["for_state"]): ended_on[i] for i in lapsed}
    terminated = [
        r
        for r in after["appointments"].values()
        if (r["npn"], r["for_state"]) in ended
        and before["appointments"][r["id"]]["status"] == "APPOINTED"
    ]
    assert terminated
    assert {r["status"] for r in terminated} == {"TERMINATED"}
    assert all(r["status_reason_date"] == ended[(r["npn"], r["for_state"])] for r in terminated)
    assert incoherent(after, day) == []


def test_a_license_is_in_force_on_its_expiration_date_and_lapses_the_day_after(
    engine: sa.Engine,
) -> None:
    """A license's expiration date is its last day, as ``check`` reads it: the run of
    that date leaves it active (lapsed, it was a no on its last day, to the API and to
    ``check`` after the run), and the run of the day after renews it or lets it lapse."""
    before = snapshot(engine)
    lic = min(
        (
            r
            for r in before["licenses"].values()
            if r["residency_status"] == "R" and r["active"] and r["npn"] not in SANDBOX_NPNS
            if r["expiration_date"] and r["expiration_date"] >= START + 90 * ONE
        ),
        key=lambda r: (r["expiration_date"], r["id"]),
    )
    last_day = lic["expiration_date"]

    run_day(engine, last_day, churn_rate=0)
    assert snapshot(engine)["licenses"][lic["id"]] == lic

    run_day(engine, last_day + ONE, churn_rate=0)
    after = snapshot(engine)["licenses"][lic["id"]]
    assert after["updated_at"] == last_day + ONE
    assert after["expiration_date"] > last_day or not after["active"]


def test_a_license_issued_on_29_february_renews_to_the_29th_in_a_leap_year(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Renewed from the 28th it expired on in 2026, a license issued on 29 February
    2020 expires on 29 February 2028, its anniversary, as the universe dates one: it
    kept the 28th for good."""
    before = snapshot(engine)
    npns = sorted({r["npn"] for r in before["licenses"].values() if r["active"]})[:6]
    new = max(before["licenses"]) + 1
    leap_born = {
        "forState": "VT",
        "originalIssueDate": "2020-02-29",
        "expirationDate": "2026-02-28",
        "licenseClass": "Insurance Producer",
        "licenseClassCode": "3",
        "residencyStatus": "NR",
        "active": True,
        "renewalPeriods": {"renewalType": "RENEWAL_REQUIRED"},
    }
    feed = write_feed(
        tmp_path / "leap.jsonl",
        *(
            {"op": "upsert", "type": "licenses", "record": {**leap_born, "id": new + i, "npn": n}}
            for i, n in enumerate(npns)
        ),
    )
    run_day(engine, DAY, feed=feed)

    run_day(engine, dt.date(2026, 3, 1), churn_rate=0)  # the day after its last
    licenses = snapshot(engine)["licenses"]

    renewed = [licenses[new + i] for i in range(len(npns)) if licenses[new + i]["active"]]
    assert renewed
    assert {lic["expiration_date"] for lic in renewed} == {dt.date(2028, 2, 29)}


def ended_with_resident(before: Snapshot, after: Snapshot) -> set[int]:
    """The live non-resident licenses still in force when the resident license of their
    holder lapsed between ``before`` and ``after``."""
    lapsed = {
        r["npn"]: r["expiration_date"]
        for i, r in after["licenses"].items()
        if r["residency_status"] == "R" and before["licenses"][i]["active"] and not r["active"]
    }
    return {
        i
        for i, r in before["licenses"].items()
        if r["residency_status"] == "NR" and r["active"] and not r["nipr_deleted"]
        if r["npn"] in lapsed
        and (r["expiration_date"] is None or r["expiration_date"] > lapsed[r["npn"]])
    }


def test_a_lapsed_resident_license_ends_the_nonresident_ones_in_the_same_run(
    engine: sa.Engine,
) -> None:
    """A non-resident license rests on the resident one: when that lapses, the run that
    lapses it cancels the holder's non-resident licenses in force, their lines and the
    appointments on them, on the day it ended, stamped so updatedSince lists them."""
    day = START + 400 * ONE
    before = snapshot(engine)
    run_day(engine, day, churn_rate=0, seed=1)
    after = snapshot(engine)
    ended = ended_with_resident(before, after)
    assert ended
    changed = stamped(after, day)
    assert ended <= changed["licenses"]
    for i in ended:
        lic = after["licenses"][i]
        resident = first_of(after, "licenses", npn=lic["npn"], residency_status="R")
        on = resident["expiration_date"] + ONE  # it lapsed the day after its last day
        assert not lic["active"]
        assert lic["expiration_date"] in {None, on}
        lines = [r for r in after["license_loas"].values() if r["license_id"] == i]
        assert all(r["status"] != "Active" for r in lines)
        cancelled = [r for r in lines if before["license_loas"][r["id"]]["status"] == "Active"]
        assert {(r["status"], r["status_reason_date"]) for r in cancelled} <= {("Cancelled", on)}
        assert {r["id"] for r in cancelled} <= changed["license_loas"]
        appointments = [
            r
            for r in after["appointments"].values()
            if (r["npn"], r["for_state"]) == (lic["npn"], lic["for_state"])
            and before["appointments"][r["id"]]["status"] == "APPOINTED"
        ]
        for r in appointments:
            assert (r["status"], r["termination_reason"]) == ("TERMINATED", RESIDENT_LICENSE_ENDED)
            assert r["status_reason_date"] == on and r["id"] in changed["appointments"]
    assert not [
        r
        for r in after["licenses"].values()
        if r["residency_status"] == "NR" and r["active"] and not r["nipr_deleted"]
        if not first_of(after, "licenses", npn=r["npn"], residency_status="R")["active"]
    ]


def outcome(snap: Snapshot) -> dict[str, Any]:
    """What the expirations decided: each license's state and dates, and the statuses of
    the lines and appointments that follow it."""
    return {
        "licenses": {
            i: (r["active"], r["expiration_date"], r["renewal_periods"])
            for i, r in snap["licenses"].items()
        },
        "license_loas": {i: r["status"] for i, r in snap["license_loas"].items()},
        "appointments": {i: r["status"] for i, r in snap["appointments"].items()},
    }


def test_any_run_reaching_a_license_date_decides_alike(engine: sa.Engine, tmp_path: Path) -> None:
    """Two stores of one universe: one runs five days in order, the other the last day
    first and the missed ones after it; each license is renewed or lapses alike."""
    days = [START + 10 * ONE * n for n in range(5)]
    (tmp_path / "other").mkdir()
    with store_url("sqlite", tmp_path / "other") as url:
        other = _universe(url)
        for day in days:
            run_day(engine, day, churn_rate=0, seed=8)
        run_day(other, days[-1], churn_rate=0, seed=8)
        missed = [run_day(other, day, churn_rate=0, seed=8).total_changes for day in days[:-1]]
        ours, theirs = snapshot(engine), snapshot(other)
        other.dispose()
    assert due_licenses(ours, days[-1]) == due_licenses(theirs, days[-1]) == set()
    assert missed == [0, 0, 0, 0]  # the first run had reached their licenses' dates
    assert outcome(ours) == outcome(theirs)


def test_a_first_run_years_on_renews_as_the_daily_runs_would_have(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A store first run long after its universe's start (quickstart's and demo's, made
    as of 2025-06-01): every license past its date by more than the late-renewal window
    lapsed, half the store's. Each date a license reached is drawn for, as daily runs
    would have, whichever run reaches it."""
    far = START + dt.timedelta(days=3 * 365)
    before = snapshot(engine)
    due = due_licenses(before, far)
    (tmp_path / "other").mkdir()
    with store_url("sqlite", tmp_path / "other") as url:
        other = _universe(url)
        # Seed 1: a resident license renewed past a non-resident one's date, then lapsing,
        # which must have lapsed at its own date first.
        run_day(other, START + 400 * ONE, churn_rate=0, seed=1)
        run_day(other, far, churn_rate=0, seed=1)
        theirs = snapshot(other)
        other.dispose()
    run_day(engine, far, churn_rate=0, seed=1)
    after = snapshot(engine)

    licenses = after["licenses"]
    renewed = {i for i in due if licenses[i]["active"]}
    assert len(renewed) >= 0.8 * len(due)  # 95 in 100 a cycle, one or two cycles each
    cycles = Counter()
    for i in renewed:
        was, now = before["licenses"][i]["expiration_date"], licenses[i]["expiration_date"]
        assert now >= far > was
        assert (now.year - was.year) % 2 == 0 and now.month == was.month
        cycles[(now.year - was.year) // 2] += 1
    assert cycles[1] and cycles[2]  # some were renewed twice on the way
    assert incoherent(after, far) == []
    assert outcome(after) == outcome(theirs)


def test_a_changed_loa_stamps_its_license(engine: sa.Engine) -> None:
    run_day(engine, DAY, churn_rate=0.3, seed=4)
    after = snapshot(engine)
    stamped_loas = stamped(after, DAY)["license_loas"]
    parents = {after["license_loas"][i]["license_id"] for i in stamped_loas}
    assert parents
    assert parents <= stamped(after, DAY)["licenses"]


def test_same_seed_and_date_same_changes(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        first = plan_churn(conn, DAY, 0.2, 9)
        again = plan_churn(conn, DAY, 0.2, 9)
        other_seed = plan_churn(conn, DAY, 0.2, 10)
        other_day = plan_churn(conn, DAY + dt.timedelta(days=1), 0.2, 9)
    assert first == again
    assert first.updates != other_seed.updates
    assert first.updates != other_day.updates


def test_no_churn_changes_nothing_but_still_announces(engine: sa.Engine) -> None:
    before = snapshot(engine)
    # No license is due yet: every one active expires on the universe's start or later.
    run = run_day(engine, START - ONE, churn_rate=0)
    assert run.total_changes == 0
    assert snapshot(engine) == before
    assert run.events_published == 2


def test_churn_rate_outside_zero_to_one_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="churn_rate"):
        run_day(engine, DAY, churn_rate=1.5)
    assert runs(engine) == 0


# --- publishing and idempotency -------------------------------------------------------------


def test_updates_available_for_every_account(engine: sa.Engine) -> None:
    run = run_day(engine, DAY, churn_rate=0.05, seed=1)

    written = messages(engine)
    assert run.events_published == 2
    with engine.connect() as conn:
        account_ids = sorted(conn.execute(sa.select(tables.accounts.c.id)).scalars())
    assert [m["account_id"] for m in written] == account_ids
    for message in written:
        payload = orjson.loads(message["payload"])
        assert message["event_type"] == "producersync.updates_available"
        assert payload["type"] == "producersync.updates_available"
        assert payload["id"] == message["id"]
        assert payload["data"] == {"runDate": DAY.isoformat()}


def test_a_date_runs_once(engine: sa.Engine) -> None:
    first = run_day(engine, DAY, churn_rate=0.1, seed=2)
    before, published = snapshot(engine), messages(engine)

    again = run_day(engine, DAY, churn_rate=0.5, seed=3)

    assert again.already_applied
    assert again.events_published == 0
    assert again.changes == first.changes
    assert again.source == first.source
    assert snapshot(engine) == before
    assert messages(engine) == published
    assert runs(engine) == 1

    next_day = run_day(engine, DAY + dt.timedelta(days=1), churn_rate=0.1, seed=2)
    assert not next_day.already_applied
    assert next_day.events_published == 2


def test_runs_of_two_dates_at_once_apply_one_after_the_other(
    engine: sa.Engine, universe_url: str, tmp_path: Path
) -> None:
    """Two ``nipr run`` of different dates at once (a scheduled run and an operator's,
    or two missed days caught up): the store ends as if they had run in turn. On
    PostgreSQL each planned from the store as it was before either: both handed out the
    same new ids, and one died of a duplicate key, or the later wrote its changes over
    the other's."""
    days = [DAY, DAY + dt.timedelta(days=1)]
    options = ["--churn-rate", "1", "--seed", "3", "--database", universe_url, "--json"]
    results = cli_together(*(["nipr", "run", "--date", day.isoformat(), *options] for day in days))
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-3000:] for r in results]
    with engine.connect() as conn:
        query = sa.select(tables.nipr_runs.c.run_date).order_by(tables.nipr_runs.c.completed_at)
        order = list(conn.execute(query).scalars())
    assert sorted(order) == days
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    (tmp_path / "in-turn").mkdir()
    # The worker's copy of the same universe: its migrations and load were done once.
    with migrated_copy(kind, tmp_path / "in-turn", "universe", _universe) as url:
        in_turn = open_store(url)
        try:
            for day in order:
                run_day(in_turn, day, churn_rate=1, seed=3)
            assert snapshot(engine) == snapshot(in_turn)
        finally:
            in_turn.dispose()


# --- feed files -------------------------------------------------------------------------------


def write_feed(path: Path, *changes: dict[str, Any]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(change) for change in changes) + b"\n")
    return path


def first_of(snap: Snapshot, table: str, **match: Any) -> dict[str, Any]:
    return next(
        row
        for _, row in sorted(snap[table].items())
        if all(row[key] == value for key, value in match.items())
    )


def test_feed_file_applied(engine: sa.Engine, tmp_path: Path) -> None:
    before = snapshot(engine)
    resident = first_of(before, "licenses", residency_status="R", nipr_deleted=False)
    npn = resident["npn"]
    loa = first_of(before, "license_loas", license_id=resident["id"])
    nonresident = first_of(before, "licenses", residency_status="NR", nipr_deleted=False)
    nonresident_loas = {
        i for i, row in before["license_loas"].items() if row["license_id"] == nonresident["id"]
    }
    appointment = first_of(before, "appointments", nipr_deleted=False)
    new_license = max(before["licenses"]) + 1
    new_loa = max(before["license_loas"]) + 1
    new_entity = max(before["entities"]) + 1
    feed = write_feed(
        tmp_path / "2025-06-10.jsonl",
        {
            "op": "upsert",
            "type": "licenses",
            "record": {
                "id": new_license,
                "npn": npn,
                "forState": "VT",
                "licenseNum": "V123",
                "originalIssueDate": "2025-06-10",
                "expirationDate": "2027-06-10",
                "licenseClass": "Insurance Producer",
                "residencyStatus": "NR",
                "active": True,
                "agentTypes": ["Producer"],
                "renewalPeriods": {"renewalType": "PERPETUAL"},
            },
        },
        {
            "op": "upsert",
            "type": "licenseLoas",
            "record": {
                "id": new_loa,
                "npn": npn,
                "licenseId": new_license,
                "loa": "Life",
                "loaCode": "10",
                "status": "Active",
                "loaMapping": {"categories": ["life"]},
            },
        },
        {
            "op": "upsert",
            "type": "licenseLoas",
            "record": {**_wire(loa), "status": "Cancelled", "statusReasonDate": "2025-06-09"},
        },
        {"op": "delete", "type": "appointments", "id": appointment["id"]},
        {"op": "delete", "type": "licenses", "id": nonresident["id"]},
        {
            "op": "upsert",
            "type": "entities",
            "record": {"id": new_entity, "npn": "20999999", "type": "FIRM", "companyName": "X"},
        },
    )

    run = run_day(engine, DAY, feed=feed)
    after = snapshot(engine)

    assert run.source == "2025-06-10.jsonl"
    assert run.events_published == 2
    added = after["licenses"][new_license]
    assert added["agent_types"] == "Producer"
    assert added["created_at"] == added["updated_at"] == DAY
    assert after["license_loas"][new_loa]["loa_categories"] == "life"
    assert after["license_loas"][loa["id"]]["status"] == "Cancelled"
    assert after["license_loas"][loa["id"]]["created_at"] == loa["created_at"]
    assert after["appointments"][appointment["id"]]["nipr_deleted"]
    assert after["licenses"][nonresident["id"]]["nipr_deleted"]
    assert all(after["license_loas"][i]["nipr_deleted"] for i in nonresident_loas)
    assert after["entities"][new_entity]["subscription_count"] == 0
    # The resident license's LOA changed, so the license reads as changed too.
    assert after["licenses"][resident["id"]]["updated_at"] == DAY
    assert stamped(after, DAY) == {
        "entities": {new_entity},
        "licenses": {new_license, resident["id"], nonresident["id"]},
        "license_loas": {new_loa, loa["id"], *nonresident_loas},
        "appointments": {appointment["id"]},
        "addresses": set(),
        "contact_infos": set(),
        "other_names": set(),
        "regulatory_actions": set(),
        "regulatory_action_values": set(),
    }
    assert run.changes == {name: len(ids) for name, ids in stamped(after, DAY).items()}
    with engine.connect() as conn:
        assert stale_documents(conn) == {}


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """An LOA row as the API serves it (the fields a feed line carries)."""
    return {
        "id": row["id"],
        "npn": row["npn"],
        "forState": row["for_state"],
        "licenseId": row["license_id"],
        "loa": row["loa"],
        "loaCode": row["loa_code"],
        "issueDate": row["issue_date"].isoformat(),
        "status": row["status"],
        "loaMapping": {"categories": row["loa_categories"].split(",")},
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
    }


def test_the_documented_feed_runs_as_a_reader_copies_it(
    universe_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # service.md's example upserted a license of NPN 1234567, which no store holds: copied,
    # it was refused (no producer with NPN 1234567) and changed nothing.
    page = (ROOT / "docs" / "service.md").read_text()
    example = re.search(r"\*\*Feed files\*\*.*?```json\n(.*?)```", page, re.S)
    assert example, "service.md's feed example"
    feed = tmp_path / "feed.jsonl"
    feed.write_text(example.group(1))
    args = ("nipr", "run", "--date", "2025-06-10", "--feed", str(feed), "--database", universe_url)
    code, out, _ = producersync_output(monkeypatch, capsys, *args, "--json")
    assert code == 0, out
    assert orjson.loads(out)["totalChanges"] == len(example.group(1).splitlines())


GOOD = {"op": "delete", "type": "appointments", "id": 10_000_000}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "line 2: not valid JSON"),
        (b"[1, 2]", "line 2: a change must be a JSON object"),
        (b'{"op": "merge", "type": "licenses", "id": 1}', 'line 2, field op: must be "upsert"'),
        (b'{"op": "delete", "type": "licenses"}', "line 2, field id: is required"),
        (b'{"op": "delete", "type": "lics", "id": 1}', "line 2, field type: unknown record type"),
        (
            b'{"op": "delete", "type": "licenses", "id": "7"}',
            "line 2, field id: must be an integer",
        ),
        (
            b'{"op": "upsert", "type": "addresses", "record": {"id": 1, "npn": "12", "zip": 7}}',
            "line 2, field record.zip: must be a string",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12"}}',
            "line 2, field record.active: is required",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "expirationDate": "2025-13-01"}}',
            "line 2, field record.expirationDate: must be a date as YYYY-MM-DD",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "expirationDate": "2027-02-29"}}',
            'line 2, field record.expirationDate: must be a date as YYYY-MM-DD, not "2027-02-29": '
            "day is out of range for month",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "forState": "XX"}}',
            "line 2, field record.forState: must be a state code",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "colour": "red"}}',
            "line 2, field record.colour: unknown field of licenses",
        ),
        (orjson.dumps(GOOD), "line 2, field id: appointments 10000000 already changes on line 1"),
        # Past a BIGINT the driver failed (a traceback); an id of 0 or below was stored,
        # then refused by /v1/{resource}/{id}, and it broke paging.
        (
            b'{"op": "delete", "type": "licenses", "id": 9223372036854775808}',
            "line 2, field id: must be a 64-bit integer, not 9223372036854775808",
        ),
        (
            b'{"op": "upsert", "type": "addresses", "record": {"id": 0, "npn": "12"}}',
            "line 2, field record.id: must be a record id from 1 to 9007199254740991, not 0",
        ),
        # Stored, an id near 2^63 took the next synthetic run past a BIGINT as it numbered
        # new records from the highest id: a traceback on every run from then on.
        (
            b'{"op": "delete", "type": "licenses", "id": 9223372036854775000}',
            "line 2, field id: must be a record id from 1 to 9007199254740991, "
            "not 9223372036854775000",
        ),
        (
            b'{"op": "upsert", "type": "licenseLoas", "record": {"id": 5, "npn": "12", '
            b'"licenseId": 9007199254740992}}',
            "line 2, field record.licenseId: must be a record id from 1 to 9007199254740991, "
            "not 9007199254740992",
        ),
        # Counts and amounts below 0 were stored and served.
        (
            b'{"op": "upsert", "type": "licenseLoas", "record": {"id": 5, "npn": "12", '
            b'"licenseId": 1, "ceCreditsNeeded": -1}}',
            "line 2, field record.ceCreditsNeeded: must be a whole number from 0 to "
            "2147483647, not -1",
        ),
        (
            b'{"op": "upsert", "type": "regulatoryActions", "record": {"id": 5, "npn": "12", '
            b'"penaltyFineForfeiture": -500}}',
            "line 2, field record.penaltyFineForfeiture: must be a whole number from 0",
        ),
        (
            b'{"op": "upsert", "type": "regulatoryActions", "record": {"id": 5, "npn": "12", '
            b'"lengthOfOrder": -2}}',
            "line 2, field record.lengthOfOrder: must be a whole number from 0",
        ),
        # A key given twice: the last silently won, and changed record 2, not 1.
        (
            b'{"op": "delete", "type": "licenses", "id": 1, "id": 2}',
            "line 2, field id: is given twice in one object",
        ),
        (
            b'{"op": "upsert", "type": "addresses", "record": {"id": 1, "npn": "12", '
            b'"city": "Austin", "npn": "13"}}',
            "line 2, field record.npn: is given twice in one object",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "agentTypes": [], "renewalPeriods": {"renewal": '
            b'{"startDate": "2025-06-10", "endDate": "2026-06-10", "startDate": "2025-01-01"}}}}',
            "line 2, field record.renewalPeriods.renewal.startDate: is given twice in one object",
        ),
        # Colons in strings, escapes, a list's object: counted colons left none unseen.
        (
            b'{"op": "delete", "type": "licenses", "at": "10:00:00", "id": 1, "id": 2}',
            "line 2, field id: is given twice in one object",
        ),
        (
            b'{"op": "delete", "type": "li\\u0063enses", "a\\u003a": 1, "id": 1, "id": 2}',
            "line 2, field id: is given twice in one object",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"agentTypes": [{"a": "x:", "a": "y"}]}}',
            "line 2, field record.agentTypes[0].a: is given twice in one object",
        ),
        # Read by orjson, too deep for json's check of the keys: a RecursionError.
        (b"[" * 1000 + b"]" * 1000, "line 2: not a change: JSON nested too deeply"),
        (
            b'{"op": "upsert", "type": "licenseLoas", "record": {"id": 5, "npn": "12", '
            b'"licenseId": -3}}',
            "line 2, field record.licenseId: must be a record id from 1",
        ),
        # A list or an object where a state or an enumerated value goes was a TypeError.
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "forState": ["TX"]}}',
            'line 2, field record.forState: must be a state code (such as TX), not ["TX"]',
        ),
        (
            b'{"op": "upsert", "type": "entities", "record": {"id": 1, "npn": "12", "type": {}}}',
            "line 2, field record.type: must be one of INDIVIDUAL, FIRM, not {}",
        ),
        # PostgreSQL refused the NUL when writing, a traceback; SQLite stored it.
        (
            b'{"op": "upsert", "type": "otherNames", "record": {"id": 1, "npn": "12", '
            b'"name": "A\\u0000B"}}',
            "line 2, field record.name: must not contain a NUL character (\\u0000), "
            'not "A\\u0000B"',
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "agentTypes": ["Pro\\u0000ducer"]}}',
            "line 2, field record.agentTypes: must be a list of strings without commas or NULs",
        ),
        # The contract's vocabularies, which the feed took any string for.
        (
            b'{"op": "upsert", "type": "licenseLoas", "record": {"id": 1, "npn": "12", '
            b'"licenseId": 1, "ceCompliance": "COMPLIANT"}}',
            "line 2, field record.ceCompliance: must be one of EXEMPT, IN COMPLIANCE, N/A, "
            'NOT IN COMPLIANCE, not "COMPLIANT"',
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": '
            b'{"id": 1, "npn": "12", "active": true, "residencyStatus": "Resident"}}',
            'line 2, field record.residencyStatus: must be one of R, NR, not "Resident"',
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "renewalPeriods": {"renewalType": "ANNUAL"}}}',
            "line 2, field record.renewalPeriods: renewalType: must be one of RENEWAL_REQUIRED, "
            'PERPETUAL, NO_RENEWAL_INFORMATION_AVAILABLE, not "ANNUAL"',
        ),
        (
            b'{"op": "upsert", "type": "appointments", "record": {"id": 1, "npn": "12", '
            b'"coCode": "2474"}}',
            'line 2, field record.coCode: must be an NAIC company code of 5 digits, not "2474"',
        ),
        (
            b'{"op": "upsert", "type": "addresses", "record": {"id": 1, "npn": "12", '
            b'"state": "Texas"}}',
            'line 2, field record.state: must be a state code (such as TX), not "Texas"',
        ),
        # Checked by the client's model, stored as given: an unknown key, a date as
        # pydantic reads one (0 is 1970-01-01), a window ending before it starts.
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "renewalPeriods": {"renewal": {"startDate": 0}}}}',
            "line 2, field record.renewalPeriods: renewal.startDate: must be a date as "
            "YYYY-MM-DD, not 0",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "renewalPeriods": {"lateRenewal": {"startDate": "2025-06-10", '
            b'"endDate": "2025-03-12"}}}}',
            "line 2, field record.renewalPeriods: lateRenewal.endDate: 2025-03-12 is before "
            "startDate 2025-06-10",
        ),
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "renewalPeriods": {"grace": null}}}',
            "line 2, field record.renewalPeriods: grace: is not a field of renewalPeriods "
            "(renewal, lateRenewal, reinstatement or renewalType)",
        ),
        # A license expiring before it was issued, and a date standing for none: stored.
        (
            b'{"op": "upsert", "type": "licenses", "record": {"id": 1, "npn": "12", '
            b'"active": true, "originalIssueDate": "2025-06-10", "expirationDate": "2025-06-09"}}',
            "line 2, field record.expirationDate: 2025-06-09 is before originalIssueDate "
            "2025-06-10",
        ),
        (
            b'{"op": "upsert", "type": "entities", "record": {"id": 1, "npn": "12", '
            b'"type": "FIRM", "dateOfBirth": "0001-01-01"}}',
            'line 2, field record.dateOfBirth: must be a date from 1800-01-01 on, not "0001-01-01"',
        ),
        # orjson reads an integer past 64 bits as a float: told as "not an integer".
        (
            b'{"op": "delete", "type": "licenses", "id": 123456789012345678901234567890}',
            "line 2, field id: must be a 64-bit integer, not 1.2345678901234568e+29",
        ),
        # orjson told every bad byte as "str is not valid UTF-8" at column 1.
        (
            b'{"op": "delete", "type": "lic\xffenses", "id": 1}',
            "line 2: not UTF-8 (byte 30 of the line is 0xff)",
        ),
        # Lines are read to their \n: two ending in \r alone (an old Mac's) are one.
        (
            orjson.dumps(GOOD) + b"\r" + orjson.dumps({**GOOD, "id": 7}),
            "line 2: not valid JSON (unexpected content after document: line 1 column 53 (char "
            "52)); a line ends with \\n or \\r\\n, not \\r alone",
        ),
        (
            '{"op": "delete"}'.encode("utf-16-le"),
            "line 2: not valid JSON (byte 2 of the line is NUL: is the file UTF-16?)",
        ),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: bytes, message: str) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(orjson.dumps(GOOD) + b"\n" + line + b"\n")
    with pytest.raises(FeedError) as caught:
        read_feed(path)
    assert str(caught.value).startswith(message)
    assert caught.value.line == 2


def test_dates_a_record_can_hold_are_read(tmp_path: Path) -> None:
    # Issued and expiring the same day; 9999-12-31, which some systems write for "never".
    license = {"npn": "12", "active": True, "originalIssueDate": "2025-06-10"}
    path = write_feed(
        tmp_path / "feed.jsonl",
        {
            "op": "upsert",
            "type": "licenses",
            "record": {**license, "id": 1, "expirationDate": "2025-06-10"},
        },
        {
            "op": "upsert",
            "type": "licenses",
            "record": {**license, "id": 2, "expirationDate": "9999-12-31"},
        },
    )
    read = [line.row["expiration_date"] for line in read_feed(path) if line.row]
    assert read == [DAY, dt.date(9999, 12, 31)]


LIMITS = FeedLimits(max_bytes=200, max_line_bytes=80)
_SIZE = "(setting PRODUCERSYNC_NIPR_FEED_MAX_BYTES)"
_LINE = "the most a line may hold (setting PRODUCERSYNC_NIPR_FEED_MAX_LINE_BYTES)"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            orjson.dumps(GOOD) + b"\n" * 200,
            f"the file is 251 bytes, more than the 200 bytes a feed may hold {_SIZE}",
        ),
        (orjson.dumps(GOOD) + b"\n" + b" " * 81 + b"\n", f"line 2: longer than 80 bytes, {_LINE}"),
        (orjson.dumps(GOOD) + b"\n" + b" " * 81, f"line 2: longer than 80 bytes, {_LINE}"),
        (
            '{"op": "delete"}\n'.encode("utf-16"),
            "line 1: the file is UTF-16 or UTF-32 (a byte order mark), not UTF-8",
        ),
        # Run, it claimed the date for good (a day of no changes), and the day's file
        # given next was told the date had been applied.
        (b"", "the file holds no change (it is empty or blank)"),
        (b"\n \r\n\t\n", "the file holds no change (it is empty or blank)"),
    ],
    ids=["file", "line", "last-line", "utf-16", "empty", "blank"],
)
def test_a_file_read_no_further_than_its_limits(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(content)
    with pytest.raises(FeedError) as caught:
        read_feed(path, LIMITS)
    assert str(caught.value) == message


def test_an_endless_file_is_refused_at_the_limits() -> None:
    # The whole of either was read into memory first: /dev/zero, until the OOM killer.
    with pytest.raises(FeedError) as caught:
        read_feed(Path("/dev/zero"), LIMITS)
    assert str(caught.value) == f"line 1: longer than 80 bytes, {_LINE}"
    read, write = os.pipe()
    try:
        os.write(write, b"\n" * 1000)
        os.close(write)
        with pytest.raises(FeedError) as caught:
            read_feed(Path(f"/dev/fd/{read}"), LIMITS)
    finally:
        os.close(read)
    assert str(caught.value) == (
        f"line 201: the file goes on, more than the 200 bytes a feed may hold {_SIZE}"
    )


def test_a_file_at_its_limits_is_read_with_a_bom_and_crlf(tmp_path: Path) -> None:
    # A byte order mark, as Windows editors write one, was "not valid JSON" (orjson).
    line = orjson.dumps(GOOD).ljust(77)
    other = orjson.dumps({**GOOD, "id": 7}).ljust(80)
    path = tmp_path / "feed.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + line + b"\r\n" + other + b"\r\n" + b"\r\n" * 18)
    assert path.stat().st_size == LIMITS.max_bytes
    assert [(line.number, line.id) for line in read_feed(path, LIMITS)] == [
        (1, 10_000_000),
        (2, 7),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"op": "delete", "type": "appointments", "id": 99_999_999},
            "line 2, field id: no appointments record with id 99999999",
        ),
        (
            {"op": "upsert", "type": "addresses", "record": {"id": 99_999_999, "npn": "4"}},
            "line 2, field record.npn: no producer with NPN 4",
        ),
        (
            {
                "op": "upsert",
                "type": "licenseLoas",
                "record": {"id": 99_999_999, "npn": "15645555", "licenseId": 99_999_999},
            },
            "line 2, field record.licenseId: licenses 99999999: no such record",
        ),
        (
            {
                "op": "upsert",
                "type": "entities",
                "record": {
                    "id": 99_999_999,
                    "npn": "20999999",
                    "type": "INDIVIDUAL",
                    "dateOfBirth": "2025-06-11",
                },
            },
            "line 2, field record.dateOfBirth: 2025-06-11 is after the run's date, 2025-06-10",
        ),
    ],
)
def test_a_line_the_store_refutes_changes_nothing(
    engine: sa.Engine, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    before = snapshot(engine)
    appointment = first_of(before, "appointments", nipr_deleted=False)
    feed = write_feed(
        tmp_path / "feed.jsonl",
        {"op": "delete", "type": "appointments", "id": appointment["id"]},
        change,
    )
    with pytest.raises(FeedError) as caught:
        run_day(engine, DAY, feed=feed)
    assert str(caught.value).startswith(message)
    assert snapshot(engine) == before
    assert messages(engine) == []
    assert runs(engine) == 0


def test_an_empty_feed_leaves_the_date_to_the_days_file(engine: sa.Engine, tmp_path: Path) -> None:
    # An empty file (a download that failed) claimed the date: the day's file, given
    # next, was told it had been applied, exit 0.
    before = snapshot(engine)
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    with pytest.raises(FeedError):
        run_day(engine, DAY, feed=empty)
    assert runs(engine) == 0
    appointment = first_of(before, "appointments", nipr_deleted=False)
    feed = write_feed(
        tmp_path / "feed.jsonl", {"op": "delete", "type": "appointments", "id": appointment["id"]}
    )
    assert run_day(engine, DAY, feed=feed).total_changes == 1
    applied = snapshot(engine)
    again = run_day(engine, DAY, feed=feed)
    assert (again.already_applied, again.total_changes) == (True, 1)
    assert snapshot(engine) == applied


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        # Joined with commas into 200 characters: 206.
        (
            "agentTypes",
            ["Producer"] * 23,
            "must be at most 200 characters joined with commas, not 206",
        ),
        (
            "loaMapping",
            {"categories": ["Producer"] * 23},
            "must be at most 200 characters joined with commas, not 206",
        ),
        # An INTEGER on PostgreSQL, where 64 bits were let through.
        ("ceCreditsNeeded", 2**31, "must be a whole number from 0 to 2147483647, not 2147483648"),
    ],
)
def test_a_value_too_large_for_its_column_changes_nothing(
    engine: sa.Engine, tmp_path: Path, field: str, value: Any, message: str
) -> None:
    # PostgreSQL refused it as the run wrote it, a traceback; SQLite stored it.
    before = snapshot(engine)
    loa = first_of(before, "license_loas", nipr_deleted=False)
    lic = before["licenses"][loa["license_id"]]
    kind, record = (
        ("licenses", {"id": lic["id"], "npn": lic["npn"], "active": True, field: value})
        if field == "agentTypes"
        else ("licenseLoas", {**_wire(loa), field: value})
    )
    feed = write_feed(tmp_path / "feed.jsonl", {"op": "upsert", "type": kind, "record": record})
    with pytest.raises(FeedError) as caught:
        run_day(engine, DAY, feed=feed)
    assert str(caught.value) == f"line 1, field record.{field}: {message}"
    assert snapshot(engine) == before
    assert runs(engine) == 0


def test_two_new_entities_of_one_npn_are_refused(engine: sa.Engine, tmp_path: Path) -> None:
    # The second broke the NPN's unique key when written: a traceback, on either store.
    before = snapshot(engine)
    first = max(before["entities"]) + 1
    feed = write_feed(
        tmp_path / "feed.jsonl",
        {
            "op": "upsert",
            "type": "entities",
            "record": {"id": first, "npn": "20999999", "type": "FIRM"},
        },
        {
            "op": "upsert",
            "type": "entities",
            "record": {"id": first + 1, "npn": "20999999", "type": "FIRM"},
        },
    )
    with pytest.raises(FeedError) as caught:
        run_day(engine, DAY, feed=feed)
    assert str(caught.value) == (
        f"line 2, field record.npn: NPN 20999999 is entity {first} on line 1, not {first + 1}"
    )
    assert snapshot(engine) == before
    assert runs(engine) == 0


# --- the command ---------------------------------------------------------------------------


def test_command_runs_a_day_once(
    universe_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("nipr", "run", "--date", "2025-06-10", "--churn-rate", "0.2", "--seed", "5")

    def ran() -> dict[str, Any]:
        # In this process: test_runs_of_two_dates_at_once_apply_one_after_the_other runs
        # the command as real processes, two at once.
        code, out, err = producersync_output(
            monkeypatch, capsys, *args, "--database", universe_url, "--json"
        )
        assert code == 0, err
        result: dict[str, Any] = orjson.loads(out)
        return result

    first = ran()
    again = ran()

    assert first["runDate"] == "2025-06-10"
    assert first["alreadyApplied"] is False
    assert isinstance(first["totalChanges"], int) and first["totalChanges"] > 0
    assert first["eventsPublished"] == 2  # one for each of the universe's two accounts
    assert again["alreadyApplied"] is True
    assert again["changes"] == first["changes"]
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--database", universe_url)
    assert code == 0, err
    # What to run instead: the demo has run today, the day `nipr run` takes by default.
    assert " ".join(out.split()).endswith(
        "nothing changed, nothing published. A date runs once: another --date runs another "
        "day (one after today with --allow-future)."
    ), out


@pytest.mark.parametrize(
    ("feed", "message"),
    [("missing.jsonl", "No such file or directory"), (".", "Is a directory")],
)
def test_command_refuses_a_feed_it_cannot_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    feed: str,
    message: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    args = ("nipr", "run", "--date", "2025-06-10", "--feed", feed, "--database", url)
    error, err = error_both_ways(monkeypatch, capsys, 2, *args)
    assert error == {
        "field": "--feed",
        "value": feed,
        "message": f"feed {feed}, cannot read the file ({message}); nothing was changed",
    }
    assert err == f"error: {error['message']}\n"


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            {"op": "delete", "type": "regulatoryActions", "id": 1, "padding": "x" * 300},
            f"line 2: longer than 200 bytes, {_LINE}",
        ),
        # Applied, the license took every later synthetic run past a BIGINT (an
        # OverflowError on SQLite) as it numbered new licenses from the highest id.
        (
            {
                "op": "upsert",
                "type": "licenses",
                "record": {"id": 2**63 - 1, "npn": SANDBOX_NPNS[0], "active": True},
            },
            "line 2, field record.id: must be a record id from 1 to 9007199254740991, "
            "not 9223372036854775807",
        ),
    ],
    ids=["long-line", "id-near-2^63"],
)
def test_command_refuses_a_line_changing_nothing(
    universe_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    second: dict[str, Any],
    message: str,
) -> None:
    engine = open_store(universe_url)
    before = snapshot(engine)
    appointment = first_of(before, "appointments", nipr_deleted=False)
    feed = write_feed(
        tmp_path / "feed.jsonl",
        {"op": "delete", "type": "appointments", "id": appointment["id"]},
        second,
    )
    monkeypatch.setenv("PRODUCERSYNC_NIPR_FEED_MAX_LINE_BYTES", "200")
    args = ("nipr", "run", "--date", "2025-06-10", "--feed", str(feed), "--database", universe_url)
    error, _ = error_both_ways(monkeypatch, capsys, 2, *args)
    assert error == {
        "field": "--feed",
        "value": str(feed),
        "message": f"feed {feed}, {message}; nothing was changed",
    }
    assert snapshot(engine) == before
    assert messages(engine) == []
    assert runs(engine) == 0
    engine.dispose()


@contextmanager
def _stdin(monkeypatch: pytest.MonkeyPatch, content: bytes) -> Iterator[None]:
    """Standard input reading ``content`` from a pipe, as a shell's ``|`` gives it."""
    read, write = os.pipe()
    os.write(write, content)  # within the pipe's buffer
    os.close(write)
    with open(read) as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        yield


def test_command_reads_a_feed_from_standard_input(
    universe_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `--feed -` was a file named "-": only /dev/stdin read standard input.
    engine = open_store(universe_url)
    appointment = first_of(snapshot(engine), "appointments", nipr_deleted=False)
    engine.dispose()
    change = orjson.dumps({"op": "delete", "type": "appointments", "id": appointment["id"]})
    args = ("nipr", "run", "--date", "2025-06-10", "--feed", "-", "--database", universe_url)
    with _stdin(monkeypatch, change + b"\n"):
        code, out, _ = producersync_output(monkeypatch, capsys, *args, "--json")
    assert code == 0
    run = orjson.loads(out)
    assert (run["source"], run["totalChanges"]) == ("stdin", 1)


def test_standard_input_is_read_within_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    args = ("nipr", "run", "--date", "2025-06-10", "--feed", "-", "--database", url, "--json")
    monkeypatch.setenv("PRODUCERSYNC_NIPR_FEED_MAX_LINE_BYTES", "100")
    with _stdin(monkeypatch, orjson.dumps(GOOD) + b"\n" + b" " * 101 + b"\n"):
        code, out, _ = producersync_output(monkeypatch, capsys, *args)
    assert code == 2
    assert orjson.loads(out)["error"] == {
        "field": "--feed",
        "value": "-",
        "message": f"feed -, line 2: longer than 100 bytes, {_LINE}; nothing was changed",
    }
    monkeypatch.setenv("PRODUCERSYNC_NIPR_FEED_MAX_BYTES", "200")
    with _stdin(monkeypatch, orjson.dumps(GOOD) + b"\n" * 200):
        code, out, _ = producersync_output(monkeypatch, capsys, *args)
    assert code == 2
    assert orjson.loads(out)["error"]["message"] == (
        "feed -, line 150: the file goes on, more than the 200 bytes a feed may hold "
        f"{_SIZE}; nothing was changed"
    )
