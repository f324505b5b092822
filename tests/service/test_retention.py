"""Retention: what the pruner lets go (webhook payloads, attempts' response bodies,
finished subscription jobs), in batches, and what clients see of it afterwards. The
clock is the ``now`` the pruner is given: the rows are dated, not waited for."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter

from producersync.model.events import (
    NPN_ACTIVATED,
    UPDATES_AVAILABLE,
    NpnActivated,
    UpdatesAvailable,
)
from producersync.service import retention
from producersync.service.retention import Pruned, Retention, prune
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import (
    Action,
    ItemResult,
    JobItem,
    Operation,
    create_job,
    created_at_of,
    fail_job,
    finish_job,
    get_job,
    record_items,
    time_ordered_id,
)
from producersync.service.store.open import open_store
from producersync.service.store.tables import job_items, jobs, webhook_attempts
from tests.conftest import BACKENDS
from tests.portal.conftest import sign_in
from tests.support.cli import producersync_output
from tests.support.databases import migrated_store, plan_nodes, statements
from tests.support.delivery import log_attempts
from tests.support.delivery import opened_store as opened
from tests.support.service import RunningService, running_service
from tests.support.waiting import eventually

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
KEPT = Retention(
    payloads=dt.timedelta(days=90),
    responses=dt.timedelta(days=90),
    jobs=dt.timedelta(days=7),
    batch=1000,
)
URL = "https://93.184.216.34/hook"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with opened(request.param, tmp_path) as engine:
        yield engine


def _account(engine: sa.Engine) -> int:
    with write_transaction(engine) as conn:
        return accounts.create_account(conn, f"acct-{uuid.uuid4().hex[:10]}", sandbox=False).id


def _endpoint(engine: sa.Engine, account_id: int) -> str:
    with write_transaction(engine) as conn:
        endpoint, _secret = endpoints.create_endpoint(conn, account_id, URL)
        return endpoint.id


def _publish(engine: sa.Engine, account_id: int, event: Any, at: dt.datetime) -> str:
    with write_transaction(engine) as conn:
        message = outbox.Message(event.id, account_id, event.type, event.to_json())
        outbox.publish(conn, [message], now=at)
    return str(event.id)


def _message(engine: sa.Engine, message_id: str) -> outbox.Message:
    with engine.connect() as conn:
        found = outbox.get_message(conn, None, message_id)
    assert found is not None
    return found


def _finished_job(engine: sa.Engine, account_id: int, npns: int, *, failed: bool = False) -> str:
    with write_transaction(engine) as conn:
        job = create_job(conn, account_id, Operation.APPEND, [str(n) for n in range(npns)])
        items = [JobItem(str(n), Action.ACTIVATE, ItemResult.SUCCESS, None) for n in range(npns)]
        record_items(conn, job.id, items)
        if failed:
            fail_job(conn, job.id, "broken")
        else:
            finish_job(conn, job.id, items)
    return job.id


def _count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def test_payloads_past_their_retention_expire_and_newer_ones_stay(engine: sa.Engine) -> None:
    account = _account(engine)
    old = _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
    new = _publish(engine, account, NpnActivated.create("15645555"), T0 + dt.timedelta(days=2))

    pruned = prune(engine, KEPT, now=T0 + dt.timedelta(days=91))

    assert pruned.payloads == 1
    assert _message(engine, old).expired and _message(engine, old).payload == b""
    assert not _message(engine, new).expired
    assert prune(engine, KEPT, now=T0 + dt.timedelta(days=91)) == Pruned()


def test_a_pending_delivery_of_an_expired_payload_is_ended_unsent_saying_why(
    engine: sa.Engine,
) -> None:
    """Pending 90 days (its endpoint disabled): re-enabled, it sent an empty body."""
    account = _account(engine)
    endpoint = _endpoint(engine, account)
    message = _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)

    prune(engine, KEPT, now=T0 + dt.timedelta(days=91))

    with engine.connect() as conn:
        (delivery,) = outbox.list_deliveries(conn, endpoint_id=endpoint)
        (attempt,) = outbox.list_attempts(conn, message_id=message)
    assert delivery.state == "failed" and delivery.next_attempt_at is None
    assert not attempt.sent and attempt.error == outbox.PAYLOAD_EXPIRED


def test_a_delivery_made_due_after_its_payload_expired_is_ended_not_sent(
    engine: sa.Engine,
) -> None:
    """A replay committed between the pruner's expiry and its end of the deliveries (two
    processes) left one due: claimed, it was sent with an empty body."""
    account = _account(engine)
    endpoint = _endpoint(engine, account)
    message = _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
    now = T0 + dt.timedelta(days=91)
    prune(engine, KEPT, now=now)
    with write_transaction(engine) as conn:
        outbox.replay(conn, message, endpoint, now)  # past management's refusal

    with write_transaction(engine) as conn:
        claimed = outbox.claim_due(conn, now, 10, dt.timedelta(seconds=30))
        (delivery,) = outbox.list_deliveries(conn, endpoint_id=endpoint)
    assert claimed == [] and delivery.state == "failed"


def test_response_bodies_past_their_retention_are_dropped_and_the_attempts_stay(
    engine: sa.Engine,
) -> None:
    account = _account(engine)
    endpoint = _endpoint(engine, account)
    _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
    _publish(engine, account, NpnActivated.create("15645555"), T0 + dt.timedelta(days=2))
    log_attempts(engine, endpoint, [False, True], event_type=UPDATES_AVAILABLE, start=T0)
    later = T0 + dt.timedelta(days=2)
    log_attempts(engine, endpoint, [True], event_type=NPN_ACTIVATED, start=later)

    pruned = prune(engine, KEPT, now=T0 + dt.timedelta(days=91))

    assert pruned.responses == 2
    with engine.connect() as conn:
        a = webhook_attempts
        query = sa.select(a.c.event_type, a.c.response).where(a.c.succeeded)
        kept = {event_type: response for event_type, response in conn.execute(query)}
    # The three, and the one that ended the old message's pending delivery unsent.
    assert _count(engine, webhook_attempts) == 4
    assert kept == {UPDATES_AVAILABLE: None, NPN_ACTIVATED: "answer 0"}


def test_finished_jobs_past_their_retention_are_deleted_with_their_details(
    engine: sa.Engine,
) -> None:
    account = _account(engine)
    completed = _finished_job(engine, account, 5)
    failed = _finished_job(engine, account, 3, failed=True)
    with write_transaction(engine) as conn:
        queued = create_job(conn, account, Operation.APPEND, ["1"]).id
    now = dt.datetime.now(dt.UTC)

    assert prune(engine, KEPT, now=now + dt.timedelta(days=6)) == Pruned()
    pruned = prune(engine, KEPT, now=now + dt.timedelta(days=8))

    assert pruned == Pruned(jobs=2, job_items=8)
    with engine.connect() as conn:
        assert get_job(conn, account, completed) is None and get_job(conn, account, failed) is None
        assert get_job(conn, account, queued) is not None  # never, however old
    assert _count(engine, job_items) == 0


def test_a_big_job_is_deleted_over_batches_each_its_own_transaction(engine: sa.Engine) -> None:
    """A 50,000-NPN job was one DELETE of 50,000 rows: a batch is at most ``batch`` rows."""
    account = _account(engine)
    job = _finished_job(engine, account, 10)
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    sa.event.listen(engine, "commit", committed)
    try:
        with statements(engine) as sent:
            pruned = prune(
                engine,
                Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=3),
                now=dt.datetime.now(dt.UTC) + dt.timedelta(days=8),
            )
    finally:
        sa.event.remove(engine, "commit", committed)
    assert pruned == Pruned(jobs=1, job_items=10)
    # 3 + 3 + 3 + 1 (and the job), each committed, then a batch that finds nothing left.
    deletes = [q for q in sent if q.startswith("DELETE FROM job_items")]
    assert len(deletes) == 4 and len(commits) >= 5
    assert _count(engine, jobs, jobs.c.id == job) == 0


def test_jobs_of_every_size_and_none_are_deleted_whole_over_batches(engine: sa.Engine) -> None:
    """A batch deletes the jobs it passed in the index's order: one ended by a batch's
    last row, and one with no details at all, go with a later batch."""
    account = _account(engine)
    made = [_finished_job(engine, account, npns) for npns in (6, 0, 3, 1, 5, 0, 2)]
    small = Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=3)

    pruned = prune(engine, small, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=8))

    assert pruned == Pruned(jobs=7, job_items=17)
    assert _count(engine, jobs, jobs.c.id.in_(made)) == 0


def test_no_statement_of_a_batch_of_jobs_joins_their_details(tmp_path: Path) -> None:
    """PostgreSQL's planner, weighing a merge join of job_items (an IN of a subquery, a
    NOT EXISTS), reads the ends of the table's indexes for the range of their keys, and
    the lowest are the rows the run has deleted, dead until a vacuum: each batch read
    them all before it started (62 ms of planning once 300,000 were deleted). The year
    of bench/retention.py's batches took 56 ms each in those two statements, 13 ms in
    the three that replace them."""
    with opened("postgres", tmp_path) as engine:
        account = _account(engine)
        for npns in (4, 3):
            _finished_job(engine, account, npns)
        small = Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=3)

        with plan_nodes(engine) as planned:
            pruned = prune(engine, small, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=8))

    assert pruned == Pruned(jobs=2, job_items=7)
    joins = {"Nested Loop", "Hash Join", "Merge Join"}
    joined = [
        statement for statement, nodes in planned if "job_items" in statement and joins & nodes
    ]
    assert joined == []


def test_a_batch_commits_on_postgresql_without_waiting_for_the_disk(tmp_path: Path) -> None:
    """Each of a year's 2,343 batches waited 5.7 ms for its WAL flush; a batch a crash
    loses is pruned again by the next run (SQLite's WAL commits so already)."""
    with opened("postgres", tmp_path) as engine:
        account = _account(engine)
        _finished_job(engine, account, 3)
        _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
        with engine.connect() as conn:
            before = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
        settings: list[str] = []

        def note(_c: object, cursor: Any, statement: str, *_a: object) -> None:
            if statement.startswith(("UPDATE", "DELETE")):
                show = cursor.connection.execute("SHOW synchronous_commit").fetchone()
                settings.append(show[0])

        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            prune(engine, KEPT, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)
        with engine.connect() as conn:  # the batches' own: the pool's commit as before
            after = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    assert before == after != "off" and settings and set(settings) == {"off"}


def test_many_messages_expire_over_batches(engine: sa.Engine) -> None:
    account = _account(engine)
    ids = [
        _publish(engine, account, NpnActivated.create(str(n)), T0 + dt.timedelta(seconds=n))
        for n in range(7)
    ]
    small = Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=2)
    assert prune(engine, small, now=T0 + dt.timedelta(days=91)).payloads == 7
    assert all(_message(engine, m).expired for m in ids)


def test_two_pruners_at_once_prune_everything_once_and_neither_fails(engine: sa.Engine) -> None:
    """Several service processes prune the same store: disjoint batches on PostgreSQL
    (SKIP LOCKED), one writer at a time on SQLite; no deadlock, nothing counted twice."""
    account = _account(engine)
    for _ in range(6):
        _finished_job(engine, account, 20)
    for n in range(30):
        _publish(engine, account, NpnActivated.create(str(n)), T0)
    small = Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=4)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    start = threading.Barrier(2)

    def run() -> Pruned:
        start.wait()
        return prune(engine, small, now=now)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: run(), range(2))
    assert first.payloads + second.payloads == 30
    assert (first.jobs + second.jobs, first.job_items + second.job_items) == (6, 120)
    assert _count(engine, jobs) == 0


def test_a_stop_ends_a_run_between_batches(engine: sa.Engine) -> None:
    account = _account(engine)
    for n in range(5):
        _publish(engine, account, NpnActivated.create(str(n)), T0)
    stop = threading.Event()
    stop.set()
    small = Retention(KEPT.payloads, KEPT.responses, KEPT.jobs, batch=1)
    assert prune(engine, small, now=T0 + dt.timedelta(days=91), stop=stop) == Pruned()


def test_job_ids_tell_when_the_job_was_made() -> None:
    at = dt.datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=dt.UTC)
    job_id = time_ordered_id(at)
    assert uuid.UUID(job_id).version == 7 and uuid.UUID(job_id).variant == uuid.RFC_4122
    assert created_at_of(job_id) == at
    assert created_at_of(str(uuid.uuid4())) is None
    assert len({time_ordered_id(at) for _ in range(100)}) == 100


def _old_job(engine: sa.Engine, account_id: int, days: int) -> str:
    """A job made and finished ``days`` ago, with one detail row."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    job_id = time_ordered_id(at)
    with write_transaction(engine) as conn:
        conn.execute(
            jobs.insert().values(
                id=job_id,
                account_id=account_id,
                operation=Operation.APPEND.value,
                status="COMPLETED",
                npns=["15645555"],
                requested=1,
                created_at=at,
                updated_at=at,
            )
        )
        record_items(conn, job_id, [JobItem("15645555", Action.ACTIVATE, ItemResult.SUCCESS, None)])
    return job_id


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(f"sqlite:///{tmp_path / 'store.db'}") as running:
        yield running


def test_an_expired_message_reads_expired_and_its_replay_is_a_410(
    service: RunningService,
) -> None:
    creds = service.account()
    endpoint = _endpoint(service.engine, creds.account_id)
    message = _publish(service.engine, creds.account_id, UpdatesAvailable.create(T0.date()), T0)
    prune(service.engine, KEPT, now=T0 + dt.timedelta(days=91))

    with service.client(creds) as http:
        one = http.get(f"/v1/webhooks/messages/{message}")
        listed = http.get("/v1/webhooks/messages").json()["data"]
        replayed = http.post(f"/v1/webhooks/endpoints/{endpoint}/messages/{message}/replay")
    assert one.status_code == 200 and one.json()["payload"] == {"expired": True}
    assert [m["payload"] for m in listed if m["id"] == message] == [{"expired": True}]
    assert replayed.status_code == 410
    body = replayed.json()
    assert body["status"] == 410 and body["error"] == "Gone"
    assert body["message"] == (
        f"The payload of webhook message {message} expired (payloads are kept 90 days): "
        "it cannot be sent again"
    )


def test_a_pruned_job_is_a_404_that_says_jobs_are_kept_so_many_days(
    service: RunningService,
) -> None:
    creds = service.account()
    pruned = _old_job(service.engine, creds.account_id, 10)
    kept = _old_job(service.engine, creds.account_id, 3)
    prune(service.engine, KEPT)
    made = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).date().isoformat()
    never = time_ordered_id(dt.datetime.now(dt.UTC))

    with service.client(creds) as http:
        gone = http.get(f"/v1/accounts/subscriptions/status/{pruned}")
        details = http.get(f"/v1/accounts/subscriptions/status/{pruned}/details")
        there = http.get(f"/v1/accounts/subscriptions/status/{kept}")
        unknown = http.get(f"/v1/accounts/subscriptions/status/{never}")
    assert gone.status_code == details.status_code == 404
    assert gone.json()["message"] == (
        f"No NPN management job {pruned}: made on {made}, it has been deleted (finished jobs "
        "are kept 7 days)"
    )
    assert there.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json()["message"] == f"No NPN management job {never}"


def test_the_portal_says_a_payload_expired_and_refuses_its_resend(
    service: RunningService,
) -> None:
    creds = service.account()
    visitor = sign_in(service, creds)
    endpoint = _endpoint(service.engine, creds.account_id)
    message = _publish(service.engine, creds.account_id, UpdatesAvailable.create(T0.date()), T0)
    log_attempts(service.engine, endpoint, [False], event_type=UPDATES_AVAILABLE, start=T0)
    prune(service.engine, KEPT, now=dt.datetime.now(dt.UTC))
    with service.engine.connect() as conn:
        (attempt, _unsent) = reversed(outbox.list_attempts(conn, message_id=message))

    page = visitor.http.get(f"/portal/endpoints/{endpoint}/attempts/{attempt.id}")
    listed = visitor.http.get(f"/portal/endpoints/{endpoint}/attempts")
    resent = visitor.form(f"/portal/endpoints/{endpoint}/messages/{message}/resend")
    visitor.http.close()

    # The list offered its Resend, which led to the 410 page.
    assert listed.status_code == 200 and f'id="attempt-{attempt.id}"' in listed.text
    assert "Payload expired" in listed.text and f'id="resend-{attempt.id}"' not in listed.text

    assert page.status_code == 200
    assert "payload has expired (payloads are kept 90 days): it cannot be resent" in page.text
    payload = page.text.split('id="payload-title"')[1].split("</section>")[0]
    assert "payload has expired (payloads are kept 90 days).</p>" in payload
    assert "<pre>" not in payload
    assert "response bodies are kept 90 days" in page.text
    assert "Resend message" not in page.text
    assert resent.status_code == 410 and "Message expired" in resent.text


def test_a_service_prunes_at_start(tmp_path: Path) -> None:
    """Nothing was ever deleted: the service's background work prunes, once at start."""
    with migrated_store("sqlite", tmp_path) as url:
        engine = open_store(url)
        account = _account(engine)
        old = _old_job(engine, account, 10)
        message = _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
        with running_service(url, prune_enabled=True) as service:
            eventually(lambda: _count(engine, jobs, jobs.c.id == old) == 0)
            eventually(lambda: _message(engine, message).expired)

            def counted() -> str:
                with service.client() as http:
                    return http.get("/metrics").text

            eventually(lambda: 'producersync_pruned_total{what="jobs"} 1.0' in counted())
            scraped = counted()
        engine.dispose()
    assert 'producersync_pruned_total{what="payloads"} 1.0' in scraped
    assert 'producersync_pruned_total{what="job_items"} 1.0' in scraped


def test_the_cli_refuses_to_replay_an_expired_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated_store("sqlite", tmp_path) as url:
        engine = open_store(url)
        account = _account(engine)
        endpoint = _endpoint(engine, account)
        message = _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
        prune(engine, KEPT, now=T0 + dt.timedelta(days=91))
        engine.dispose()
        code, _out, err = producersync_output(
            monkeypatch, capsys, "admin", "endpoint", "replay", endpoint, message, "--database", url
        )
    assert code == 1
    assert f"the payload of message '{message}' expired (payloads are kept 90 days)" in err


def test_each_batch_is_found_through_an_index_not_by_a_scan(tmp_path: Path) -> None:
    """A batch read the table from its start past every row already pruned: the
    thousandth read as much as the first, and a year of them the whole table each."""
    with opened("sqlite", tmp_path) as engine:
        account = _account(engine)
        _finished_job(engine, account, 2)
        _publish(engine, account, UpdatesAvailable.create(T0.date()), T0)
        sent: list[tuple[str, Any]] = []

        def note(_c: object, _cur: object, statement: str, parameters: Any, *_a: object) -> None:
            if statement.startswith("SELECT") and "LIMIT" in statement:
                sent.append((statement, parameters))

        sa.event.listen(engine, "before_cursor_execute", note)
        try:
            prune(engine, KEPT, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
        finally:
            sa.event.remove(engine, "before_cursor_execute", note)
        with engine.connect() as conn:
            plans = {
                " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}", p))
                for q, p in sent
                if "FROM webhook_messages" in q or "FROM webhook_attempts" in q or "FROM jobs" in q
            }
    assert plans == {
        "SEARCH webhook_messages USING INDEX ix_webhook_messages_kept_created_at (created_at<?)",
        "SEARCH webhook_attempts USING INDEX ix_webhook_attempts_kept_attempted_at "
        "(attempted_at<?)",
        "SEARCH jobs USING INDEX ix_jobs_status_updated_at (status=? AND updated_at<?)",
    }


def test_a_pruner_failing_at_every_round_logs_the_traceback_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that refuses the pruner's deletes (a trigger here; a constraint, a release's
    bug) fails its every round: the traceback is logged once, the same error after in a
    line with its count, and that it runs again once a round succeeds. It logged a
    traceback at every round."""
    caplog.set_level(logging.INFO, logger=retention.__name__)
    with opened("sqlite", tmp_path) as engine:
        _finished_job(engine, _account(engine), 2)
        with write_transaction(engine) as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER kept BEFORE DELETE ON jobs "
                "BEGIN SELECT RAISE(ABORT, 'kept by a trigger'); END"
            )
        counted = Counter("pruned", "rows let go", ["what"], registry=CollectorRegistry())
        kept = dataclasses.replace(KEPT, jobs=dt.timedelta(0))
        pruner = retention.Pruner(engine, kept, 0.01, counted, errors_told_every=0)
        pruner.start()
        try:
            eventually(lambda: any("5 times" in line for line in _lines(caplog)), timeout=15)
            with write_transaction(engine) as conn:
                conn.exec_driver_sql("DROP TRIGGER kept")
            eventually(lambda: _count(engine, jobs) == 0)
        finally:
            pruner.stop()
    tracebacks = [record.getMessage() for record in caplog.records if record.exc_info]
    assert tracebacks == [
        "retention: IntegrityError: kept by a trigger, trying again next round"
    ], _lines(caplog)
    repeats = [line for line in _lines(caplog) if "the same error again" in line]
    assert len(repeats) >= 4 and repeats[-1].endswith("IntegrityError: kept by a trigger")
    assert any(line.startswith("retention: runs again;") for line in _lines(caplog))


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]
