"""The headers a receipt keeps, over HTTP to a real ``producersync sync run``: its server
(uvicorn's httptools parser) bounds neither the size nor the number of a request's
headers, so a forged delivery's were stored whole, 10 MiB of them as readily as 1 KiB."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NpnDeactivated
from producersync.sync import mirror
from producersync.sync.mirror.tables import receipts
from producersync.webhooks import generate_secret, headers
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env
from tests.support.webhook_fuzz import Delivery, send_raw

pytestmark = pytest.mark.slow(15)

PATH = "/webhooks/psapi"
# 48 KiB of headers: the most a head may carry with the rest (bounded_head.MAX_HEAD_BYTES,
# 64 KiB) and still twelve times what an unverified delivery's receipt keeps.
PADDING = [(f"x-pad-{n}", b"a" * 8192) for n in range(6)]


def test_a_forged_delivery_keeps_its_webhook_headers_and_a_bounded_rest(
    tmp_path: Path, sqlite_mirror: str
) -> None:
    secret = generate_secret()

    def delivery(event: NpnDeactivated, signed_with: str) -> Delivery:
        body = event.to_json()
        signed = headers(event.id, int(time.time()), body, signed_with)
        sent = [(name, value.encode()) for name, value in signed.items()]
        sent += [("authorization", b"Bearer " + b"s" * 8192), *PADDING]
        return Delivery("headers", tuple(sent), (body,), frozenset())

    forged = NpnDeactivated.create("1234567", event_id="msg_forged")
    genuine = NpnDeactivated.create("7654321", event_id="msg_genuine")
    sync = SyncProcess(free_port(), offline_env(sqlite_mirror, secret, "headers"), tmp_path)
    sync.start()
    try:
        assert send_raw("127.0.0.1", sync.port, PATH, delivery(forged, generate_secret()))[0] == 401
        assert send_raw("127.0.0.1", sync.port, PATH, delivery(genuine, secret))[0] == 200
    finally:
        sync.stop()
    engine = mirror.open_mirror(sqlite_mirror)
    with engine.connect() as conn:
        cut, whole = conn.execute(sa.select(receipts.c.headers).order_by(receipts.c.id)).scalars()
    engine.dispose()
    told = cut.pop(mirror.HEADERS_CUT)
    assert sum(len(name) + len(value) for name, value in cut.items()) == (
        mirror.UNVERIFIED_HEADERS_KEPT
    )
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "x-pad-0"} <= cut.keys()
    assert cut["webhook-id"] == "msg_forged" and PADDING[-1][0] not in cut
    assert told.startswith(f"kept {len(cut)} of {len(whole)} headers, 4096 of ")
    # A verified delivery keeps them all; neither keeps a credential.
    assert {name for name, _ in PADDING} <= whole.keys()
    assert "authorization" not in cut.keys() | whole.keys()
