"""What the dispatcher tells an operator: deliveries given up after their last retry, one
line per endpoint, with every event as a field of its own for the JSON format."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from producersync.service.delivery import dispatcher
from producersync.service.store.outbox import Claimed, Outcome

_NOW = dt.datetime(2026, 12, 4, 22, 32, tzinfo=dt.UTC)


def _failed(message_id: str, *, last: bool) -> Outcome:
    claimed = Claimed(
        delivery_id=int(message_id.removeprefix("msg_")),
        message_id=message_id,
        endpoint_id="ep_1",
        url="https://hooks.example/psapi",
        payload=b"{}",
        attempts=7,
        manual=False,
        rate_limit_per_second=None,
        lease_until=_NOW,
        event_type="producersync.updates_available",
    )
    later = None if last else _NOW + dt.timedelta(hours=10)
    return Outcome(claimed, _NOW, False, 503, 12, "busy", None, later)


def test_deliveries_given_up_name_every_event_as_a_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes = [_failed(f"msg_{n}", last=True) for n in range(1, 5)]
    outcomes.append(_failed("msg_5", last=False))  # retried later: not given up
    with caplog.at_level(logging.WARNING, logger=dispatcher.__name__):
        dispatcher._log_given_up(outcomes)
    (record,) = caplog.records
    assert "4 deliveries given up after their last retry (events msg_1, msg_2, msg_3, ...)" in (
        record.getMessage()
    )
    assert record.__dict__["endpoint_id"] == "ep_1"
    assert record.__dict__["message_ids"] == ["msg_1", "msg_2", "msg_3", "msg_4"]
