"""The sync service end to end: a real service process publishes signed events to a real
`producersync sync run` process on loopback, which keeps its mirror equal to what the
API serves — through activations, daily runs, missed days, redeliveries, forged
deliveries and a SIGKILL mid-sync. SQLite here; PostgreSQL runs the same tests in
``test_sync_process_postgres``, a file of its own so that the suite's workers (``--dist
loadfile``: a file stays on one worker) run the two stores' harnesses side by side: one
after the other, they were minutes of one file on a loaded 2-core machine."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from producersync.model.events import UPDATES_AVAILABLE, NpnActivated, UpdatesAvailable
from producersync.sync import mirror
from producersync.sync.mirror.tables import MIRRORED, events, receipts, sync_runs
from producersync.webhooks import generate_secret
from tests.conftest import BACKENDS
from tests.support.cli import on_backend
from tests.support.processes import cli
from tests.support.sync_harness import TODAY, Harness, first_npns, running_harness
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(90)
SQLITE, POSTGRES = BACKENDS  # pytest's parameters: PostgreSQL's carries its mark


def harness_on(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """The harness these tests share, its store and mirror on ``kind``."""
    directory = tmp_path_factory.mktemp(f"sync-{kind}")
    # The sync process logs JSON (PRODUCERSYNC_LOG_FORMAT): a run's end carries its fields.
    json_log = {"PRODUCERSYNC_LOG_FORMAT": "json"}
    with running_harness(kind, directory, sync_env=json_log) as h:
        yield h


@pytest.fixture(scope="module", params=[SQLITE])
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    yield from harness_on(request.param, tmp_path_factory)


def test_subscribed_npns_are_fetched_in_bulk_into_the_mirror(harness: Harness) -> None:
    npns = first_npns(harness, 30)
    harness.subscribe(npns)
    eventually(lambda: harness.status()["activeNpns"] == len(npns), what=harness.status)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    harness.wait_equal()
    assert harness.status()["failedRunsTotal"] == 0
    with harness.mirror.connect() as conn:
        fetches = conn.execute(
            sa.select(sa.func.count()).where(sync_runs.c.kind.in_(["activation", "population"]))
        ).scalar_one()
    assert fetches <= 3  # 30 events, fetched together (never one request per NPN)


def test_a_pass_over_the_population_makes_every_npn_it_lists_active(harness: Harness) -> None:
    # The 30 above leave. Then 10 join while the endpoint takes no activations (no event
    # of theirs ever comes), and 20 with theirs: the whole population is owed, so one
    # pass over it, from the subscriptions list, which names all 30.
    npns = first_npns(harness, 60)
    harness.unsubscribe(npns[:30])
    eventually(lambda: harness.status()["activeNpns"] == 0, what=harness.status)
    harness.event_types([UPDATES_AVAILABLE])
    harness.subscribe(npns[30:40])
    harness.event_types(None)
    harness.subscribe(npns[40:])
    eventually(lambda: harness.status()["activeNpns"] == 30, what=harness.status)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    assert harness.status()["lastRun"]["kind"] == "population"
    harness.wait_equal()
    # The 30 come back, fetched again: the mirror holds the records of the population
    # and no others, as the tests after this one expect.
    harness.subscribe(npns[:30])
    eventually(lambda: harness.status()["activeNpns"] == len(npns), what=harness.status)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    harness.wait_equal()


def test_a_daily_run_reaches_the_mirror(harness: Harness) -> None:
    day = TODAY - dt.timedelta(days=6)
    harness.nipr_run(day)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(), what=harness.status
    )
    harness.wait_equal()

    def ended() -> list[dict[str, Any]]:
        """The log's lines of the day's run; its end is logged just after it commits."""
        lines = [orjson.loads(line) for line in harness.sync.log.read_bytes().splitlines()]
        return [line for line in lines if line.get("run_date") == day.isoformat()]

    eventually(lambda: bool(ended()), what=harness.report)
    run = ended()[-1]
    assert run["message"].startswith(f"sync run {run['run_id']} (updates, runDate {day}) finished")
    assert (run["level"], run["kind"], type(run["records"])) == ("info", "updates", int), run


def test_missed_days_are_caught_up(harness: Harness) -> None:
    harness.endpoint_enabled(False)  # two days' events never arrive
    for offset in (5, 4):
        harness.nipr_run(TODAY - dt.timedelta(days=offset))
    harness.endpoint_enabled(True)
    day = TODAY - dt.timedelta(days=3)
    harness.nipr_run(day)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(), what=harness.status
    )
    assert harness.status()["lastRun"]["since"] == (TODAY - dt.timedelta(days=6)).isoformat()
    harness.wait_equal()


def test_a_sigkill_mid_sync_resumes_after_restart_without_duplicates(harness: Harness) -> None:
    day = TODAY - dt.timedelta(days=2)
    harness.nipr_run_until_syncing(day, churn=0.9)
    harness.sync.stop(signal.SIGKILL)
    harness.sync.start()
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] >= day.isoformat(), what=harness.status
    )
    harness.wait_equal()
    served = {r: len(harness.served(r, harness.population())) for r in mirror.RESOURCES}
    assert {r: len(harness.mirrored(r)) for r in mirror.RESOURCES} == served


def test_a_redelivery_is_acknowledged_and_changes_nothing(harness: Harness) -> None:
    with harness.mirror.connect() as conn:
        event_id = conn.execute(
            sa.select(receipts.c.event_id)
            .where(receipts.c.event_type == UPDATES_AVAILABLE)
            .order_by(receipts.c.received_at.desc())
            .limit(1)
        ).scalar_one()
    # Quiet first: a catch-up may follow the restart above.
    eventually(lambda: harness.status()["lastRun"]["status"] != "running", what=harness.status)
    before = harness.status()
    cli(
        "admin",
        "endpoint",
        "replay",
        harness.endpoint_id,
        event_id,
        "--database",
        harness.store_url,
    )
    eventually(
        lambda: harness.status()["receipts"]["total"] == before["receipts"]["total"] + 1,
        what=harness.status,
    )
    time.sleep(1)  # time enough for a workflow that should not start
    after = harness.status()
    assert after["lastRun"] == before["lastRun"]
    # Counted a duplicate, as the receiver's metric counts it, not a second acceptance.
    assert after["receipts"]["accepted"] == before["receipts"]["accepted"]
    assert after["receipts"]["duplicate"] == before["receipts"]["duplicate"] + 1
    assert after["receipts"]["unprocessed"] == 0


def test_a_forged_delivery_is_401_and_recorded(harness: Harness) -> None:
    rejected = harness.status()["receipts"]["rejected"]
    response = harness.deliver(NpnActivated.create("99999999"), generate_secret())
    assert response.status_code == 401
    assert harness.status()["receipts"]["rejected"] == rejected + 1


def test_the_sync_cli_reports_backfills_and_replays(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sync commands an operator runs beside `sync run` (on PostgreSQL each a process
    of its own; on SQLite through ``main`` in this process: ``on_backend``)."""
    run = on_backend(harness.store_url, monkeypatch, capsys)

    def sync(*args: str, exits: int = 0) -> str:
        code, out, err = run(["sync", *args], harness.sync.env)
        assert code == exits, f"producersync sync {' '.join(args)} exited {code}:\n{err}"
        return out

    status = orjson.loads(sync("status", "--json"))
    assert status["counts"] == harness.status()["counts"]
    last = dt.date.fromisoformat(status["lastSyncedRunDate"])
    latest = dt.date.fromisoformat(status["latestRunDate"])
    # The command's latest runDate, not the module's today: a run may cross midnight (UTC).
    assert status["lagDays"] == max(0, (latest - last).days)
    sync("backfill")
    assert harness.status()["lastRun"]["kind"] == "backfill"
    assert not harness.differences()
    verified = orjson.loads(sync("verify", "--json"))
    assert verified["equal"] and verified["population"] == len(harness.population())
    assert {r["resource"] for r in verified["resources"]} >= set(mirror.RESOURCES)
    table = MIRRORED["licenses"].table
    with harness.mirror.begin() as conn:
        row = conn.execute(sa.select(table.c.id, table.c.record).limit(1)).one()
        tampered = {**row.record, "licenseNum": "tampered"}
        conn.execute(table.update().where(table.c.id == row.id).values(record=tampered))
    failed, detail = sync("verify", exits=1), sync("verify", "--json", exits=1)
    with harness.mirror.begin() as conn:
        conn.execute(table.update().where(table.c.id == row.id).values(record=row.record))
    assert "the mirror differs" in failed
    [licenses] = [r for r in orjson.loads(detail)["resources"] if r["resource"] == "licenses"]
    assert licenses["differences"] == [f"{row.id}: licenseNum differ"]
    with harness.mirror.connect() as conn:
        event_id = conn.execute(
            sa.select(receipts.c.event_id).where(receipts.c.event_type == UPDATES_AVAILABLE)
        ).scalar()
    assert "queued" in sync("replay", event_id, "--wait")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    lines = sync("changes", "--since", since, "--json").splitlines()
    assert lines and all(orjson.loads(line)["resource"] in MIRRORED for line in lines)


def test_an_event_acknowledged_but_never_started_runs_at_the_next_start(
    harness: Harness,
) -> None:
    """A crash between the acknowledgement and the workflow's start: the receipt is all
    there is, and the next launch starts it."""
    harness.sync.stop()
    npn = harness.population()[0]
    event = NpnActivated.create(npn)
    receipt = mirror.Receipt(
        event.id, event.type, dt.datetime.now(dt.UTC), {}, event.to_json(), mirror.ACCEPTED
    )
    with mirror.write_transaction(harness.mirror) as conn:
        assert mirror.record_receipt(conn, receipt)
    harness.sync.start()

    def processed() -> bool:
        with harness.mirror.connect() as conn:
            return all(event_id != event.id for event_id, _ in mirror.unprocessed_events(conn))

    eventually(processed, what=harness.status)
    harness.wait_equal()


def test_an_event_redelivered_after_its_receipts_were_pruned_ends_processed(
    harness: Harness,
) -> None:
    """An updates_available done, its rows pruned past their retention, then delivered
    again (a replay from the sender's portal): recorded anew, unprocessed, its id answered
    by DBOS with the workflow finished long ago, which marked nothing again. It stayed
    unprocessed in `sync status`, and was submitted again at every launch, for good."""
    event = UpdatesAvailable.create(TODAY - dt.timedelta(days=1))

    def processed() -> bool:
        with harness.mirror.connect() as conn:
            return all(event_id != event.id for event_id, _ in mirror.unprocessed_events(conn))

    assert harness.deliver(event).status_code == 200
    eventually(processed, what=harness.status)
    # Long done when its rows are pruned: its last step marks it processed, and DBOS
    # records it done a moment later, which a loaded machine stretched past the
    # redelivery (found running, it was left to mark what it had marked already).
    eventually(lambda: harness.workflow_status(event.id) == "SUCCESS", every=0.2)
    with mirror.write_transaction(harness.mirror) as conn:  # as the pruning does, for one
        conn.execute(sa.delete(receipts).where(receipts.c.event_id == event.id))
        conn.execute(sa.delete(events).where(events.c.event_id == event.id))
    assert harness.deliver(event).status_code == 200
    with harness.mirror.connect() as conn:  # recorded as new, not answered as a known id
        verdicts = sa.select(receipts.c.verdict).where(receipts.c.event_id == event.id)
        assert list(conn.execute(verdicts).scalars()) == [mirror.ACCEPTED]
    eventually(processed, what=harness.status)


def test_a_run_date_still_to_come_moves_the_position_only_to_the_day_before(
    harness: Harness,
) -> None:
    """A signed updates_available dated 2099 (a sender's mistake, a replay tool dated
    ahead) is synced, but recorded as synced through the day before its sync started:
    recorded through 2099, the next syncs pulled from their own day, and a day whose
    event was lost afterwards was never pulled (catch-up saw nothing missed either)."""

    def quiet() -> bool:
        last = harness.status()["lastRun"]
        return last is None or last["status"] != "running"

    eventually(quiet, what=harness.status)
    before = (harness.status()["lastRun"] or {"id": 0})["id"]
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert harness.deliver(UpdatesAvailable.create(dt.date(2099, 1, 1))).status_code == 200

    def synced_2099() -> bool:
        last = harness.status()["lastRun"] or {"id": 0}
        return bool(last["id"] > before and last["finishedAt"] and last["runDate"] == "2099-01-01")

    eventually(synced_2099, what=harness.status)
    assert harness.status()["lastRun"]["status"] == "succeeded"
    assert harness.status()["lastSyncedRunDate"] == yesterday.isoformat()
    log = (harness.sync.log_dir / f"sync-{harness.sync.port}.log").read_text()
    assert "runDate 2099-01-01): that runDate is after the day the run started" in log
    # Yesterday's NIPR run, published late, its event lost; then today's, delivered.
    harness.endpoint_enabled(False)
    harness.nipr_run(yesterday, churn=0.5)
    harness.endpoint_enabled(True)
    today = yesterday + dt.timedelta(days=1)
    harness.nipr_run(today)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == today.isoformat(), what=harness.status
    )
    assert harness.status()["lastRun"]["since"] == yesterday.isoformat()
    harness.wait_equal()
