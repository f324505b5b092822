"""One attempt against a hostile receiver on loopback: whatever it answers, the attempt
ends as an outcome to record (never an exception that takes its batch down), bounded in
what it keeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import tracemalloc

from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.sender import Sender
from producersync.service.delivery.throttle import EndpointThrottle
from producersync.service.delivery.urls import AddressGuard
from producersync.service.store.outbox import Claimed, Outcome
from tests.support.receiver import Reply, receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STEP = 5.0
# Generous: an attempt that needs it has hung.
POLICY = RetryPolicy(
    schedule=(STEP,),
    jitter=0.0,
    retry_after_cap=3600.0,
    timeout=20.0,
    disable_after=dt.timedelta(days=5),
    claim_lease=60.0,
)


def attempt(url: str, *, allow_private: bool = True) -> Outcome:
    claimed = Claimed(
        delivery_id=1,
        message_id="evt_1",
        endpoint_id="ep_1",
        url=url,
        payload=b'{"type":"webhook.test"}',
        attempts=0,
        manual=False,
        rate_limit_per_second=None,
        lease_until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
    )

    async def send() -> Outcome:
        sender = Sender(
            POLICY, AddressGuard(allow_private=allow_private), EndpointThrottle("memory://"), 2
        )
        try:
            outcome = await sender.send(claimed, [SECRET])
        finally:
            await sender.aclose()
        assert isinstance(outcome, Outcome)
        return outcome

    return asyncio.run(send())


def test_a_retry_after_of_digits_that_are_not_ascii_is_ignored() -> None:
    # '²' (sent as latin-1 0xB2) passed str.isdigit() and float() raised.
    with receiver(lambda _r: Reply(503, headers={"retry-after": "²"})) as rx:
        outcome = attempt(rx.url)
    assert outcome.status_code == 503
    assert outcome.next_attempt_at is not None
    wait = (outcome.next_attempt_at - outcome.attempted_at).total_seconds()
    assert STEP - 1 < wait < STEP + 1  # the schedule's step, no Retry-After


def test_a_nul_in_the_response_is_kept_as_a_replacement_character() -> None:
    # PostgreSQL's text has no NUL: recording the attempt failed, and its whole batch.
    with receiver(lambda _r: Reply(500, body=b"ab\x00c\xffd")) as rx:
        outcome = attempt(rx.url)
    assert outcome.status_code == 500
    assert outcome.response == "ab\ufffdc\ufffdd"


def test_a_compressed_response_is_kept_as_sent_not_inflated() -> None:
    # 64 MiB of zeros in 64 KiB of gzip: decoded, the excerpt's first chunk took it all.
    bomb = gzip.compress(bytes(64 << 20))
    with receiver(lambda _r: Reply(200, headers={"content-encoding": "gzip"}, body=bomb)) as rx:
        tracemalloc.start()
        try:
            outcome = attempt(rx.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        asked = rx.received[0].headers["accept-encoding"]
    assert asked == "identity"
    assert outcome.succeeded
    assert outcome.response is not None
    assert len(outcome.response) <= 2048
    assert outcome.response.startswith("\x1f\ufffd")  # gzip's magic bytes, as sent
    assert peak < 16 << 20  # generous: inflated, one chunk is 64 MiB


def test_a_stored_url_the_sender_cannot_read_is_a_refused_attempt() -> None:
    # Saved before the guard read URLs as httpx2 does: InvalidURL escaped the attempt.
    outcome = attempt("http://ex\u00adample.com/hook")
    assert outcome.status_code == 0
    assert outcome.error is not None
    assert outcome.error.startswith("refused: ")
    assert "not a valid URL" in outcome.error
