"""The webhook receiver fuzzed over HTTP against a real ``producersync sync run``: a
slice of the generated deliveries (``test_receiver_fuzz.py`` sends them in process), of
events the process handles without its API. Never a 5xx; every genuine deactivation acted
on, and no other."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import EndpointTest, Event, NpnDeactivated
from producersync.sync import mirror
from producersync.sync.mirror.tables import events, population
from producersync.webhooks import generate_secret
from tests.support.receiver_fuzz import LIMIT, PATH, SEED, SHOWN, Tally, mirror_holds_only
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env
from tests.support.waiting import eventually
from tests.support.webhook_fuzz import ASGI_ONLY, DeliveryFuzzer, send_raw

pytestmark = pytest.mark.slow(40)

REQUESTS = 1500


def _deactivations(rng: random.Random, event_id: str) -> Event:
    """Events a sync process handles without its API: deactivations and endpoint tests."""
    if rng.random() < 0.8:
        return NpnDeactivated.create(str(rng.randrange(1, 10**9)), event_id=event_id)
    return EndpointTest.create("ep_fuzz", event_id=event_id)


def test_a_real_sync_process_answers_fuzzed_deliveries_over_http(
    tmp_path: Path, sqlite_mirror: str
) -> None:
    secret = generate_secret()
    env = offline_env(sqlite_mirror, secret, "fuzz")
    sync = SyncProcess(free_port(), env, tmp_path)
    fuzzer = DeliveryFuzzer(secret, seed=SEED, limit=LIMIT, events=_deactivations)
    tally, deactivated, refused = Tally(), set(), 0
    sync.start()
    try:
        began = time.monotonic()
        for index, delivery in enumerate(fuzzer.deliveries(REQUESTS, skip=ASGI_ONLY)):
            status, body = send_raw("127.0.0.1", sync.port, PATH, delivery)
            if status == 400 and b"not valid HTTP/1.1" in body:
                # The HTTP server's parser refused it (bytes no header may hold, NUL or
                # controls, RFC 9110 5.5): the receiver never saw it, and the sender is told
                # it is at fault.
                refused += 1
                continue
            tally.check(index, delivery, status)
            if isinstance(delivery.event, NpnDeactivated):
                deactivated.add(delivery.event.data.npn)
        print(tally.figure("over HTTP", time.monotonic() - began), f"({refused} by the parser)")
        engine = mirror.open_mirror(sqlite_mirror)

        def processed() -> bool:
            with engine.connect() as conn:
                pending = sa.select(sa.func.count()).where(events.c.processed_at.is_(None))
                return conn.execute(pending).scalar_one() == 0

        eventually(processed, timeout=60)
        with engine.connect() as conn:
            inactive = set(conn.execute(sa.select(population.c.npn)).scalars())
        engine.dispose()
    finally:
        sync.stop()
    assert not tally.failures, "\n".join(tally.failures[:SHOWN])
    assert inactive == deactivated  # every genuine deactivation acted on, and no other
    assert not mirror_holds_only(sqlite_mirror, tally.authorised, REQUESTS - refused)
