"""The synthetic universe: deterministic, shaped like the store, and plausible."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest
from tests.service.nipr.test_compliance_properties import cancelled_ids

from producersync.model.npn import is_npn
from producersync.model.states import STATE_CODES
from producersync.service.nipr import reference, universe
from producersync.service.nipr.bounds import NPN_LOW
from producersync.service.nipr.fields import lapse_day
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.universe import FIRST_ID, TABLES, Batch, generate
from producersync.service.store import tables

START = universe.DEFAULT_START_DATE
PRODUCERS = 3000


def collect(batches: Any) -> Batch:
    merged: Batch = {table: [] for table in TABLES}
    for batch in batches:
        assert set(batch) == set(TABLES)
        for table, rows in batch.items():
            merged[table].extend(rows)
    return merged


@pytest.fixture(scope="module")
def world() -> Batch:
    return collect(generate(PRODUCERS, seed=5, batch_size=700))


def test_same_seed_same_rows_whatever_the_batch_size() -> None:
    assert collect(generate(300, seed=9, batch_size=300)) == collect(
        generate(300, seed=9, batch_size=7)
    )


def test_different_seed_different_rows() -> None:
    a = collect(generate(200, seed=1))
    b = collect(generate(200, seed=2))
    assert [e["npn"] for e in a["entities"]] != [e["npn"] for e in b["entities"]]
    assert a["licenses"] != b["licenses"]


def test_batches_hold_batch_size_producers() -> None:
    sizes = [len(batch["entities"]) for batch in generate(25, batch_size=10)]
    assert sizes == [10, 10, 5]
    assert list(generate(0)) == []


@pytest.mark.parametrize("producers", [-1, universe.MAX_PRODUCERS + 1])
def test_refuses_impossible_sizes(producers: int) -> None:
    with pytest.raises(ValueError):
        next(generate(producers))


def test_rows_have_exactly_the_tables_columns(world: Batch) -> None:
    for table in tables.RECORD_TABLES:
        assert world[table.name], table.name
        expected = {c.name for c in tables.data_columns(table)}
        for row in world[table.name]:
            assert set(row) == expected, table.name


def test_ids_unique_dense_and_above_the_sandbox(world: Batch) -> None:
    for table in TABLES:
        ids = [row["id"] for row in world[table]]
        assert ids == list(range(FIRST_ID, FIRST_ID + len(ids))), table


def test_npns_valid_unique_and_never_the_sandbox(world: Batch) -> None:
    npns = [row["npn"] for row in world["entities"]]
    assert all(is_npn(npn) for npn in npns)
    assert len(set(npns)) == len(npns)
    assert not set(npns) & set(SANDBOX_NPNS)
    known = set(npns)
    for table in TABLES:
        assert {row["npn"] for row in world[table]} <= known, table


@pytest.mark.parametrize("sandbox_npn", SANDBOX_NPNS)
def test_a_slot_holding_a_sandbox_npn_steps_around_it(sandbox_npn: str) -> None:
    stride = 7
    offset = int(sandbox_npn) - NPN_LOW
    index, position = divmod(offset, stride)
    for u in (position / stride, (position + 0.5) / stride):
        npn = universe._npn(index, stride, u)
        assert npn != sandbox_npn
        assert (int(npn) - NPN_LOW) // stride == index  # still in its own slot


def test_every_licensed_producer_has_exactly_one_resident_license(world: Batch) -> None:
    residents: Counter[str] = Counter()
    licensed = set()
    for lic in world["licenses"]:
        licensed.add(lic["npn"])
        residents[lic["npn"]] += lic["residency_status"] == "R"
    for entity in world["entities"]:
        npn = entity["npn"]
        assert entity["no_licenses"] == (npn not in licensed)
        if npn in licensed:
            assert residents[npn] == 1
    unlicensed = sum(e["no_licenses"] for e in world["entities"])
    assert 0 < unlicensed < PRODUCERS * 0.03


def test_non_resident_licenses_are_in_other_real_states(world: Batch) -> None:
    by_npn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lic in world["licenses"]:
        by_npn[lic["npn"]].append(lic)
    home = {a["npn"]: a["state"] for a in world["addresses"]}
    nr_counts = Counter()
    for npn, held in by_npn.items():
        states = [lic["for_state"] for lic in held]
        assert len(set(states)) == len(states)
        assert set(states) <= STATE_CODES
        resident = next(lic for lic in held if lic["residency_status"] == "R")
        assert resident["for_state"] == home[npn]
        nr = [lic for lic in held if lic["residency_status"] == "NR"]
        assert resident["for_state"] not in {lic["for_state"] for lic in nr}
        assert len(nr) <= 8
        nr_counts[len(nr)] += 1
    # Skewed: most producers hold one to three non-resident licenses.
    assert sum(nr_counts[n] for n in (1, 2, 3)) > 0.5 * len(by_npn)
    assert nr_counts[8] < 0.1 * len(by_npn)


def test_some_producers_moved_from_the_state_of_their_first_license(world: Batch) -> None:
    """A producer who moved holds the former home state's license, non-resident now, from
    before the resident one; the addresses and contacts are the new state's, written no
    earlier than the move. About 1.5 % of producers a year over their careers."""
    licenses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lic in world["licenses"]:
        licenses[lic["npn"]].append(lic)
    moved = {}
    former = {}
    for npn, held in licenses.items():
        resident = next(lic for lic in held if lic["residency_status"] == "R")
        first = min(held, key=lambda lic: (lic["original_issue_date"], lic["id"]))
        if first is not resident:
            moved[npn] = resident
            former[npn] = first
    assert 0.08 * PRODUCERS < len(moved) < 0.25 * PRODUCERS
    # The former home state's license (the first) cancelled while the resident one is in
    # force was cancelled on the move: that day is the one the new home state issued its
    # license, or converted to it the non-resident one held there already (issued before).
    gone = cancelled_ids(world["licenses"], world["license_loas"])
    move_days = {
        npn: lic["expiration_date"]
        for npn, lic in former.items()
        if lic["id"] in gone and lic["expiration_date"] and moved[npn]["active"]
    }
    assert 0.2 * len(moved) < len(move_days) < 0.6 * len(moved)
    issued_then = Counter(
        "on the move" if moved[npn]["original_issue_date"] == day else "converted"
        for npn, day in move_days.items()
        if moved[npn]["original_issue_date"] <= day
    )
    assert sum(issued_then.values()) == len(move_days)
    assert 0.15 < issued_then["converted"] / len(move_days) < 0.45
    # The addresses moved first: the new state issued its license up to 90 days on.
    early = set()
    for table in ("addresses", "contact_infos"):
        for row in world[table]:
            if row["npn"] in moved:
                resident = moved[row["npn"]]
                assert row["for_state"] == resident["for_state"]
                if row["npn"] in move_days:
                    assert row["updated_at"] >= move_days[row["npn"]] - dt.timedelta(days=90)
                    early.add(row["updated_at"] < move_days[row["npn"]])
    assert early == {True, False}


def test_license_dates_and_active_flag_agree(world: Batch) -> None:
    cancelled = cancelled_ids(world["licenses"], world["license_loas"])
    for lic in world["licenses"]:
        periods = lic["renewal_periods"]
        assert set(periods) == {"renewal", "lateRenewal", "reinstatement", "renewalType"}
        expiration = lic["expiration_date"]
        if expiration is None:
            assert periods["renewalType"] == "PERPETUAL"
            continue
        assert lic["original_issue_date"] < expiration
        # In force on its expiration date, its last day, a license lapses the day after:
        # one whose last day is the start's eve is active (the first run decides it). One
        # a state cancelled expired the day it ended.
        ended = expiration if lic["id"] in cancelled else lapse_day(expiration)
        assert lic["active"] == (ended >= START)
        assert periods["renewalType"] in {"RENEWAL_REQUIRED", "NO_RENEWAL_INFORMATION_AVAILABLE"}
        if periods["renewalType"] == "RENEWAL_REQUIRED":
            assert periods["renewal"]["endDate"] == expiration.isoformat()
            assert periods["renewal"]["startDate"] < periods["renewal"]["endDate"]
    share_active = sum(lic["active"] for lic in world["licenses"]) / len(world["licenses"])
    assert 0.75 < share_active < 0.97


def test_license_loas(world: Batch) -> None:
    licenses = {lic["id"]: lic for lic in world["licenses"]}
    per_license = Counter(loa["license_id"] for loa in world["license_loas"])
    assert set(per_license) == set(licenses)
    assert set(per_license.values()) <= {1, 2, 3, 4}
    codes = {loa.code: loa for loa in reference.LOAS.values()}
    for loa in world["license_loas"]:
        parent = licenses[loa["license_id"]]
        assert loa["npn"] == parent["npn"]
        assert loa["for_state"] == parent["for_state"]
        assert codes[loa["loa_code"]].name == loa["loa"]
        assert loa["loa_categories"] == ",".join(codes[loa["loa_code"]].categories)
        assert loa["status"] in {"Active", "Cancelled", "Inactive"}
        assert loa["ce_compliance"] in {
            "EXEMPT",
            "IN COMPLIANCE",
            "N/A",
            "NOT IN COMPLIANCE",
            None,
        }
        if loa["ce_compliance"] == "NOT IN COMPLIANCE":
            assert loa["ce_credits_needed"] > 0
        assert loa["issue_date"] >= parent["original_issue_date"]
        if not parent["active"]:
            assert loa["status"] != "Active"


def test_appointments_are_with_known_carriers_where_licensed(world: Batch) -> None:
    carriers = {c.co_code: c for c in reference.CARRIERS}
    held = {(loa["npn"], loa["for_state"], loa["loa_code"]) for loa in world["license_loas"]}
    per_npn = Counter(a["npn"] for a in world["appointments"])
    assert max(per_npn.values()) <= 12
    for appointment in world["appointments"]:
        assert re.fullmatch(r"[0-9]{5}", appointment["co_code"])
        carrier = carriers[appointment["co_code"]]
        assert appointment["company_name"] == carrier.name
        assert appointment["fein_id"] == carrier.fein
        assert (appointment["npn"], appointment["for_state"], appointment["loa_code"]) in held
        assert appointment["status"] in {"APPOINTED", "TERMINATED"}
        assert (appointment["termination_reason"] is None) == (appointment["status"] == "APPOINTED")
        assert appointment["status_reason_date"] < START


def test_carriers() -> None:
    assert len(reference.CARRIERS) >= 200
    assert len({c.co_code for c in reference.CARRIERS}) == len(reference.CARRIERS)
    assert len({c.name for c in reference.CARRIERS}) == len(reference.CARRIERS)
    for carrier in reference.CARRIERS:
        assert re.fullmatch(r"[0-9]{5}", carrier.co_code)
        assert re.fullmatch(r"[0-9]{2}-[0-9]{7}", carrier.fein)


def test_regulatory_actions_have_a_reason_an_origin_and_a_disposition(world: Batch) -> None:
    actions = world["regulatory_actions"]
    npns = {a["npn"] for a in actions}
    assert 0.005 * PRODUCERS < len(npns) < 0.03 * PRODUCERS
    values: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for value in world["regulatory_action_values"]:
        values[value["regulatory_action_id"]].append(value)
    assert set(values) == {a["id"] for a in actions}
    for action in actions:
        mine = values[action["id"]]
        assert sorted(v["type"] for v in mine) == ["DISPOSITION", "ORIGIN", "REASON"]
        assert all(v["npn"] == action["npn"] for v in mine)
        assert action["action_date"] <= action["enter_date"] < START


def test_entities(world: Batch) -> None:
    entities = world["entities"]
    firms = [e for e in entities if e["type"] == "FIRM"]
    assert 0.04 * PRODUCERS < len(firms) < 0.10 * PRODUCERS
    for entity in entities:
        if entity["type"] == "FIRM":
            assert entity["company_name"]
            assert re.fullmatch(r"[0-9]{2}-[0-9]{7}", entity["fein_id"])
            assert entity["date_of_birth"] is None
            assert entity["first_name"] is entity["last_name"] is None
        else:
            assert entity["type"] == "INDIVIDUAL"
            assert entity["first_name"] and entity["last_name"]
            assert entity["fein_id"] is entity["company_name"] is None
            age = (START - entity["date_of_birth"]).days / 365.25
            assert 18 < age < 100
        update = entity["last_nipr_entity_update"]
        assert update.tzinfo is not None
        assert update.date() == entity["updated_at"]


def test_addresses_contacts_and_other_names(world: Batch) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for address in world["addresses"]:
        assert address["state"] == address["for_state"]
        assert re.fullmatch(r"[0-9]{5}", address["zip"])
        kinds[address["npn"]].add(address["type"])
    for entity in world["entities"]:
        expected = {"BUSINESS", "MAILING"} | (set() if entity["type"] == "FIRM" else {"RESIDENCE"})
        assert kinds[entity["npn"]] == expected
    contacts: dict[str, set[str]] = defaultdict(set)
    for contact in world["contact_infos"]:
        contacts[contact["npn"]].add(contact["type"])
        if contact["type"] == "BUSINESS_EMAIL":
            assert re.fullmatch(
                r"[a-z0-9.]+@[a-z0-9.]+\.example\.[a-z]+|[a-z0-9.]+@example\.[a-z]+",
                contact["value"],
            )
    assert all(
        {"BUSINESS_EMAIL", "BUSINESS_PHONE"} <= contacts[e["npn"]] for e in world["entities"]
    )
    firms = {e["npn"] for e in world["entities"] if e["type"] == "FIRM"}
    for name in world["other_names"]:
        assert (name["type"] == "FIRM_BRANCH") == (name["npn"] in firms)
    assert {n["type"] for n in world["other_names"]} == {"ALIAS", "PREVIOUS", "FIRM_BRANCH"}


def test_record_fields(world: Batch) -> None:
    deleted = total = 0
    for table in TABLES:
        for row in world[table]:
            assert row["created_at"] <= row["updated_at"] < START, table
            assert uuid.UUID(row["transaction_id"]).version == 4
            if table != "entities":
                total += 1
                deleted += row["nipr_deleted"]
    assert not any(e["nipr_deleted"] for e in world["entities"])
    assert 0.005 < deleted / total < 0.02
    for table in ("licenses", "addresses", "contact_infos"):
        for row in world[table]:
            assert row["nipr_date_updated"] <= row["updated_at"]


def test_a_deleted_license_has_its_lines_deleted_too(world: Batch) -> None:
    """NIPR deletes a license with its lines, as a feed's delete and the daily churn do:
    each line was deleted or not on its own, and a deleted license's lines were listed
    live (``includeDeleted=false`` served lines whose license it left out)."""
    deleted = {row["id"] for row in world["licenses"] if row["nipr_deleted"]}
    assert deleted
    live = [
        row["id"]
        for row in world["license_loas"]
        if row["license_id"] in deleted and not row["nipr_deleted"]
    ]
    assert live == []


def test_start_date_moves_everything(world: Batch) -> None:
    start = dt.date(2026, 1, 1)
    later = collect(generate(50, seed=5, start_date=start))
    assert all(row["updated_at"] < start for rows in later.values() for row in rows)
    assert later["licenses"] != world["licenses"][: len(later["licenses"])]
