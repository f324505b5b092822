"""``Idempotency-Key`` on the API's writes, against a running service on each backend: a
retry with the key gets the first answer and changes nothing more."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from producersync.model.events import iso_z
from producersync.service.errors import ApiError
from producersync.service.idempotency import (
    HEADER,
    KEPT,
    LEASE,
    MAX_KEY_CHARS,
    fingerprint,
    key_scope,
)
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import accounts, idempotency
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import idempotency_keys, jobs
from tests.conftest import BACKENDS
from tests.support import plain_http
from tests.support.databases import migrated_store
from tests.support.processes import FAST, ServiceProcess, service_process
from tests.support.service import Credentials, RunningService, running_service, token_response
from tests.support.waiting import eventually

ENDPOINTS = "/v1/webhooks/endpoints"
SUBSCRIPTIONS = "/v1/accounts/subscriptions"
URL = "http://127.0.0.1:9/hook"


def _key() -> dict[str, str]:
    return {HEADER: str(uuid.uuid4())}


def _endpoint_ids(http: httpx2.Client) -> list[str]:
    response = http.get(ENDPOINTS)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["data"]]


def _with_new_token(service: RunningService, creds: Credentials) -> httpx2.Client:
    """A client of the same credentials with a token of its own, as after a refresh."""
    token = token_response(service.base_url, creds.client_id, creds.client_secret)
    token.raise_for_status()
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}
    return plain_http.client(base_url=service.base_url, headers=headers, timeout=30)


def test_a_post_repeated_with_its_key_creates_one_endpoint_and_gets_the_first_answer(
    service: RunningService,
) -> None:
    creds = service.account()
    key = _key()
    with service.client(creds) as http, _with_new_token(service, creds) as refreshed:
        first = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        again = refreshed.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert first.status_code == again.status_code == 201, again.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert _endpoint_ids(http) == [first.json()["id"]]


def test_the_key_is_the_accounts_and_the_paths(service: RunningService) -> None:
    """The same key on another account, or another path, is another key."""
    one, other = service.account(), service.account()
    key = _key()
    with service.client(one) as http, service.client(other) as elsewhere:
        created = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert created.status_code == 201, created.text
        theirs = elsewhere.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert theirs.status_code == 201, theirs.text
        assert theirs.json()["id"] != created.json()["id"]
        rotated = http.post(f"{ENDPOINTS}/{created.json()['id']}/secret/rotate", headers=key)
        assert rotated.status_code == 200, rotated.text
        assert "idempotent-replayed" not in rotated.headers


def test_subscription_writes_with_a_key_make_one_job(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    with service.client(creds) as http:
        for method in ("POST", "PUT", "DELETE"):
            key = _key()
            answers = [
                http.request(method, SUBSCRIPTIONS, json=universe_npns[:3], headers=key)
                for _ in range(2)
            ]
            assert [a.status_code for a in answers] == [202, 202], answers[1].text
            assert answers[0].json() == answers[1].json()
    with service.engine.connect() as conn:
        made = conn.execute(
            sa.select(sa.func.count()).where(jobs.c.account_id == creds.account_id)
        ).scalar_one()
    assert made == 3


def test_the_key_reused_with_another_body_is_a_400_naming_the_header(
    service: RunningService,
) -> None:
    key = _key()
    with service.client(service.account()) as http:
        assert http.post(ENDPOINTS, json={"url": URL}, headers=key).status_code == 201
        other = http.post(ENDPOINTS, json={"url": URL, "description": "b"}, headers=key)
        assert other.status_code == 400, other.text
        body = other.json()
        assert body["status"] == 400 and body["path"] == ENDPOINTS
        assert "another body" in body["message"]
        assert f"for header '{HEADER}'" in body["message"]
        assert key[HEADER] in body["message"]
        assert len(_endpoint_ids(http)) == 1


@pytest.mark.parametrize(
    ("key", "why"),
    [("", "may not be blank"), ("k" * (MAX_KEY_CHARS + 1), f"at most {MAX_KEY_CHARS}")],
    ids=["blank", "too-long"],
)
def test_a_blank_or_too_long_key_is_a_400_naming_the_header(
    service: RunningService, key: str, why: str
) -> None:
    with service.client(service.account()) as http:
        refused = http.post(ENDPOINTS, json={"url": URL}, headers={HEADER: key})
        assert refused.status_code == 400, refused.text
        assert f"for header '{HEADER}'" in refused.json()["message"]
        assert why in refused.json()["message"]
        assert _endpoint_ids(http) == []


def test_a_key_given_twice_is_a_400(service: RunningService) -> None:
    with service.client(service.account()) as http:
        refused = http.post(ENDPOINTS, json={"url": URL}, headers=[(HEADER, "a"), (HEADER, "b")])
        assert refused.status_code == 400, refused.text
        assert "more than once" in refused.json()["message"]


def test_an_answer_that_is_no_2xx_is_not_kept(service: RunningService) -> None:
    """A refused request leaves its key free: the same key then carries the fixed body."""
    key = _key()
    with service.client(service.account()) as http:
        refused = http.post(ENDPOINTS, json={"url": "not a url"}, headers=key)
        assert refused.status_code == 400, refused.text
        created = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert created.status_code == 201, created.text
        assert "idempotent-replayed" not in created.headers


@contextmanager
def _failing_after_the_commit(service: RunningService, fault: Exception) -> Iterator[None]:
    """Inside the block, a webhook endpoint's creation raises ``fault`` once its write has
    committed: the dispatcher's wake that follows fails."""

    def wake() -> None:
        raise fault

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service.app.state.context, "published", wake)
        yield


@pytest.mark.parametrize("fault", ["error", "refusal"])
def test_a_failure_after_the_change_committed_keeps_the_key(
    service: RunningService, fault: str
) -> None:
    """The key was given up by any answer but a 2xx, though the change was made: the
    retry made a second endpoint. A refusal (an answer of the app's) is given again; an
    error (a 500 from outside, no answer to keep) makes the retry a 400 saying the request
    was carried out, at once rather than after the claim's lease."""
    creds = service.account()
    key = _key()
    raised = RuntimeError("wake failed") if fault == "error" else ApiError(503, "wake failed")
    with service.client(creds) as http, _failing_after_the_commit(service, raised):
        failed = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert failed.status_code == (500 if fault == "error" else 503), failed.text
    # A new connection: the server closes one whose request raised.
    with service.client(creds) as http:
        again = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        if fault == "error":
            assert again.status_code == 400, again.text
            at = _committed_at(service.engine, creds.account_id)
            assert at is not None
            assert f"carried out at {iso_z(at)}" in again.json()["message"]
        else:
            assert again.status_code == 503, again.text
            assert again.json() == failed.json()
            assert again.headers["idempotent-replayed"] == "true"
        assert len(_endpoint_ids(http)) == 1


def _age(engine: sa.Engine, account_id: int, by: dt.timedelta) -> None:
    """Every key of the account made ``by`` earlier, by the store's clock."""
    t = idempotency_keys
    with write_transaction(engine) as conn:
        for row in conn.execute(sa.select(t).where(t.c.account_id == account_id)).all():
            conn.execute(
                sa.update(t)
                .where(t.c.account_id == row.account_id, t.c.scope == row.scope)
                .values(created_at=row.created_at - by)
            )


def test_a_key_is_kept_12_hours_by_the_store_clock(service: RunningService) -> None:
    creds = service.account()
    key = _key()
    with service.client(creds) as http:
        first = http.post(ENDPOINTS, json={"url": URL}, headers=key).json()
        _age(service.engine, creds.account_id, KEPT - dt.timedelta(minutes=1))
        kept = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert kept.json() == first and kept.headers["idempotent-replayed"] == "true"
        _age(service.engine, creds.account_id, dt.timedelta(minutes=2))
        fresh = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert fresh.status_code == 201, fresh.text
        assert fresh.json()["id"] != first["id"]
        assert len(_endpoint_ids(http)) == 2


def test_two_duplicates_at_once_create_one_endpoint(service: RunningService) -> None:
    key = _key()
    creds = service.account()
    both = threading.Barrier(2)

    def post(_: int) -> httpx2.Response:
        with service.client(creds) as http:
            both.wait()
            return http.post(ENDPOINTS, json={"url": URL}, headers=key)

    for _ in range(3):
        key = _key()
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(post, range(2))
        assert first.status_code == second.status_code == 201, (first.text, second.text)
        assert first.json() == second.json()
    with service.client(creds) as http:
        assert len(_endpoint_ids(http)) == 3


# More than anyio's pool of 40 threads, which runs the store's work and sync handlers.
_AT_ONCE = 60


@pytest.fixture(params=BACKENDS)
def own_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningService]:
    """A service of its own: one that stalls takes no other test's store with it."""
    with (
        migrated_store(request.param, tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=1_000_000) as svc,
    ):
        yield svc


@pytest.mark.parametrize("write", ["create", "rotate", "subscribe"])
def test_many_writes_of_one_account_with_keys_at_once_are_all_answered(
    own_service: RunningService, write: str
) -> None:
    """A request with a key held its write's locks (SQLite's, an endpoint's row) until
    its answer was kept, across hops to the shared thread pool; the requests waiting on
    those locks filled the pool, the holder never got a thread, and none was answered."""
    creds = own_service.account()
    with own_service.client(creds) as http:
        if write == "create":
            method, path, body, status = "POST", ENDPOINTS, {"url": URL}, 201
        elif write == "rotate":
            made = http.post(ENDPOINTS, json={"url": URL})
            assert made.status_code == 201, made.text
            method, path, body, status = (
                "POST",
                f"{ENDPOINTS}/{made.json()['id']}/secret/rotate",
                None,
                200,
            )
        else:
            method, path, body, status = "PUT", SUBSCRIPTIONS, sorted(SANDBOX_NPNS)[:2], 202
    at_once = threading.Barrier(_AT_ONCE)

    def send(_: int) -> int:
        with plain_http.client(
            base_url=own_service.base_url,
            headers={"authorization": f"Bearer {own_service.token(creds)}", **_key()},
            timeout=120,
        ) as http:
            at_once.wait()
            return http.request(method, path, json=body).status_code

    with ThreadPoolExecutor(_AT_ONCE) as pool:
        statuses = list(pool.map(send, range(_AT_ONCE)))
    assert statuses == [status] * _AT_ONCE


def test_a_duplicate_of_a_request_still_running_waits_then_is_a_409(
    service: RunningService,
) -> None:
    """While the first request holds the key, a duplicate polls for its answer; once the
    first is answered, the duplicate gets that answer."""
    creds = service.account()
    key = _key()
    held = _claim(service, creds, key[HEADER])
    with service.client(creds) as http:
        busy = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert busy.status_code == 409, busy.text
        assert busy.headers["retry-after"] == "1"
        assert f"for header '{HEADER}'" in busy.json()["message"]
        answer = idempotency.Stored(201, [("content-type", "application/json")], b'{"id":"x"}')
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.post, ENDPOINTS, json={"url": URL}, headers=key)
            with write_transaction(service.engine) as conn:
                idempotency.keep(conn, creds.account_id, held[0], held[1], answer)
            replayed = waiting.result()
        assert replayed.status_code == 201 and replayed.json() == {"id": "x"}
        assert _endpoint_ids(http) == []


def _claim(
    service: RunningService, creds: Credentials, key: str
) -> tuple[str, idempotency.Claimed]:
    """A claim on ``key`` for a POST of the test's endpoint body (as httpx sends it), held
    as a request still running holds it."""
    scope = key_scope("POST", ENDPOINTS, key)
    body = httpx2.Request("POST", service.base_url, json={"url": URL}).read()
    with write_transaction(service.engine) as conn:
        claimed = idempotency.claim(
            conn, creds.account_id, scope, fingerprint(b"", body), KEPT, dt.timedelta(hours=1)
        )
    assert isinstance(claimed, idempotency.Claimed)
    return scope, claimed


def test_a_claim_whose_holder_lets_go_between_its_insert_and_its_read_takes_the_key(
    service: RunningService,
) -> None:
    """PostgreSQL: the holder's release (its request failed) commits after a duplicate's
    INSERT found the key taken and before the duplicate reads what holds it. That read
    found no row (``NoResultFound``: a 500 to a client's retry); the key is free, and the
    duplicate now takes it. SQLite's writers take turns: no release comes in between."""
    if service.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's immediate transactions let no release in between")
    creds = service.account()
    scope, held = _claim(service, creds, str(uuid.uuid4()))
    body = httpx2.Request("POST", service.base_url, json={"url": URL}).read()
    inserted = released = False

    def release_after_the_insert(
        _conn: object, _cursor: object, statement: str, *_: object
    ) -> None:
        nonlocal inserted, released
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "INSERT":
            inserted = True
        elif inserted and verb == "SELECT" and not released:
            released = True  # the holder lets go, from its own connection
            with write_transaction(service.engine) as other:
                idempotency.release(other, creds.account_id, scope, held)

    with write_transaction(service.engine) as conn:
        sa.event.listen(conn, "before_cursor_execute", release_after_the_insert)
        outcome = idempotency.claim(
            conn, creds.account_id, scope, fingerprint(b"", body), KEPT, dt.timedelta(hours=1)
        )
    assert released
    assert isinstance(outcome, idempotency.Claimed)


def _committed_at(engine: sa.Engine, account_id: int) -> dt.datetime | None:
    """When the write of the account's one keyed request committed, by its claim's mark."""
    t = idempotency_keys
    with engine.connect() as conn:
        mark: dt.datetime | None = conn.execute(
            sa.select(t.c.committed_at).where(t.c.account_id == account_id)
        ).scalar_one_or_none()
    return mark


def test_a_claim_past_its_lease_whose_change_was_not_made_is_taken_over(
    service: RunningService,
) -> None:
    """Its process died before its write committed: a retry makes the change, once, and
    its own write marks the claim it took over."""
    creds = service.account()
    key = _key()
    _claim(service, creds, key[HEADER])
    _age(service.engine, creds.account_id, LEASE)
    with service.client(creds) as http:
        created = http.post(ENDPOINTS, json={"url": URL}, headers=key)
        assert created.status_code == 201, created.text
        assert _endpoint_ids(http) == [created.json()["id"]]
    assert _committed_at(service.engine, creds.account_id) is not None


def test_a_claim_carried_out_is_waited_for_within_its_lease_and_lost_past_it(
    service: RunningService,
) -> None:
    creds = service.account()
    scope, held = _claim(service, creds, str(uuid.uuid4()))
    with write_transaction(service.engine) as conn:
        idempotency.carried_out(conn, creds.account_id, scope, held)
    body = httpx2.Request("POST", service.base_url, json={"url": URL}).read()

    def claim(lease: dt.timedelta) -> idempotency.Outcome:
        with write_transaction(service.engine) as conn:
            return idempotency.claim(
                conn, creds.account_id, scope, fingerprint(b"", body), KEPT, lease
            )

    assert claim(dt.timedelta(hours=1)) == "running"
    assert claim(dt.timedelta(0)) == idempotency.Lost(
        _committed_at(service.engine, creds.account_id)
    )


_HELD = "test_answers_held"


@contextmanager
def _answers_not_kept(engine: sa.Engine) -> Iterator[None]:
    """No request's answer is kept in the block. On PostgreSQL a trigger makes the keeping
    wait for a lock the block holds: the request stays between its write's commit and its
    answer's keep, for its process to be killed there. SQLite's triggers cannot wait: one
    refuses the keeping (the answer is lost as a 500)."""
    when = "NEW.status IS NOT NULL"
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {_HELD} BEFORE UPDATE OF status ON idempotency_keys"
                f" WHEN {when} BEGIN SELECT RAISE(ABORT, 'the answer is not kept'); END"
            )
        try:
            yield
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TRIGGER {_HELD}")
        return
    lock = 2420021
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE FUNCTION {_HELD}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM pg_advisory_lock({lock}); RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {_HELD} BEFORE UPDATE OF status ON idempotency_keys"
            f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {_HELD}()"
        )
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql(f"SELECT pg_advisory_lock({lock})")
            yield
            # Let go before the trigger is dropped: a killed process's keeping, granted
            # the lock, ends with its connection, and the drop waits for it.
            holder.exec_driver_sql(f"SELECT pg_advisory_unlock({lock})")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER {_HELD} ON idempotency_keys")
            conn.exec_driver_sql(f"DROP FUNCTION {_HELD}()")


@pytest.mark.slow(30)
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_write_whose_process_was_killed_before_its_answer_was_kept_is_not_made_again(
    kind: str, tmp_path: Path
) -> None:
    """The service is SIGKILLed after the write committed and before its answer was kept;
    once the lease is over, a retry with the key makes no second endpoint: a 400 saying
    when the request was carried out."""
    key = _key()
    with migrated_store(kind, tmp_path) as url:
        engine = open_store(url)
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False)
            client_id, secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )

        def client(service: ServiceProcess) -> httpx2.Client:
            token = token_response(service.base_url, client_id, secret).json()["access_token"]
            headers = {"authorization": f"Bearer {token}", **key}
            return plain_http.client(base_url=service.base_url, headers=headers, timeout=60)

        def create(http: httpx2.Client) -> httpx2.Response | httpx2.TransportError:
            try:
                return http.post(ENDPOINTS, json={"url": URL})
            except httpx2.TransportError as lost:
                return lost

        try:
            with (
                service_process(url, tmp_path, "--no-delivery", env=FAST) as service,
                client(service) as http,
                _answers_not_kept(engine),
                ThreadPoolExecutor(1) as pool,
            ):
                sent = pool.submit(create, http)
                eventually(lambda: _committed_at(engine, account.id) is not None)
                service.kill()
                lost = sent.result()
            assert not isinstance(lost, httpx2.Response) or lost.status_code == 500
            _age(engine, account.id, LEASE)
            at = _committed_at(engine, account.id)
            assert at is not None
            with (
                service_process(url, tmp_path, "--no-delivery", env=FAST) as service,
                client(service) as http,
            ):
                for _ in range(2):
                    again = http.post(ENDPOINTS, json={"url": URL})
                    assert again.status_code == 400, again.text
                    message = again.json()["message"]
                    assert f"Invalid value '{key[HEADER]}' for header '{HEADER}'" in message
                    assert f"carried out at {iso_z(at)}" in message
                    assert "look its result up" in message
                assert len(_endpoint_ids(http)) == 1
        finally:
            engine.dispose()
