"""The job worker, on a store of its own (no service worker takes the jobs): how jobs of
several accounts settle side by side, and what may fail once a job has committed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model import events as events_model
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.population import jobs as population_jobs
from producersync.service.population.jobs import process_next_job
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store import jobs as store_jobs
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import JobStatus, Operation, create_job, get_job
from producersync.service.store.population import all_subscribed, lock_account
from producersync.service.store.tables import entities, jobs, webhook_messages
from tests.conftest import BACKENDS
from tests.support.databases import refused_updates, waiting_on_a_lock
from tests.support.delivery import loaded_store, skew_clock
from tests.support.waiting import eventually


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    with loaded_store(request.param, tmp_path_factory.mktemp(request.param), 400) as (_, store):
        yield store


@pytest.fixture(scope="module")
def npns(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        query = sa.select(entities.c.npn).where(entities.c.npn.not_in(SANDBOX_NPNS))
        return sorted(conn.execute(query).scalars())


def _account(engine: sa.Engine) -> int:
    with write_transaction(engine) as conn:
        return accounts.create_account(conn, f"acct-{uuid.uuid4().hex[:10]}", sandbox=False).id


def _drain(engine: sa.Engine) -> None:
    while process_next_job(engine):
        pass


def _statuses(engine: sa.Engine, job_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.status, jobs.c.error).where(jobs.c.id.in_(job_ids))
        )
        return {row.id: (row.status, row.error) for row in rows}


def test_jobs_of_two_accounts_swapping_the_same_npns_all_complete(
    engine: sa.Engine, npns: list[str]
) -> None:
    """A replaces its NPNs with B's while B replaces its own with A's, again and again, two
    workers at once. Each job bumps the subscriber counts of the NPNs it drops, then of
    those it adds: on PostgreSQL the two jobs' updates met in opposite orders, it broke the
    deadlock by rolling one back, and that job was FAILED, its NPNs left as they were."""
    a, b = _account(engine), _account(engine)
    ours, theirs = npns[:150], npns[150:300]
    with write_transaction(engine) as conn:
        create_job(conn, a, Operation.APPEND, ours)
        create_job(conn, b, Operation.APPEND, theirs)
    _drain(engine)
    rounds = 8
    job_ids: list[str] = []
    with write_transaction(engine) as conn:
        for i in range(rounds):
            swapped = i % 2 == 0
            job_ids.append(create_job(conn, a, Operation.REPLACE, theirs if swapped else ours).id)
            job_ids.append(create_job(conn, b, Operation.REPLACE, ours if swapped else theirs).id)
    workers = [threading.Thread(target=_drain, args=(engine,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert set(_statuses(engine, job_ids).values()) == {("COMPLETED", None)}
    with engine.connect() as conn:
        assert all_subscribed(conn, a) == set(ours) and all_subscribed(conn, b) == set(theirs)
        counts = conn.execute(
            sa.select(entities.c.subscription_count).where(entities.c.npn.in_(ours + theirs))
        ).scalars()
        assert set(counts) == {1}


def test_a_job_whose_wake_up_call_fails_stays_completed(engine: sa.Engine, npns: list[str]) -> None:
    """Once its transaction commits, a job has changed the population and queued its
    events: a failure after that (telling the dispatcher, refreshing the statistics)
    marked it FAILED, and its client took a job that had applied for one that had not."""
    account = _account(engine)
    with write_transaction(engine) as conn:
        endpoints.create_endpoint(conn, account, "https://hooks.example.com/psapi")
        job = create_job(conn, account, Operation.APPEND, npns[:3])

    def wake() -> None:
        raise RuntimeError("the dispatcher is gone")

    with pytest.raises(RuntimeError):
        process_next_job(engine, on_publish=wake)

    assert _statuses(engine, [job.id]) == {job.id: ("COMPLETED", None)}
    with engine.connect() as conn:
        assert all_subscribed(conn, account) == set(npns[:3])
        payloads = conn.execute(
            sa.select(webhook_messages.c.payload).where(webhook_messages.c.account_id == account)
        ).scalars()
        announced = Counter(json.loads(p)["data"]["npn"] for p in payloads)
    assert announced == dict.fromkeys(npns[:3], 1)


def test_a_job_the_store_refuses_tells_its_client_what_to_do_and_the_log_the_error(
    engine: sa.Engine, npns: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The store refuses the job's change to an NPN's subscriber count (a trigger, as a
    CHECK constraint would): the job is FAILED, nothing changed, and its client reads what
    to do in its request's terms; the store's error is logged once, with the job and its
    account. The client read ``IntegrityError: CHECK constraint failed: count >= 0``, the
    store's constraint, and the log line named no account."""
    caplog.set_level(logging.INFO, logger=population_jobs.__name__)
    account = _account(engine)
    with write_transaction(engine) as conn:
        job = create_job(conn, account, Operation.APPEND, npns[:2])
    refusal = "CHECK constraint failed: count >= 0"
    with refused_updates(engine, "entities", f"NEW.npn = '{npns[1]}'", refusal):
        _drain(engine)

    assert _statuses(engine, [job.id]) == {
        job.id: (
            "FAILED",
            "The service failed to apply this APPEND of 2 NPNs, through no fault of the "
            "request. Nothing was changed; send the request again, and should it fail again, "
            f"contact support, quoting job {job.id}.",
        )
    }
    with engine.connect() as conn:
        assert all_subscribed(conn, account) == set()
    logged = [record for record in caplog.records if job.id in record.getMessage()]
    assert [record.getMessage() for record in logged] == [
        f"job {job.id} of account {account} (APPEND of 2 NPNs) marked FAILED: an error as "
        "it was applied"
    ]
    assert logged[0].exc_info is not None and refusal in str(logged[0].exc_info[1])


def test_a_job_s_events_and_its_account_are_dated_by_the_store_s_clock(
    engine: sa.Engine, npns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each was stamped by its process's clock: a worker a day ahead dated a job's events
    # a day off their messages, and clients made by admin on two hosts were listed out of
    # their order.
    for module in (accounts, population_jobs, events_model):
        skew_clock(monkeypatch, module, dt.timedelta(days=1))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, f"acct-{uuid.uuid4().hex[:10]}", sandbox=False)
        client_id, _secret = accounts.create_client(conn, account, "producersync:read")
        create_job(conn, account.id, Operation.APPEND, npns[-1:])
    _drain(engine)
    after = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        client = accounts.find_client(conn, client_id)
        (message,) = outbox.list_messages(conn, account.id, limit=9)
    assert client is not None
    event = json.loads(message.payload)
    times = [event["timestamp"], event["data"]["activatedAt"]]
    for at in [account.created_at, client.created_at, *map(dt.datetime.fromisoformat, times)]:
        assert before <= at <= after, (at, times)


def test_jobs_run_in_the_order_made_and_are_dated_by_the_store_s_clock(
    engine: sa.Engine, npns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each NPN added, then removed, in one transaction, each job by a host of its own
    clock. Run in the order of their times, a removal made by a host behind ran before
    its addition, and on PostgreSQL jobs made in one transaction tied and ran in their
    random ids' order (here, 8 pairs: one time in 256 in order); their status showed the
    hosts' times."""
    account = _account(engine)
    chosen = npns[300:308]
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    made: list[str] = []
    with write_transaction(engine) as conn:
        for npn in chosen:
            for operation, hours in ((Operation.APPEND, 1), (Operation.REMOVE, -1)):
                skew_clock(monkeypatch, store_jobs, dt.timedelta(hours=hours))
                made.append(create_job(conn, account, operation, [npn]).id)
    _drain(engine)  # by a worker an hour behind
    after = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        assert all_subscribed(conn, account) & set(chosen) == set()
        for job_id in made:
            job = get_job(conn, account, job_id)
            assert job is not None and job.status is JobStatus.COMPLETED
            assert before <= job.created_at <= job.updated_at <= after, job


@pytest.mark.postgres
def test_an_account_whose_job_another_worker_applies_holds_back_no_other_s(
    tmp_path: Path,
) -> None:
    """Another worker applies A's job (it holds A's lock). A worker finds nothing else to
    do and says so, then applies B's job, made after A's, at once. Each worker waited on
    A's lock: a carrier's one-NPN job was applied 3.5 s after it was made, with another's
    50,000-NPN job, while a second API process idled. (On SQLite one write transaction
    runs at a time anyway.)"""
    with loaded_store("postgres", tmp_path) as (_, engine):
        with engine.connect() as conn:
            some = list(conn.execute(sa.select(entities.c.npn).limit(4)).scalars())
        a, b = _account(engine), _account(engine)
        with write_transaction(engine) as conn:
            first = create_job(conn, a, Operation.APPEND, some[:2]).id
        found: list[bool] = []
        workers = [
            threading.Thread(target=lambda: found.append(process_next_job(engine)), daemon=True)
            for _ in range(2)
        ]
        with engine.connect() as other_worker, other_worker.begin():
            lock_account(other_worker, a)
            workers[0].start()
            eventually(lambda: bool(found) or waiting_on_a_lock(engine))
            found_alone = list(found)
            with write_transaction(engine) as conn:
                second = create_job(conn, b, Operation.APPEND, some[2:]).id
            workers[1].start()
            eventually(lambda: len(found) == 2 or waiting_on_a_lock(engine))
            while_a_is_held = _statuses(engine, [first, second])
        for worker in workers:
            worker.join()
    assert found_alone == [False]
    assert while_a_is_held == {first: ("QUEUED", None), second: ("COMPLETED", None)}


def test_an_account_whose_job_can_be_neither_applied_nor_failed_is_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A's queued job cannot be read, and the store refuses to mark it FAILED (a trigger
    here): A's jobs are passed over for a minute, logged once with the traceback, and B's
    job, made after, completes. Each poll took A's job again, and no job ran after it."""
    caplog.set_level(logging.INFO, logger=population_jobs.__name__)
    with loaded_store("sqlite", tmp_path) as (_, engine):
        a, b = _account(engine), _account(engine)
        with write_transaction(engine) as conn:
            stuck = create_job(conn, a, Operation.APPEND, [SANDBOX_NPNS[0]]).id
            conn.execute(sa.update(jobs).where(jobs.c.id == stuck).values(operation="MERGE"))
            conn.exec_driver_sql(
                f"CREATE TRIGGER refused BEFORE UPDATE ON jobs WHEN OLD.id = '{stuck}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
            )
            later = create_job(conn, b, Operation.APPEND, [SANDBOX_NPNS[1]]).id
        worker = population_jobs.JobWorker(engine, 0.01)
        worker.start()
        try:
            eventually(lambda: _statuses(engine, [later])[later][0] == "COMPLETED", timeout=15)
        finally:
            worker.stop()
        assert _statuses(engine, [stuck]) == {stuck: ("QUEUED", None)}
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert [record.getMessage() for record in tracebacks] == [
        f"job worker: JobsPassedOver: account {a}'s oldest queued job could be neither "
        "applied nor marked FAILED (IntegrityError: refused by a trigger); its jobs are "
        "passed over for 60 s, retrying"
    ]


@pytest.mark.postgres
def test_a_store_outage_while_a_job_is_refused_fails_no_job_and_passes_no_account_over(
    tmp_path: Path,
) -> None:
    """The store out of reach as A's unreadable job is marked FAILED (here, a trigger that
    raises what a server shutting down does, counting its calls): the job stays queued
    and A is tried again at each poll, as every account waits out an outage; once the
    store answers, A's job is FAILED and B's, made after, completes."""
    with loaded_store("postgres", tmp_path) as (_, engine):
        a, b = _account(engine), _account(engine)
        with write_transaction(engine) as conn:
            refused = create_job(conn, a, Operation.APPEND, [SANDBOX_NPNS[0]]).id
            conn.execute(sa.update(jobs).where(jobs.c.id == refused).values(operation="MERGE"))
            later = create_job(conn, b, Operation.APPEND, [SANDBOX_NPNS[1]]).id
            conn.exec_driver_sql("CREATE SEQUENCE refusals")
            conn.exec_driver_sql(
                "CREATE FUNCTION shut_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "PERFORM nextval('refusals'); "
                "RAISE EXCEPTION 'terminating connection' USING ERRCODE = '57P01'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER shut_down BEFORE UPDATE ON jobs FOR EACH ROW "
                "EXECUTE FUNCTION shut_down()"
            )

        def refusals() -> int:
            with engine.connect() as conn:
                query = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM refusals"
                return int(conn.exec_driver_sql(query).scalar_one())

        worker = population_jobs.JobWorker(engine, 0.01)
        worker.start()
        try:
            eventually(lambda: refusals() >= 3, timeout=15)
            assert _statuses(engine, [refused, later]) == {
                refused: ("QUEUED", None),
                later: ("QUEUED", None),
            }
            with write_transaction(engine) as conn:
                conn.exec_driver_sql("DROP TRIGGER shut_down ON jobs")
            eventually(lambda: _statuses(engine, [later])[later][0] == "COMPLETED", timeout=15)
        finally:
            worker.stop()
        assert _statuses(engine, [refused])[refused][0] == "FAILED"
