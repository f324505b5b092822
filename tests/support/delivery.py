"""Webhook delivery through the service's deaths: events published to one endpoint, and a
fan-out SIGKILLed and restarted; an endpoint's attempts, logged as if made; and a store
with a small universe, for the delivery process tests."""

from __future__ import annotations

import datetime as dt
import secrets
import time
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import ENDPOINT_TEST, Event, NpnActivated
from producersync.service.delivery import management
from producersync.service.delivery.publish import publish_events
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from tests.support.databases import migrated_store, universe_store
from tests.support.processes import FAST, service_lives
from tests.support.receiver import Reply, receiver
from tests.support.waiting import eventually


@contextmanager
def loaded_store(
    kind: str, directory: Path, producers: int = 40
) -> Iterator[tuple[str, sa.Engine]]:
    """A new store of ``kind`` holding a universe of ``producers`` (``universe_store``):
    its URL, and an engine on it disposed of after."""
    with universe_store(kind, directory, producers, 11) as url:
        engine = open_store(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@contextmanager
def opened_store(kind: str, directory: Path) -> Iterator[sa.Engine]:
    """A fresh, migrated store of ``kind`` (``sqlite``, ``postgres``), disposed of after."""
    with migrated_store(kind, directory) as url:
        engine = open_store(url)
        try:
            yield engine
        finally:
            engine.dispose()


def skew_clock(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType, by: dt.timedelta) -> None:
    """Run ``module`` as a process on a host whose clock is ``by`` off the store's: the
    ``dt.datetime.now`` it reads its clock with is moved (the store's, PostgreSQL's
    ``now()``, is not)."""

    class Skewed(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Skewed:
            moved = dt.datetime.now(tz) + by
            return cls.fromtimestamp(moved.timestamp(), tz)

    monkeypatch.setattr(module, "dt", types.SimpleNamespace(**vars(dt) | {"datetime": Skewed}))


def publish_to_one_endpoint(
    engine: sa.Engine, url: str, endpoint_url: str, events: Sequence[Event]
) -> None:
    """An account with one endpoint, at ``endpoint_url``, and ``events`` published to it
    (the endpoint's test event comes first)."""
    settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
    with write_transaction(engine) as conn:
        account_id = accounts.create_account(conn, "fan", sandbox=False).id
        management.create_endpoint(conn, settings, account_id, endpoint_url)
        publish_events(conn, account_id, events)


def endpoints_made_in_one_millisecond(engine: sa.Engine, account_id: int, count: int) -> list[str]:
    """``count`` endpoints of the account made one after another, whose ids name one
    millisecond and end in digits that sort them the other way (as random ones may):
    their ids, oldest first."""
    # Another call's in the same millisecond takes other ids.
    prefix = f"ep_{int(time.time() * 1000):012x}{secrets.token_hex(3)}"
    with write_transaction(engine) as conn:
        return [
            endpoints.create_endpoint(
                conn,
                account_id,
                f"https://hooks.example.com/{n}",
                endpoint_id=f"{prefix}{count - n:06x}",
            )[0].id
            for n in range(count)
        ]


def delivery_states(engine: sa.Engine, endpoint_id: str | None = None) -> dict[str, int]:
    """How many deliveries (to ``endpoint_id``, or to any endpoint) are in each state."""
    d = webhook_deliveries
    query = sa.select(d.c.state, sa.func.count()).group_by(d.c.state)
    if endpoint_id is not None:
        query = query.where(d.c.endpoint_id == endpoint_id)
    with engine.connect() as conn:
        return {str(state): int(count) for state, count in conn.execute(query).all()}


def fan_out_through_sigkills(
    kind: str, directory: Path, *, events: int, kill_after: list[int]
) -> int:
    """Publish ``events`` activations to one endpoint, then run the service and SIGKILL
    it once per entry of ``kill_after`` (when that many more deliveries have arrived; 0:
    as soon as it is up), each time mid fan-out and restarted in the same slot; the last
    life runs to the end. Every event arrives, and every delivery row ends succeeded.
    Returns how many deliveries arrived (at least once: a redelivery counts again)."""
    published = [NpnActivated.create(str(10_000_000 + i)) for i in range(events)]
    with migrated_store(kind, directory) as url, receiver(lambda _got: Reply(delay=0.01)) as rx:
        engine = open_store(url)
        publish_to_one_endpoint(engine, url, rx.url, published)
        # The restarted process takes the killed one's slot (its executor id), so DBOS
        # recovery resumes the batches that were in flight, not the claims' leases.
        slot = {**FAST, "PRODUCERSYNC_EXECUTOR_ID": "fan-out-slot"}
        with service_lives(url, directory, len(kill_after) + 1, env=slot) as lives:
            for more in kill_after:
                life = next(lives)
                arrived = len(rx.received)
                rx.wait_for(lambda got, arrived=arrived, more=more: len(got) >= arrived + more)
                life.kill()
                assert len(set(rx.ids())) < events + 1, "the fan-out was over before the kill"
            next(lives)  # the last: what is left after the last kill, retries included
            # Minutes, not seconds, on a loaded 2-core machine.
            rx.wait_for(
                lambda got: len({r.headers["webhook-id"] for r in got}) == events + 1,
                timeout=180,
            )
            eventually(lambda: delivery_states(engine) == {"succeeded": events + 1}, timeout=30)
        engine.dispose()
    assert {e.id for e in published} <= set(rx.ids())
    return len(rx.received)


def log_attempts(
    engine: sa.Engine,
    endpoint_id: str,
    outcomes: list[bool],
    response: str | None = None,
    *,
    event_type: str = ENDPOINT_TEST,
    start: dt.datetime | None = None,
    planned: dt.datetime | None = None,
) -> None:
    """Attempts of the endpoint's message of ``event_type`` (its test message unless an
    example of another was sent), oldest first, a second apart from ``start`` (an hour
    ago), as the dispatcher records them: each answered ``answer {n}`` unless a response
    is given, sent to the endpoint's URL as it is now, and each failed one planning the
    next attempt at ``planned`` (None: no more)."""
    with write_transaction(engine) as conn:
        (delivery,) = [
            d
            for d in outbox.list_deliveries(conn, endpoint_id=endpoint_id)
            if (m := outbox.get_message(conn, None, d.message_id)) and m.event_type == event_type
        ]
        start = start or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        url = conn.execute(
            sa.select(webhook_endpoints.c.url).where(webhook_endpoints.c.id == endpoint_id)
        ).scalar_one()
        conn.execute(
            webhook_attempts.insert(),
            [
                {
                    "delivery_id": delivery.id,
                    "message_id": delivery.message_id,
                    "endpoint_id": endpoint_id,
                    "event_type": event_type,
                    "attempt_number": n + 1,
                    "trigger": "scheduled",
                    "attempted_at": start + dt.timedelta(seconds=n),
                    "succeeded": ok,
                    "status_code": 200 if ok else 503,
                    "duration_ms": 10 + n,
                    "response": f"answer {n}" if response is None else response,
                    "error": None,
                    "next_attempt_at": None if ok else planned,
                    "url": url,
                }
                for n, ok in enumerate(outcomes)
            ],
        )
