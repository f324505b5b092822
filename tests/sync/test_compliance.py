"""Compliance checks and reports over the mirror, as functions and as commands."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from rich.console import Console

from producersync.cli import check as check_cli
from producersync.model import (
    Appointment,
    License,
    LicenseLoa,
    LoaMapping,
    RegulatoryAction,
    RegulatoryActionValue,
)
from producersync.sync import mirror
from producersync.sync.compliance import (
    Pending,
    UnknownLoa,
    changes,
    check,
    expiring,
    not_covered,
    pending,
    unknown_loa,
)
from producersync.sync.mirror import write_transaction
from producersync.sync.mirror.migrate import VERSION_TABLE
from producersync.sync.mirror.queries import sample_authority
from producersync.sync.mirror.tables import license_loas
from tests.support.cli import (
    error_both_ways,
    producersync,
    producersync_output,
    sync_environment,
)
from tests.support.databases import statements, table_plans
from tests.support.processes import cli
from tests.sync.mirror_data import BACKENDS, fresh_mirror, incompressible, wire

pytestmark = pytest.mark.slow(70)

NPN = "12345678"
GONE = "87654321"  # deactivated
CARRIER = "60483"
ON = dt.date(2026, 1, 15)
AT = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
# The records' updatedAt: before ON, so that their statuses are ON's too.
UPDATED = dt.date(2025, 6, 1)


def _loa(id_: int, loa: str, code: str, category: str, **fields: Any) -> LicenseLoa:
    values: dict[str, Any] = {
        "status": "Active",
        "ce_compliance": "IN COMPLIANCE",
        "updated_at": UPDATED,
        **fields,
    }
    return LicenseLoa(
        id=id_,
        npn=NPN,
        loa=loa,
        loa_code=code,
        loa_mapping=LoaMapping(categories=[category]),
        **values,
    )


def _license(id_: int, state: str, expires: str, *loas: LicenseLoa, **fields: Any) -> License:
    values: dict[str, Any] = {
        "npn": NPN,
        "active": True,
        "license_class": "Insurance Producer",
        "updated_at": UPDATED,
        **fields,
    }
    return License(
        id=id_,
        for_state=state,
        license_num=f"L{id_}",
        expiration_date=dt.date.fromisoformat(expires),
        license_loas=[loa.model_copy(update={"license_id": id_}) for loa in loas],
        **values,
    )


def _appointment(id_: int, co_code: str, loa: str, category: str, status: str) -> Appointment:
    return Appointment(
        id=id_,
        npn=NPN,
        for_state="CA",
        co_code=co_code,
        company_name=f"Carrier {co_code}",
        loa=loa,
        loa_code="10",
        loa_mapping=LoaMapping(categories=[category]),
        status=status,
        termination_reason="Company Terminated" if status == "TERMINATED" else None,
    )


LICENSES = [
    _license(
        1,
        "CA",
        "2026-02-10",
        _loa(11, "Life", "10", "life"),
        _loa(12, "Accident & Health or Sickness", "14", "health", status="Cancelled"),
        _loa(13, "Property", "1", "property", ce_compliance="NOT IN COMPLIANCE"),
    ),
    _license(2, "TX", "2025-12-31", _loa(21, "Life", "10", "life")),
    _license(3, "NY", "2027-06-30", _loa(31, "Life", "10", "life"), nipr_deleted=True),
    _license(4, "FL", "2026-01-20", _loa(41, "Life", "10", "life"), active=False),
    _license(5, "OR", "2026-01-25", _loa(51, "Life", "10", "life"), npn=GONE),
]
APPOINTMENTS = [
    _appointment(101, CARRIER, "Life", "life", "APPOINTED"),
    _appointment(102, "11111", "Life", "life", "TERMINATED"),
    _appointment(103, "22222", "Property", "property", "APPOINTED"),
]


def _dump(records: list[Any]) -> list[dict[str, Any]]:
    return [record.model_dump(mode="json", by_alias=True) for record in records]


def _load(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", _dump(LICENSES))
        mirror.upsert_records(conn, "appointments", _dump(APPOINTMENTS))
        mirror.activate_npns(conn, [NPN, GONE], AT)
        _fetched(conn, [NPN])
        mirror.deactivate_npns(conn, [GONE], AT + dt.timedelta(days=1), purge=False)


def _fetched(conn: sa.Connection, npns: list[str]) -> None:
    """A run that fetched ``npns`` since their activation and finished, as the sync's."""
    run_id = mirror.start_run(conn, "activation")
    mirror.mark_activations_fetched(conn, npns, run_id)
    mirror.finish_run(conn, run_id, {})


@contextlib.contextmanager
def _read_only(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to ``engine`` that cannot write: the module's tests share its mirror,
    loaded once a backend (a mirror a test, copied and loaded, was a third of the file's
    time), and a test that wrote to it would fail instead of changing what others read."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect().execution_options(postgresql_readonly=not sqlite) as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA query_only = ON")
        try:
            yield connection
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA query_only = OFF")


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    with fresh_mirror(request.param, tmp_path_factory.mktemp("loaded")) as engine:
        _load(engine)
        yield engine


@pytest.fixture
def conn(loaded: sa.Engine) -> Iterator[sa.Connection]:
    with _read_only(loaded) as connection:
        yield connection


@pytest.mark.parametrize("loa", ["Life", "life", "LIFE", "10"])
def test_yes_with_an_active_license_loa_and_appointment(conn: sa.Connection, loa: str) -> None:
    verdict = check(conn, NPN, "ca", loa, carrier=CARRIER, on=ON)
    assert verdict.allowed, verdict.reasons
    assert verdict.failed == []
    assert verdict.reasons == [
        f"NPN {NPN} is in the active population",
        "license L1 in CA is active",
        "license L1 in CA is unexpired on 2026-01-15 (expires 2026-02-10)",
        "LOA Life (10) is active",
        "LOA Life (10) CE compliance: IN COMPLIANCE",
        f"appointed with Carrier {CARRIER} ({CARRIER}) in CA for Life",
    ]


def test_yes_without_a_carrier_asks_for_no_appointment(conn: sa.Connection) -> None:
    assert check(conn, NPN, "CA", "Life", on=ON).allowed


def test_a_license_is_good_on_its_expiration_date_and_says_it_is_the_last_day(
    conn: sa.Connection,
) -> None:
    """Was "unexpired on 2026-02-10 (expires 2026-02-10)": a yes its reason seemed to
    contradict."""
    last, after = dt.date(2026, 2, 10), dt.date(2026, 2, 11)
    verdict = check(conn, NPN, "CA", "Life", on=last)
    assert verdict.allowed, verdict.reasons
    assert verdict.reasons[2] == (
        "license L1 in CA is unexpired on 2026-02-10, its last day (expirationDate 2026-02-10)"
    )
    assert check(conn, NPN, "CA", "Life", on=after).failed == [
        "license L1 in CA expired on 2026-02-10 (before 2026-02-11)"
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_npn_whose_records_are_not_fetched_yet_is_no_answer(
    backend: str, tmp_path: Path
) -> None:
    """An NPN activated moments ago, its records not fetched yet, was a no ("holds no
    license in CA ... still being fetched"), exit 1 as for a producer who may not sell.
    Once a fetch since its activation has finished, holding none is NIPR's no."""
    with _mirror_holding(backend, tmp_path, [], [], fetched=False) as engine:
        with engine.connect() as conn:
            verdict = check(conn, NPN, "CA", "Life", on=ON)
            assert (verdict.allowed, verdict.answered, verdict.failed) == (False, False, [])
            assert verdict.unknown == [
                f"NPN {NPN} holds no license in CA the mirror knows of: it holds none of it in "
                "any state, and no fetch of its records since its activation has finished "
                "(see sync status)"
            ]
        with write_transaction(engine) as conn:
            _fetched(conn, [NPN])
        with engine.connect() as conn:
            verdict = check(conn, NPN, "CA", "Life", on=ON)
    assert (verdict.answered, verdict.unknown) == (True, [])
    assert verdict.failed == [f"NPN {NPN} holds no license in any state"]


_FETCHING = ", as far as the mirror knows: no fetch of its records since its activation has "


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("state", "carrier", "missing"),
    [
        ("WA", None, f"NPN {NPN} holds no license in WA"),
        ("CA", "99999", "no appointment with carrier 99999 in CA"),
        ("CA", "22222", "appointed with Carrier 22222 (22222) in CA, but not for 'Life'"),
    ],
    ids=["license", "appointment", "appointment-for-the-loa"],
)
def test_a_record_missing_while_its_fetch_goes_on_is_no_answer(
    backend: str, tmp_path: Path, state: str, carrier: str | None, missing: str
) -> None:
    """Was a no, exit 1, while the NPN's records were still coming: its licenses pages
    written, the license of that state or the carrier's appointments not yet (a fetch
    writes its lists side by side, a page at a time; a storm's, for minutes). Only
    the NPN that held no license at all was no answer then. A record that is there
    answers as it says; once the fetch has finished, the missing one is NIPR's no."""
    with _mirror_holding(
        backend, tmp_path, _dump(LICENSES), _dump(APPOINTMENTS), fetched=False
    ) as engine:
        with engine.connect() as conn:
            verdict = check(conn, NPN, state, "Life", carrier=carrier, on=ON)
            assert (verdict.answered, verdict.failed) == (False, [])
            assert verdict.unknown == [missing + _FETCHING + "finished (see sync status)"]
            # Not the records that are there: an expired license is a no all the same.
            expired = check(conn, NPN, "TX", "Life", carrier=carrier, on=ON)
            assert "license L2 in TX expired on 2025-12-31 (before 2026-01-15)" in expired.failed
        with write_transaction(engine) as conn:
            _fetched(conn, [NPN])
        with engine.connect() as conn:
            verdict = check(conn, NPN, state, "Life", carrier=carrier, on=ON)
    assert (verdict.answered, verdict.unknown, verdict.failed) == (True, [], [missing])


def _fetching_again(again: dt.datetime) -> str:
    return (
        f"NPN {NPN}'s records are being fetched again since its re-activation on "
        f"{again:%Y-%m-%d}: those the mirror holds date from before it, and may have changed "
        "since (see sync status)"
    )


def _subscribed_again(conn: sa.Connection) -> dt.datetime:
    """``NPN``, deactivated after its fetch and subscribed again now, after the records
    the mirror holds were written (as in life): its new activation's time."""
    mirror.deactivate_npns(conn, [NPN], AT + dt.timedelta(days=1), purge=False)
    again = dt.datetime.now(dt.UTC)
    mirror.activate_npns(conn, [NPN], again)
    return again


def _subscribed_again_in(url: str) -> dt.datetime:
    """``_subscribed_again`` in the mirror at ``url``, for a test of the commands."""
    engine = mirror.open_mirror(url)
    try:
        with write_transaction(engine) as conn:
            return _subscribed_again(conn)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_npn_subscribed_again_is_no_answer_until_its_records_are_fetched_again(
    backend: str, tmp_path: Path
) -> None:
    """Subscribed again after a deactivation, an NPN was answered from the records the
    mirror kept from before, not synced while it was not monitored: a license expired
    or an appointment terminated since was a current yes, exit 0. Until a fetch since
    its re-activation finishes, nothing they say is an answer, a no neither (the TX
    license may have been renewed since)."""
    with _mirror_holding(backend, tmp_path, _dump(LICENSES), _dump(APPOINTMENTS)) as engine:
        with write_transaction(engine) as conn:
            again = _subscribed_again(conn)
            run_id = mirror.start_run(conn, "activation")
            mirror.mark_activations_fetched(conn, [NPN], run_id)  # its fetch goes on
        with engine.connect() as conn:
            for state, carrier in (("CA", CARRIER), ("TX", None)):  # a yes, a no, of before
                verdict = check(conn, NPN, state, "Life", carrier=carrier, on=ON)
                assert (verdict.allowed, verdict.answered, verdict.failed) == (False, False, [])
                assert verdict.unknown == [_fetching_again(again)]
                assert verdict.reasons == [
                    f"NPN {NPN} is in the active population",
                    _fetching_again(again),
                ]
        with write_transaction(engine) as conn:
            mirror.finish_run(conn, run_id, {})
        with engine.connect() as conn:
            assert check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON).allowed
            assert not check(conn, NPN, "TX", "Life", on=ON).allowed


def test_an_npn_with_licenses_elsewhere_is_a_no_in_the_state(conn: sa.Connection) -> None:
    verdict = check(conn, NPN, "WA", "Life", on=ON)
    assert verdict.answered
    assert verdict.failed == [f"NPN {NPN} holds no license in WA"]


@pytest.mark.parametrize(
    ("state", "loa", "carrier", "on", "failure"),
    [
        ("WA", "Life", None, ON, f"NPN {NPN} holds no license in WA"),
        ("TX", "Life", None, ON, "license L2 in TX expired on 2025-12-31 (before 2026-01-15)"),
        ("CA", "Life", None, dt.date(2026, 3, 1), "license L1 in CA expired on 2026-02-10"),
        ("FL", "Life", None, ON, "license L4 in FL is not active"),
        ("NY", "Life", None, ON, "license L3 in NY was deleted by NIPR"),
        ("CA", "health", None, ON, "LOA Accident & Health or Sickness (14) is Cancelled"),
        ("CA", "Property", None, ON, "LOA Property (1) CE compliance: NOT IN COMPLIANCE"),
        (
            "CA",
            "Variable Life",
            None,
            ON,
            # What it carries, as asked by another name: it said only what it had not.
            "license L1 has no 'Variable Life' LOA; its LOAs: Life (10) Active, Accident & "
            "Health or Sickness (14) Cancelled, Property (1) Active",
        ),
        ("CA", "Life", "99999", ON, "no appointment with carrier 99999 in CA"),
        ("CA", "Life", "11111", ON, "is TERMINATED (Company Terminated)"),
        (
            "CA",
            "Life",
            "22222",
            ON,
            "appointed with Carrier 22222 (22222) in CA, but not for 'Life'",
        ),
    ],
    ids=[
        "wrong-state",
        "expired",
        "expired-on-date",
        "inactive-license",
        "deleted-license",
        "inactive-loa",
        "ce-failing",
        "no-such-loa",
        "no-appointment",
        "terminated-appointment",
        "appointed-for-another-loa",
    ],
)
def test_no_with_the_failed_condition(
    conn: sa.Connection, state: str, loa: str, carrier: str | None, on: dt.date, failure: str
) -> None:
    verdict = check(conn, NPN, state, loa, carrier=carrier, on=on)
    assert not verdict.allowed
    assert verdict.answered and verdict.unknown == []
    assert len(verdict.failed) == 1, verdict.reasons
    assert failure in verdict.failed[0]
    assert set(verdict.failed) <= set(verdict.reasons)


ISSUED_LATER = dt.date(2026, 6, 1)  # after ON
DATED = [
    _license(
        61, "AZ", "2027-06-30", _loa(611, "Life", "10", "life"), original_issue_date=ISSUED_LATER
    ),
    _license(62, "NV", "2027-06-30", _loa(621, "Life", "10", "life", issue_date=ISSUED_LATER)),
    _license(63, "UT", "2027-06-30", _loa(631, "Life", "10", "life", nipr_deleted=True)),
    _license(64, "CA", "2027-06-30", _loa(641, "Life", "10", "life")),
    # Lapsed, then renewed late: the LOA issued long ago, Active again only since.
    _license(
        65,
        "CO",
        "2027-06-30",
        _loa(
            651,
            "Life",
            "10",
            "life",
            issue_date=dt.date(2004, 1, 21),
            status_reason_date=ISSUED_LATER,
        ),
    ),
    # Statuses that changed after ON: cancelled, made inactive, out of CE compliance.
    _license(
        66,
        "WA",
        "2027-06-30",
        _loa(661, "Life", "10", "life", status="Cancelled", status_reason_date=ISSUED_LATER),
    ),
    _license(
        67,
        "MT",
        "2027-06-30",
        _loa(671, "Life", "10", "life"),
        active=False,
        updated_at=ISSUED_LATER,
    ),
    _license(
        68,
        "ID",
        "2027-06-30",
        _loa(681, "Life", "10", "life", ce_compliance="NOT IN COMPLIANCE", updated_at=ISSUED_LATER),
    ),
]
DATED_APPOINTMENTS = [
    _appointment(161, "33333", "Life", "life", "APPOINTED").model_copy(
        update={"status_reason_date": ISSUED_LATER}
    ),
    # The API's schema describes appointment statuses as "e.g., Active, Terminated".
    _appointment(162, "44444", "Life", "life", "Active"),
    _appointment(163, "66666", "Life", "life", "TERMINATED").model_copy(
        update={"status_reason_date": ISSUED_LATER}
    ),
    # Terminated after ON, and appointed again since.
    _appointment(164, "77777", "Life", "life", "TERMINATED").model_copy(
        update={"status_reason_date": ISSUED_LATER}
    ),
    _appointment(165, "77777", "Life", "life", "APPOINTED").model_copy(
        update={"status_reason_date": dt.date(2026, 7, 1)}
    ),
]


@contextlib.contextmanager
def _holding(
    backend: str, tmp_path: Path, licenses: list[License], appointments: list[Appointment]
) -> Iterator[sa.Connection]:
    """A mirror on ``backend`` holding ``licenses`` and ``appointments`` of the active
    ``NPN``: a connection to it."""
    with _holding_wire(backend, tmp_path, _dump(licenses), _dump(appointments)) as connection:
        yield connection


@contextlib.contextmanager
def _holding_wire(
    backend: str,
    tmp_path: Path,
    licenses: Sequence[dict[str, Any]],
    appointments: Sequence[dict[str, Any]] = (),
) -> Iterator[sa.Connection]:
    """``_holding``, of wire records (which may hold what no model would)."""
    with (
        _mirror_holding(backend, tmp_path, licenses, appointments) as engine,
        engine.connect() as connection,
    ):
        yield connection


@contextlib.contextmanager
def _mirror_holding(
    backend: str,
    directory: Path,
    licenses: Sequence[dict[str, Any]],
    appointments: Sequence[dict[str, Any]],
    *,
    fetched: bool = True,
) -> Iterator[sa.Engine]:
    """A mirror on ``backend`` holding ``licenses`` and ``appointments`` (wire records) of
    the active ``NPN``, and (``fetched``) a finished fetch of them since its activation."""
    with fresh_mirror(backend, directory) as engine:
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", licenses)
            mirror.upsert_records(conn, "appointments", list(appointments))
            mirror.activate_npns(conn, [NPN], AT)
            if fetched:
                _fetched(conn, [NPN])
        yield engine


def _module_mirror(
    name: str, licenses: list[License], appointments: list[Appointment]
) -> Callable[..., Iterator[sa.Engine]]:
    """A module fixture, on each backend: a mirror holding ``licenses`` and
    ``appointments`` of ``NPN``, which the module's tests read through ``_read_only``."""

    @pytest.fixture(scope="module", params=BACKENDS, name=f"{name}_mirror")
    def holding(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[sa.Engine]:
        directory = tmp_path_factory.mktemp(name)
        with _mirror_holding(
            request.param, directory, _dump(licenses), _dump(appointments)
        ) as engine:
            yield engine

    return holding


dated_mirror = _module_mirror("dated", DATED, DATED_APPOINTMENTS)


@pytest.fixture
def dated(dated_mirror: sa.Engine) -> Iterator[sa.Connection]:
    with _read_only(dated_mirror) as connection:
        yield connection


@pytest.mark.parametrize(
    ("state", "carrier", "failure"),
    [
        ("AZ", None, "license L61 in AZ was first issued on 2026-06-01 (after 2026-01-15)"),
        ("NV", None, "LOA Life (10) was issued on 2026-06-01 (after 2026-01-15)"),
        ("CA", "33333", "appointed with Carrier 33333 (33333) in CA only from 2026-06-01"),
        ("CO", None, "LOA Life (10) is active only from 2026-06-01 (after 2026-01-15)"),
    ],
    ids=["license-issued-later", "loa-issued-later", "appointed-later", "loa-active-later"],
)
def test_no_on_a_date_before_the_record_took_effect(
    dated: sa.Connection, state: str, carrier: str | None, failure: str
) -> None:
    """Was a yes: a license, LOA or appointment that did not exist yet on --on, or an
    LOA whose Active status took effect after it (a lapse renewed late)."""
    verdict = check(dated, NPN, state, "Life", carrier=carrier, on=ON)
    assert len(verdict.failed) == 1, verdict.reasons
    assert verdict.failed[0].startswith(failure)
    assert check(dated, NPN, state, "Life", carrier=carrier, on=ISSUED_LATER).allowed


_SINCE_LATER = "the mirror holds no earlier {} to tell the one on 2026-01-15"


@pytest.mark.parametrize(
    ("state", "carrier", "unknown", "no"),
    [
        (
            "WA",
            None,
            "LOA Life (10) is Cancelled since 2026-06-01, after 2026-01-15: "
            + _SINCE_LATER.format("status"),
            "LOA Life (10) is Cancelled",
        ),
        (
            "CA",
            "66666",
            "appointment with Carrier 66666 (66666) in CA for Life is TERMINATED (Company "
            "Terminated) since 2026-06-01, after 2026-01-15: " + _SINCE_LATER.format("status"),
            "appointment with Carrier 66666 (66666) in CA for Life is TERMINATED (Company "
            "Terminated)",
        ),
        (
            "MT",
            None,
            "license L67 in MT is not active now, its record changed on 2026-06-01, after "
            "2026-01-15: " + _SINCE_LATER.format("value"),
            "license L67 in MT is not active",
        ),
        (
            "ID",
            None,
            "LOA Life (10) CE compliance: NOT IN COMPLIANCE now, its record changed on "
            "2026-06-01, after 2026-01-15: " + _SINCE_LATER.format("value"),
            "LOA Life (10) CE compliance: NOT IN COMPLIANCE",
        ),
    ],
    ids=["loa-cancelled-later", "terminated-later", "license-inactive-later", "ce-later"],
)
def test_a_status_that_changed_after_the_date_is_no_answer_on_it(
    dated: sa.Connection, state: str, carrier: str | None, unknown: str, no: str
) -> None:
    """Was a no on a past date, exit 1: an LOA cancelled, an appointment terminated, a
    license made inactive or out of CE compliance after a sale (their status of now, or
    one dated after it), though they may have held on its day; the mirror holds no
    earlier status. On the day of the change, or with the record unchanged since, the
    status is the day's: a no."""
    verdict = check(dated, NPN, state, "Life", carrier=carrier, on=ON)
    assert (verdict.allowed, verdict.answered, verdict.failed) == (False, False, [])
    assert verdict.unknown == [unknown], verdict.reasons
    later = check(dated, NPN, state, "Life", carrier=carrier, on=ISSUED_LATER)
    assert (later.answered, later.failed) == (True, [no])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_status_changed_after_today_is_no_answer_today(backend: str, tmp_path: Path) -> None:
    """Was a no: at 19:30 in New York, 00:30 UTC, NIPR's run of the UTC date had lapsed
    a license whose last day was that day in New York, and check, on today by this
    machine's clock, read its status of now as today's, stamped the day after."""
    today = dt.date.today()
    tomorrow = today + dt.timedelta(days=1)
    lic, _ = _sellable()
    lapsed = {
        **lic,
        "active": False,
        "expirationDate": today.isoformat(),
        "updatedAt": tomorrow.isoformat(),
    }
    with _holding_wire(backend, tmp_path, [lapsed]) as conn:
        verdict = check(conn, NPN, "CA", "Life")
        then = check(conn, NPN, "CA", "Life", on=tomorrow)
    assert (verdict.answered, verdict.failed) == (False, [])
    assert verdict.unknown == [
        f"license L94 in CA is not active now, its record changed on {tomorrow}, after "
        f"{today}: the mirror holds no earlier value to tell the one on {today}"
    ]
    assert (then.answered, then.failed[0]) == (True, "license L94 in CA is not active")


def test_an_appointment_terminated_after_the_date_is_not_hidden_by_one_appointed_since(
    dated: sa.Connection,
) -> None:
    """The re-appointment's "appointed ... only from 2026-07-01" was the answer, a no,
    though the appointment it replaced may have held on the date."""
    verdict = check(dated, NPN, "CA", "Life", carrier="77777", on=ON)
    assert (verdict.answered, verdict.failed) == (False, [])
    assert verdict.unknown == [
        "appointment with Carrier 77777 (77777) in CA for Life is TERMINATED (Company "
        "Terminated) since 2026-06-01, after 2026-01-15: " + _SINCE_LATER.format("status")
    ]
    assert check(dated, NPN, "CA", "Life", carrier="77777", on=dt.date(2026, 7, 1)).allowed


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_appointment_deleted_by_nipr_is_named_as_deleted(backend: str, tmp_path: Path) -> None:
    """Was "no appointment with carrier 60483 in CA", as if it never had one (an LOA
    deleted so is named as deleted)."""
    lic, appointed = _sellable()
    with _holding_wire(backend, tmp_path, [lic], [{**appointed, "niprDeleted": True}]) as conn:
        verdict = check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON)
    assert verdict.failed == [f"{_APPOINTED} was deleted by NIPR"]


def test_an_appointment_the_api_calls_active_is_current(dated: sa.Connection) -> None:
    """Was a no, "appointment ... is Active": only APPOINTED counted."""
    verdict = check(dated, NPN, "CA", "Life", carrier="44444", on=ON)
    assert verdict.allowed, verdict.reasons
    assert verdict.reasons[-1] == "appointed with Carrier 44444 (44444) in CA for Life"


def test_an_loa_deleted_by_nipr_is_named_as_deleted(dated: sa.Connection) -> None:
    """Was "license L63 has no 'Life' LOA", as if it never had one."""
    verdict = check(dated, NPN, "UT", "Life", on=ON)
    assert verdict.failed == ["LOA Life (10) of license L63 was deleted by NIPR"]


VARIABLE_LIFE = "Variable Life and Variable Annuity"
# LOA names that are also categories of other LOAs, as in NIPR's reference data.
NAMED = [
    _license(
        71,
        "IL",
        "2027-06-30",
        _loa(711, "Life", "10", "life", status="Cancelled"),
        _loa(712, VARIABLE_LIFE, "16", "life").model_copy(
            update={"loa_mapping": LoaMapping(categories=["life", "variable"])}
        ),
        _loa(713, "Property", "12", "property"),
    ),
    _license(72, "OH", "2027-06-30", _loa(721, "Personal Lines", "15", "property")),
    _license(73, "IN", "2027-06-30", _loa(731, "Life", "10", "life")),
]
NAMED_APPOINTMENTS = [
    _appointment(171, "55555", VARIABLE_LIFE, "life", "APPOINTED").model_copy(
        update={"for_state": "IN", "loa_code": "16"}
    ),
]


named_mirror = _module_mirror("named", NAMED, NAMED_APPOINTMENTS)


@pytest.fixture
def named(named_mirror: sa.Engine) -> Iterator[sa.Connection]:
    with _read_only(named_mirror) as connection:
        yield connection


@pytest.mark.parametrize(
    ("state", "loa", "carrier", "failure"),
    [
        ("IL", "Life", None, "LOA Life (10) is Cancelled"),
        ("IL", "10", None, "LOA Life (10) is Cancelled"),
        (
            "OH",
            "Property",
            None,
            "license L72 has no 'Property' LOA; its LOAs: Personal Lines (15) Active",
        ),
        (
            "IN",
            "Life",
            "55555",
            "appointed with Carrier 55555 (55555) in IN, but not for 'Life'",
        ),
    ],
    ids=["cancelled-name", "cancelled-code", "category-of-another", "appointed-for-another"],
)
def test_an_loa_name_is_not_taken_for_a_category_of_other_loas(
    named: sa.Connection, state: str, loa: str, carrier: str | None, failure: str
) -> None:
    """Was a yes: "Life" matched the active Variable Life by its category "life",
    "Property" the Personal Lines (category "property"), and an appointment for
    Variable Life counted for Life."""
    verdict = check(named, NPN, state, loa, carrier=carrier, on=ON)
    assert verdict.failed == [failure], verdict.reasons


@pytest.mark.parametrize(
    "loa", ["Accident  &  Health or Sickness", " accident &\thealth OR\nsickness "]
)
def test_an_loa_name_with_other_spacing_is_that_loa(conn: sa.Connection, loa: str) -> None:
    """Was "license L1 has no 'Accident  &  Health or Sickness' LOA", and the command's
    "no LOA named ... in the mirror (did you mean 'Accident & Health or Sickness'?)":
    a name pasted with two spaces between its words was another name."""
    verdict = check(conn, NPN, "CA", loa, on=ON)
    assert verdict.failed == ["LOA Accident & Health or Sickness (14) is Cancelled"]
    assert unknown_loa(conn, loa) is None


@pytest.mark.parametrize("loa", ["variable", " VARIABLE "])
def test_a_word_no_loa_is_named_matches_by_category(named: sa.Connection, loa: str) -> None:
    verdict = check(named, NPN, "IL", loa, on=ON)
    assert verdict.allowed, verdict.reasons
    assert f"LOA {VARIABLE_LIFE} (16) is active" in verdict.reasons


# Licenses where more than one LOA matches, the first of them failing.
SEVERAL = [
    # Two LOAs of the category: the first not in CE compliance, the second in.
    _license(
        91,
        "IL",
        "2027-06-30",
        _loa(911, "Variable Life", "16", "variable", ce_compliance="NOT IN COMPLIANCE"),
        _loa(912, "Variable Annuity", "17", "variable"),
    ),
    # The LOA twice, both active: the first issued after ON, the second long before.
    _license(
        92,
        "OH",
        "2027-06-30",
        _loa(921, "Life", "10", "life", issue_date=ISSUED_LATER),
        _loa(922, "Life", "10", "life", issue_date=dt.date(2004, 1, 21)),
    ),
]


@pytest.mark.parametrize(
    ("state", "loa", "held"),
    [("IL", "variable", "LOA Variable Annuity (17)"), ("OH", "Life", "LOA Life (10)")],
    ids=["category", "duplicate"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_loa_that_holds_is_not_hidden_by_a_failing_one_before_it(
    backend: str, tmp_path: Path, state: str, loa: str, held: str
) -> None:
    """Was a no: of the matching LOAs, the first active one was judged alone."""
    with _holding(backend, tmp_path, SEVERAL, []) as conn:
        verdict = check(conn, NPN, state, loa, on=ON)
    assert verdict.allowed, verdict.reasons
    assert f"{held} is active" in verdict.reasons


def _sellable() -> tuple[dict[str, Any], dict[str, Any]]:
    """A license (CA, Life) and an appointment for it that check says yes to: wire
    records, each with its LOA's, to be spoilt."""
    (lic,) = _dump([_license(94, "CA", "2099-12-31", _loa(941, "Life", "10", "life"))])
    (appointed,) = _dump([_appointment(194, CARRIER, "Life", "life", "APPOINTED")])
    return lic, appointed


def test_a_no_for_want_of_the_loa_names_what_the_license_carries(tmp_path: Path) -> None:
    """ "license L95 has no 'Casualty' LOA" said nothing of what it has: its LOAs not
    niprDeleted, each with its status, or none."""
    held = _dump(
        [
            _license(
                95,
                "CA",
                "2099-12-31",
                _loa(951, "Life", "10", "life", nipr_deleted=True),
                _loa(952, "Property", "12", "property", status="Inactive"),
            ),
            _license(96, "TX", "2099-12-31"),
        ]
    )
    with _holding_wire("sqlite", tmp_path, held) as conn:
        assert check(conn, NPN, "CA", "Casualty", on=ON).failed == [
            "license L95 has no 'Casualty' LOA; its LOAs: Property (12) Inactive"
        ]
        assert check(conn, NPN, "TX", "Casualty", on=ON).failed == [
            "license L96 has no 'Casualty' LOA; it has none"
        ]


_LICENSE = "license L94 in CA"
_APPOINTED = f"appointment with Carrier {CARRIER} ({CARRIER}) in CA for Life"


@pytest.mark.parametrize(
    ("record", "key", "written", "shown", "named"),
    [
        ("license", "expirationDate", "", "''", _LICENSE),
        ("license", "expirationDate", "31/12/2099", "'31/12/2099'", _LICENSE),
        ("license", "expirationDate", 20991231, "20991231", _LICENSE),
        ("license", "niprDeleted", "no", "'no'", _LICENSE),
        ("license", "active", "yes", "'yes'", _LICENSE),
        ("license", "originalIssueDate", "21/01/2004", "'21/01/2004'", _LICENSE),
        ("loa", "niprDeleted", 0, "0", "LOA Life (10)"),
        ("loa", "status", ["Active"], "['Active']", "LOA Life (10)"),
        ("loa", "ceCompliance", 1, "1", "LOA Life (10)"),
        ("loa", "issueDate", "", "''", "LOA Life (10)"),
        ("loa", "statusReasonDate", "2004", "'2004'", "LOA Life (10)"),
        ("appointment", "niprDeleted", "false", "'false'", _APPOINTED),
        ("appointment", "status", 1, "1", _APPOINTED),
        ("appointment", "statusReasonDate", "soon", "'soon'", _APPOINTED),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_field_the_mirror_cannot_read_is_a_no_that_names_it(
    backend: str, tmp_path: Path, record: str, key: str, written: Any, shown: str, named: str
) -> None:
    """Stored NULL (niprDeleted: false) or, for a date without a column of its own,
    read as none, it was a yes: "no expiration date", "not deleted", CE "none reported",
    "issued before"; a license expired upstream passed (an issue date that is no date
    was a ValueError before that). The demonstration's sample authority took it too."""
    lic, appointed = _sellable()
    spoilt = {"license": lic, "loa": lic["licenseLoas"][0], "appointment": appointed}[record]
    spoilt[key] = written
    with _holding_wire(backend, tmp_path, [lic], [appointed]) as conn:
        verdict = check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON)
        sample = sample_authority(conn)
    assert verdict.failed == [f"{named} has an unreadable {key}: {shown}"], verdict.reasons
    assert sample is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_categories_sent_as_text_are_malformed_not_matched_letter_by_letter(
    backend: str, tmp_path: Path
) -> None:
    """The contract's categories are an array of strings: "life" was stored as it came,
    and matched as its letters, "e" a category of the LOA and of its appointment. One
    stored so before is read as none."""
    lic, appointed = _sellable()
    for record in (lic["licenseLoas"][0], appointed):
        record["loaMapping"] = {"categories": "life"}
    with _holding_wire(backend, tmp_path, [lic], [appointed]) as conn:
        assert check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON).allowed
        failed = ["license L94 has no 'e' LOA; its LOAs: Life (10) Active"]
        assert check(conn, NPN, "CA", "e", on=ON).failed == failed
        assert unknown_loa(conn, "e") is not None
        listed = [(m["resource"], m["field"], m["value"]) for m in mirror.malformed_fields(conn)]
        assert sorted(listed) == [
            ("appointments", "loaMapping.categories", "'life'"),
            ("licenseLoas", "loaMapping.categories", "'life'"),
        ]
        conn.execute(sa.update(license_loas).values(categories="life"))
        conn.commit()
        assert not check(conn, NPN, "CA", "e", on=ON).allowed


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sellable_records_those_spoil_are_a_yes(backend: str, tmp_path: Path) -> None:
    lic, appointed = _sellable()
    with _holding_wire(backend, tmp_path, [lic], [appointed]) as conn:
        assert check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON).allowed
        assert sample_authority(conn) == (NPN, "CA", "Life", CARRIER)


@pytest.mark.parametrize(
    ("credits", "ce", "allowed", "said"),
    [
        (12, "IN COMPLIANCE", True, "IN COMPLIANCE (ceCreditsNeeded: 12, for information)"),
        (
            12,
            "NOT IN COMPLIANCE",
            False,
            "NOT IN COMPLIANCE (ceCreditsNeeded: 12, for information)",
        ),
        ("twelve", "EXEMPT", True, "EXEMPT (ceCreditsNeeded: 'twelve', for information)"),
        (0, "IN COMPLIANCE", True, "IN COMPLIANCE"),
        (None, "IN COMPLIANCE", True, "IN COMPLIANCE"),
    ],
    ids=["owed-in-compliance", "owed-not", "text", "zero", "null"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ce_credits_needed_is_shown_for_information_not_a_condition(
    backend: str, tmp_path: Path, credits: Any, ce: str, allowed: bool, said: str
) -> None:
    """ceCreditsNeeded was read nowhere. The contract says only "CE credits required for
    compliance", not that credits owed make an LOA not in compliance (ceCompliance says
    whether it is): the answer is ceCompliance's, and a number not zero is shown in its
    reason."""
    lic, appointed = _sellable()
    lic["licenseLoas"][0].update(ceCreditsNeeded=credits, ceCompliance=ce)
    with _holding_wire(backend, tmp_path, [lic], [appointed]) as conn:
        verdict = check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON)
    assert verdict.allowed is allowed
    assert f"LOA Life (10) CE compliance: {said}" in verdict.reasons


_FEIN_REFUSED = (
    "is a FEIN (feinId), not a coCode: give the carrier's NAIC company code, exactly 5 "
    "digits, as 60483"
)


@pytest.mark.parametrize(
    ("state", "carrier", "refused"),
    [
        ("Ohio", None, "'Ohio' is not a state code, as CA"),
        ("ZZ", None, "'ZZ' is not a state code, as CA"),
        ("CA", "6048", "'6048' is not a coCode: exactly 5 digits, as 60483"),
        ("CA", "ABCDE", "'ABCDE' is not a coCode: exactly 5 digits, as 60483"),
        # Was "not a coCode" alone, to a carrier giving the number it knows itself by.
        ("CA", "41-0417830", f"'41-0417830' {_FEIN_REFUSED}"),
        ("CA", "410417830", f"'410417830' {_FEIN_REFUSED}"),
    ],
)
def test_a_state_or_carrier_that_is_none_asks_nothing(
    conn: sa.Connection, state: str, carrier: str | None, refused: str
) -> None:
    """Was a no ("NPN 12345678 holds no license in OHIO", "no appointment with carrier
    6048"), as sure as a real one; the command refused them, the function did not."""
    with pytest.raises(ValueError, match=f"^{re.escape(refused)}$"):
        check(conn, NPN, state, "Life", carrier=carrier, on=ON)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sample_is_one_check_can_ask(backend: str, tmp_path: Path) -> None:
    """A sellable authority whose coCode check refuses is no sample: the demo's check of
    it would have been a ValueError."""
    lic, appointed = _sellable()
    with _holding_wire(backend, tmp_path, [lic], [{**appointed, "coCode": "6048"}]) as conn:
        assert sample_authority(conn) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_appointment_the_mirror_cannot_read_does_not_hide_one_it_can(
    backend: str, tmp_path: Path
) -> None:
    lic, appointed = _sellable()
    unread = {**copy.deepcopy(appointed), "id": 195, "status": 1}
    with _holding_wire(backend, tmp_path, [lic], [unread, appointed]) as conn:
        assert check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON).allowed


@pytest.mark.parametrize(
    ("ce", "failure"),
    [
        (" NOT IN COMPLIANCE ", "LOA Life (10) CE compliance: NOT IN COMPLIANCE"),
        ("PENDING", "LOA Life (10) CE compliance: 'PENDING', not a value the API defines"),
        ("exempt", None),
        ("N/A", None),
        (None, None),
    ],
    ids=["padded", "undefined", "exempt", "n/a", "none"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ce_compliance_is_one_the_api_defines_as_such(
    backend: str, tmp_path: Path, ce: str | None, failure: str | None
) -> None:
    """Was a yes for every value but NOT IN COMPLIANCE exactly; and the demonstration's
    sample authority is one check says yes to."""
    licenses = [_license(94, "CA", "2099-12-31", _loa(941, "Life", "10", "life", ce_compliance=ce))]
    appointments = [_appointment(194, CARRIER, "Life", "life", "APPOINTED")]
    with _holding(backend, tmp_path, licenses, appointments) as conn:
        verdict = check(conn, NPN, "CA", "Life", carrier=CARRIER, on=ON)
        sample = sample_authority(conn)
    assert verdict.failed == ([] if failure is None else [failure]), verdict.reasons
    assert sample == (None if failure else (NPN, "CA", "Life", CARRIER))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_carrier_or_an_loa_without_a_name_is_named_by_its_code(
    backend: str, tmp_path: Path
) -> None:
    """Was "LOA None (10) is active" and "appointed with None (60483)"."""
    unnamed_loa = _loa(951, "Life", "10", "life").model_copy(update={"loa": None})
    licenses = [_license(95, "CA", "2027-06-30", unnamed_loa)]
    unnamed = _appointment(195, CARRIER, "Life", "life", "APPOINTED")
    appointments = [unnamed.model_copy(update={"company_name": None, "loa": None})]
    with _holding(backend, tmp_path, licenses, appointments) as conn:
        verdict = check(conn, NPN, "CA", "10", carrier=CARRIER, on=ON)
    assert verdict.allowed, verdict.reasons
    assert verdict.reasons[-3:] == [
        "LOA 10 is active",
        "LOA 10 CE compliance: IN COMPLIANCE",
        f"appointed with {CARRIER} in CA for 10",
    ]


@pytest.mark.parametrize(
    ("npn", "state", "unknown"),
    [
        (
            GONE,
            "OR",
            # Its records are in the mirror (not purged), as they were on that day: not a
            # current yes, nor a no.
            f"NPN {GONE} is not monitored since 2025-07-02 (deactivated): the mirror has not "
            "synced its records since",
        ),
        (
            "999",
            "CA",
            "NPN 999 is not in the monitored population: the mirror holds no records of it",
        ),
    ],
    ids=["deactivated", "never-monitored"],
)
def test_an_npn_the_mirror_does_not_monitor_is_no_answer(
    conn: sa.Connection, npn: str, state: str, unknown: str
) -> None:
    """Was a no ("not in the monitored population", and "holds no license in CA" after
    it), exit 1 as for a producer who may not sell: the mirror keeps no records of it to
    answer from."""
    verdict = check(conn, npn, state, "Life", carrier=CARRIER, on=ON)
    assert (verdict.allowed, verdict.answered, verdict.failed) == (False, False, [])
    assert verdict.reasons == verdict.unknown == [unknown]


@pytest.mark.parametrize("given", ["0" + NPN, "00" + NPN])
def test_an_npn_with_leading_zeros_is_that_number(conn: sa.Connection, given: str) -> None:
    """Was another NPN, never monitored: "NPN 012345678 is not in the monitored
    population", a no for a producer the mirror holds, written as a sheet pads it."""
    assert check(conn, given, "CA", "Life", on=ON) == check(conn, NPN, "CA", "Life", on=ON)
    assert check(conn, given, "CA", "Life", on=ON).reasons[0] == (
        f"NPN {NPN} is in the active population"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_records_written_with_leading_zeros_are_the_producer_s(
    backend: str, tmp_path: Path
) -> None:
    """The mirror holds what the API wrote: a record of "0012345678" is NPN 12345678's
    (the contract allows 10 digits), found as a yes, however the NPN is asked."""
    padded = "00" + NPN
    (lic,) = _dump([_license(96, "CA", "2099-12-31", _loa(961, "Life", "10", "life"))])
    (appointed,) = _dump([_appointment(196, CARRIER, "Life", "life", "APPOINTED")])
    lic["npn"] = appointed["npn"] = lic["licenseLoas"][0]["npn"] = padded
    with fresh_mirror(backend, tmp_path) as engine:
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", [lic])
            mirror.upsert_records(conn, "appointments", [appointed])
            mirror.activate_npns(conn, [padded], AT)
        with engine.connect() as conn:
            for asked in (NPN, "0" + NPN, padded):
                verdict = check(conn, asked, "CA", "Life", carrier=CARRIER, on=ON)
                assert verdict.allowed, verdict.reasons


@pytest.mark.parametrize("npn", ["", "abc", "12345678901", "00012345678", "\uff11\uff12\uff13"])
def test_what_is_no_npn_asks_nothing(conn: sa.Connection, npn: str) -> None:
    """Was a no ("NPN abc is not in the monitored population"), as sure as a real one."""
    with pytest.raises(ValueError, match=f"^{npn!r} is not an NPN: 1 to 10 digits"):
        check(conn, npn, "CA", "Life", on=ON)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"npn": int(NPN)}, f"npn takes a str, as '15645555', not int {NPN}"),
        ({"npn": None}, "npn takes a str, as '15645555', not NoneType None"),
        ({"state": 6}, "state takes a str, as 'CA', not int 6"),
        ({"loa": 10}, "loa takes a str, as 'Life', not int 10"),
        ({"carrier": int(CARRIER)}, f"carrier takes a str, as '60483', not int {CARRIER}"),
    ],
    ids=["npn-int", "npn-none", "state", "loa", "carrier"],
)
def test_a_value_not_a_string_is_a_type_error_naming_it(
    conn: sa.Connection, given: dict[str, Any], said: str
) -> None:
    """``check(conn, 15645555, ...)`` failed as "expected string or bytes-like object,
    got 'int'" (a state or a carrier as an int, "'int' object has no attribute 'strip'"),
    naming neither the parameter nor what to pass. An int is not read as its digits, as
    the SDK takes none for an NPN."""
    asked: dict[str, Any] = {"npn": NPN, "state": "CA", "loa": "Life", **given}
    with pytest.raises(TypeError) as raised:
        check(conn, asked.pop("npn"), asked.pop("state"), asked.pop("loa"), **asked, on=ON)
    assert str(raised.value) == said


@pytest.mark.parametrize(
    ("loa", "carrier"), [("", None), ("  ", None), ("Life", ""), ("Life", "\t")]
)
def test_a_blank_loa_or_carrier_asks_nothing(
    conn: sa.Connection, loa: str, carrier: str | None
) -> None:
    with pytest.raises(ValueError, match="is blank"):
        check(conn, NPN, "CA", loa, carrier=carrier, on=ON)


def test_an_loa_no_license_carries_is_told_from_one_the_npn_lacks(conn: sa.Connection) -> None:
    names = ["Accident & Health or Sickness", "Life", "Property"]
    assert unknown_loa(conn, "Bogus") == UnknownLoa("Bogus", names, [])
    assert unknown_loa(conn, "Lfie") == UnknownLoa("Lfie", names, ["Life"])
    for known in ("Life", " LIFE ", "10", "health", "property"):
        assert unknown_loa(conn, known) is None, known


@pytest.mark.parametrize(
    ("loa", "closest"),
    [
        ("Life Insurance", ["Life"]),
        ("property and casualty", ["Property"]),
        ("Life & Health", ["Accident & Health or Sickness", "Life", "health"]),
    ],
)
def test_an_loa_named_longer_or_shorter_is_offered_the_names_sharing_its_words(
    conn: sa.Connection, loa: str, closest: list[str]
) -> None:
    """Was no suggestion for "Life Insurance", no typo of "Life" (the command's error
    listed eight names, then "..."), none for "property and casualty", and only the
    category "health" for "Life & Health". "and", "or", "&" tell no line."""
    names = ["Accident & Health or Sickness", "Life", "Property"]
    assert unknown_loa(conn, loa) == UnknownLoa(loa, names, closest)


def test_an_empty_mirror_knows_no_loa_to_tell_a_typo_by(tmp_path: Path) -> None:
    with fresh_mirror("sqlite", tmp_path) as engine, engine.connect() as conn:
        assert unknown_loa(conn, "Bogus") is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_loa_words_are_walked_through_their_indexes(backend: str, tmp_path: Path) -> None:
    """A no (the typo's look-up) and a check by a category word read the LOA words a
    value at a time through each column's index: they read every license LOA (701,000
    at 100,000 NPNs: 0.4 s on PostgreSQL, a scan on SQLite), a DISTINCT of names, codes
    and categories, and a look-up of the word by lower(loa) or lower(loa_code)."""
    named = [("Life", "10", "life"), ("Variable Life", "16", "variable"), ("Property", "1", "")]
    many = [
        _license(n, "CA", "2027-06-30", _loa(10 * n, *named[n % 3]), npn=f"{NPN if n == 1 else n}")
        for n in range(1, 2001)
    ]
    with _mirror_holding(backend, tmp_path, _dump(many), []) as engine:
        with write_transaction(engine) as conn:
            conn.execute(sa.update(license_loas).where(license_loas.c.id == 30).values(loa=None))
            if backend == "postgres":  # the planner's statistics, as autovacuum would take
                conn.exec_driver_sql("ANALYZE license_loas")
        with table_plans(engine, "license_loas") as plans, engine.connect() as conn:
            assert check(conn, NPN, "CA", "variable", on=ON).allowed
            found = unknown_loa(conn, "Lfie")
    assert found == UnknownLoa("Lfie", ["Life", "Property", "Variable Life"], ["Life"])
    assert plans
    assert not [p for p in plans if not re.search(r"USING (COVERING )?INDEX|Index Cond", p)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_regulatory_actions_are_read_through_their_indexes(
    backend: str, tmp_path: Path
) -> None:
    """A check reads the NPN's regulatory actions in the state, and their values, by
    the NPN's and the action's indexes, not every action of the mirror."""
    actions = [
        _action(n, "CA", "2024-03-01", ("DISPOSITION", "Fined")).model_copy(
            update={"npn": f"{NPN if n == 1 else 40_000_000 + n}"}
        )
        for n in range(1, 2001)
    ]
    with _mirror_holding(backend, tmp_path, _dump(LICENSES[:1]), []) as engine:
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "regulatoryActions", _dump(actions))
            if backend == "postgres":  # the planner's statistics, as autovacuum would take
                conn.exec_driver_sql("ANALYZE regulatory_actions")
                conn.exec_driver_sql("ANALYZE regulatory_action_values")
        with (
            table_plans(engine, "regulatory_actions") as plans,
            table_plans(engine, "regulatory_action_values") as value_plans,
            engine.connect() as conn,
        ):
            verdict = check(conn, NPN, "CA", "Life", on=ON)
    assert [action.id for action in verdict.regulatory_actions] == [1]
    assert plans and value_plans
    indexed = r"USING (COVERING )?INDEX|Index Cond"
    assert not [p for p in [*plans, *value_plans] if not re.search(indexed, p)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("first", [ord("a"), 0x4E00], ids=["ascii", "cjk"])
def test_an_loa_word_longer_than_an_index_entry_is_stored_checked_and_known(
    backend: str, first: int, tmp_path: Path
) -> None:
    """The API bounds no LOA name, code or category, and a PostgreSQL index entry holds
    ~2,700 bytes: a license whose LOA's was longer failed its page on every retry and
    every later sync. Its words are indexed by their beginning and read whole, two that
    begin alike told apart."""
    name, code, category = (incompressible(n, first) for n in (3_000, 5_000, 10_000))
    twin = name[:-1] + chr(first + 1 if name[-1] == chr(first) else first)
    lic = _license(
        1, "CA", "2027-06-30", _loa(11, name, code, category), _loa(12, twin, "10", "life")
    )
    with _holding_wire(backend, tmp_path, _dump([lic])) as conn:
        for loa in (name, twin, code, category, "Life"):
            assert check(conn, NPN, "CA", loa, on=ON).allowed
            assert unknown_loa(conn, loa) is None
        assert not check(conn, NPN, "CA", name[:-1], on=ON).allowed
        assert unknown_loa(conn, "Lfie") == UnknownLoa("Lfie", sorted([name, twin]), ["life"])


def test_expiring_lists_active_licenses_of_the_active_population_soonest_first(
    conn: sa.Connection,
) -> None:
    # L4 is inactive, L5's NPN deactivated, L3 deleted; L2 expired on 2025-12-31 but is
    # still active: overdue, first.
    assert [lic.id for lic in expiring(conn, 30, today=ON)] == [2, 1]
    assert [lic.id for lic in expiring(conn, 600, today=dt.date(2025, 12, 1))] == [2, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_expiring_lists_the_licenses_expired_but_still_active_first(
    backend: str, tmp_path: Path
) -> None:
    """A license past its expirationDate that the mirror still holds active (NIPR has not
    lapsed it yet) was left out: a producer selling on an expired license, the row a
    compliance officer most needs. Neither an inactive, a deleted one nor one of an NPN
    out of the population is listed; the window's days stay today to today + N."""
    dated = {**_sellable()[0], "licenseLoas": []}

    def lic(id_: int, expires: dt.date, **fields: Any) -> dict[str, Any]:
        return {**dated, "id": id_, "expirationDate": expires.isoformat(), **fields}

    licenses = [
        lic(1, ON + dt.timedelta(days=30)),  # the window's last day
        lic(2, ON + dt.timedelta(days=31)),  # past it
        lic(3, ON),
        lic(4, ON - dt.timedelta(days=1)),
        lic(5, ON - dt.timedelta(days=400)),
        lic(6, ON - dt.timedelta(days=2), active=False),
        lic(7, ON - dt.timedelta(days=2), niprDeleted=True),
        lic(8, ON - dt.timedelta(days=2), npn=GONE),  # not in the population
    ]
    with _holding_wire(backend, tmp_path, licenses) as conn:
        found = expiring(conn, 30, today=ON)
    assert [lic.id for lic in found] == [5, 4, 3, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_expiring_lists_a_license_it_cannot_read_first_saying_so(
    backend: str, tmp_path: Path
) -> None:
    """One whose expirationDate the mirror cannot read was left out, as if it expired on
    no day in the window; one whose active it cannot read, as if inactive."""
    dated = {**_sellable()[0], "expirationDate": "2026-02-01", "licenseLoas": []}
    licenses = [
        {**dated, "id": 1, "forState": "TX", "active": "yes"},
        {**dated, "id": 2, "forState": "AZ"},
        {**dated, "id": 3, "forState": "CA", "expirationDate": "01/02/2026"},
        {**dated, "id": 4, "forState": "NV", "niprDeleted": "no"},
        {**dated, "id": 5, "forState": "CO", "active": "no", "expirationDate": "2099-01-01"},
        {**dated, "id": 6, "forState": "UT", "active": False, "expirationDate": ""},
        # Its NPN unreadable (stored NULL), it joined no NPN of the population.
        {**dated, "id": 7, "forState": "OR", "npn": 15645555, "expirationDate": "2026-02-02"},
        {**dated, "id": 8, "forState": "WA", "npn": "156455551234", "expirationDate": ""},
    ]
    with _holding_wire(backend, tmp_path, licenses) as conn:
        found = expiring(conn, 30, today=ON)
    assert [(lic.id, dict(lic.unreadable)) for lic in found] == [
        (8, {"npn": "'156455551234'", "expirationDate": "''"}),
        (3, {"expirationDate": "'01/02/2026'"}),
        (2, {}),
        (4, {"niprDeleted": "'no'"}),
        (1, {"active": "'yes'"}),
        (7, {"npn": "15645555"}),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_expiring_says_a_license_of_an_npn_fetched_again_is_of_before_as_check_does(
    backend: str, tmp_path: Path
) -> None:
    """Subscribed again after a deactivation, an NPN's licenses were listed from the
    records the mirror kept from before, as current ones: a license renewed or lapsed
    meanwhile. Until a fetch since the re-activation finishes, each of those says so in
    ``unknown``, in ``check``'s words; one the fetch has written again is as NIPR has it
    now. A deactivated NPN's are not listed."""
    with _mirror_holding(backend, tmp_path, _dump(LICENSES), _dump(APPOINTMENTS)) as engine:
        with write_transaction(engine) as conn:
            again = _subscribed_again(conn)
            run_id = mirror.start_run(conn, "activation")
            mirror.mark_activations_fetched(conn, [NPN], run_id)  # its fetch goes on
            mirror.activate_npns(conn, [GONE], AT)
            mirror.deactivate_npns(conn, [GONE], AT + dt.timedelta(days=1), purge=False)
        with engine.connect() as conn:
            found = expiring(conn, 600, today=dt.date(2025, 12, 1))
            assert check(conn, NPN, "CA", "Life", on=ON).unknown == [_fetching_again(again)]
        assert [(lic.id, lic.fetching_again_since, lic.unknown) for lic in found] == [
            (2, again, (_fetching_again(again),)),
            (1, again, (_fetching_again(again),)),
        ]
        renewed = LICENSES[1].model_copy(
            update={"expiration_date": dt.date(2026, 12, 31), "updated_at": dt.date(2026, 1, 2)}
        )
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", _dump([renewed]), run_id=run_id)
        with engine.connect() as conn:
            found = expiring(conn, 600, today=dt.date(2025, 12, 1))
        assert [(lic.id, lic.unknown) for lic in found] == [(1, (_fetching_again(again),)), (2, ())]
        with write_transaction(engine) as conn:
            mirror.finish_run(conn, run_id, {})
        with engine.connect() as conn:
            found = expiring(conn, 600, today=dt.date(2025, 12, 1))
    assert [(lic.id, lic.fetching_again_since, lic.unknown) for lic in found] == [
        (1, None, ()),
        (2, None, ()),
    ]


def _not_covered(npns: str, count: int = 1) -> str:
    """What a report says of ``count`` NPNs whose first fetch goes on (``npns``, the
    first ones named), in the words of ``check``'s reason for one."""
    if count == 1:
        return (
            f"1 NPN subscribed is still being fetched ({npns}): no fetch of its records since "
            "its activation has finished, and the report does not cover it yet (see sync status)"
        )
    return (
        f"{count:,} NPNs subscribed are still being fetched ({npns}): no fetch of their "
        "records since their activation has finished, and the report does not cover them yet "
        "(see sync status)"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_expiring_names_the_npns_whose_first_fetch_goes_on(backend: str, tmp_path: Path) -> None:
    """An NPN on its first activation, its fetch not finished, has none of its licenses
    listed yet (or only some), and the report read "nothing expiring" where `check` of
    the NPN said it cannot tell. The result counts those NPNs and says so, in check's
    words; once the fetch has finished, none is owed. `sync status`, which both point
    to, counts and names them too."""
    with _mirror_holding(backend, tmp_path, [], [], fetched=False) as engine:
        with engine.connect() as conn:
            found = expiring(conn, 30, today=ON)
            reason = check(conn, NPN, "CA", "Life", on=ON).unknown[0]
            owed = mirror.sync_status(conn)["pendingNpns"]
        assert (list(found), found.pending) == ([], Pending(1, (NPN,)))
        assert found.not_covered == _not_covered(NPN)
        assert "no fetch of its records since its activation has finished" in reason
        assert owed == {"count": 1, "npns": [NPN]}
        with write_transaction(engine) as conn:
            _fetched(conn, [NPN])
        with engine.connect() as conn:
            found = expiring(conn, 30, today=ON)
            owed = mirror.sync_status(conn)["pendingNpns"]
    assert (found.pending, found.not_covered) == (Pending(0, ()), None)
    assert owed == {"count": 0, "npns": []}


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_npns_owed_a_fetch_are_counted_in_one_statement_without_the_records(
    backend: str, tmp_path: Path
) -> None:
    """The owed NPNs are counted, and the first hundred named, by NPN, in one statement
    that reads no record: neither a license nor an appointment (a storm's 100,000 NPNs
    and their million licenses)."""
    owed = [f"{n:08d}" for n in range(20_000_000, 20_000_150)]
    with _mirror_holding(backend, tmp_path, _dump(LICENSES), _dump(APPOINTMENTS)) as engine:
        with write_transaction(engine) as conn:
            mirror.activate_npns(conn, [*reversed(owed), "30000000", GONE], AT)
            _fetched(conn, ["30000000"])
            mirror.deactivate_npns(conn, [GONE], AT + dt.timedelta(days=1), purge=False)
        with (
            statements(engine) as sent,
            engine.connect() as conn,
        ):
            found = pending(conn)
    assert found == Pending(150, tuple(owed[:100]))
    (statement,) = [s for s in sent if s.startswith("SELECT")]
    assert "licenses" not in statement and "appointments" not in statement


def test_not_covered_names_the_first_few_npns_and_counts_the_others() -> None:
    """A storm's 100,000 NPNs on one line would be no footer: the first five, then how
    many more."""
    npns = tuple(f"{n:08d}" for n in range(10_000_000, 10_000_100))
    said = not_covered(Pending(100_000, npns))
    first = ", ".join(npns[:5])
    assert said == _not_covered(f"{first} and 99,995 more", 100_000)
    assert not_covered(Pending(2, npns[:2])) == _not_covered(", ".join(npns[:2]), 2)
    assert not_covered(Pending(0, ())) is None


def test_expiring_reads_what_the_mirror_cannot_read_of_all_licenses_at_once(
    conn: sa.Connection,
) -> None:
    """The licenses' query looked ``malformed`` up in a subquery per field, three a
    license (50,000 licenses: 25-35 % of the report's time); it reads what ``malformed``
    lists of them once, grouped, in the same statement (the same snapshot)."""
    with statements(conn.engine) as sent:
        assert [lic.id for lic in expiring(conn, 600, today=dt.date(2025, 12, 1))] == [2, 1]
    licenses_read = [s for s in sent if "licenses.license_num" in s]
    assert licenses_read
    assert not [s for s in licenses_read if "malformed.record_id = licenses.id" in s]


def test_expiring_refuses_days_before_today(conn: sa.Connection) -> None:
    """Was an empty list, as if nothing had expired in the last 30 days."""
    with pytest.raises(ValueError, match=r"within_days must be 0 or more, not -30"):
        expiring(conn, -30, today=ON)
    assert [lic.id for lic in expiring(conn, 0, today=dt.date(2026, 2, 10))] == [2, 1]


def test_expiring_refuses_days_past_the_last_date(conn: sa.Connection) -> None:
    """Was an OverflowError, "date value out of range", naming neither."""
    with pytest.raises(ValueError, match=r"within_days 2912429 from 2026-01-15 ends past 9999"):
        expiring(conn, 2_912_429, today=ON)
    assert [lic.id for lic in expiring(conn, 2_912_428, today=ON)] == [2, 1]  # to 9999-12-31


def test_a_datetime_given_for_a_date_is_refused_saying_so(conn: sa.Connection) -> None:
    """A datetime is a date to a type checker, and ``on=dt.datetime.now()`` was a
    TypeError out of the comparisons with the records' dates ("can't compare
    datetime.datetime to datetime.date"), as was ``today=`` one. Refused before the
    mirror is read, naming the argument, as the SDK's ``updated_since`` refuses one."""
    late = dt.datetime(2026, 2, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    with pytest.raises(TypeError, match=r"^on takes a date, not a datetime: pass datetime\."):
        check(conn, NPN, "CA", "Life", on=late)
    with pytest.raises(TypeError, match=r"^today takes a date, not a datetime: pass "):
        expiring(conn, 0, today=late)
    assert check(conn, NPN, "CA", "Life", on=late.date()).allowed


def test_changes_is_the_change_feed(conn: sa.Connection) -> None:
    found = changes(conn, AT)
    assert {(c.resource, c.record_id) for c in found} >= {("licenses", 1), ("licenseLoas", 11)}


def test_every_active_compliant_loa_of_the_synthetic_universe_passes(tmp_path: Path) -> None:
    """Realistic records: each active, unexpired license's active, CE-compliant LOA."""
    records = wire().records
    with fresh_mirror("sqlite", tmp_path) as engine:
        with write_transaction(engine) as conn:
            mirror.activate_npns(conn, wire().npns, AT)
            mirror.upsert_records(conn, "licenses", records["licenses"])
        today = dt.date.today()
        cases = [
            (lic["npn"], lic["forState"], loa["loaCode"])
            for lic in records["licenses"]
            if lic["active"]
            and not lic["niprDeleted"]
            and (lic["expirationDate"] or "9999") >= str(today)
            for loa in lic["licenseLoas"]
            if loa["status"] == "Active"
            and not loa["niprDeleted"]
            and loa["ceCompliance"] != "NOT IN COMPLIANCE"
        ]
        assert len(cases) > 100
        with engine.connect() as conn:
            refused = [c for c in cases if not check(conn, *c).allowed]
    assert refused == []


@pytest.fixture
def mirror_url(tmp_path: Path) -> str:
    with fresh_mirror("sqlite", tmp_path) as engine:
        _load(engine)
        return engine.url.render_as_string()


def test_check_command_exits_0_for_yes(mirror_url: str) -> None:
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--carrier", CARRIER]
    result = cli(*args, "--on", "2026-01-15", "--mirror", mirror_url, "--json")
    body = orjson.loads(result.stdout)
    assert (body["allowed"], body["on"], body["carrier"]) == (True, "2026-01-15", CARRIER)
    assert len(body["reasons"]) == 6


def test_check_command_exits_1_for_no_with_the_reasons(mirror_url: str) -> None:
    result = cli(
        "check",
        NPN,
        "--state",
        "TX",
        "--loa",
        "Life",
        "--on",
        "2026-01-15",
        env={"PRODUCERSYNC_MIRROR_URL": mirror_url},
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("no")
    assert "expired on 2025-12-31" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["check", "not-an-npn", "--state", "CA", "--loa", "Life"],
        ["check", NPN, "--state", "ZZ", "--loa", "Life"],
        ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "15/01/2026"],
        ["check", NPN, "--state", "CA"],
        ["report", "expiring", "--within", "a month"],
    ],
    ids=["bad-npn", "bad-state", "bad-date", "no-loa", "bad-within"],
)
def test_bad_input_exits_2(
    mirror_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    # In this process: the exit codes of real processes are the two tests above.
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--mirror", mirror_url)
    assert code == 2, (out, err)


def test_check_and_report_read_the_mirror_the_configuration_file_names(
    mirror_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """They looked at ./producersync-mirror.db instead, not the mirror the sync keeps."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sync_environment(elsewhere, monkeypatch)
    monkeypatch.delenv("PRODUCERSYNC_MIRROR_URL")
    config = tmp_path / "sync.toml"
    config.write_text(f'mirror_url = "{mirror_url}"\n')
    monkeypatch.setenv("PRODUCERSYNC_SYNC_CONFIG", str(config))
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "2026-01-15", "--json"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert (code, orjson.loads(out)["allowed"]) == (0, True), err
    args = ["report", "changes", "--since", "2000-01-01", "--json"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 0 and orjson.loads(out)["changes"], err
    assert list(elsewhere.iterdir()) == []


_NEVER_SYNCED = "mirror as of no NIPR run: it has completed no sync yet (see sync status)"


def _as_of_yesterday() -> str:
    """What dates an answer of a mirror whose one complete run is a fetch of NPNs
    started today (UTC), ``_load``'s: the day before, NIPR's run of the day may be still
    to come."""
    return (
        f"mirror as of NIPR run {dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)} (current)"
    )


def _report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """``producersync report ARGS --json``, in this process: what it printed."""
    code, out, err = producersync_output(monkeypatch, capsys, "report", *args, "--json")
    assert code == 0, err
    return orjson.loads(out)


def test_report_expiring_accepts_days_with_or_without_d(
    mirror_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Relative to the real today: far enough ahead to hold every active license. The
    # unit in either case: 30D was refused, "give days, as 30 or 30d".
    for within in ("4000d", "4000", "4000D"):
        body = _report(monkeypatch, capsys, "expiring", "--within", within, "--mirror", mirror_url)
        assert [lic["licenseId"] for lic in body["licenses"] if lic["daysLeft"] >= 0] == [
            lic.id
            for lic in LICENSES
            if lic.id in (1, 2) and lic.expiration_date >= dt.date.today()
        ]


_EXPIRING_ROW = {
    "npn": "1234567890",
    "state": "CA",
    "licenseId": 123456789,
    "licenseNum": "0H12345678",
    "licenseClass": "Producer with a long class name " * 3,
    "expirationDate": dt.date(2026, 12, 31),
    "daysLeft": 36499,
}
_CHANGE_ROW = {
    "id": 123456789,
    "changedAt": dt.datetime(2026, 12, 5, 21, 19, 0, 91820, tzinfo=dt.UTC),
    "action": "delete",
    "resource": "regulatoryActionValues",
    "recordId": 1234567890,
    "npn": "1234567890",
    "fields": ["regulatoryActionValues", "expirationDate", "licenseLoas", "npn"],
    "runId": 987654,
}


@pytest.mark.parametrize(
    ("key", "row", "whole"),
    [
        ("licenses", _EXPIRING_ROW, ["1234567890", "123456789", "0H12345678", "2026-12-31"]),
        ("changes", _CHANGE_ROW, ["123456789", "2026-12-05", "21:19:00", "1234567890"]),
    ],
)
def test_a_report_table_shows_every_column_whole_in_80_columns(
    monkeypatch: pytest.MonkeyPatch, key: str, row: dict[str, Any], whole: list[str]
) -> None:
    """Squeezed to 80 columns (a terminal's, or stdout that is none), the table of
    `report expiring` cut its expiration dates to `2026-12-…`; then, past the edge, its
    last columns: 36499 days left shown as 3649, and the changes' runIds gone."""
    out = io.StringIO()
    monkeypatch.setattr(check_cli, "console", Console(file=out, width=80))
    check_cli._table({"today": dt.date(2026, 12, 4)}, key, [row], "none")
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 80, out.getvalue()
    words = out.getvalue().split()
    for short in [*whole, str(list(row.values())[-1])]:
        assert short in words, out.getvalue()


@pytest.mark.parametrize(
    ("key", "row", "one"),
    [("licenses", _EXPIRING_ROW, "1 license"), ("changes", _CHANGE_ROW, "1 change")],
)
def test_a_report_of_one_row_is_titled_in_the_singular(
    monkeypatch: pytest.MonkeyPatch, key: str, row: dict[str, Any], one: str
) -> None:
    """`report expiring` of one license was titled "1 licenses (today: ...)"."""
    out = io.StringIO()
    monkeypatch.setattr(check_cli, "console", Console(file=out, width=80))
    check_cli._table({"today": dt.date(2026, 12, 4)}, key, [row], "none")
    check_cli._table({"today": dt.date(2026, 12, 4)}, key, [row, row], "none")
    titles = [line.strip() for line in out.getvalue().splitlines() if "(today:" in line]
    assert titles == [f"{one} (today: 2026-12-04)", f"2 {key} (today: 2026-12-04)"]


def test_a_report_table_is_drawn_as_its_rows_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read whole first, `report expiring --within 3650d` of a mirror of 100,000 NPNs
    held 840 MB and printed nothing for 78 s: the table came once its 93,477 rows were
    all read. Each block is drawn before the next is read, in the first one's columns,
    and the count closes the table."""
    out = io.StringIO()
    monkeypatch.setattr(check_cli, "console", Console(file=out, width=80))
    rows = 3 * check_cli._BLOCK
    drawn_when_read: list[bool] = []

    def read() -> Iterator[dict[str, Any]]:
        for index in range(rows):
            if index == 2 * check_cli._BLOCK:  # the first block's last row, on the page?
                drawn_when_read.append(str(100_000 + check_cli._BLOCK - 1) in out.getvalue())
            yield {**_EXPIRING_ROW, "licenseId": 100_000 + index, "daysLeft": index}

    check_cli._table({"today": dt.date(2026, 12, 4)}, "licenses", read(), "none")
    assert drawn_when_read == [True]
    lines = out.getvalue().splitlines()
    assert lines[-1] == f"{rows:,} licenses"
    assert max(map(len, lines)) <= 80
    # Every row's id, at the place the first block's heading gave its column.
    heading = next(line for line in lines if line.split()[:1] == ["npn"])
    column = heading.index("license")
    ids = [line[column:].split()[0] for line in lines if line.startswith("1234567890")]
    assert ids == [str(100_000 + index) for index in range(rows)]


def test_report_changes_since_a_date(
    mirror_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _report(monkeypatch, capsys, "changes", "--since", "2000-01-01", "--mirror", mirror_url)
    assert {(c["resource"], c["recordId"], c["action"]) for c in body["changes"]} >= {
        ("licenses", 1, "insert"),
        ("appointments", 101, "insert"),
    }
    later = ["changes", "--since", "2999-01-01T00:00:00", "--mirror", mirror_url]
    assert _report(monkeypatch, capsys, *later)["changes"] == []


@pytest.fixture
def in_process(mirror_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Commands run in the test's process: the mirror's URL (the environment names it)."""
    assert sync_environment(tmp_path, monkeypatch).exists()
    return mirror_url


def test_text_from_the_mirror_or_the_options_is_printed_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reasons and table cells went through Rich markup: a `[/x]` in an --loa (asked of
    a mirror holding no LOA to tell a typo by) or in a license class was a MarkupError
    traceback, and a `[bold]` would have been swallowed."""
    soon = dt.date.today() + dt.timedelta(days=5)
    bare = _license(81, "CA", soon.isoformat(), license_class="Producer [/x] [bold]")
    with fresh_mirror("sqlite", tmp_path) as engine, write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", _dump([bare]))
        mirror.activate_npns(conn, [NPN], AT)
    sync_environment(tmp_path, monkeypatch)
    args = ["check", NPN, "--state", "CA", "--loa", "[/x]"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert code == 1, err
    assert "license L81 has no '[/x]' LOA" in out
    wide = Console(file=io.StringIO(), width=200)  # the table's cells whole on one line
    monkeypatch.setattr(check_cli, "console", wide)
    code, _, err = producersync_output(monkeypatch, capsys, "report", "expiring", "--within", "9")
    assert code == 0, err
    assert "Producer [/x] [bold]" in wide.file.getvalue()


def _expiring_in_9_days(
    licenses: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    width: int = 200,  # each row on one line
) -> tuple[list[dict[str, Any]], list[str]]:
    """`report expiring --within 9` over a mirror of these licenses of NPN: the licenses
    its --json lists, and the lines of its table."""
    with fresh_mirror("sqlite", tmp_path) as engine, write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", licenses)
        mirror.activate_npns(conn, [NPN], AT)
    sync_environment(tmp_path, monkeypatch)
    args = ["report", "expiring", "--within", "9"]
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    monkeypatch.setattr(check_cli, "console", Console(file=io.StringIO(), width=width))
    assert producersync_output(monkeypatch, capsys, *args)[0] == 0
    return orjson.loads(out)["licenses"], check_cli.console.file.getvalue().splitlines()


def test_report_expiring_names_what_the_mirror_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The license was not listed at all: its expirationDate, unreadable, was NULL."""
    (unread,) = _dump([_license(82, "CA", "2099-12-31")])
    unread["expirationDate"] = "31/12/2026"
    (listed,), shown = _expiring_in_9_days([unread], tmp_path, monkeypatch, capsys, width=80)
    assert listed["expirationDate"] is None and listed["daysLeft"] is None
    assert listed["unreadable"] == {"expirationDate": "'31/12/2026'"}
    assert shown[-3:] == [
        "license 82: the mirror cannot read its expirationDate '31/12/2026'",
        _not_covered(NPN),  # activated, not fetched
        _NEVER_SYNCED,
    ]


def test_report_expiring_shows_the_licenses_expired_but_still_active_as_overdue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were not listed at all: a producer selling on an expired license."""
    today = dt.date.today()
    held = [
        _license(83, "CA", (today + dt.timedelta(days=3)).isoformat()),
        _license(84, "TX", (today - dt.timedelta(days=12)).isoformat()),
        _license(85, "NV", (today - dt.timedelta(days=12)).isoformat(), active=False),
    ]
    listed, shown = _expiring_in_9_days(_dump(held), tmp_path, monkeypatch, capsys)
    assert [(lic["licenseId"], lic["daysLeft"], lic["overdue"]) for lic in listed] == [
        (84, -12, True),
        (83, 3, False),
    ]
    rows = [line.split() for line in shown]
    assert [row[2:3] + row[-2:] for row in rows if row[:1] == [NPN]] == [
        ["84", "-12", "overdue"],
        ["83", (today + dt.timedelta(days=3)).isoformat(), "3"],
    ]


def _action(
    id_: int, state: str, effective: str, *values: tuple[str, str], **fields: Any
) -> RegulatoryAction:
    return RegulatoryAction(
        id=id_,
        npn=NPN,
        for_state=state,
        action_id=f"A{id_}",
        action_date=dt.date.fromisoformat(effective),
        effective_date=dt.date.fromisoformat(effective),
        regulatory_action_values=[
            RegulatoryActionValue(
                id=id_ * 10 + index, regulatory_action_id=id_, npn=NPN, type=type_, value=value
            )
            for index, (type_, value) in enumerate(values)
        ],
        **fields,
    )


_SUSPENDED = (
    "regulatory action A601 in CA, effective 2024-03-01: License Suspended (reason: "
    "Misrepresentation; origin: Department of Insurance; lengthOfOrder: 180; "
    "penaltyFineForfeiture: 0)"
)
_FINED = "regulatory action A602 in CA, effective 2019-05-02: Fined (penaltyFineForfeiture: 150)"


def _with_regulatory_actions(engine: sa.Engine) -> None:
    """NPN's license in CA, a yes for Life, and its regulatory actions: two in CA (the
    older one's reason niprDeleted), one in CA niprDeleted, one in TX."""
    fined = _action(602, "CA", "2019-05-02", ("DISPOSITION", "Fined"), ("REASON", "Late"))
    (fined_wire,) = _dump([fined])
    fined_wire["penaltyFineForfeiture"] = 150
    fined_wire["regulatoryActionValues"][1]["niprDeleted"] = True
    actions = [
        *_dump(
            [
                _action(
                    601,
                    "CA",
                    "2024-03-01",
                    ("REASON", "Misrepresentation"),
                    ("ORIGIN", "Department of Insurance"),
                    ("DISPOSITION", "License Suspended"),
                    length_of_order=180,
                    penalty_fine_forfeiture=0,
                ),
                _action(603, "CA", "2025-01-01", ("DISPOSITION", "Revoked"), nipr_deleted=True),
                _action(604, "TX", "2025-02-01", ("DISPOSITION", "Revoked")),
            ]
        ),
        fined_wire,
    ]
    with write_transaction(engine) as conn:
        mirror.upsert_records(conn, "licenses", _dump(LICENSES[:1]))
        mirror.upsert_records(conn, "regulatoryActions", actions)
        mirror.activate_npns(conn, [NPN], AT)
        _fetched(conn, [NPN])


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_names_the_regulatory_actions_in_the_state(backend: str, tmp_path: Path) -> None:
    """A yes to a producer whose license the state suspended, or fined, said nothing of
    it: check never read the regulatory actions. They are told, the latest first, and
    decide nothing (the records do not say which are in force, nor what they bar)."""
    with fresh_mirror(backend, tmp_path) as engine:
        _with_regulatory_actions(engine)
        with engine.connect() as conn:
            verdict = check(conn, NPN, "CA", "Life", on=ON)
            other = check(conn, NPN, "TX", "Life", on=ON)
    assert verdict.allowed, verdict.reasons
    assert [action.id for action in verdict.regulatory_actions] == [601, 602]
    assert verdict.notes == [_SUSPENDED, _FINED]
    assert [action.id for action in other.regulatory_actions] == [604]


def test_check_prints_the_regulatory_actions_and_lists_them_under_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither the reasons nor --json named them."""
    with fresh_mirror("sqlite", tmp_path) as engine:
        _with_regulatory_actions(engine)
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setattr(check_cli, "console", Console(file=io.StringIO(), width=400))
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "2026-01-15"]
    assert producersync_output(monkeypatch, capsys, *args)[0] == 0
    *_, suspended, fined, _as_of = check_cli.console.file.getvalue().splitlines()
    assert [suspended, fined] == [f"  ! {_SUSPENDED}", f"  ! {_FINED}"]
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert (code, err) == (0, "")
    first, second = orjson.loads(out)["regulatoryActions"]
    assert first == {
        "id": 601,
        "actionId": "A601",
        "state": "CA",
        "actionDate": "2024-03-01",
        "effectiveDate": "2024-03-01",
        "lengthOfOrder": 180,
        "penaltyFineForfeiture": 0,
        "values": [
            {"type": "REASON", "value": "Misrepresentation"},
            {"type": "ORIGIN", "value": "Department of Insurance"},
            {"type": "DISPOSITION", "value": "License Suspended"},
        ],
        "unreadable": {},
        "note": _SUSPENDED,
    }
    assert (second["id"], second["values"], second["note"]) == (
        602,
        [{"type": "DISPOSITION", "value": "Fined"}],
        _FINED,
    )


_STANDS = "a non-resident license stands on a resident license in good standing"


@pytest.mark.parametrize(
    ("resident", "note"),
    [
        (
            {"expires": "2025-11-30"},
            "license L72 in TX is non-resident, and the resident license L71 in CA expired "
            f"on 2025-11-30 (before 2026-01-15): {_STANDS}",
        ),
        (
            {"expires": "2026-11-30", "active": False},
            f"license L72 in TX is non-resident, and the resident license L71 in CA is not "
            f"active: {_STANDS}",
        ),
        (
            None,
            "license L72 in TX is non-resident, and the mirror holds no resident license of "
            f"NPN {NPN}: {_STANDS}",
        ),
        ({"expires": "2026-11-30"}, None),
    ],
    ids=["resident-expired", "resident-inactive", "no-resident", "resident-good"],
)
def test_check_of_a_non_resident_license_notes_a_resident_license_not_in_good_standing(
    tmp_path: Path, resident: dict[str, Any] | None, note: str | None
) -> None:
    """A yes on a non-resident license said nothing of the producer's resident license,
    expired or lapsed in its home state, on which the non-resident one stands: its
    state ends it with that one, which its record tells only once it has. A note, not a
    condition: the state asked of has the license active."""
    held = [
        _license(72, "TX", "2026-12-31", _loa(721, "Life", "10", "life"), residency_status="NR")
    ]
    if resident is not None:
        expires = resident.pop("expires")
        held.append(_license(71, "CA", expires, residency_status="R", **resident))
    with fresh_mirror("sqlite", tmp_path) as engine:
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", _dump(held))
            mirror.activate_npns(conn, [NPN], AT)
            _fetched(conn, [NPN])
        with engine.connect() as conn:
            verdict = check(conn, NPN, "TX", "Life", on=ON)
            own = check(conn, NPN, "CA", "Life", on=ON) if resident is not None else None
    assert verdict.allowed, verdict.reasons
    assert verdict.notes == ([] if note is None else [note])
    assert own is None or own.notes == []  # a resident license stands on none


def test_check_lists_its_notes_under_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json said nothing of what the ! lines tell: the resident license's, then the
    regulatory actions'."""
    (non_resident,) = _dump(LICENSES[:1])
    non_resident["residencyStatus"] = "NR"
    with fresh_mirror("sqlite", tmp_path) as engine:
        _with_regulatory_actions(engine)
        with write_transaction(engine) as conn:
            mirror.upsert_records(conn, "licenses", [non_resident])
    sync_environment(tmp_path, monkeypatch)
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "2026-01-15", "--json"]
    code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert (code, err) == (0, "")
    resident = (
        "license L1 in CA is non-resident, and the mirror holds no resident license of NPN "
        f"{NPN}: {_STANDS}"
    )
    assert orjson.loads(out)["notes"] == [resident, _SUSPENDED, _FINED]


def test_report_expiring_tells_each_license_resident_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither the table nor --json said which licenses were resident: one that lapses
    takes the producer's non-resident licenses with it."""
    soon = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    held = [
        _license(86, "CA", soon, residency_status="R"),
        _license(87, "TX", soon, residency_status="NR"),
        _license(88, "NV", soon),
    ]
    listed, shown = _expiring_in_9_days(_dump(held), tmp_path, monkeypatch, capsys)
    assert [(lic["licenseId"], lic["residencyStatus"]) for lic in listed] == [
        (86, "R"),
        (88, None),
        (87, "NR"),
    ]
    rows = [line.split() for line in shown]
    assert [row[1:4] for row in rows if row[:1] == [NPN]] == [
        ["CA", "R", "86"],
        ["NV", "88", "L88"],
        ["TX", "NR", "87"],
    ]


def _said(err: str) -> str:
    """A usage error's text as one line, out of the box Typer draws around it."""
    return " ".join(err.replace("│", " ").split())


@pytest.mark.parametrize(
    ("option", "value"), [("--loa", ""), ("--loa", "  "), ("--carrier", ""), ("--carrier", " ")]
)
def test_check_refuses_a_blank_loa_or_carrier(
    in_process: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
) -> None:
    given = {"--loa": "Life", "--carrier": CARRIER, option: value}
    args = [word for pair in given.items() for word in pair]
    code, err = producersync(monkeypatch, capsys, "check", NPN, "--state", "CA", *args)
    assert code == 2, err
    assert _said(f"Invalid value for '{option}': {value!r} is blank") in _said(err)


@pytest.mark.parametrize(
    ("loa", "hint"), [("Bogus", ""), ("Lfie", "did you mean 'Life'? ")], ids=["far", "near"]
)
def test_check_refuses_an_loa_no_license_in_the_mirror_carries(
    in_process: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    loa: str,
    hint: str,
) -> None:
    code, err = producersync(monkeypatch, capsys, "check", NPN, "--state", "CA", "--loa", loa)
    assert code == 2, err
    assert err == (
        f"error: --loa: no LOA named {loa!r} in the mirror ({hint}{_OWN_LOAS}LOA names: "
        "Accident & Health or Sickness, Life, Property)\n"
    )


@pytest.mark.parametrize("mirror_is", ["not-a-database", "newer"])
def test_check_exits_3_when_it_cannot_answer(
    in_process: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mirror_is: str,
) -> None:
    """A mirror out of reach, not a database, or one a newer version migrated exited 1,
    check's no: a script branching on it took a mirror that was down for a producer who
    may not sell."""
    path = tmp_path / "unanswerable.db"
    if mirror_is == "newer":
        mirror.open_mirror(f"sqlite:///{path}").dispose()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
            conn.commit()
    else:
        path.write_text("not a database")
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--mirror", f"sqlite:///{path}"]
    error, err = error_both_ways(monkeypatch, capsys, 3, *args)
    assert str(path) in str(error["message"]), error
    assert err == f"error: {error['message']}\n"


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["expiring", "--within", "0"], "no license expires within 0 days (by "),
        (["expiring", "--within", "1d"], "no license expires within 1 day (by "),
        (["changes", "--since", "2999-01-01"], "no change since 2999-01-01T00:00:00.000Z"),
    ],
    ids=["expiring-0", "expiring-1", "changes"],
)
def test_a_report_with_nothing_in_it_says_so(
    in_process: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    said: str,
) -> None:
    """A mirror with no license in it: the module's expired on days long gone, and are
    listed as overdue."""
    if command[0] == "expiring":
        (tmp_path / "empty").mkdir()
        with fresh_mirror("sqlite", tmp_path / "empty") as engine:
            monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", engine.url.render_as_string())
    code, out, err = producersync_output(monkeypatch, capsys, "report", *command)
    assert code == 0, err
    as_of = _NEVER_SYNCED if command[0] == "expiring" else _as_of_yesterday()
    assert out.startswith(said) and out.splitlines()[1:] == [as_of], out
    code, out, err = producersync_output(monkeypatch, capsys, "report", *command, "--json")
    assert code == 0, err
    key = "licenses" if command[0] == "expiring" else "changes"
    assert orjson.loads(out)[key] == []


# The LOAs NPN's license in CA carries, which the error named none of: only the mirror's.
_OWN_LOAS = f"NPN {NPN}'s LOAs in CA: Life, Accident & Health or Sickness, Property; "
_LOA_NAMES = (
    f"(did you mean 'Life'? {_OWN_LOAS}LOA names: Accident & Health or Sickness, Life, Property)"
)
_NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize(
    ("args", "env", "code", "field", "value", "said"),
    [
        (
            ["check", "not-an-npn", "--state", "CA", "--loa", "Life"],
            _NO_ENV,
            2,
            "NPN",
            "not-an-npn",
            "Invalid value for 'NPN': 'not-an-npn' is not an NPN: 1 to 10 digits, as 15645555",
        ),
        (
            ["check", NPN, "--state", "ZZ", "--loa", "Life"],
            _NO_ENV,
            2,
            "--state",
            "ZZ",
            "Invalid value for '--state': 'ZZ' is not a state code",
        ),
        (
            # The first bad option given is named: --state was checked in the command's
            # body, after Typer had read --on, so only --on was named, though given last.
            ["check", NPN, "--state", "ZZ", "--loa", "Life", "--on", "2026-13-01"],
            _NO_ENV,
            2,
            "--state",
            "ZZ",
            "Invalid value for '--state': 'ZZ' is not a state code",
        ),
        (
            # Was a no ("no appointment with that carrier"), as sure as a real one.
            ["check", NPN, "--state", "CA", "--loa", "Life", "--carrier", "6048"],
            _NO_ENV,
            2,
            "--carrier",
            "6048",
            "Invalid value for '--carrier': '6048' is not a coCode: exactly 5 digits, as 60483",
        ),
        (
            ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "15/01/2026"],
            _NO_ENV,
            2,
            "--on",
            "15/01/2026",
            "Invalid value for '--on': '15/01/2026' is not a date as yyyy-MM-dd",
        ),
        (["check", NPN, "--state", "CA"], _NO_ENV, 2, "--loa", None, "Missing option '--loa'."),
        (
            ["check", NPN, "--state", "CA", "--loa", " "],
            _NO_ENV,
            2,
            "--loa",
            " ",
            "Invalid value for '--loa': ' ' is blank",
        ),
        (
            ["check", NPN, "--state", "CA", "--loa", "Lfie"],
            _NO_ENV,
            2,
            "--loa",
            "Lfie",
            f"--loa: no LOA named 'Lfie' in the mirror {_LOA_NAMES}",
        ),
        (
            ["check", NPN, "--state", "CA", "--loa", "Life", "--bogus"],
            _NO_ENV,
            2,
            "--bogus",
            None,
            "No such option: --bogus",
        ),
        (
            ["check", NPN, "--state", "CA", "--loa", "Life", "--mirror", "sqlite:///none.db"],
            _NO_ENV,
            2,
            "--mirror",
            "sqlite:///none.db",
            "no mirror at ",
        ),
        (
            # Named by its variable, as the sync commands name it: it was "--mirror",
            # which no one typed.
            ["check", NPN, "--state", "CA", "--loa", "Life"],
            {"PRODUCERSYNC_MIRROR_URL": "sqlite:///none.db"},
            2,
            "PRODUCERSYNC_MIRROR_URL",
            "sqlite:///none.db",
            "no mirror at ",
        ),
        (
            ["report", "expiring", "--within", "30"],
            {"PRODUCERSYNC_MIRROR_URL": "sqlite:///:memory:"},
            2,
            "PRODUCERSYNC_MIRROR_URL",
            "sqlite:///:memory:",
            "Invalid value for '--mirror' (env var: 'PRODUCERSYNC_MIRROR_URL'): "
            "'sqlite:///:memory:' is a database in memory",
        ),
        (
            ["report", "expiring", "--within", "a month"],
            _NO_ENV,
            2,
            "--within",
            "a month",
            "Invalid value for '--within': 'a month': give days, as 30 or 30d",
        ),
        (
            # Was "'-1d': give days, as 30 or 30d", which it seemed to be.
            ["report", "expiring", "--within", "-1d"],
            _NO_ENV,
            2,
            "--within",
            "-1d",
            "Invalid value for '--within': '-1d' counts back: give days ahead, 0 or more",
        ),
        (
            ["report", "changes", "--since", "yesterday"],
            _NO_ENV,
            2,
            "--since",
            "yesterday",
            "Invalid value for '--since': 'yesterday' is not an ISO 8601 time or date",
        ),
        (
            ["report", "changes", "--since", "2025-09-01", "--limit", "0"],
            _NO_ENV,
            2,
            "--limit",
            "0",
            "Invalid value for '--limit': '0' is not a whole number from 1 to",
        ),
        (
            ["report", "changes", "--since", "2025-09-01", "--mirror", "sqlite:///garbage.db"],
            _NO_ENV,
            1,
            None,
            None,
            "the mirror at /",  # its absolute path: file is not a database
        ),
        (
            ["report", "expiring", "--within", "30"],
            {"PRODUCERSYNC_API_TIMEOUT_SECONDS": "soon"},
            2,
            "PRODUCERSYNC_API_TIMEOUT_SECONDS",
            "soon",
            "PRODUCERSYNC_API_TIMEOUT_SECONDS: Input should be a valid number",
        ),
    ],
    ids=[
        "bad-npn",
        "bad-state",
        "bad-state-and-date",
        "bad-carrier",
        "bad-date",
        "no-loa",
        "blank-loa",
        "unknown-loa",
        "unknown-option",
        "mirror-missing",
        "mirror-missing-from-the-environment",
        "mirror-in-memory-from-the-environment",
        "bad-within",
        "negative-within",
        "bad-since",
        "bad-limit",
        "not-a-database",
        "bad-setting",
    ],
)
def test_an_error_under_json_is_one_json_object_and_text_without_it(
    in_process: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    code: int,
    field: str | None,
    value: str | None,
    said: str,
) -> None:
    """What a script reads on stdout, where the result would be: the error, as JSON, with
    the exit code it has without --json; and without it, the same error as before."""
    Path("garbage.db").write_text("not a database")
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    error, err = error_both_ways(monkeypatch, capsys, code, *args)
    assert (error["field"], error["value"]) == (field, value)
    message = str(error["message"])
    assert message.startswith(said), message
    assert _said(message) in _said(err)


def test_a_no_under_json_is_an_answer_not_an_error(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", NPN, "--state", "TX", "--loa", "Life", "--on", "2026-01-15", "--json"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert (exit_code, err) == (1, "")
    body = orjson.loads(out)
    assert body["allowed"] is False
    # Which reasons say no, as the text's ✗ marks them: without it a script could not tell.
    assert body["failed"] == ["license L2 in TX expired on 2025-12-31 (before 2026-01-15)"]
    assert set(body["failed"]) < set(body["reasons"])
    assert (body["answered"], body["unknown"]) == (True, [])


@pytest.mark.parametrize(
    ("npn", "state", "unknown"),
    [
        (
            "999",
            "CA",
            "NPN 999 is not in the monitored population: the mirror holds no records of it",
        ),
        (
            GONE,
            "OR",
            f"NPN {GONE} is not monitored since 2025-07-02 (deactivated): the mirror has not "
            "synced its records since",
        ),
    ],
    ids=["never-monitored", "deactivated"],
)
def test_check_tells_what_the_mirror_cannot_tell_from_a_no(
    in_process: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    npn: str,
    state: str,
    unknown: str,
) -> None:
    """An NPN the mirror does not monitor was a no, exit 1, "✗ NPN 999 is not in the
    monitored population": a script refused the business of a producer it knew nothing
    of. It exits 4, "cannot tell", its reasons marked ?, and under --json answered false;
    so does one deactivated, whose records the mirror holds as they were then (its
    license in OR a yes on that day)."""
    args = ["check", npn, "--state", state, "--loa", "Life", "--on", "2026-01-15"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert (exit_code, err) == (4, "")
    *said, as_of = out.splitlines()
    assert " ".join(" ".join(said).split()) == f"cannot tell ? {unknown}"  # wrapped to the width
    assert as_of == _as_of_yesterday()
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert (exit_code, err) == (4, "")
    body = orjson.loads(out)
    assert (body["allowed"], body["answered"], body["failed"]) == (False, False, [])
    assert body["reasons"] == body["unknown"] == [unknown]


def test_check_of_an_npn_subscribed_again_cannot_tell_until_its_fetch_finishes(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was yes, exit 0, from the records of before its deactivation: its activation
    event processed, the fetch it is owed not finished (here, not started)."""
    again = _subscribed_again_in(in_process)
    args = ["check", NPN, "--state", "CA", "--loa", "Life", "--carrier", CARRIER]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args, "--on", "2026-01-15")
    assert (exit_code, err) == (4, "")
    *said, as_of = out.splitlines()
    assert " ".join(" ".join(said).split()) == (
        f"cannot tell ✓ NPN {NPN} is in the active population ? {_fetching_again(again)}"
    )
    assert as_of == _as_of_yesterday()
    exit_code, out, err = producersync_output(
        monkeypatch, capsys, *args, "--on", "2026-01-15", "--json"
    )
    assert (exit_code, err) == (4, "")
    body = orjson.loads(out)
    assert (body["allowed"], body["answered"], body["failed"]) == (False, False, [])
    assert body["unknown"] == [_fetching_again(again)]


def test_report_expiring_marks_the_licenses_of_an_npn_fetched_again_with_check_s_reason(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were listed as current, from the records of before its deactivation, while
    `check` of the NPN said `cannot tell`: under --json each says so in `unknown`, and
    the table marks their NPN ? and names the reason below, once for the NPN."""
    again = _subscribed_again_in(in_process)
    args = ["report", "expiring", "--within", "4000"]
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    listed = orjson.loads(out)["licenses"]
    assert [(lic["licenseId"], lic["unknown"]) for lic in listed] == [
        (2, [_fetching_again(again)]),
        (1, [_fetching_again(again)]),
    ]
    wide = Console(file=io.StringIO(), width=120)
    monkeypatch.setattr(check_cli, "console", wide)
    assert producersync_output(monkeypatch, capsys, *args)[0] == 0
    lines = wide.file.getvalue().splitlines()
    rows = [line.split()[:3] for line in lines if line.split()[:1] == [NPN]]
    assert rows == [[NPN, "?", "TX"], [NPN, "?", "CA"]]
    # Owed a fetch as a first activation is: the licenses it got meanwhile are not listed.
    assert lines[-3:] == [
        f"? licenses 2, 1: {_fetching_again(again)}",
        _not_covered(NPN),
        _as_of_yesterday(),
    ]


def test_report_expiring_says_which_npns_it_cannot_speak_for_yet(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An NPN subscribed moments ago, its first fetch going on, has no license listed
    yet, and the report read as if none of its licenses expired, while `check` of it
    said `cannot tell`. Under --json `pending` counts and names those NPNs, with the
    sentence the table for people prints below it, before the mirror's run."""
    new = "22222222"
    engine = mirror.open_mirror(in_process)
    try:
        with write_transaction(engine) as conn:
            mirror.activate_npns(conn, [new], dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    args = ["report", "expiring", "--within", "30"]
    code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    body = orjson.loads(out)
    assert body["pending"] == {"count": 1, "npns": [new], "reason": _not_covered(new)}
    assert new not in {lic["npn"] for lic in body["licenses"]}
    wide = Console(file=io.StringIO(), width=120)
    monkeypatch.setattr(check_cli, "console", wide)
    assert producersync_output(monkeypatch, capsys, *args)[0] == 0
    assert wide.file.getvalue().splitlines()[-2:] == [_not_covered(new), _as_of_yesterday()]
    code, out, err = producersync_output(
        monkeypatch, capsys, "check", new, "--state", "CA", "--loa", "Life"
    )
    assert code == 4, err


@pytest.mark.parametrize("given", ["0" + NPN, f" {NPN}\t"], ids=["leading-zero", "padded"])
def test_check_reads_an_npn_as_its_number(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """Was a no for a producer the mirror holds, 012345678 taken for another NPN; and
    exit 2 for one pasted with a space, where --state, --loa and --carrier are stripped."""
    args = ["check", given, "--state", "CA", "--loa", "Life", "--on", "2026-01-15", "--json"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert exit_code == 0, (out, err)
    body = orjson.loads(out)
    assert (body["npn"], body["allowed"]) == (NPN, True)
    assert body["reasons"][0] == f"NPN {NPN} is in the active population"


def test_check_takes_an_loa_name_with_two_spaces_for_that_name(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was exit 2, "no LOA named 'Accident  &  Health or Sickness' in the mirror (did you
    mean 'Accident & Health or Sickness'? ...)", for the name it was."""
    loa = "Accident  &  Health or Sickness"
    args = ["check", NPN, "--state", "CA", "--loa", loa, "--on", "2026-01-15", "--json"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert exit_code == 1, (out, err)
    assert orjson.loads(out)["failed"] == ["LOA Accident & Health or Sickness (14) is Cancelled"]


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("California", "'California' is not a state code: California's is CA"),
        ("new  york", "'new  york' is not a state code: New York's is NY"),
        ("ZZ", "'ZZ' is not a state code, as CA"),
    ],
    ids=["name", "name-any-case-and-spacing", "neither"],
)
def test_check_refuses_a_state_s_name_with_its_code(
    in_process: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: str,
    said: str,
) -> None:
    """Was only "'California' is not a state code": which one to give, it did not say."""
    args = ["check", NPN, "--state", state, "--loa", "Life"]
    error, _ = error_both_ways(monkeypatch, capsys, 2, *args)
    assert (error["field"], error["value"]) == ("--state", state)
    assert error["message"] == f"Invalid value for '--state': {said}"


def test_check_takes_a_state_code_as_padded_as_its_other_options(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was exit 2, "' ca ' is not a state code", where --loa " Life " was Life."""
    args = ["check", NPN, "--state", " ca ", "--loa", " Life ", "--on", "2026-01-15", "--json"]
    exit_code, out, err = producersync_output(monkeypatch, capsys, *args)
    assert exit_code == 0, (out, err)
    assert orjson.loads(out)["state"] == "CA"


def test_report_changes_tells_its_since_in_utc_as_its_rows(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's title showed --since as given, 05:00:00+05:00, above rows in UTC
    (00:00:00): a change after the time asked read as one before it."""
    since = "2000-01-01T05:00:00+05:00"
    code, out, err = producersync_output(monkeypatch, capsys, "report", "changes", "--since", since)
    assert code == 0, err
    assert "(since: 2000-01-01 00:00:00 UTC)" in " ".join(out.split())
    code, out, err = producersync_output(
        monkeypatch, capsys, "report", "changes", "--since", since, "--json"
    )
    # The instant given, written as every time the commands write: it was the offset as
    # given (+05:00), beside changedAt's +00:00, where admin's times had a Z.
    assert orjson.loads(out)["since"] == "2000-01-01T00:00:00.000Z"


def _synced_through(url: str, day: dt.date) -> None:
    """Record ``day`` as the mirror's last synced runDate, as a complete daily sync does."""
    engine = mirror.open_mirror(url)
    try:
        with write_transaction(engine) as conn:
            mirror.set_last_synced_run_date(conn, day)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_verdict_says_which_nipr_run_the_mirror_holds_as_of(backend: str, tmp_path: Path) -> None:
    """A yes of a mirror whose sync had stopped days ago said nothing of it. The verdict
    carries the last synced runDate and the run days behind, as `sync status` has them."""
    with fresh_mirror(backend, tmp_path) as engine:
        _load(engine)
        with engine.connect() as conn:
            fetched = check(conn, NPN, "CA", "Life", on=ON)
        # Its NPNs fetched today, no daily sync yet: as of the day before the fetch.
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        assert (fetched.allowed, fetched.as_of, fetched.lag_days) == (True, yesterday, 0)
        long_ago = dt.date(2000, 1, 1)
        with write_transaction(engine) as conn:
            mirror.set_last_synced_run_date(conn, long_ago)
        with engine.connect() as conn:
            stale = check(conn, NPN, "CA", "Life", on=ON)
            status = mirror.sync_status(conn)
        assert (stale.allowed, stale.as_of) == (True, long_ago)
        assert stale.lag_days == status["lagDays"] > 9000
        # Today's runDate (UTC), which only an announced run makes the latest: current
        # whatever the day when it is read.
        today = dt.datetime.now(dt.UTC).date()
        with write_transaction(engine) as conn:
            mirror.set_last_synced_run_date(conn, today)
            current = check(conn, GONE, "CA", "Life", on=ON)
        assert (current.answered, current.as_of, current.lag_days) == (False, today, 0)


def _as_of_line(out: str) -> str:
    return out.splitlines()[-1]


def test_check_and_reports_say_the_mirror_has_synced_no_run_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither a daily sync nor a fetch of its NPNs has finished: the records there
    answer as they say, as of no NIPR run."""
    with _mirror_holding("sqlite", tmp_path, _dump(LICENSES), [], fetched=False) as engine:
        url = engine.url.render_as_string()
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", url)
    _answers_say_as_of(monkeypatch, capsys, _NEVER_SYNCED, None, None)


def _answers_say_as_of(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    line: str,
    as_of: str | None,
    lag_days: int | None,
) -> None:
    """`check` and both reports end with the freshness ``line``, and say ``as_of`` and
    ``lag_days`` under --json."""
    check_args = ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "2026-01-15"]
    for args in (
        check_args,
        ["report", "expiring", "--within", "30"],
        ["report", "changes", "--since", "2000-01-01"],
    ):
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert code == 0, err
        assert _as_of_line(out) == line, out
        code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
        assert code == 0, err
        body = orjson.loads(out)
        assert (body["asOf"], body["lagDays"]) == (as_of, lag_days), body


def test_check_reports_and_status_say_a_mirror_of_fetches_alone_is_as_of_the_first(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mirror its NPNs' fetches filled, before any daily sync, read "no sync yet", as
    if its records were of no run: they are as of their fetch, and the first fetch's
    day before is where the first pull starts. `sync status` says the same."""
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    _answers_say_as_of(monkeypatch, capsys, _as_of_yesterday(), yesterday, 0)
    code, out, err = producersync_output(monkeypatch, capsys, "sync", "status", "--json")
    assert code == 0, err
    status = orjson.loads(out)
    assert (status["lastSyncedRunDate"], status["asOf"], status["lagDays"]) == (None, yesterday, 0)


def test_check_and_reports_say_which_nipr_run_the_mirror_holds_as_of(
    in_process: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` answered yes from a mirror whose sync had stopped, and nothing said how
    far behind it was: an officer acting on it could not tell as of which NIPR run."""
    long_ago = dt.date(2000, 1, 1)
    _synced_through(in_process, long_ago)
    check_args = ["check", NPN, "--state", "CA", "--loa", "Life", "--on", "2026-01-15"]
    code, out, err = producersync_output(monkeypatch, capsys, *check_args)
    assert (code, out.splitlines()[0]) == (0, "yes"), err
    said = re.fullmatch(r"mirror as of NIPR run 2000-01-01 \((\d+) days behind\)", _as_of_line(out))
    assert said is not None, out
    behind = int(said[1])
    assert behind > 9000
    for args, key in (
        (check_args, "reasons"),
        (["report", "expiring", "--within", "30"], "licenses"),
        (["report", "changes", "--since", "2000-01-01"], "changes"),
    ):
        code, out, err = producersync_output(monkeypatch, capsys, *args, "--json")
        assert code == 0, err
        body = orjson.loads(out)
        assert (body["asOf"], body["lagDays"]) == ("2000-01-01", behind), body
        assert body[key], body  # the answer itself is still there
        code, out, err = producersync_output(monkeypatch, capsys, *args)
        assert _as_of_line(out) == f"mirror as of NIPR run 2000-01-01 ({behind} days behind)"
    today = dt.datetime.now(dt.UTC).date()  # current whatever the day when read
    _synced_through(in_process, today)
    code, out, err = producersync_output(monkeypatch, capsys, *check_args)
    assert _as_of_line(out) == f"mirror as of NIPR run {today} (current)"


@pytest.mark.parametrize(
    ("as_of", "lag", "said"),
    [
        (dt.date(2026, 12, 6), 0, "mirror as of NIPR run 2026-12-06 (current)"),
        (dt.date(2026, 12, 5), 1, "mirror as of NIPR run 2026-12-05 (1 day behind)"),
        (dt.date(2026, 12, 4), 2, "mirror as of NIPR run 2026-12-04 (2 days behind)"),
    ],
)
def test_the_mirror_s_run_is_told_in_one_line(
    monkeypatch: pytest.MonkeyPatch, as_of: dt.date, lag: int, said: str
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(check_cli, "console", Console(file=out, width=40))
    check_cli._print_as_of(as_of, lag)
    assert out.getvalue() == said + "\n"  # on one line, however narrow
