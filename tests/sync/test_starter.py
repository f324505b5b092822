"""The starter hands acknowledged events to their workflows off the request path."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import sqlalchemy as sa

from producersync.model.events import Event, NpnActivated
from producersync.sync.starter import Starter


def test_a_start_that_finds_the_database_unavailable_is_tried_again() -> None:
    started: list[list[tuple[Event, str]]] = []
    done = threading.Event()

    def start(batch: list[tuple[Event, str]]) -> None:
        if not started:
            started.append([])
            lost = psycopg.OperationalError("connection failed: Connection refused")
            raise sa.exc.OperationalError("INSERT", {}, lost)
        started.append(batch)
        done.set()

    now = dt.datetime.now(dt.UTC)
    event = NpnActivated.create("1234567", now, timestamp=now)
    starter = Starter(start)
    starter.launch()
    try:
        starter.submit(event, event.id)
        assert done.wait(timeout=10), "the batch was not started again"
    finally:
        starter.stop()
    assert started[1] == [(event, event.id)]


def test_a_start_that_fails_otherwise_is_left_to_the_next_launch() -> None:
    calls: list[int] = []
    called = threading.Event()

    def start(batch: list[tuple[Event, str]]) -> None:
        calls.append(len(batch))
        called.set()
        raise ValueError("a bug of ours")

    now = dt.datetime.now(dt.UTC)
    event = NpnActivated.create("1234567", now, timestamp=now)
    starter = Starter(start)
    starter.launch()
    try:
        starter.submit(event, event.id)
        assert called.wait(timeout=10)
        time.sleep(1)  # longer than the first wait before a retry
    finally:
        starter.stop()
    assert calls == [1]  # not tried again and again, holding up the events after it
