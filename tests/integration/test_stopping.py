"""Processes stopped as a supervisor or a terminal stops them (SIGTERM, Ctrl-C): each stop
ends within a bound, losing nothing, and the process ends by the signal. Real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NpnActivated
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.webhooks import generate_secret
from tests.support import plain_http
from tests.support.databases import migrated_store
from tests.support.delivery import delivery_states, publish_to_one_endpoint
from tests.support.processes import (
    FAST,
    STOP_FALLBACK_SECONDS,
    ServiceProcess,
    foreground,
    service_process,
    wait_healthy,
)
from tests.support.receiver import Reply, receiver
from tests.support.service import free_port, token_response, wait_for_job
from tests.support.waiting import eventually

pytestmark = [pytest.mark.slow(80), pytest.mark.exec]

# Generous: a stop that hangs takes minutes (or for ever); one that works, seconds.
_STOP_WITHIN = 60


# Half of a request to a route of each served process that reads its body.
_HALF_SENT = {
    "service run": (b"POST /oauth2/token", b"Content-Type: application/x-www-form-urlencoded"),
    "sync run": (b"POST /webhooks/psapi", b"Content-Type: application/json"),
}


@pytest.mark.parametrize("command", sorted(_HALF_SENT))
def test_a_stop_cuts_a_request_still_unanswered_after_the_grace_period(
    tmp_path: Path, command: str
) -> None:
    """A client that sent half its request held a SIGTERMed process up for good; now the
    request is cut after the grace period, in one log line, not a traceback, and answered
    503: a client of the API and a webhook sender retry it."""
    start, content_type = _HALF_SENT[command]
    # Not the default's 10 s: what is cut is cut alike after any grace.
    with _served(command, tmp_path, {"PRODUCERSYNC_SHUTDOWN_GRACE_SECONDS": "1"}) as served:
        host, port = served.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as half:
            half.sendall(
                start + b" HTTP/1.1\r\nHost: x\r\n" + content_type + b"\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            # In flight once its headers are read: the route waits for the rest of the
            # body. Sent at once, the signal may come first: then nothing hangs.
            time.sleep(1)
            served.process.send_signal(signal.SIGTERM)
            code = served.process.wait(timeout=_STOP_WITHIN)
            answer = _read_all(half)
        log = served.log.read_text()
    assert code == -signal.SIGTERM
    assert "timeout graceful shutdown exceeded" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    # A restart to the client, as during an outage: it was a plain-text 500, a bug.
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), answer
    assert b"\r\nretry-after: 5\r\n" in head.lower()
    if command == "service run":  # the token endpoint's, in RFC 6749's body
        assert json.loads(body)["error"] == "temporarily_unavailable"
    else:
        assert json.loads(body)["status"] == "unavailable"


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(_STOP_WITHIN)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_worker_stopped_mid_fan_out_makes_no_more_attempts_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """SIGTERM while a receiver hangs: the attempts in flight run to their timeout, the
    deliveries claimed but not yet sent are handed back unsent (the stop waited for all
    of them, rounds of timeouts), and a worker started after delivers every one."""
    events = [NpnActivated.create(str(10_000_000 + i)) for i in range(60)]
    hanging = True
    with receiver(lambda _got: Reply(delay=30 if hanging else 0)) as rx:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = open_store(url)
        publish_to_one_endpoint(engine, url, rx.url, events)
        # Two attempts at a time, each timing out after 5 s: the stop waited 150 s for the
        # 60 claimed.
        slow = {**FAST, "PRODUCERSYNC_WEBHOOK_CONCURRENCY": "2"}
        slow["PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS"] = "5"
        with service_process(url, tmp_path, env=slow, command="worker") as worker:
            rx.wait_for(lambda got: len(got) >= 2)
            worker.process.send_signal(signal.SIGTERM)
            assert worker.process.wait(timeout=_STOP_WITHIN) == -signal.SIGTERM
            assert "Traceback" not in worker.log.read_text()
        # The two in flight, and at most the two whose slots came free as the stop began.
        assert len(rx.received) <= 4
        assert delivery_states(engine) == {"pending": len(events) + 1}  # and its test event
        hanging = False
        with service_process(url, tmp_path, env=FAST, command="worker"):
            # Generous: a loaded 2-core machine.
            rx.wait_for(
                lambda got: len({r.headers["webhook-id"] for r in got}) == len(events) + 1,
                timeout=120,
            )
        assert {e.id for e in events} <= set(rx.ids())
        engine.dispose()


@pytest.mark.postgres
def test_a_stop_leaves_a_subscription_job_being_applied_queued_for_the_next_start(
    tmp_path: Path,
) -> None:
    """SIGTERM while the job worker applies a job (here, waiting on a lock another
    transaction holds; a 50,000-NPN job alike): the process ends without it, and the job,
    rolled back, is applied at the next start. The stop waited for the job, 30 s at most,
    and the process outlived the harness's SIGKILL fallback, as a supervisor's."""
    with migrated_store("postgres", tmp_path) as url:
        engine = open_store(url)
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "stopped", sandbox=False)
            client_id, secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
        with engine.connect() as held, service_process(url, tmp_path, env=FAST) as first:
            token = token_response(first.base_url, client_id, secret).json()["access_token"]
            bearer = {"authorization": f"Bearer {token}"}
            # The job's first read of the universe waits on this lock; the API's answer
            # does not.
            held.execute(sa.text("LOCK TABLE entities IN ACCESS EXCLUSIVE MODE"))
            with plain_http.client(base_url=first.base_url, headers=bearer) as http:
                put = http.put("/v1/accounts/subscriptions", json=["12345678"])
            assert put.status_code == 202, put.text
            eventually(lambda: _waiting_on_a_lock(engine))
            first.process.send_signal(signal.SIGTERM)
            code = first.process.wait(timeout=STOP_FALLBACK_SECONDS)
            held.rollback()
        assert code == -signal.SIGTERM
        with (
            service_process(url, tmp_path, env=FAST) as second,
            plain_http.client(base_url=second.base_url, headers=bearer) as http,
        ):
            assert wait_for_job(http, put.json()["job_id"])["status"] == "COMPLETED"
        engine.dispose()


def _waiting_on_a_lock(engine: sa.Engine) -> bool:
    """Whether a session of the store's database waits on a lock (read afresh each time:
    a transaction sees one snapshot of ``pg_stat_activity``)."""
    with engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(conn.execute(sa.text(query)).scalar())


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("command", ["service run", "sync run"])
def test_a_served_process_stopped_shuts_down_then_ends_by_the_signal(
    tmp_path: Path, command: str, stop: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM: the app shuts down as it should (its lifespan ended), then the
    process ends by that signal, as a supervisor and a shell expect (130 or 143 in a
    shell). A Ctrl-C exited 0, as if the server had ended of its own accord."""
    with _served(command, tmp_path) as served:
        served.process.send_signal(stop)
        code = served.process.wait(timeout=_STOP_WITHIN)
    said = served.log.read_text()
    assert code == -stop, said
    assert "Application shutdown complete." in said
    assert "Traceback" not in said


@contextmanager
def _served(
    command: str, tmp_path: Path, settings: dict[str, str] | None = None
) -> Iterator[ServiceProcess]:
    """``producersync COMMAND`` over SQLite (and ``settings``) as a terminal's foreground
    command, once it answers; killed if still alive at the end."""
    env = {
        "PRODUCERSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{tmp_path / 'mirror.db'}",
        "PRODUCERSYNC_WEBHOOK_SECRETS": generate_secret(),
        "PRODUCERSYNC_CLIENT_ID": "client",
        "PRODUCERSYNC_CLIENT_SECRET": "secret",
        **(settings or {}),
    }
    port = free_port()
    log = tmp_path / "served.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            foreground(*command.split(), "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    try:
        served = ServiceProcess(process, f"http://127.0.0.1:{port}", log)
        wait_healthy(served)
        yield served
    finally:
        process.kill()
        process.wait()
