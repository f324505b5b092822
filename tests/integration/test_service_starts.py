"""A service process started again after a SIGKILL, and one started on a DBOS system
database not made yet: real processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from tests.support import plain_http
from tests.support.databases import ADMIN_URL, postgres_database, universe_store
from tests.support.processes import service_process
from tests.support.service import token_response as _token

pytestmark = pytest.mark.slow(45)


def test_subscription_job_survives_sigkill(tmp_path: Path) -> None:
    # Made in this process: three CLI commands' starts were a third of the test.
    with universe_store("sqlite", tmp_path, 3000, 3) as database:
        engine = open_store(database)
        with write_transaction(engine) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False)
            client_id, client_secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
            npns = list(conn.execute(sa.select(entities.c.npn).limit(2500)).scalars())
        engine.dispose()

        with service_process(database, tmp_path) as service:
            token = _token(service.base_url, client_id, client_secret).json()["access_token"]
            headers = {"authorization": f"Bearer {token}"}
            accepted = plain_http.put(
                f"{service.base_url}/v1/accounts/subscriptions", json=npns, headers=headers
            )
            assert accepted.status_code == 202
            service.kill()  # at once: the job is committed, maybe not yet applied
        job_id = accepted.json()["job_id"]
        with service_process(database, tmp_path) as service:
            deadline = time.monotonic() + 60
            while True:
                status = plain_http.get(
                    f"{service.base_url}/v1/accounts/subscriptions/status/{job_id}", headers=headers
                ).json()
                if status["status"] == "COMPLETED" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status["status"] == "COMPLETED"
            assert status["details"]["activated"] == len(npns)
            page = plain_http.get(
                f"{service.base_url}/v1/accounts/subscriptions?size=1", headers=headers
            ).json()
            assert page["page"]["totalElements"] == len(npns)


@pytest.mark.postgres
def test_a_dbos_system_database_not_made_yet_is_made_at_start(tmp_path: Path) -> None:
    # Reached before serving (to tell one out of reach in a line), a system database
    # that is not there must not be refused: DBOS makes it through the server.
    with postgres_database() as system:
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = sa.make_url(system).database
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        env = {"PRODUCERSYNC_DBOS_SYSTEM_DATABASE_URL": system}
        store = f"sqlite:///{tmp_path}/store.db"
        with service_process(store, tmp_path, env=env), admin.connect() as conn:
            made = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                {"name": name},
            ).scalar_one()
        admin.dispose()
    assert made == 1
