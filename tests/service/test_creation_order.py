"""Lists of rows made together (one transaction, one millisecond, a clock stepped back)
in the order they were made: API clients and webhook endpoints."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from tests.conftest import BACKENDS
from tests.support.databases import migrated_store
from tests.support.delivery import skew_clock

MADE = 8  # rows made together: listed in a random order, one time in 40,320 in theirs


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with migrated_store(request.param, tmp_path) as url:
        engine = open_store(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_api_clients_made_together_list_in_the_order_made(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listed by their times: on PostgreSQL, made in one transaction, they tied (now() is
    # its start) and came in the order their rows lay in; on SQLite, made as the host's
    # clock stepped back, in its order.
    made = []
    with write_transaction(store) as conn:
        account = accounts.create_account(conn, "clients", sandbox=False)
        for n in range(MADE):
            skew_clock(monkeypatch, outbox, dt.timedelta(seconds=-n))
            made.append(accounts.create_client(conn, account, "producersync:read")[0])
    with write_transaction(store) as conn:  # PostgreSQL writes the first's row anew, last
        accounts.rotate_client_secret(conn, made[0])
    with store.connect() as conn:
        for listed in (accounts.list_clients(conn, account), accounts.list_clients(conn)):
            assert [c.client_id for c in listed if c.client_id in made] == made


def test_webhook_endpoints_made_in_one_millisecond_list_in_the_order_made(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listed by their ids, the milliseconds they were made in and then random digits.
    # Newest first, as the API and Svix list them.
    monkeypatch.setattr(endpoints, "time", types.SimpleNamespace(time=lambda: 1_765_000_000.0))
    made = []
    with write_transaction(store) as conn:
        account = accounts.create_account(conn, "endpoints", sandbox=False)
        for n in range(MADE):
            url = f"https://hooks.example.com/{n}"
            made.append(endpoints.create_endpoint(conn, account.id, url)[0].id)
    with store.connect() as conn:
        assert [e.id for e in endpoints.list_endpoints(conn, account.id)] == made[::-1]
