"""Subscription jobs: replace, append, remove; their status and per-NPN details."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from producersync.model.subscriptions import JobState
from producersync.service.api import subscriptions as subscriptions_api
from producersync.service.errors import ErrorBody
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import Operation, create_job
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, webhook_messages
from tests.support.databases import store_url
from tests.support.service import Credentials, RunningService, running_service, wait_for_job


def _active(http: httpx2.Client) -> set[str]:
    body = http.get("/v1/accounts/subscriptions?size=1000").json()
    return {s["npn"] for s in body.get("embedded", {}).get("subscriptions", [])}


def _accepted(response: httpx2.Response) -> str:
    """The job id of a subscription change answered as the contract has it: 202, and a
    Subscription200 body whose links.status names the job."""
    assert response.status_code == 202, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "message", "job_id", "links"}, body
    assert body["success"] is True and body["message"] == "Job is in progress"
    status = body["links"]["status"]["href"]
    assert status.endswith(f"/v1/accounts/subscriptions/status/{body['job_id']}")
    return str(body["job_id"])


def _details(http: httpx2.Client, job_id: str) -> dict[str, tuple[str, str]]:
    body = http.get(f"/v1/accounts/subscriptions/status/{job_id}/details?size=1000").json()
    rows = body.get("embedded", {}).get("details", [])
    assert all(set(d) == {"npn", "action", "result", "reason"} for d in rows), rows
    return {
        d["npn"] + ":" + d["action"]: (d["result"], d["reason"])
        for d in body.get("embedded", {}).get("details", [])
    }


def test_append_replace_remove(service: RunningService, universe_npns: list[str]) -> None:
    creds: Credentials = service.account()
    first, second = universe_npns[10:14], universe_npns[12:16]
    with service.client(creds) as http:
        job = wait_for_job(http, _accepted(http.put("/v1/accounts/subscriptions", json=first)))
        assert job["status"] == "COMPLETED"
        assert {"id", "createdAt", "updatedAt", "details", "links"} <= set(job)
        counts = job["details"]
        named = {"requested", "activated", "deactivated", "unchanged", "failed"}
        assert named <= set(counts)  # type: ignore[call-overload]
        assert counts["requested"] == counts["activated"] == 4  # type: ignore[index]
        assert _active(http) == set(first)

        replace = _accepted(http.post("/v1/accounts/subscriptions", json=second))
        job = wait_for_job(http, replace)
        assert _active(http) == set(second)
        counts = job["details"]
        assert counts["activated"] == 2 and counts["deactivated"] == 2  # type: ignore[index]
        assert counts["unchanged"] == 2  # type: ignore[index]
        details = _details(http, replace)
        assert details[f"{first[0]}:DEACTIVATE"] == ("SUCCESS", None)
        assert details[f"{second[0]}:ACTIVATE"] == ("UNCHANGED", "already subscribed")

        remove = _accepted(
            http.request("DELETE", "/v1/accounts/subscriptions", json=[second[0], first[0]])
        )
        wait_for_job(http, remove)
        assert _active(http) == set(second[1:])
        assert _details(http, remove)[f"{first[0]}:DEACTIVATE"] == ("UNCHANGED", "not subscribed")


def test_a_job_is_found_by_any_spelling_of_its_uuid(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    with service.client(creds) as http:
        job_id = http.put("/v1/accounts/subscriptions", json=universe_npns[:1]).json()["job_id"]
        wait_for_job(http, job_id)
        for spelling in (job_id.upper(), job_id.replace("-", ""), f"urn:uuid:{job_id}"):
            for path in (f"status/{spelling}", f"status/{spelling}/details"):
                response = http.get(f"/v1/accounts/subscriptions/{path}")
                assert response.status_code == 200, (path, response.text)
            assert http.get(f"/v1/accounts/subscriptions/status/{spelling}").json()["id"] == job_id


def test_a_job_id_in_no_uuid_spelling_is_refused(
    service: RunningService, universe_npns: list[str]
) -> None:
    """uuid.UUID strips braces, any "urn:" and "uuid:", and dashes anywhere: each of these
    named the job (200) where a malformed jobId is a 400."""
    creds = service.account()
    with service.client(creds) as http:
        job_id = http.put("/v1/accounts/subscriptions", json=universe_npns[:1]).json()["job_id"]
        wait_for_job(http, job_id)
        digits = job_id.replace("-", "")
        for spelling in (
            f"{{{job_id}}}",
            f"uuid:{job_id}",
            f"urn:urn:{job_id}",
            f"{digits[:4]}-{digits[4:]}",
        ):
            response = http.get(f"/v1/accounts/subscriptions/status/{spelling}")
            assert response.status_code == 400, (spelling, response.text)
            assert f"jobId '{spelling}'" in response.json()["message"]


def test_npns_unknown_to_nipr_fail_individually(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    with service.client(creds) as http:
        job_id = http.put(
            "/v1/accounts/subscriptions", json=[universe_npns[0], "9999999999"]
        ).json()["job_id"]
        job = wait_for_job(http, job_id)
        assert job["details"]["failed"] == 1  # type: ignore[index]
        assert _details(http, job_id)["9999999999:ACTIVATE"] == ("FAILED", "NPN not found in NIPR")
        assert _active(http) == {universe_npns[0]}


def test_jobs_of_one_account_apply_in_order(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    npns = universe_npns[20:30]
    with service.client(creds) as http:
        ids = [
            http.put("/v1/accounts/subscriptions", json=npns).json()["job_id"],
            http.post("/v1/accounts/subscriptions", json=npns[:2]).json()["job_id"],
            http.put("/v1/accounts/subscriptions", json=npns[5:6]).json()["job_id"],
        ]
        for job_id in ids:
            wait_for_job(http, job_id)
        assert _active(http) == {npns[0], npns[1], npns[5]}


def test_subscription_list_is_paged(service: RunningService, universe_npns: list[str]) -> None:
    creds = service.account()
    service.subscribe(creds, universe_npns[:25])
    with service.client(creds) as http:
        page = http.get("/v1/accounts/subscriptions?page=1&size=10").json()
    assert page["page"] == {"size": 10, "totalElements": 25, "totalPages": 3, "number": 1}
    assert [s["npn"] for s in page["embedded"]["subscriptions"]] == sorted(universe_npns[:25])[
        10:20
    ]
    assert page["embedded"]["subscriptions"][0]["activatedAt"].endswith("Z")


def test_an_activation_event_carries_the_listed_activation_time(
    service: RunningService, universe_npns: list[str]
) -> None:
    """A sync that starts from the list recognises each event's activation as the one it
    listed: the two times are one."""
    creds = service.account()
    service.subscribe(creds, universe_npns[:5])
    with service.client(creds) as http:
        # A per-NPN read subscribes its NPN too.
        assert http.get(f"/v2/entities/{universe_npns[5]}/licenses").status_code == 200
        page = http.get("/v1/accounts/subscriptions?size=10").json()
    listed = {s["npn"]: s["activatedAt"] for s in page["embedded"]["subscriptions"]}
    with service.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(webhook_messages.c.payload).where(
                webhook_messages.c.account_id == creds.account_id,
                webhook_messages.c.event_type == "producersync.npn.activated",
            )
        ).scalars()
        announced = {
            data["npn"]: data["activatedAt"]
            for data in (json.loads(payload)["data"] for payload in payloads)
        }
    assert len(listed) == 6
    # One text, not only one instant: a client compares them as the strings they are.
    assert announced == listed


def test_npn_events_carry_the_npn_and_its_time_alone(
    service: RunningService, universe_npns: list[str]
) -> None:
    """The contract's payloads: activated {npn, activatedAt}, deactivated {npn,
    deactivatedAt}, each time ISO-8601 in UTC."""
    creds = service.account()
    npns = universe_npns[40:42]
    service.subscribe(creds, npns)
    with service.client(creds) as http:
        removal = http.request("DELETE", "/v1/accounts/subscriptions", json=npns[:1])
        wait_for_job(http, _accepted(removal))
    with service.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(webhook_messages.c.event_type, webhook_messages.c.payload).where(
                webhook_messages.c.account_id == creds.account_id
            )
        ).all()
    events = [(kind, json.loads(payload)["data"]) for kind, payload in payloads]
    assert sorted((kind, data["npn"]) for kind, data in events) == [
        ("producersync.npn.activated", npns[0]),
        ("producersync.npn.activated", npns[1]),
        ("producersync.npn.deactivated", npns[0]),
    ]
    for kind, data in events:
        field = "deactivatedAt" if kind.endswith(".deactivated") else "activatedAt"
        assert set(data) == {"npn", field}, data
        assert data[field].endswith("Z"), data
        assert dt.datetime.fromisoformat(data[field]).utcoffset() == dt.timedelta(0)


def test_reads_racing_to_subscribe_an_npn_activate_it_once(
    service: RunningService, universe_npns: list[str]
) -> None:
    """A client reads an unsubscribed NPN's resources side by side (its licenses, its
    appointments...): each read subscribes it, and it is activated once, one event and
    one more subscriber, however the reads interleave. On PostgreSQL every read saw it
    unsubscribed and each one announced it (5 events for one NPN) and counted it."""
    creds = service.account()
    npns, readers = universe_npns[300:305], 8
    resources = ("licenses", "appointments", "addresses", "contactInfos")
    with service.engine.connect() as conn:
        query = sa.select(entities.c.npn, entities.c.subscription_count)
        counted_before = dict(conn.execute(query.where(entities.c.npn.in_(npns))).all())
    clients = [service.client(creds) for _ in range(readers)]
    try:
        with ThreadPoolExecutor(readers) as pool:
            for npn in npns:
                start = threading.Barrier(readers)

                def read(i: int, npn: str = npn, start: threading.Barrier = start) -> int:
                    start.wait()
                    path = f"/v2/entities/{npn}/{resources[i % len(resources)]}"
                    return clients[i].get(path).status_code

                assert set(pool.map(read, range(readers))) == {200}
    finally:
        for client in clients:
            client.close()
    with service.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(webhook_messages.c.payload).where(
                webhook_messages.c.account_id == creds.account_id
            )
        ).scalars()
        announced = Counter(json.loads(payload)["data"]["npn"] for payload in payloads)
        counted = dict(conn.execute(query.where(entities.c.npn.in_(npns))).all())
    assert announced == dict.fromkeys(npns, 1)
    assert counted == {npn: counted_before[npn] + 1 for npn in npns}


def test_paging_misses_nothing_while_npns_are_added(
    service: RunningService, universe_npns: list[str]
) -> None:
    """A client pages through the population while a job adds NPNs that sort before it:
    each NPN that was there when it started is still on its pages."""
    creds = service.account()
    first, added = sorted(universe_npns)[60:85], sorted(universe_npns)[40:60]
    service.subscribe(creds, first)
    seen: list[str] = []
    with service.client(creds) as http:
        path: str | None = "/v1/accounts/subscriptions?page=0&size=10"
        while path is not None:
            page = http.get(path).json()
            seen += [s["npn"] for s in page["embedded"]["subscriptions"]]
            if len(seen) == 10:
                service.subscribe(creds, added)
            path = page["links"].get("next", {}).get("href")
    assert set(first) <= set(seen)
    assert seen[: len(first)] == first  # oldest activation first, then by NPN


def test_job_accepted_before_a_restart_completes_after_it(tmp_path: Path) -> None:
    with store_url("sqlite", tmp_path) as url:
        with running_service(url) as svc:
            creds = svc.account(sandbox=True)
        # The service is down: a job committed now (as the API commits it before its 202)
        # must be applied when the service comes back.
        engine = open_store(url)
        with write_transaction(engine) as conn:
            job = create_job(conn, creds.account_id, Operation.APPEND, ["19855109"])
        engine.dispose()
        with running_service(url) as svc, svc.client(creds) as http:
            assert wait_for_job(http, job.id)["status"] == "COMPLETED"
            assert _active(http) == {"19855109"}


@pytest.mark.parametrize(
    ("column", "stored", "problem", "valid_json"),
    [
        ("operation", "'MERGE'", 'its operation "MERGE" is none of REPLACE, APPEND, REMOVE', True),
        ("npns", "'[7, 8]'", "its npns are not a list of NPN strings", True),
        ("npns", "'[\"1\", 2'", "its npns could not be read", False),
    ],
    ids=["unknown-operation", "npns-not-strings", "npns-not-json"],
)
def test_a_queued_job_no_version_writes_is_failed_and_holds_back_no_other_account(
    service: RunningService,
    universe_npns: list[str],
    column: str,
    stored: str,
    problem: str,
    valid_json: bool,
) -> None:
    """A queued job's row edited by hand into what the service never writes: it is marked
    FAILED with what is wrong, which its client reads in its status, and the job of
    another account, made after it, completes. Each poll took that job's account, failed
    to read the job, and no account's job ran again; its status was a 500."""
    if not valid_json and service.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's json refuses text that does not parse")
    poisoned, other = service.account(), service.account()
    with write_transaction(service.engine) as conn:
        bad = create_job(conn, poisoned.account_id, Operation.APPEND, universe_npns[40:42]).id
        conn.execute(sa.text(f"UPDATE jobs SET {column} = {stored} WHERE id = :id"), {"id": bad})
    with service.client(other) as http:
        job = _accepted(http.put("/v1/accounts/subscriptions", json=universe_npns[42:44]))
        assert wait_for_job(http, job)["status"] == "COMPLETED"
    with service.client(poisoned) as http:
        status = http.get(f"/v1/accounts/subscriptions/status/{bad}")
        assert _active(http) == set()
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "FAILED"
    assert status.json()["details"]["error"] == (
        f"The job cannot be applied: {problem}. Nothing was changed; send its request again."
    )


@pytest.mark.parametrize(
    ("column", "stored", "problem", "sqlite_only"),
    [
        ("status", "'DONE'", f'its status "DONE" is none of {", ".join(JobState)}', False),
        ("created_at", "'infinity'", 'its created_at "infinity" could not be read', False),
        ("updated_at", "'yesterday'", 'its updated_at "yesterday" could not be read', True),
    ],
    ids=["unknown-status", "created-at-infinity", "updated-at-no-time"],
)
def test_a_job_whose_record_cannot_be_read_answers_the_standard_500_and_logs_why_once(
    service: RunningService,
    universe_npns: list[str],
    caplog: pytest.LogCaptureFixture,
    column: str,
    stored: str,
    problem: str,
    sqlite_only: bool,
) -> None:
    """A job's row edited by hand into what its status cannot show: its status and its
    details answer the standard body of a 500 that names the job and what to do, none of
    the row, and the log says what is wrong with it in one line, once, without a
    traceback. Both were a 500 whose message said nothing, a traceback in the log at each
    request."""
    if sqlite_only and service.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's timestamptz refuses text that is no time")
    caplog.set_level(logging.INFO, logger=subscriptions_api.__name__)
    creds = service.account()
    with write_transaction(service.engine) as conn:
        job = create_job(conn, creds.account_id, Operation.APPEND, universe_npns[50:52]).id
        conn.execute(sa.text(f"UPDATE jobs SET {column} = {stored} WHERE id = :id"), {"id": job})
    with service.client(creds) as http:
        answers = [
            http.get(f"/v1/accounts/subscriptions/status/{job}"),
            http.get(f"/v1/accounts/subscriptions/status/{job.upper()}/details"),
        ]
    message = (
        f"The record of NPN management job {job} cannot be read, through no fault of the "
        "request; contact support, quoting the job's id"
    )
    assert [(answer.status_code, answer.json()["message"]) for answer in answers] == [
        (500, message),
        (500, message),
    ]
    assert all(set(answer.json()) == set(ErrorBody.model_fields) for answer in answers)
    logged = [record for record in caplog.records if job in record.getMessage()]
    line = (
        f"job {job} of account {creds.account_id} answered 500 (its record cannot be read): "
        f"{problem} (a row this service does not write)"
    )
    assert [(record.getMessage(), record.exc_info) for record in logged] == [(line, None)]
