"""What the dispatcher tells an operator: deliveries given up after their last retry, one
line per endpoint, with every event as a field of its own for the JSON format; an endpoint
disabled for failing, and for how long, in words."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from typing import cast

import pytest

from producersync.service.delivery import dispatcher
from producersync.service.delivery.batches import Settled
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


@pytest.mark.parametrize(
    ("window", "spoken"),
    [
        (dt.timedelta(days=5), "5 days"),  # the default: it read "5 days, 0:00:00"
        (dt.timedelta(days=1), "1 day"),
        (dt.timedelta(hours=36), "1 day 12 hours"),
        (dt.timedelta(hours=1), "1 hour"),
        (dt.timedelta(minutes=90), "1 hour 30 minutes"),
        (dt.timedelta(days=2, minutes=1), "2 days 1 minute"),
        (dt.timedelta(seconds=90.5), "1 minute 30.5 seconds"),
        (dt.timedelta(seconds=1), "1 second"),
        (dt.timedelta(seconds=0.1), "0.1 seconds"),
    ],
)
def test_an_endpoint_disabled_for_failing_says_for_how_long_in_words(
    caplog: pytest.LogCaptureFixture, window: dt.timedelta, spoken: str
) -> None:
    settling = SimpleNamespace(
        _store=SimpleNamespace(settle=lambda _results: Settled(["ep_1"], [])),
        _policy=SimpleNamespace(disable_after=window),
    )
    with caplog.at_level(logging.WARNING, logger=dispatcher.__name__):
        dispatcher.Dispatcher._settle(cast(dispatcher.Dispatcher, settling), [])
    (record,) = caplog.records
    assert record.getMessage() == (
        f"endpoint ep_1 disabled: its attempts have all failed for {spoken}; its deliveries "
        "wait. Once its receiver answers again: producersync admin endpoint enable ep_1"
    )
