"""The two producers every sandbox has pre-loaded: NPNs 15645555 and 19855109.

15645555 is "Joe A Producer" (entity id 158583, updated 2025-06-13), as the public quick
start shows it; 19855109 is a firm, so that both entity types can be tried without
subscribing. Ids sit below the generated universe's ids and every date is fixed, so the
records read the same in every store, forever. Values the public documentation uses as
examples (the Denver address, "My Insurance Company", action 13537078) are used here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from producersync.service.store import documents
from producersync.service.store import tables as t
from producersync.service.store.engine import write_transaction

__all__ = ["SANDBOX_NPNS", "ensure_sandbox", "sandbox_rows"]

SANDBOX_NPNS: tuple[str, ...] = ("15645555", "19855109")
_PG_LOCK_ID = 0x53424F58  # "SBOX": an arbitrary constant shared by every process

_JOE, _FIRM = SANDBOX_NPNS
_D = dt.date.fromisoformat
_CREATED = _D("2021-04-04")
_NIPR_UPDATED = _D("2024-12-01")
_TX_JOE = "337f638b-b0dd-4d9f-80f5-29a9158d0286"
_TX_JOE_CONTACT = "ae51f10b-8b5e-40ba-98a9-8f860392b344"
_TX_FIRM = "5d0c2f4e-8a61-4c57-9a0e-3f1b7d2c6e10"

Rows = dict[str, list[dict[str, Any]]]


def _record(npn: str, tx: str, updated: str = "2024-12-02", **fields: Any) -> dict[str, Any]:
    # The entities aside, every sandbox record was last changed on one day.
    return {
        "npn": npn,
        **fields,
        "transaction_id": tx,
        "created_at": _CREATED,
        "updated_at": _D(updated),
        "nipr_deleted": False,
    }


def _renewal(expiration: str) -> dict[str, Any]:
    exp = _D(expiration)

    def day(offset: int) -> str:
        return (exp + dt.timedelta(days=offset)).isoformat()

    return {
        "renewal": {"startDate": day(-90), "endDate": day(0)},
        "lateRenewal": {"startDate": day(1), "endDate": day(90)},
        "reinstatement": {"startDate": day(91), "endDate": day(365)},
        "renewalType": "RENEWAL_REQUIRED",
    }


def _license(
    id_: int,
    npn: str,
    tx: str,
    state: str,
    number: str,
    issued: str,
    expires: str,
    class_: tuple[str, str],
    resident: bool,
    active: bool,
) -> dict[str, Any]:
    return _record(
        npn,
        tx,
        id=id_,
        for_state=state,
        branch_id=None,
        nipr_date_updated=_NIPR_UPDATED,
        license_num=number,
        original_issue_date=_D(issued),
        expiration_date=_D(expires),
        license_class=class_[0],
        license_class_code=class_[1],
        residency_status="R" if resident else "NR",
        active=active,
        agent_types="Producer",
        renewal_periods=_renewal(expires),
    )


_LOA_NAMES = {
    "10": ("Life", "life"),
    "12": ("Property", "property"),
    "13": ("Casualty", "casualty"),
    "14": ("Accident & Health or Sickness", "health"),
}


def _loas(
    first_id: int,
    npn: str,
    tx: str,
    license_id: int,
    state: str,
    issued: str,
    codes: Iterable[str],
    lapsed: str | None = None,
) -> list[dict[str, Any]]:
    return [
        _record(
            npn,
            tx,
            id=first_id + offset,
            for_state=state,
            license_id=license_id,
            loa=_LOA_NAMES[code][0],
            loa_code=code,
            issue_date=_D(issued),
            status="Inactive" if lapsed else "Active",
            status_reason_date=_D(lapsed or issued),
            ce_compliance="N/A" if lapsed else "IN COMPLIANCE",
            ce_credits_needed=0,
            loa_categories=_LOA_NAMES[code][1],
        )
        for offset, code in enumerate(codes)
    ]


def _appointment(
    id_: int,
    npn: str,
    tx: str,
    state: str,
    carrier: tuple[str, str, str],
    code: str,
    status: str,
    since: str,
    reason: str | None = None,
) -> dict[str, Any]:
    return _record(
        npn,
        tx,
        id=id_,
        for_state=state,
        branch_id=None,
        company_name=carrier[0],
        fein_id=carrier[1],
        co_code=carrier[2],
        loa=_LOA_NAMES[code][0],
        loa_code=code,
        status=status,
        status_reason_date=_D(since),
        termination_reason=reason,
        county_code=None,
        loa_categories=_LOA_NAMES[code][1],
    )


def _address(
    id_: int,
    npn: str,
    tx: str,
    kind: str,
    state: str,
    line1: str,
    line2: str | None,
    city: str,
    zip_code: str,
) -> dict[str, Any]:
    return _record(
        npn,
        tx,
        id=id_,
        for_state=state,
        type=kind,
        branch_id=None,
        nipr_date_updated=_NIPR_UPDATED,
        line1=line1,
        line2=line2,
        city=city,
        state=state,
        zip=zip_code,
        country="U.S.A.",
    )


def _contact(id_: int, npn: str, tx: str, kind: str, state: str, value: str) -> dict[str, Any]:
    return _record(
        npn,
        tx,
        id=id_,
        for_state=state,
        type=kind,
        branch_id=None,
        nipr_date_updated=_NIPR_UPDATED,
        value=value,
    )


_MY_INSURANCE = ("My Insurance Company", "41-0417830", "98765")
_SUMMIT_LIFE = ("Front Range Life Insurance Company", "47-2960315", "61524")
_PRODUCER = ("Insurance Producer", "3")
_BUSINESS_ENTITY = ("Business Entity Producer", "1")


def sandbox_rows() -> Rows:
    """The sandbox's records, keyed by table name (the same on every call)."""
    return {
        "entities": [
            _record(
                _JOE,
                _TX_JOE,
                "2025-06-13",
                id=158583,
                type="INDIVIDUAL",
                fein_id=None,
                company_name=None,
                first_name="Joe",
                middle_name="A",
                last_name="Producer",
                date_of_birth=_D("1983-12-15"),
                no_licenses=False,
                subscription_count=0,
                last_nipr_entity_update=dt.datetime(2025, 6, 12, 12, 42, 43, 519662, dt.UTC),
            ),
            _record(
                _FIRM,
                _TX_FIRM,
                "2025-05-20",
                id=158584,
                type="FIRM",
                fein_id="84-3921576",
                company_name="Acme Insurance Group",
                first_name=None,
                middle_name=None,
                last_name=None,
                date_of_birth=None,
                no_licenses=False,
                subscription_count=0,
                last_nipr_entity_update=dt.datetime(2025, 5, 19, 9, 15, 2, 104211, dt.UTC),
            ),
        ],
        "licenses": [
            _license(
                967373,
                _JOE,
                _TX_JOE,
                "CO",
                _JOE,
                "2016-04-22",
                "2026-04-22",
                _PRODUCER,
                resident=True,
                active=True,
            ),
            _license(
                967374,
                _JOE,
                _TX_JOE,
                "AL",
                "897579550",
                "2018-09-10",
                "2026-09-10",
                _PRODUCER,
                resident=False,
                active=True,
            ),
            _license(
                967375,
                _JOE,
                _TX_JOE,
                "TX",
                "2395187",
                "2019-03-01",
                "2027-03-01",
                _PRODUCER,
                resident=False,
                active=True,
            ),
            _license(
                967376,
                _JOE,
                _TX_JOE,
                "AZ",
                _JOE,
                "2016-04-22",
                "2022-04-22",
                _PRODUCER,
                resident=False,
                active=False,
            ),
            _license(
                967377,
                _FIRM,
                _TX_FIRM,
                "TX",
                "2874410",
                "2012-08-01",
                "2026-08-01",
                _BUSINESS_ENTITY,
                resident=True,
                active=True,
            ),
            _license(
                967378,
                _FIRM,
                _TX_FIRM,
                "CO",
                _FIRM,
                "2015-01-15",
                "2027-01-15",
                _BUSINESS_ENTITY,
                resident=False,
                active=True,
            ),
        ],
        "license_loas": [
            *_loas(1234567, _JOE, _TX_JOE, 967373, "CO", "2016-04-22", ("10", "14", "12", "13")),
            *_loas(1234571, _JOE, _TX_JOE, 967374, "AL", "2018-09-10", ("12", "13")),
            *_loas(1234573, _JOE, _TX_JOE, 967375, "TX", "2019-03-01", ("10", "14")),
            *_loas(
                1234575,
                _JOE,
                _TX_JOE,
                967376,
                "AZ",
                "2016-04-22",
                ("10",),
                lapsed="2022-04-22",
            ),
            *_loas(1234576, _FIRM, _TX_FIRM, 967377, "TX", "2012-08-01", ("12", "13")),
            *_loas(1234578, _FIRM, _TX_FIRM, 967378, "CO", "2015-01-15", ("12", "13")),
        ],
        "appointments": [
            _appointment(
                2234567, _JOE, _TX_JOE, "CO", _MY_INSURANCE, "12", "APPOINTED", "2016-05-02"
            ),
            _appointment(
                2234568, _JOE, _TX_JOE, "CO", _MY_INSURANCE, "13", "APPOINTED", "2016-05-02"
            ),
            _appointment(
                2234569, _JOE, _TX_JOE, "CO", _SUMMIT_LIFE, "10", "APPOINTED", "2017-01-09"
            ),
            _appointment(
                2234570,
                _JOE,
                _TX_JOE,
                "AL",
                _MY_INSURANCE,
                "12",
                "TERMINATED",
                "2024-02-29",
                reason="Not for Cause",
            ),
            _appointment(
                2234571, _JOE, _TX_JOE, "TX", _SUMMIT_LIFE, "14", "APPOINTED", "2019-03-15"
            ),
            _appointment(
                2234572, _FIRM, _TX_FIRM, "TX", _MY_INSURANCE, "12", "APPOINTED", "2012-09-04"
            ),
            _appointment(
                2234573, _FIRM, _TX_FIRM, "CO", _MY_INSURANCE, "13", "APPOINTED", "2015-02-02"
            ),
        ],
        "addresses": [
            _address(
                3234567,
                _JOE,
                _TX_JOE_CONTACT,
                "BUSINESS",
                "CO",
                "789 S Washington Ave",
                "Suite 200",
                "Denver",
                "80211",
            ),
            _address(
                3234568,
                _JOE,
                _TX_JOE_CONTACT,
                "MAILING",
                "CO",
                "PO Box 4410",
                None,
                "Denver",
                "80211",
            ),
            _address(
                3234569,
                _JOE,
                _TX_JOE_CONTACT,
                "RESIDENCE",
                "CO",
                "1520 Cedar Ave",
                None,
                "Denver",
                "80220",
            ),
            _address(
                3234570,
                _FIRM,
                _TX_FIRM,
                "BUSINESS",
                "TX",
                "2100 Ross Ave",
                "Suite 1500",
                "Dallas",
                "75201",
            ),
            _address(
                3234571,
                _FIRM,
                _TX_FIRM,
                "MAILING",
                "TX",
                "2100 Ross Ave",
                "Suite 1500",
                "Dallas",
                "75201",
            ),
        ],
        "contact_infos": [
            _contact(
                4234567, _JOE, _TX_JOE_CONTACT, "BUSINESS_EMAIL", "CO", "joe.producer@example.com"
            ),
            _contact(4234568, _JOE, _TX_JOE_CONTACT, "BUSINESS_PHONE", "CO", "303-555-0142"),
            _contact(
                4234569,
                _FIRM,
                _TX_FIRM,
                "BUSINESS_EMAIL",
                "TX",
                "info@acmeinsurancegroup.example.com",
            ),
            _contact(4234570, _FIRM, _TX_FIRM, "BUSINESS_PHONE", "TX", "214-555-0117"),
            _contact(4234571, _FIRM, _TX_FIRM, "FAX", "TX", "214-555-0118"),
        ],
        "other_names": [
            _record(
                _FIRM,
                _TX_FIRM,
                id=5234567,
                for_state="CO",
                type="FIRM_BRANCH",
                branch_id="0001",
                state_co_id="294553",
                name="My Underwriters Inc",
            ),
        ],
        "regulatory_actions": [
            _record(
                _FIRM,
                _TX_FIRM,
                id=6234567,
                for_state="TX",
                action_id="13537078",
                action_date=_D("2017-07-10"),
                effective_date=_D("2017-07-10"),
                enter_date=_D("2018-02-08"),
                penalty_fine_forfeiture=150,
                length_of_order=30,
            ),
        ],
        "regulatory_action_values": [
            _record(
                _FIRM,
                _TX_FIRM,
                id=7234567 + offset,
                regulatory_action_id=6234567,
                type=kind,
                value=value,
            )
            for offset, (kind, value) in enumerate(
                (
                    ("REASON", "Failure to Report Administrative Action"),
                    ("ORIGIN", "Department of Insurance"),
                    ("DISPOSITION", "Fined"),
                )
            )
        ],
    }


def _present(connection: sa.Connection) -> bool:
    query = sa.select(sa.func.count()).select_from(t.entities)
    query = query.where(t.entities.c.npn.in_(SANDBOX_NPNS))
    return connection.execute(query).scalar_one() == len(SANDBOX_NPNS)


def ensure_sandbox(engine: sa.Engine) -> None:
    """Insert the sandbox producers unless present; safe when processes race to do it.
    On PostgreSQL they take turns, on an advisory lock, and each looks again when its
    turn comes: racing, the inserts did nothing but their documents' updates met on the
    same rows in another order, and one of six commands started together on a new store
    failed "deadlock detected" (3 rounds in 15). SQLite's write lock queues them."""
    with engine.connect() as connection:
        if _present(connection):
            return
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    rows = sandbox_rows()
    with write_transaction(engine) as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        if _present(connection):
            return
        for table in t.RECORD_TABLES:
            connection.execute(insert(table).on_conflict_do_nothing(), rows[table.name])
        for table in documents.MATERIALIZED_TABLES:
            documents.refresh(connection, table, (row["id"] for row in rows[table.name]))
