"""A webhook message's JSON, built from the store's rows without a model of each delivery,
is the one its models write (the spec's ``WebhookMessage``), byte for byte."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from producersync.model.events import NpnActivated, UpdatesAvailable
from producersync.service.api.webhook_models import (
    DeliveryState,
    WebhookMessage,
    message_json,
    message_page_json,
)
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import webhook_deliveries, webhook_messages
from tests.conftest import BACKENDS
from tests.support.delivery import opened_store

pytestmark = pytest.mark.slow(5)

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with opened_store(request.param, tmp_path) as engine:
        yield engine


def _models_json(message: outbox.Message, rows: list[outbox.DeliveryRow]) -> bytes:
    """What the route answered with a model of each delivery (FastAPI's own JSON)."""
    model = WebhookMessage(
        id=message.id,
        event_type=message.event_type,
        payload={"expired": True} if message.expired else orjson.loads(message.payload),
        created_at=message.created_at,
        deliveries=[DeliveryState.model_validate(row) for row in rows],
    )
    return model.model_dump_json().encode()


def test_each_message_is_written_as_its_model_writes_it(engine: sa.Engine) -> None:
    d = webhook_deliveries
    events = [UpdatesAvailable.create(dt.date(2026, 3, 1)), NpnActivated.create("15645555")]
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "acme", sandbox=False).id
        for n in range(4):
            endpoints.create_endpoint(conn, account, f"https://93.184.216.34/hook/{n}")
        published = [outbox.Message(e.id, account, e.type, e.to_json()) for e in events]
        outbox.publish(conn, published, now=T0)
        # Times to the millisecond and to the microsecond, none, and each state.
        conn.execute(d.update().where(d.c.id % 4 == 0).values(next_attempt_at=None))
        later = T0 + dt.timedelta(seconds=5, microseconds=250_001)
        conn.execute(d.update().where(d.c.id % 4 == 1).values(updated_at=later, attempts=3))
        conn.execute(d.update().where(d.c.id % 3 == 0).values(state=outbox.FAILED))
        conn.execute(d.update().where(d.c.id % 3 == 1).values(state=outbox.SUCCEEDED))
        m = webhook_messages
        conn.execute(m.update().where(m.c.id == events[0].id).values(payload=""))
    with engine.connect() as conn:
        rows = outbox.list_messages(conn, account, limit=2)
        deliveries = outbox.deliveries_of(conn, [message.id for message in rows])
    assert {message.id for message in rows if message.expired} == {events[0].id}
    for message in rows:
        shown = deliveries[message.id]
        assert len(shown) == 4
        assert orjson.dumps(message_json(message, shown)) == _models_json(message, shown)
    page = message_page_json(rows, deliveries, 2)
    assert page["nextBefore"] == rows[-1].id
    assert message_page_json(rows, deliveries, 3)["nextBefore"] is None
