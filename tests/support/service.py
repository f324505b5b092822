"""A real ProducerSync service on 127.0.0.1, in a thread of the test process, and helpers
to get accounts, credentials and authorised HTTP clients for it."""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from producersync.client.resources.subscriptions import Subscriptions
from producersync.model import JobStatus
from producersync.service.app import create_app
from producersync.service.auth.secrets import hash_secret
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import api_clients
from tests.support import plain_http
from tests.support.databases import statements

__all__ = [
    "Credentials",
    "RunningService",
    "free_port",
    "removed",
    "running_service",
    "token_response",
]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS's range starts at 49152, above it


# The ports handed out lie below the kernel's ephemeral range, each xdist worker in a
# block of its own. A port the kernel picked (bind to 0) was free when asked, but the
# kernel hands the same range out as the local ports of outgoing connections, and other
# workers asked it too: between the question and a process's bind, a PostgreSQL
# connection or another test's server could take it (the demo's SIGTERM test once found
# its port in use and exited 1).
_WORKERS = 8
_BLOCK = (_ephemeral_low() - 10_000) // _WORKERS
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
_first = 10_000 + (int(_worker) % _WORKERS if _worker.isdigit() else 0) * _BLOCK
_next = itertools.count(random.randrange(_BLOCK))


def free_port() -> int:
    """A port of this worker's block that nothing holds now (no socket bound to it, none
    in TIME_WAIT: the bind has no SO_REUSEADDR)."""
    for _ in range(_BLOCK):
        port = _first + next(_next) % _BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_first}..{_first + _BLOCK - 1}")


def token_response(base_url: str, client_id: str, secret: str) -> httpx2.Response:
    """The service's answer to a client-credentials token request."""
    return plain_http.post(
        f"{base_url}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


@dataclass(frozen=True)
class Credentials:
    account: str
    account_id: int
    client_id: str
    client_secret: str


@dataclass
class RunningService:
    base_url: str
    engine: sa.Engine
    settings: ServiceSettings
    app: FastAPI
    _tokens: dict[str, str] = field(default_factory=dict)

    def statements(self) -> AbstractContextManager[list[str]]:
        """The SQL statements the service's requests run inside the block, on its own
        engine (not ``engine``, the test's); its job worker's polls left out."""
        served: sa.Engine = self.app.state.context.engine
        return statements(served, but_threads={"job-worker"})

    def account(
        self,
        *,
        sandbox: bool = False,
        scope: str | None = None,
        named: tuple[str, str] | None = None,
    ) -> Credentials:
        """A new account with one client; ``named``: that client's id and secret, which
        the service never makes (characters that form-encoding changes, say)."""
        name = f"acct-{uuid.uuid4().hex[:10]}"
        with write_transaction(self.engine) as conn:
            account = accounts.create_account(conn, name, sandbox=sandbox)
            client_id, secret = accounts.create_client(
                conn, account, scope or "producersync.read producersync.write"
            )
            if named:
                made = api_clients.update().where(api_clients.c.client_id == client_id)
                conn.execute(made.values(client_id=named[0], secret_hash=hash_secret(named[1])))
                client_id, secret = named
        return Credentials(name, account.id, client_id, secret)

    def token(self, creds: Credentials) -> str:
        if creds.client_id not in self._tokens:
            response = plain_http.post(
                f"{self.base_url}/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                },
            )
            response.raise_for_status()
            self._tokens[creds.client_id] = response.json()["access_token"]
        return self._tokens[creds.client_id]

    def client(self, creds: Credentials | None = None) -> httpx2.Client:
        headers = {"authorization": f"Bearer {self.token(creds)}"} if creds else {}
        return plain_http.client(base_url=self.base_url, headers=headers, timeout=30)

    def pace(self) -> dict[str, Any]:
        """An SDK client's pace at this service's own limit, not the SDK's default 300 a
        minute: tests that are not about pacing spent their time on it."""
        return {"rate_limit": self.settings.api_rate_limit_per_minute}

    def spec(self) -> dict[str, Any]:
        """The published OpenAPI spec. Built when first asked for: on a loaded machine
        that took more than httpx's 5 s."""
        response = plain_http.get(f"{self.base_url}/openapi.json", timeout=60)
        response.raise_for_status()
        spec: dict[str, Any] = response.json()
        return spec

    def subscribe(self, creds: Credentials, npns: list[str]) -> dict[str, object]:
        """PUT the NPNs and wait for the job to complete; the job's status body."""
        with self.client(creds) as http:
            accepted = http.put("/v1/accounts/subscriptions", json=npns)
            assert accepted.status_code == 202, accepted.text
            return wait_for_job(http, accepted.json()["job_id"])

    def subscribed(self, creds: Credentials) -> list[str]:
        """The account's active NPNs, as the API lists them (none: no ``embedded``)."""
        with self.client(creds) as http:
            body = http.get("/v1/accounts/subscriptions?size=1000").json()
        return [s["npn"] for s in body.get("embedded", {}).get("subscriptions", [])]


def wait_for_job(http: httpx2.Client, job_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"/v1/accounts/subscriptions/status/{job_id}").json()
        if status["status"] in ("COMPLETED", "FAILED"):
            return dict(status)
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not complete")


def removed(subscriptions: Subscriptions, npns: Sequence[str], **wait: Any) -> JobStatus:
    """``subscriptions.remove(npns)``, its job waited for (``wait``'s options): our
    service names one, where ``remove()`` gives None for an API that names none."""
    job = subscriptions.remove(npns)
    assert job is not None, f"the removal of {list(npns)} named no job"
    return subscriptions.wait(job, **wait)


@contextmanager
def running_service(database_url: str, **overrides: object) -> Iterator[RunningService]:
    """The service in a thread of this process. Delivery is off by default: DBOS is a
    process singleton, so in-thread services cannot each run a dispatcher. Private endpoint
    URLs are allowed by default, so tests can point endpoints at loopback. The pruner is off
    by default: tests write messages and jobs dated months back, which its run at start
    would prune from under them, or not, as the two raced."""
    port = free_port()
    values: dict[str, object] = {
        "delivery_enabled": False,
        "allow_private_endpoints": True,
        "prune_enabled": False,
        **overrides,
    }
    settings = ServiceSettings(database_url=database_url, port=port, **values)  # type: ignore[arg-type]
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    # The test's own engine is held to the service's pool size: a worker keeps its
    # session's service, and an engine of the library's default kept 10 connections more.
    engine = open_store(database_url, settings.database_pool_size)
    try:
        yield RunningService(f"http://127.0.0.1:{port}", engine, settings, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()
