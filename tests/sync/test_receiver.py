"""The webhook receiver in process (no DBOS: a recording starter stands in for the
workflows): what each kind of delivery is answered, recorded and started."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message

from producersync.model.events import EndpointTest, Event, NpnActivated, UpdatesAvailable
from producersync.request_ids import RequestIdFilter
from producersync.sync import mirror
from producersync.sync.app import create_app
from producersync.sync.metrics import Metrics
from producersync.sync.mirror.tables import receipts
from producersync.sync.receiver import Receiver
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret, headers
from tests.support.asgi import request
from tests.support.metrics import samples

PATH = "/webhooks/psapi"
FRESH_ID = re.compile(r"req_[0-9a-f]{24}")
LIMIT = 4 * mirror.UNVERIFIED_BODY_KEPT  # room for a body longer than a forged one keeps
# `sync status`'s receipts before any.
NONE = dict.fromkeys(
    ("total", "accepted", "duplicate", "ignored", "rejected", "unprocessed", "failed"), 0
)


@dataclass
class Harness:
    http: httpx2.AsyncClient
    secret: str
    mirror_url: str
    started: list[tuple[str, str]] = field(default_factory=list)

    async def post(
        self, body: bytes, *, secret: str | None = None, sent_at: float | None = None
    ) -> httpx2.Response:
        signed = headers(
            "msg_" + str(time.time_ns()), int(sent_at or time.time()), body, secret or self.secret
        )
        return await self.http.post(PATH, content=body, headers=signed)

    async def send(self, event: Event) -> httpx2.Response:
        body = event.to_json()
        signed = headers(event.id, int(time.time()), body, self.secret)
        return await self.http.post(PATH, content=body, headers=signed)

    def stored(self) -> list[sa.Row[Any]]:
        """The receipts' bodies as kept, in order of receipt."""
        engine = mirror.open_mirror(self.mirror_url)
        columns = receipts.c.body, receipts.c.body_length, receipts.c.body_sha256
        with engine.connect() as conn:
            rows = conn.execute(sa.select(*columns).order_by(receipts.c.id)).all()
        engine.dispose()
        return list(rows)

    def receipts(self) -> dict[str, int]:
        engine = mirror.open_mirror(self.mirror_url)
        with engine.connect() as conn:
            found: dict[str, int] = mirror.sync_status(conn)["receipts"]
        engine.dispose()
        return found


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    secret = generate_secret()
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    settings = SyncSettings(
        webhook_secrets=[SecretStr(secret)], mirror_url=url, max_body_bytes=LIMIT
    )
    started: list[tuple[str, str]] = []
    app = create_app(settings, start=lambda event, wid: started.append((event.type, wid)))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sync") as http:
        yield Harness(http, secret, url, started)


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_event_is_recorded_started_under_its_id_and_acknowledged(
    harness: Harness,
) -> None:
    event = NpnActivated.create("1234567")
    response = await harness.send(event)
    assert response.status_code == 200
    assert harness.started == [("producersync.npn.activated", event.id)]
    assert harness.receipts()["accepted"] == 1


async def test_a_redelivery_is_acknowledged_and_starts_nothing_new(harness: Harness) -> None:
    event = UpdatesAvailable.create(dt.date(2025, 7, 24))
    first, again = await harness.send(event), await harness.send(event)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    # The same workflow id both times: DBOS runs one workflow per id.
    assert {wid for _, wid in harness.started} == {event.id}


async def test_an_event_id_again_with_another_body_is_acknowledged_not_acted_on_and_told(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # It was answered as any redelivery, and the second body, lost, went unseen.
    event = UpdatesAvailable.create(dt.date(2025, 7, 24))
    other = event.model_copy(
        update={"data": event.data.model_copy(update={"run_date": dt.date(2025, 7, 25)})}
    )
    rewritten = json.dumps(json.loads(event.to_json()), indent=2).encode()  # as JSON, the same
    caplog.set_level(logging.INFO, logger="producersync.sync.receiver")
    assert (await harness.send(event)).json()["status"] == "accepted"
    again = await harness.http.post(
        PATH,
        content=rewritten,
        headers=headers(event.id, int(time.time()), rewritten, harness.secret),
    )
    assert again.json() == {"status": "duplicate", "detail": "already received"}
    assert caplog.records == []
    for _ in range(2):
        changed = await harness.send(other)
        assert changed.status_code == 200
        assert changed.json()["detail"] == "already received, with another body: not acted on"
    started = [wid for _, wid in harness.started]
    assert started == [event.id, event.id]  # the first and its redelivery, not the other
    [line] = caplog.records  # the second, held back, is counted in the next line
    assert line.levelname == "WARNING"
    assert line.getMessage().startswith(
        f"event {event.id!r} received again with another body: the first one's is acted on"
    )
    assert harness.receipts()["duplicate"] == 3


async def test_an_event_id_again_with_a_value_of_another_json_type_is_another_body(
    harness: Harness,
) -> None:
    # Python's 1 == True took a body whose 1 became true for the same one.
    event = UpdatesAvailable.create(dt.date(2025, 7, 24))
    answers = []
    for value in (1, True):
        body = json.dumps({**json.loads(event.to_json()), "attempt": value}).encode()
        signed = headers(event.id, int(time.time()), body, harness.secret)
        answers.append((await harness.http.post(PATH, content=body, headers=signed)).json())
    assert answers[0]["status"] == "accepted"
    assert answers[1] == {
        "status": "duplicate",
        "detail": "already received, with another body: not acted on",
    }


@pytest.mark.parametrize(
    ("secret", "age"),
    # 10 s past the 5 min tolerance each way: the header carries whole seconds, and a
    # future one 1 s past it had come within it by the time it was checked.
    [("other", 0), (None, 310), (None, -310)],
    ids=["bad-signature", "old", "future"],
)
async def test_an_unverified_delivery_is_401_recorded_and_never_started(
    harness: Harness, secret: str | None, age: int
) -> None:
    body = NpnActivated.create("1234567").to_json()
    response = await harness.post(
        body, secret=generate_secret() if secret else None, sent_at=time.time() - age
    )
    assert response.status_code == 401
    assert harness.started == []
    assert harness.receipts()["rejected"] == 1


async def test_an_unverified_delivery_keeps_the_beginning_of_its_body_its_length_and_digest(
    harness: Harness,
) -> None:
    """Kept whole, a forged body of the limit (1 MiB by default) a delivery let anyone who
    knows the URL fill the mirror at network speed. A verified one stays whole."""
    event = NpnActivated.create("1234567").to_json()
    long = event + b" " * (LIMIT - len(event))  # JSON still, and of the limit
    assert (await harness.post(long, secret=generate_secret())).status_code == 401
    assert (await harness.post(event, secret=generate_secret())).status_code == 401
    assert (await harness.post(long)).status_code == 200
    cut, short, whole = harness.stored()
    kept = mirror.UNVERIFIED_BODY_KEPT
    assert (cut.body, cut.body_length) == (long[:kept], LIMIT)
    assert cut.body_sha256 == hashlib.sha256(long).hexdigest()
    assert (short.body, short.body_length, short.body_sha256) == (event, None, None)
    assert (whole.body, whole.body_length, whole.body_sha256) == (long, None, None)


async def test_a_replayed_delivery_keeps_its_body_once(harness: Harness) -> None:
    """A valid delivery sent again as captured (its id, signature and body, within the
    signature's 5 min) was stored whole each time: a flood of them filled the mirror.
    The duplicates are acknowledged and counted as before, and a replay of the event
    reads the first's body."""
    event = NpnActivated.create("1234567")
    long = event.to_json() + b" " * (LIMIT - len(event.to_json()))
    signed = headers(event.id, int(time.time()), long, harness.secret)
    answers = [(await harness.http.post(PATH, content=long, headers=signed)) for _ in range(4)]
    assert [a.json()["status"] for a in answers] == ["accepted", *["duplicate"] * 3]
    first, *again = harness.stored()
    assert (first.body, first.body_length) == (long, None)
    digest = hashlib.sha256(long).hexdigest()
    assert {(r.body, r.body_length, r.body_sha256) for r in again} == {(b"", LIMIT, digest)}
    assert harness.receipts()["duplicate"] == 3
    engine = mirror.open_mirror(harness.mirror_url)
    with engine.connect() as conn:
        assert mirror.receipt_body(conn, event.id) == long
    engine.dispose()


async def test_a_receipt_keeps_no_credential_among_its_headers(harness: Harness) -> None:
    """An endpoint's custom headers are often a gateway's API key: that was stored."""
    event = NpnActivated.create("1234567")
    body = event.to_json()
    sent = headers(event.id, int(time.time()), body, harness.secret)
    private = {
        "authorization": "Bearer abc",
        "cookie": "session=abc",
        "x-api-key": "abc",
        "api-key": "abc",
        "x-auth-token": "abc",
        "x-webhook-secret": "abc",
    }
    sent |= private | {"x-request-id": "req_1"}
    assert (await harness.http.post(PATH, content=body, headers=sent)).status_code == 200
    engine = mirror.open_mirror(harness.mirror_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(receipts.c.headers)).scalar_one()
    engine.dispose()
    assert not private.keys() & stored.keys()
    assert {"x-request-id", "webhook-id", "webhook-signature"} <= stored.keys()


async def test_a_signature_header_given_twice_is_read_whole(harness: Harness) -> None:
    # A line signed with the secret held, then one with a secret not held: only the last
    # was read, a 401. Either order passes; every line is kept with the receipt.
    for held_first in (True, False):
        event = NpnActivated.create("1234567")
        body = event.to_json()
        sent = headers(event.id, int(time.time()), body, harness.secret)
        held = sent.pop("webhook-signature")
        other = headers(event.id, int(time.time()), body, generate_secret())
        lines = [held, other["webhook-signature"]]
        fields = [
            *sent.items(),
            *(("webhook-signature", v) for v in lines[:: 1 if held_first else -1]),
        ]
        response = await harness.http.post(PATH, content=body, headers=fields)
        assert (response.status_code, response.json()["status"]) == (200, "accepted")
    engine = mirror.open_mirror(harness.mirror_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(receipts.c.headers)).scalars().all()
    engine.dispose()
    assert all(len(h["webhook-signature"].split()) == 2 for h in stored)


async def test_an_id_header_given_twice_is_401_not_one_of_them_picked(harness: Harness) -> None:
    event = NpnActivated.create("1234567")
    body = event.to_json()
    sent = headers(event.id, int(time.time()), body, harness.secret)
    fields = [("webhook-id", "msg_other"), *sent.items()]
    response = await harness.http.post(PATH, content=body, headers=fields)
    assert response.status_code == 401
    assert "malformed webhook-id header" in response.json()["detail"]
    assert harness.started == []


async def test_missing_signature_headers_are_401(harness: Harness) -> None:
    response = await harness.http.post(PATH, content=b"{}")
    assert response.status_code == 401
    assert harness.receipts()["rejected"] == 1


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b'{"type": "producersync.npn.activated"}']
)
async def test_an_authentic_malformed_body_is_400_and_recorded(
    harness: Harness, body: bytes
) -> None:
    response = await harness.post(body)
    assert response.status_code == 400
    assert harness.started == []
    assert harness.receipts()["rejected"] == 1


_NOW = "2026-12-04T10:00:00Z"


@pytest.mark.parametrize(
    "event",
    [
        # Out of range once in UTC: was an OverflowError, a 500 and no receipt.
        {"id": "evt_1", "type": "webhook.test", "timestamp": "0001-01-01T00:00:00+01:00"},
        {
            "id": "evt_2",
            "type": "producersync.npn.deactivated",
            "timestamp": _NOW,
            "data": {"npn": "123", "deactivatedAt": "9999-12-31T23:59:00-05:00"},
        },
        # More than a database stores in a key (PostgreSQL: 500, and its batch with it).
        {"id": "evt_\u0000x", "type": "webhook.test", "timestamp": _NOW},
        {"id": "evt_" + "a" * 253, "type": "webhook.test", "timestamp": _NOW},
    ],
    ids=["before-year-1", "after-year-9999", "nul-in-id", "id-of-257"],
)
async def test_an_authentic_event_a_store_cannot_hold_is_400_and_recorded(
    harness: Harness, event: dict[str, object]
) -> None:
    event.setdefault("data", {"endpointId": "ep_1", "message": "m"})
    body = json.dumps(event).encode()
    response = await harness.post(body)
    assert response.status_code == 400, response.text
    assert "invalid event" in response.json()["detail"]
    assert harness.started == []
    assert harness.receipts()["rejected"] == 1


async def test_an_event_dated_after_its_receipt_is_400_and_changes_nothing(
    harness: Harness,
) -> None:
    """An activation in 2099 would have outranked every later deactivation of the NPN."""
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    activated = NpnActivated.create("1234567", future)
    response = await harness.send(activated)
    assert response.status_code == 400
    assert "data.activatedAt: after the time of receipt" in response.json()["detail"]
    assert harness.started == []
    assert harness.receipts()["rejected"] == 1
    skewed = NpnActivated.create("1234567", dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4))
    assert (await harness.send(skewed)).status_code == 200  # within the clock skew allowed


async def test_a_sender_that_hangs_up_mid_body_is_no_error(tmp_path: Path) -> None:
    """It was an exception out of the app: a logged traceback, as for a bug of ours."""
    settings = SyncSettings(
        webhook_secrets=[SecretStr(generate_secret())], mirror_url=f"sqlite:///{tmp_path / 'm.db'}"
    )
    started: list[Event] = []
    app = create_app(settings, start=lambda event, _wid: started.append(event))
    length = [(b"content-length", b"100")]
    status, _ = await request(app, "POST", PATH, length, [b'{"id": '], cut_short=True)
    assert status == 400
    assert started == []


async def test_a_body_that_stops_coming_is_408_and_recorded(sqlite_mirror: str) -> None:
    """uvicorn bounds no body's time: a sender that declared a body and sent part of it
    held its request, and a file descriptor, for good. A body has the API's bound (20 s
    from its first read, 1 s more per 500 bytes that came), here 0.2 s. (Answered before
    its body came, its connection is ended by the server: test_receiver_connection.)"""
    engine = mirror.open_mirror(sqlite_mirror)
    metrics = Metrics(lambda: None)
    receiver = Receiver(
        engine, [generate_secret()], lambda _e, _w: None, metrics, LIMIT, body_seconds=0.2
    )
    app = Starlette(routes=[Route(PATH, receiver.handle, methods=["POST"])])
    declared = [(b"content-length", b"100"), (b"webhook-id", b"msg_slow")]
    for chunks in ([b'{"id": '], [b"x"] * 100):
        status, _ = await request(app, "POST", PATH, declared, chunks, stalled=True)
        assert status == 408
    receiver.close()
    with engine.connect() as conn:
        verdicts = list(conn.execute(sa.select(receipts.c.event_id, receipts.c.verdict)))
    engine.dispose()
    assert verdicts == [
        ("msg_slow", "rejected: body not received within 0.2 s (7 bytes came)"),
        ("msg_slow", "rejected: body not received within 0.4 s (100 bytes came)"),
    ]
    rejected = ("producersync_sync_receipts_total", frozenset({("verdict", "rejected")}))
    assert samples(metrics.render().decode())[rejected] == 2


async def test_an_authentic_unknown_event_type_is_acknowledged_not_started(
    harness: Harness,
) -> None:
    body = b'{"id": "evt_1", "type": "producersync.new_thing", "timestamp": "2025-07-24T00:00:00Z"}'
    response = await harness.post(body)
    assert response.status_code == 200
    assert harness.started == []


async def test_a_body_over_the_limit_is_413(harness: Harness) -> None:
    response = await harness.post(b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert harness.started == []
    assert harness.receipts()["rejected"] == 1


async def test_a_compressed_delivery_is_415_naming_its_coding_recorded_and_never_started(
    harness: Harness,
) -> None:
    # Signed, then gzipped: the signature did not verify over the compressed bytes, a
    # 401 that sent the sender's operator after the secret.
    event = NpnActivated.create("1234567")
    body = event.to_json()
    signed = headers(event.id, int(time.time()), body, harness.secret)
    for coding in ("gzip", "identity, gzip"):
        response = await harness.http.post(
            PATH, content=gzip.compress(body), headers={**signed, "content-encoding": coding}
        )
        assert response.status_code == 415
        assert response.headers["accept-encoding"] == "identity"
        assert response.json() == {
            "status": "rejected",
            "detail": "content-encoding 'gzip' is not supported: no signature matches the body "
            "as sent; send it uncompressed",
        }
    assert harness.started == []
    assert harness.receipts()["rejected"] == 2
    # A body that verifies as sent is read whatever its label says.
    response = await harness.http.post(
        PATH, content=body, headers={**signed, "content-encoding": "gzip"}
    )
    assert response.status_code == 200
    assert harness.started == [("producersync.npn.activated", event.id)]


async def test_a_path_with_a_slash_too_many_is_404_not_a_redirect(harness: Harness) -> None:
    body = UpdatesAvailable.create(dt.date(2026, 1, 5)).to_json()
    signed = headers("msg_slash", int(time.time()), body, harness.secret)
    response = await harness.http.post(PATH + "/", content=body, headers=signed)
    assert response.status_code == 404
    assert response.json() == {
        "status": "rejected",
        "detail": f"no POST {PATH}/; deliveries go to POST {PATH}",
    }
    assert harness.started == []
    assert sum(harness.receipts().values()) == 0


async def test_a_long_path_is_named_cut_short(harness: Harness) -> None:
    """A 20 KB path came back whole in the detail (and in a sender's delivery log)."""
    response = await harness.http.post(f"{PATH}/{'x' * 20_000}", content=b"{}")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith(f"no POST {PATH}/xxx")
    assert f"…({20_001 + len(PATH) - 200} more); deliveries go to POST {PATH}" in detail
    assert len(detail) < 400


async def test_a_get_of_the_receiver_is_405_naming_the_allowed_method(harness: Harness) -> None:
    response = await harness.http.get(PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {
        "status": "rejected",
        "detail": f"GET {PATH} is not allowed (allowed: POST)",
    }


async def test_an_endpoint_test_is_acknowledged_recorded_and_ignored(harness: Harness) -> None:
    response = await harness.send(EndpointTest.create("ep_1"))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert harness.started == []
    assert harness.receipts() == {**NONE, "total": 1, "ignored": 1}


async def test_the_metrics_show_the_npns_owed_a_fetch_and_the_failed_runs_as_sync_status_does(
    harness: Harness,
) -> None:
    """An alert sees an activation whose fetch keeps failing (the API down, or refusing
    it for hours) and a failure not made up for: `sync status` alone told them."""
    engine = mirror.open_mirror(harness.mirror_url)
    at = dt.datetime(2025, 7, 24, tzinfo=dt.UTC)
    with mirror.write_transaction(engine) as conn:
        mirror.activate_npns(conn, ["1001", "1002"], at)
        run = mirror.start_run(conn, "activation")
        mirror.mark_activations_fetched(conn, ["1001", "1002"], run)
        mirror.finish_run(conn, run, {}, error="the API answered 503")
        status = mirror.sync_status(conn)
    engine.dispose()
    shown = samples((await harness.http.get("/metrics")).text)
    assert (status["pendingNpns"]["count"], status["failedRuns"]) == (2, 1)
    assert shown["producersync_sync_pending_npns", frozenset()] == 2
    assert shown["producersync_sync_failed_runs", frozenset()] == 1


async def test_the_metrics_show_how_long_the_oldest_unprocessed_event_has_waited(
    harness: Harness,
) -> None:
    """An alert sees an event accepted long ago whose work is still not done (a workflow
    stuck, the mirror refusing writes): only `sync status` counted such events."""
    held = NpnActivated.create("1234567")  # started nowhere: the harness holds it back
    assert (await harness.send(held)).json()["status"] == "accepted"
    older = NpnActivated.create("7654321")
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    receipt = mirror.Receipt(
        older.id, older.type, an_hour_ago, {}, older.to_json(), mirror.ACCEPTED
    )
    engine = mirror.open_mirror(harness.mirror_url)
    with mirror.write_transaction(engine) as conn:
        assert mirror.record_receipt(conn, receipt)
    age = "producersync_sync_oldest_unprocessed_event_age_seconds", frozenset()
    assert samples((await harness.http.get("/metrics")).text)[age] >= 3600
    with mirror.write_transaction(engine) as conn:
        mirror.mark_all_processed(conn, [held.id, older.id], dt.datetime.now(dt.UTC))
    engine.dispose()
    assert samples((await harness.http.get("/metrics")).text)[age] == 0


async def test_sync_status_counts_receipts_by_the_verdicts_the_metrics_count(
    harness: Harness,
) -> None:
    """One delivery of each kind: `sync status` and ``/metrics`` tell the same counts.
    An endpoint test (verified, recorded, no work) was accepted for the one and ignored
    for the other."""
    event, test = NpnActivated.create("1234567"), EndpointTest.create("ep_1")
    for sent in (event, event, test, test):
        assert (await harness.send(sent)).status_code == 200
    unknown = (
        b'{"id": "evt_1", "type": "producersync.new_thing", "timestamp": "2025-07-24T00:00:00Z"}'
    )
    assert (await harness.post(unknown)).json()["status"] == "ignored"
    assert (await harness.post(b"{}", secret=generate_secret())).status_code == 401
    shown = samples((await harness.http.get("/metrics")).text)
    counted = {
        verdict: int(shown["producersync_sync_receipts_total", frozenset({("verdict", verdict)})])
        for verdict in ("accepted", "duplicate", "ignored", "rejected")
    }
    assert counted == {"accepted": 1, "duplicate": 1, "ignored": 3, "rejected": 1}
    receipts = harness.receipts()
    assert {verdict: receipts[verdict] for verdict in counted} == counted
    assert receipts["total"] == sum(counted.values())


async def test_metrics_count_receipts_by_verdict(harness: Harness) -> None:
    # Every verdict at 0 before the first delivery: a rate of rejections sees the first.
    before = (await harness.http.get("/metrics")).text
    for verdict in ("accepted", "duplicate", "ignored", "rejected", "unavailable"):
        assert f'producersync_sync_receipts_total{{verdict="{verdict}"}} 0.0' in before
    assert "\nproducersync_sync_last_synced_run_date_timestamp_seconds 0.0\n" in before
    assert "\nprocess_start_time_seconds " in before
    await harness.send(NpnActivated.create("1234567"))
    await harness.post(b"{}", secret=generate_secret())
    text = (await harness.http.get("/metrics")).text
    assert 'producersync_sync_receipts_total{verdict="accepted"} 1.0' in text
    assert 'producersync_sync_receipts_total{verdict="rejected"} 1.0' in text
    assert 'producersync_sync_receipt_duration_seconds_count{verdict="accepted"} 1.0' in text
    assert (await harness.http.get("/healthz")).json() == {"status": "ok"}


async def test_a_rejected_delivery_is_logged_at_most_once_a_minute(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    forged = generate_secret()
    caplog.set_level(logging.INFO, logger="producersync.sync.receiver")
    for _ in range(3):
        assert (await harness.post(b"{}", secret=forged)).status_code == 401
    assert (await harness.send(NpnActivated.create("1234567"))).status_code == 200
    lines = [r for r in caplog.records if r.name == "producersync.sync.receiver"]
    assert [r.levelname for r in lines] == ["WARNING"], lines
    assert re.fullmatch(
        r"delivery 'msg_\d+' rejected with 401: no signature matches the webhook secret; if "
        r"every delivery is, PRODUCERSYNC_WEBHOOK_SECRETS lacks the endpoint's current secret "
        r"\(rotated\?\) or this host's clock is off",
        lines[0].getMessage(),
    )
    assert lines[0].exc_info is None  # a sender's mistake: no traceback


async def test_every_answer_of_the_receiver_names_its_request(harness: Harness) -> None:
    """The receiver's answers had no x-request-id, where the service's had, and the HTTP
    parser's refusals in this very process."""
    event = NpnActivated.create("1234567")
    body = event.to_json()
    gzipped = {**headers(event.id, int(time.time()), body, harness.secret)}
    gzipped["content-encoding"] = "gzip"
    answers = [
        await harness.send(event),
        await harness.post(b"[]"),  # authentic, not an event
        await harness.post(b"{}", secret=generate_secret()),
        await harness.post(b"x" * (LIMIT + 1)),
        await harness.http.post(PATH, content=gzip.compress(body), headers=gzipped),
        await harness.http.get("/metrics"),
        await harness.http.get("/healthz"),
        await harness.http.get("/nowhere"),
        await harness.http.get(PATH),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 400, 401, 413, 415, 200, 200, 404, 405]
    ids = [answer.headers.get("x-request-id", "") for answer in answers]
    assert all(FRESH_ID.fullmatch(each) for each in ids), ids
    assert len(set(ids)) == len(ids)
    # A sender's own id is kept when it is a sane token, as the service keeps a client's.
    for given, kept in (("ticket-42", True), ("two words", False)):
        answer = await harness.http.get("/healthz", headers={"x-request-id": given})
        sent = answer.headers["x-request-id"]
        assert sent == given if kept else FRESH_ID.fullmatch(sent), sent


async def test_a_deliverys_log_line_carries_its_request_id_beside_its_webhook_id(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="producersync.sync.receiver")
    caplog.handler.addFilter(RequestIdFilter())  # as the process's log handler has it
    forged = headers("msg_forged", int(time.time()), b"{}", generate_secret())
    answer = await harness.http.post(
        PATH, content=b"{}", headers={**forged, "x-request-id": "ticket-42"}
    )
    assert (answer.status_code, answer.headers["x-request-id"]) == (401, "ticket-42")
    [line] = [r for r in caplog.records if r.name == "producersync.sync.receiver"]
    assert line.getMessage().startswith("delivery 'msg_forged' rejected with 401: ")
    assert getattr(line, "request_id", None) == "ticket-42"


async def test_a_503_for_an_unavailable_mirror_is_counted(tmp_path: Path) -> None:
    """The sender retries a 503, and the operator must see it: the receipt rate fell
    silent instead, as if no one were sending."""
    gone = _Gone(tmp_path)
    status, answer = await gone.deliver()
    gone.close()
    assert (status, json.loads(answer)["status"]) == (503, "unavailable")
    assert gone.started == []
    text = gone.metrics.render().decode()
    assert 'producersync_sync_receipts_total{verdict="unavailable"} 1.0' in text
    assert 'producersync_sync_receipt_duration_seconds_count{verdict="unavailable"} 1.0' in text


async def test_a_mirror_that_refuses_writes_is_answered_503_as_an_outage(tmp_path: Path) -> None:
    """A mirror whose file became read-only (a volume remounted read-only after disk
    errors, a restore as another user): SQLite's "attempt to write a readonly database"
    went up as a 500 and a traceback for every delivery, uncounted by the unavailable
    verdict an alert watches, where a full disk is a 503 the sender retries."""
    path = tmp_path / "mirror.db"
    mirror.open_mirror(f"sqlite:///{path}").dispose()
    gone = _Gone(tmp_path, f"sqlite:///file:{path}?mode=ro&uri=true")
    status, answer = await gone.deliver()
    gone.close()
    assert (status, json.loads(answer)["status"]) == (503, "unavailable")
    assert 'producersync_sync_receipts_total{verdict="unavailable"} 1.0' in (
        gone.metrics.render().decode()
    )


async def test_a_delivery_cut_by_the_stop_is_counted(tmp_path: Path) -> None:
    """A delivery still unanswered when the stop cuts it (uvicorn cancels it after the
    grace period) gets the receiver's 503 from RetryShortly, outside the receiver, and the
    sender retries it: counted, as the mirror's 503 is; it went uncounted."""
    settings = SyncSettings(
        webhook_secrets=[SecretStr(generate_secret())], mirror_url=f"sqlite:///{tmp_path}/m.db"
    )
    app = create_app(settings, start=lambda _event, _wid: None)
    first, waiting, sent = True, asyncio.Event(), list[Message]()

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"{", "more_body": True}
        waiting.set()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
    }
    delivery = asyncio.ensure_future(app(scope, receive, send))
    await waiting.wait()  # the receiver awaits the rest of the body
    delivery.cancel()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert (sent[0]["status"], json.loads(sent[1]["body"])["status"]) == (503, "unavailable")
    assert FRESH_ID.fullmatch(dict(sent[0]["headers"])[b"x-request-id"].decode())
    shown = samples((await request(app, "GET", "/metrics", []))[1].decode())
    assert shown["producersync_sync_receipts_total", frozenset({("verdict", "unavailable")})] == 1
    assert (
        shown[
            "producersync_sync_receipt_duration_seconds_count",
            frozenset({("verdict", "unavailable")}),
        ]
        == 1
    )


async def test_the_end_of_a_mirror_outage_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log said the mirror was unavailable and never that it was back, where every
    delivery answered tells (each records its receipt)."""
    caplog.set_level(logging.WARNING, logger="producersync.sync.receiver")
    gone = _Gone(tmp_path)
    assert (await gone.deliver())[0] == 503
    gone.directory.mkdir()
    mirror.open_mirror(gone.url).dispose()  # the disk is back, the mirror on it
    assert [(await gone.deliver())[0] for _ in range(2)] == [200, 200]
    gone.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "producersync.sync.receiver"]
    assert lines[0].startswith("receiver: the database is unavailable, answering 503: ")
    assert re.fullmatch(r"receiver: the database is back after \d+ s", lines[1])
    assert len(lines) == 2


class _Gone:
    """A receiver over a mirror that cannot be opened: SQLite's "cannot open", an outage
    (a lost disk), until its directory is made; or over ``url``."""

    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        self.secret, self.directory = generate_secret(), tmp_path / "gone"
        self.url = url or f"sqlite:///{self.directory / 'mirror.db'}"
        self.engine = sa.create_engine(self.url)
        self.metrics = Metrics(lambda: None)
        self.started: list[str] = []
        self.receiver = Receiver(
            self.engine,
            [self.secret],
            lambda _e, wid: self.started.append(wid),
            self.metrics,
            LIMIT,
        )
        self.app = Starlette(routes=[Route(PATH, self.receiver.handle, methods=["POST"])])

    async def deliver(self) -> tuple[int, bytes]:
        body = NpnActivated.create("1234567").to_json()
        event_id = json.loads(body)["id"]
        signed = headers(event_id, int(time.time()), body, self.secret)
        raw = [(name.encode(), value.encode()) for name, value in signed.items()]
        return await request(self.app, "POST", PATH, raw, [body])

    def close(self) -> None:
        self.receiver.close()
        self.engine.dispose()
