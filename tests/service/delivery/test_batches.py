"""The dispatcher's side of the store: claiming due deliveries and settling a batch, as
several workers sharing one store do it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NpnActivated
from producersync.service.delivery import batches as batches_module
from producersync.service.delivery.batches import Batches
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.metrics import ServiceMetrics
from producersync.service.store import outbox
from producersync.service.store.outbox import Outcome
from tests.conftest import BACKENDS
from tests.support.delivery import opened_store, publish_to_one_endpoint

URL = "https://93.184.216.34/hook"
POLICY = RetryPolicy(
    schedule=(5.0,),
    jitter=0.0,
    retry_after_cap=3600.0,
    timeout=5.0,
    disable_after=dt.timedelta(days=5),
    claim_lease=30.0,
)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with opened_store(request.param, tmp_path) as engine:
        yield engine


def published(engine: sa.Engine, events: int) -> None:
    """An endpoint with its test event and ``events`` more due to it."""
    url = engine.url.render_as_string(hide_password=False)
    publish_to_one_endpoint(
        engine, url, URL, [NpnActivated.create("15645555") for _ in range(events)]
    )


def attempts_counted(metrics: ServiceMetrics) -> dict[str, float]:
    return {
        outcome: metrics.registry.get_sample_value(
            "producersync_webhook_attempts_total", {"outcome": outcome}
        )
        or 0.0
        for outcome in ("succeeded", "failed", "deferred")
    }


def test_a_settle_retried_after_its_transaction_failed_counts_the_batch_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted before the transaction committed, a batch's attempts were counted again by
    # each retry of the DBOS step (a deadlock, the store out of reach a moment).
    published(engine, 2)
    metrics = ServiceMetrics()
    store = Batches(engine, POLICY, 10, metrics)
    ok, failing, held = store.claim()
    now = dt.datetime.now(dt.UTC)
    results = [
        Outcome(ok, now, True, 200, 12, "ok", None, None),
        Outcome(failing, now, False, 500, 12, "boom", None, now + dt.timedelta(seconds=5)),
        outbox.Deferred(held, now),
    ]
    record = batches_module.record

    def deadlocked_once(conn: sa.Connection, outcomes: Sequence[Outcome]) -> int:
        moved = record(conn, outcomes)
        if not calls:
            calls.append(moved)
            raise sa.exc.OperationalError("UPDATE webhook_deliveries", {}, Exception("deadlock"))
        return moved

    calls: list[int] = []
    monkeypatch.setattr(batches_module, "record", deadlocked_once)
    with pytest.raises(sa.exc.OperationalError):
        store.settle(results)
    store.settle(results)
    assert attempts_counted(metrics) == {"succeeded": 1, "failed": 1, "deferred": 1}
    with engine.connect() as conn:
        assert len(outbox.list_attempts(conn)) == 2
