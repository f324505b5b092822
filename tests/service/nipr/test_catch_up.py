"""What a client syncing by ``updatedSince`` sees of the daily runs: every change of a
run, from its runDate and from wherever a client that caught up since had got to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
import sqlalchemy as sa
from tests.support.databases import universe_store
from tests.support.service import running_service

from producersync.service.api.resources import RESOURCES
from producersync.service.nipr.daily import run_day
from producersync.service.store import tables
from producersync.service.store.open import open_store

DAY = dt.date(2025, 6, 10)  # after the universe's start: no record carries it yet
ONE = dt.timedelta(days=1)

Stamps = dict[tuple[str, int], dt.date]


@pytest.fixture
def universe_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A store holding a universe of 200 producers: a copy of one the worker loaded, not a
    migration and a load for each test."""
    with universe_store(kind, tmp_path, 200, 5) as url:
        yield url


@pytest.fixture
def engine(universe_url: str) -> Iterator[sa.Engine]:
    engine = open_store(universe_url)
    yield engine
    engine.dispose()


def stamps(engine: sa.Engine) -> Stamps:
    """Every record's ``updatedAt``, by (table, id)."""
    with engine.connect() as conn:
        return {
            (table.name, row.id): row.updated_at
            for table in tables.RECORD_TABLES
            for row in conn.execute(sa.select(table.c.id, table.c.updated_at))
        }


def changed_by(engine: sa.Engine, run: dt.date, **options: float) -> Stamps:
    """Run the day; the stamps of the records it changed (new ones included)."""
    before = stamps(engine)
    run_day(engine, run, **options)  # type: ignore[arg-type]
    return {key: day for key, day in stamps(engine).items() if before.get(key) != day}


@pytest.mark.parametrize(
    "late",
    [DAY, DAY - 30 * ONE],
    ids=["missed-day-run-late", "date-before-the-last-run"],
)
def test_a_run_dated_before_the_last_one_is_seen_from_where_clients_got_to(
    engine: sa.Engine, late: dt.date
) -> None:
    """A client synced after the run of DAY+1. The run of an earlier date then commits
    (a day missed while the service was down, run late: DBOS starts the missed days
    together and they commit in any order; or an operator's ``--date``), and its event
    is lost. The next event, DAY+2, has the client pull from min(DAY+2, DAY+1): the
    late run's changes were stamped with their own, earlier date, below that, and the
    client never saw them."""
    run_day(engine, DAY + ONE, churn_rate=0.3, seed=1)
    synced_through = DAY + ONE
    late_changes = changed_by(engine, late, churn_rate=0.3, seed=2)
    run_day(engine, DAY + 2 * ONE, churn_rate=0.3, seed=3)

    since = min(DAY + 2 * ONE, synced_through)
    assert late_changes
    unseen = {key: day for key, day in late_changes.items() if day < since}
    assert unseen == {}
    # Seen from the late run's own runDate too, as its event says.
    assert all(day >= late for day in late_changes.values())


def test_runs_in_date_order_stamp_their_own_date(engine: sa.Engine) -> None:
    """Days run in turn, a day skipped between them: each run's changes carry exactly
    its runDate, so ``updatedSince=runDate`` is that day's changes and no more."""
    first = changed_by(engine, DAY, churn_rate=0.2, seed=1)
    skipped_to = changed_by(engine, DAY + 2 * ONE, churn_rate=0.2, seed=1)
    assert first and skipped_to
    assert set(first.values()) == {DAY}
    assert set(skipped_to.values()) == {DAY + 2 * ONE}


# --- through the API ---------------------------------------------------------------------


def v2_ids(http: httpx2.Client, url: str) -> list[tuple[int, bool]]:
    """(id, niprDeleted) of every record of a v2 list, following links.next."""
    key = url.split("?")[0].split("/")[-1]
    found: list[tuple[int, bool]] = []
    while True:
        body = http.get(url).raise_for_status().json()
        if "embedded" not in body:
            return found
        found += [(r["id"], r["niprDeleted"]) for r in body["embedded"][key]]
        url = body["links"]["next"]["href"]


def v1_ids(http: httpx2.Client, url: str) -> list[tuple[int, bool]]:
    """The same from the v1 list, page by page."""
    key = url.split("?")[0].split("/")[-1]
    found: list[tuple[int, bool]] = []
    for page in range(1000):
        body = http.get(f"{url}&page={page}").raise_for_status().json()
        if "embedded" not in body:
            return found
        found += [(r["id"], r["niprDeleted"]) for r in body["embedded"][key]]
    raise AssertionError("more pages than a test store has")


def updates_available(engine: sa.Engine, account_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = sa.select(tables.webhook_messages.c.payload).where(
            tables.webhook_messages.c.account_id == account_id,
            tables.webhook_messages.c.event_type == "producersync.updates_available",
        )
        return [orjson.loads(payload)["data"] for payload in conn.execute(query).scalars()]


def test_a_runs_changes_are_what_updated_since_its_run_date_lists(
    universe_url: str, tmp_path: Path
) -> None:
    """After a run, ``updatedSince=runDate`` on every v2 and v1 list is exactly the run's
    changes to the account's population, NIPR deletions included (and left out under
    ``includeDeleted=false``), and the account's event names that runDate. An account
    with no NPN that changed (none at all) gets the day's event all the same: it comes
    once a day, after the daily update."""
    with running_service(universe_url) as service:
        with service.engine.connect() as conn:
            npns = list(
                conn.execute(
                    sa.select(tables.entities.c.npn)
                    .where(tables.entities.c.id >= 10_000_000)
                    .order_by(tables.entities.c.npn)
                ).scalars()
            )
        watched, quiet = service.account(), service.account()
        population = npns[::2]
        assert service.subscribe(watched, population)["status"] == "COMPLETED"
        with service.engine.connect() as conn:
            deleted = conn.execute(
                sa.select(tables.licenses.c.id)
                .where(
                    tables.licenses.c.npn.in_(population),
                    tables.licenses.c.residency_status == "NR",
                    tables.licenses.c.nipr_deleted.is_(False),
                )
                .limit(1)
            ).scalar_one()
        feed = tmp_path / "deletions.jsonl"
        feed.write_bytes(orjson.dumps({"op": "delete", "type": "licenses", "id": deleted}))
        run_day(service.engine, DAY, churn_rate=0.3, seed=1)
        run_day(service.engine, DAY + ONE, feed=feed)

        with service.client(watched) as http:
            for resource in (r for r in RESOURCES if r.v2_list):
                table = resource.table
                for day in (DAY, DAY + ONE):
                    with service.engine.connect() as conn:
                        query = sa.select(table.c.id, table.c.nipr_deleted).where(
                            table.c.npn.in_(population), table.c.updated_at >= day
                        )
                        expected = sorted(tuple(row) for row in conn.execute(query))
                    query_string = f"updatedSince={day}&size=7"
                    for ids in (v2_ids, v1_ids):
                        url = f"/{ids.__name__[:2]}/{resource.key}?{query_string}"
                        assert sorted(ids(http, url)) == expected, url
                        live = sorted(ids(http, f"{url}&includeDeleted=false"))
                        assert live == [row for row in expected if not row[1]], url
            changed = v2_ids(http, f"/v2/licenses?updatedSince={DAY + ONE}")
            assert (deleted, True) in changed
            loas = v2_ids(http, f"/v2/licenseLoas?updatedSince={DAY + ONE}")
            assert loas and all(gone for _, gone in loas)

        days = [{"runDate": DAY.isoformat()}, {"runDate": (DAY + ONE).isoformat()}]
        assert updates_available(service.engine, watched.account_id) == days
        assert updates_available(service.engine, quiet.account_id) == days
