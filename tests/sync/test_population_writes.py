"""Population changes against record writes: a page fetched before an NPN's deactivation
and written after it (a day's sync, an activation's pull or `sync now` go on beside the
collector) writes nothing of that NPN, so a purge is never undone; a re-activation
brings its records back, the change feed telling each delete before the next insert.
SQLite and PostgreSQL, on which the writers go side by side."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.sync import mirror
from producersync.sync.mirror import write_transaction
from producersync.sync.mirror.queries import stored_npns, stored_records
from tests.support.databases import waiting_on_a_lock
from tests.support.waiting import eventually
from tests.sync.mirror_data import BACKENDS, fresh_mirror, wire

T0 = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with fresh_mirror(request.param, tmp_path) as engine:
        yield engine


def _page(npns: list[str], updated_at: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``npns`` by resource, as a page brings them (``updated_at``: as
    changed since, that day)."""
    page = {
        resource: [copy.deepcopy(r) for r in records if r["npn"] in npns]
        for resource, records in wire().records.items()
    }
    if updated_at is not None:
        for records in page.values():
            for record in records:
                record["updatedAt"] = updated_at
    return page


def _write(engine: sa.Engine, page: dict[str, list[dict[str, Any]]]) -> None:
    with write_transaction(engine) as conn:
        for resource in mirror.RESOURCES:
            mirror.upsert_records(conn, resource, page[resource])


def _held(engine: sa.Engine, npn: str) -> dict[str, dict[int, dict[str, Any]]]:
    """The records of ``npn`` in the mirror, by resource (children's tables included)."""
    held: dict[str, dict[int, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for resource in (*mirror.RESOURCES, "regulatoryActionValues"):
            records, npns = stored_records(conn, resource), stored_npns(conn, resource)
            if found := {i: r for i, r in records.items() if npns[i] == npn}:
                held[resource] = found
    return held


def _actions(engine: sa.Engine, npn: str) -> dict[tuple[str, int], list[str]]:
    """Each record of ``npn``'s actions in the change feed, in feed order."""
    found: dict[tuple[str, int], list[str]] = {}
    with engine.connect() as conn:
        for change in mirror.changes_since(conn, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)):
            if change.npn == npn:
                found.setdefault((change.resource, change.record_id), []).append(change.action)
    return found


def _consistent(actions: list[str]) -> bool:
    """A record's feed: an insert first, after a delete only an insert, never a delete of
    what is not there."""
    present = False
    for action in actions:
        if (action == "insert" and present) or (action != "insert" and not present):
            return False
        present = action != "delete"
    return True


def test_a_page_fetched_before_a_purge_and_written_after_it_brings_nothing_back(
    engine: sa.Engine,
) -> None:
    """It did, for good: no later sync serves an unsubscribed NPN's records, and only
    a deactivation purges."""
    gone, kept = wire().npns[:2]
    _write(engine, _page([gone, kept]))
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, [gone, kept], T0)
        mirror.deactivate_npns(conn, [gone], T0 + HOUR, purge=True)
    assert _held(engine, gone) == {}
    # The day's sync read this page while both were subscribed, and writes it now.
    _write(engine, _page([gone, kept], "2099-01-01"))
    assert _held(engine, gone) == {}
    held = _held(engine, kept)
    dates = {
        r["updatedAt"] for resource in mirror.RESOURCES for r in held.get(resource, {}).values()
    }
    assert dates == {"2099-01-01"}
    assert all(actions[-1] == "delete" for actions in _actions(engine, gone).values())


def test_without_a_purge_a_deactivated_npn_s_records_stay_as_they_were(engine: sa.Engine) -> None:
    npn = wire().npns[0]
    _write(engine, _page([npn]))
    before = _held(engine, npn)
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, [npn], T0)
        mirror.deactivate_npns(conn, [npn], T0 + HOUR, purge=False)
    _write(engine, _page([npn], "2099-01-01"))
    assert _held(engine, npn) == before != {}


def test_an_npn_no_change_recorded_for_has_its_records_written(engine: sa.Engine) -> None:
    """Its activation event not collected yet: the API serves it, so it is subscribed."""
    npn = wire().npns[0]
    _write(engine, _page([npn]))
    assert _held(engine, npn) != {}


@pytest.mark.parametrize("delivered", ["in order", "reactivation first"])
def test_a_quick_reactivation_ends_active_with_its_records_current(
    engine: sa.Engine, delivered: str
) -> None:
    """Deactivated at T0+1h, subscribed again at T0+2h, the events collected together or
    the later first (the collector applies each NPN's changes in time order), a page
    read before the deactivation written after them: active, owed a fetch, and once
    that is written its records are the API's, the feed's deletes each before an insert."""
    npn = wire().npns[0]
    _write(engine, _page([npn]))
    with write_transaction(engine) as conn:
        mirror.activate_npns(conn, [npn], T0)
        run_id = mirror.start_run(conn, "activation")
        mirror.mark_activations_fetched(conn, [npn], run_id)
        mirror.finish_run(conn, run_id, {})
        if delivered == "in order":
            mirror.deactivate_npns(conn, [npn], T0 + HOUR, purge=True)
            mirror.activate_npns(conn, [npn], T0 + 2 * HOUR)
        else:
            mirror.activate_npns(conn, [npn], T0 + 2 * HOUR)
            mirror.deactivate_npns(conn, [npn], T0 + HOUR, purge=True)
        assert mirror.active_npns(conn) == [npn]
        assert mirror.owed_fetches(conn, [npn]) == [npn]
    _write(engine, _page([npn]))  # read before the deactivation
    current = _page([npn], "2099-01-01")
    _write(engine, current)  # the re-activation's fetch
    _write(engine, _page([npn]))  # read before the deactivation, written last
    held = _held(engine, npn)
    assert {resource: set(held.get(resource, ())) for resource in mirror.RESOURCES} == {
        resource: {record["id"] for record in records} for resource, records in current.items()
    }
    assert {
        r["updatedAt"] for resource in mirror.RESOURCES for r in held.get(resource, {}).values()
    } == {"2099-01-01"}
    assert all(_consistent(actions) for actions in _actions(engine, npn).values())


Write = Callable[[sa.Connection], object]


def _beside(engine: sa.Engine, first: Write, second: Write) -> None:
    """``first`` written, not committed, when ``second`` starts beside it; committed
    once ``second`` is done or waits on a lock."""
    failed: list[BaseException] = []

    def write() -> None:
        try:
            with write_transaction(engine) as conn:
                second(conn)
        except BaseException as exc:  # for the test's thread to raise
            failed.append(exc)

    thread = threading.Thread(target=write)
    with write_transaction(engine) as conn:
        first(conn)
        thread.start()
        eventually(lambda: not thread.is_alive() or waiting_on_a_lock(engine))
    thread.join()
    assert not failed, failed


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["the page", "the purge"])
def test_a_page_written_beside_a_purge_on_postgresql_brings_nothing_back(
    tmp_path: Path, first: str
) -> None:
    """The purge deleted what its statement saw: a page's insert committed after it
    started stayed (or, committed between the purge's read and its delete, went with
    no change row), and a page that had read the NPN active before the purge committed
    wrote its records back after it, an "update" of a record deleted."""
    npn = wire().npns[0]
    page = _page([npn])
    *rest, last = page["licenses"]
    assert rest, "an NPN with two licenses"
    newer = {**last, "updatedAt": "2099-01-01"}

    def write_page(conn: sa.Connection) -> None:
        mirror.upsert_records(conn, "licenses", [newer])

    def purge(conn: sa.Connection) -> None:
        mirror.deactivate_npns(conn, [npn], T0 + HOUR, purge=True)

    with fresh_mirror("postgres", tmp_path) as engine:
        _write(engine, {**page, "licenses": rest if first == "the page" else [last, *rest]})
        with write_transaction(engine) as conn:
            mirror.activate_npns(conn, [npn], T0)
        if first == "the page":
            _beside(engine, write_page, purge)
        else:
            _beside(engine, purge, write_page)
        assert _held(engine, npn) == {}
        assert all(_consistent(actions) for actions in _actions(engine, npn).values())
