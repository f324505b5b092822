"""One attempt against a hostile receiver on loopback: whatever it answers, the attempt
ends as an outcome to record (never an exception that takes its batch down), bounded in
what it keeps."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.utils
import gzip
import http.server
import ipaddress
import logging
import socket
import ssl
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, ClassVar

import httpcore2
import httpx2
import pytest

from producersync.service.delivery import dispatcher, urls
from producersync.service.delivery import sender as sender_module
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.sender import (
    Clock,
    Sender,
    _retry_after,
    local_clock,
)
from producersync.service.delivery.throttle import EndpointThrottle
from producersync.service.delivery.transport import GuardedTransport
from producersync.service.delivery.urls import AddressGuard
from producersync.service.store.outbox import HELD_ONE_AT_A_TIME, Claimed, Deferred, Outcome
from tests.support.delivery import skew_clock
from tests.support.https import CERT, https_server
from tests.support.receiver import Reply, raw_receiver, receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STEP = 5.0
# Generous: an attempt that needs it has hung.
POLICY = RetryPolicy(
    schedule=(STEP,),
    jitter=0.0,
    retry_after_cap=3600.0,
    overload_step=60.0,
    timeout=20.0,
    disable_after=dt.timedelta(days=5),
    claim_lease=60.0,
)


def claim(
    url: str,
    delivery_id: int = 1,
    *,
    endpoint_id: str = "ep_1",
    rate_limit_per_second: int | None = None,
    lease: dt.timedelta = dt.timedelta(minutes=1),
) -> Claimed:
    """A claimed delivery to ``url``, its claim's lease ending ``lease`` from now."""
    return Claimed(
        delivery_id=delivery_id,
        message_id=f"evt_{delivery_id}",
        endpoint_id=endpoint_id,
        url=url,
        payload=b'{"type":"webhook.test"}',
        attempts=0,
        manual=False,
        rate_limit_per_second=rate_limit_per_second,
        lease_until=dt.datetime.now(dt.UTC) + lease,
        event_type="webhook.test",
    )


def send(
    url: str,
    *,
    allow_private: bool = True,
    policy: RetryPolicy = POLICY,
    lease: dt.timedelta = dt.timedelta(minutes=1),
    clock: Clock = local_clock,
) -> Outcome | Deferred:
    """One claimed delivery to ``url`` sent, its claim's lease ending ``lease`` from now,
    by ``clock``, the store's as the sender tells it."""
    (outcome,) = sent(
        [claim(url, lease=lease)], allow_private=allow_private, policy=policy, clock=clock
    )
    return outcome


def sent(
    claims: list[Claimed],
    *,
    allow_private: bool = True,
    policy: RetryPolicy = POLICY,
    clock: Clock = local_clock,
    together: list[Claimed] | None = None,
) -> list[Outcome | Deferred]:
    """``claims`` sent one after the other by one sender of 2 slots, then ``together``
    all at once (as a batch is)."""

    async def run() -> list[Outcome | Deferred]:
        sender = Sender(
            policy, AddressGuard(allow_private=allow_private), EndpointThrottle("memory://"), 2
        )
        try:
            first = [await sender.send(claimed, [SECRET], clock) for claimed in claims]
            secrets = {c.endpoint_id: [SECRET] for c in together or []}
            return first + await sender.send_all(together or [], secrets, clock)
        finally:
            await sender.aclose()

    return asyncio.run(run())


def attempt(url: str, *, allow_private: bool = True, policy: RetryPolicy = POLICY) -> Outcome:
    outcome = send(url, allow_private=allow_private, policy=policy)
    assert isinstance(outcome, Outcome)
    return outcome


@pytest.mark.parametrize(
    "lease",
    [
        # A batch recovered after its lease ended (its process restarted late): another
        # worker has taken its deliveries, and maybe delivered them.
        dt.timedelta(seconds=-30),
        # One that waited for sending slots until an attempt could outlive its lease.
        dt.timedelta(seconds=POLICY.timeout / 2),
    ],
)
def test_a_claim_that_could_lapse_mid_attempt_is_handed_back_not_sent(
    lease: dt.timedelta,
) -> None:
    with receiver() as rx:
        result = send(rx.url, lease=lease)
    assert isinstance(result, Deferred)
    assert result.due <= dt.datetime.now(dt.UTC)  # due at once, unless another holds it
    assert rx.received == []


def test_an_attempt_is_signed_and_retried_by_the_store_s_time_not_its_host_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Signed by its host's clock, every attempt of a worker whose clock ran ten minutes
    # ahead was refused by receivers that allow five (the Standard Webhooks tolerance),
    # and retried until its retries ran out, whichever worker's clock was right; and a
    # Retry-After date two minutes on had passed by its clock: the retry came in 5 s.
    ahead = dt.timedelta(minutes=10)
    skew_clock(monkeypatch, sender_module, ahead)
    host = vars(time) | {"time": lambda: time.time() + ahead.total_seconds()}
    monkeypatch.setattr(sender_module, "time", SimpleNamespace(**host))
    until = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2), True)
    with receiver(lambda _got: Reply(status=503, headers={"retry-after": until})) as rx:
        outcome = send(rx.url, clock=lambda: dt.datetime.now(dt.UTC))
    (got,) = rx.received
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < ahead.total_seconds() / 2
    assert isinstance(outcome, Outcome)
    assert retried_in(outcome) >= dt.timedelta(seconds=100)


def test_an_endpoint_s_rate_limit_is_counted_when_its_attempts_go_not_before_a_slot() -> None:
    """Let through the limit before waiting for a sending slot, the attempts of batches
    let through a second apart all went out together once slots were free: 2 a second,
    and 4 were sent within 0.14 s once a hung receiver let go of the one slot."""
    limited = 2

    async def run(slow: str, fast: str) -> list[Outcome | Deferred]:
        sender = Sender(POLICY, AddressGuard(allow_private=True), EndpointThrottle("memory://"), 1)
        try:
            hung = asyncio.ensure_future(sender.send(claim(slow, endpoint_id="ep_slow"), [SECRET]))
            await asyncio.sleep(0.1)  # it holds the slot now
            batches = []
            for first in (1, 1 + limited):  # two claims, a window apart, each the limit's
                deliveries = [
                    claim(fast, n, rate_limit_per_second=limited)
                    for n in range(first, first + limited)
                ]
                batches.append(
                    asyncio.ensure_future(sender.send_all(deliveries, {"ep_1": [SECRET]}))
                )
                await asyncio.sleep(1.1)
            await hung
            return [outcome for batch in batches for outcome in await batch]
        finally:
            await sender.aclose()

    with receiver(lambda _got: Reply(delay=3)) as slow, receiver() as fast:
        outcomes = asyncio.run(run(slow.url, fast.url))
    times = sorted(got.at for got in fast.received)
    assert all(sum(t <= u < t + 1 for u in times) <= limited for t in times), times
    assert sum(isinstance(o, Outcome) for o in outcomes) == len(times)


def test_receivers_whose_dns_hangs_leave_the_dispatchers_store_calls_their_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lookups ran on the loop's default executor, where the dispatcher's claims and
    settles run too: 40 names whose DNS hung took all its threads (6 on 2 cores, 32 at
    most), and a store call waited until they answered."""
    release = threading.Event()

    def hung(*_args: object, **_kwargs: object) -> Any:
        release.wait(60)
        raise socket.gaierror("the name server did not answer")

    monkeypatch.setattr(urls.socket, "getaddrinfo", hung)

    async def run() -> str:
        guard = AddressGuard(allow_private=False)
        sender = Sender(POLICY, guard, EndpointThrottle("memory://"), 40)
        try:
            sends = [
                asyncio.ensure_future(sender.send(claim("https://hung.example/hook", n), [SECRET]))
                for n in range(1, 41)
            ]
            await asyncio.sleep(0.5)  # every lookup begun, and hanging
            store_call = await asyncio.wait_for(asyncio.to_thread(lambda: "answered"), 30)
            release.set()
            outcomes = await asyncio.gather(*sends)
            assert all(
                isinstance(o, Outcome) and "does not resolve" in (o.error or "") for o in outcomes
            )
            return store_call
        finally:
            release.set()
            await sender.aclose()

    assert asyncio.run(run()) == "answered"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("99999999999999999999", 1e20),  # capped by the policy
        ("Sun, 01 Jun 2025 12:02:00 GMT", 120.0),
        ("Sunday, 01-Jun-25 12:02:00 GMT", 120.0),  # RFC 850
        ("Sun Jun  1 12:02:00 2025", 120.0),  # asctime
        ("Sun, 01 Jun 2025 14:02:00 +0200", 120.0),  # 12:02 UTC
        ("Sun, 01 Jun 2025 11:00:00 GMT", 0.0),  # past: at once, as the schedule allows
        ("Fri, 31 Dec 9999 23:59:59 GMT", 251_653_521_599.0),  # capped by the policy
        ("-5", None),
        ("1.5", None),
        ("1e3", None),
        ("inf", None),
        ("", None),
        ("soon", None),
        ("10, 20", None),  # two headers, joined
        ("Sun, 32 Jun 2025 12:02:00 GMT", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert _retry_after(header, now) == seconds


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


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        (
            {"location": "https://hooks.example.com/new"},
            "redirects are not followed (location: https://hooks.example.com/new)",
        ),
        # The receiver's own text: an escape sequence, a bell and a bidi override (sent
        # as UTF-8) would rewrite whatever shows the row; a long one would fill it.
        (
            {
                "location": "https://x.example/\x1b[2J\x07"
                + "\u202e".encode().decode("latin-1")
                + "a" * 300
            },
            "redirects are not followed (location: https://x.example/"
            + "\ufffd[2J\ufffd\ufffd"
            + "a" * 176
            + "…)",
        ),
        ({}, "redirects are not followed (no location given)"),
    ],
    ids=["location", "hostile-location", "no-location"],
)
def test_a_redirect_fails_saying_where_it_pointed(headers: dict[str, str], error: str) -> None:
    # A 3xx was a failure whose row had no error: its owner saw no reason.
    with receiver(lambda _r: Reply(301, headers=headers)) as rx:
        outcome = attempt(rx.url)
    assert (outcome.succeeded, outcome.status_code, outcome.error) == (False, 301, error)
    assert outcome.next_attempt_at is not None
    assert len(rx.received) == 1  # not followed


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


def hang(conn: socket.socket) -> None:
    """Wait until the sender hangs up."""
    conn.recv(1)


# The sender gives up at its timeout: short, so a test does not wait out the generous one.
IMPATIENT = dataclasses.replace(POLICY, timeout=0.5)
# A timed-out attempt is retried a minute on at least, not at the step's 5 s (as in Svix).
OVERLOADED = dt.timedelta(minutes=1)


def retried_in(outcome: Outcome) -> dt.timedelta:
    assert outcome.next_attempt_at is not None
    return outcome.next_attempt_at - outcome.attempted_at


def test_a_receiver_that_never_answers_is_no_response() -> None:
    with raw_receiver(hang) as url:
        outcome = attempt(url, policy=IMPATIENT)
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert outcome.error == "no response within 0.5 s"
    assert retried_in(outcome) >= OVERLOADED


def test_a_2xx_whose_body_never_ends_fails_with_its_status_kept() -> None:
    # Its status came, then the body stalled: the attempt was logged as no response at
    # all, status 0, which sent its owner looking for a request their server answered.
    def dribble(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nstarted")
        hang(conn)

    with raw_receiver(dribble) as url:
        outcome = attempt(url, policy=IMPATIENT)
    assert (outcome.succeeded, outcome.status_code) == (False, 200)
    assert outcome.error == "the response body did not end within 0.5 s"
    assert outcome.response == "started"
    assert retried_in(outcome) >= OVERLOADED


def test_a_response_cut_short_fails_with_its_status_and_retry_after_kept() -> None:
    def cut(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 429 Too Many\r\nretry-after: 120\r\ncontent-length: 100\r\n\r\nslow down"
        )

    with raw_receiver(cut) as url:
        outcome = attempt(url)
    assert (outcome.succeeded, outcome.status_code) == (False, 429)
    assert outcome.error is not None
    assert outcome.error.startswith("RemoteProtocolError: peer closed connection")
    assert outcome.response == "slow down"
    assert outcome.next_attempt_at is not None
    wait = (outcome.next_attempt_at - outcome.attempted_at).total_seconds()
    assert wait > 100  # Retry-After, not the 5 s step


def test_a_connection_the_receiver_resets_fails_saying_so() -> None:
    """The attempt read "ReadError: " and nothing more, its cause said by none of the
    portal, the API or the attempts' table."""

    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with raw_receiver(reset) as url:
        outcome = attempt(url)
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert outcome.error == "ReadError: [Errno 104] Connection reset by peer"


@pytest.mark.parametrize(
    ("policy", "held_for"),
    [
        (IMPATIENT, OVERLOADED),
        # No overload step: put back due at once, the backlog was claimed and put back
        # over and over while the probe waited.
        (dataclasses.replace(IMPATIENT, overload_step=0), dt.timedelta(seconds=0.5)),
    ],
    ids=["overload-step", "timeout"],
)
def test_a_hung_endpoint_gets_one_attempt_at_a_time_the_others_slots_kept(
    policy: RetryPolicy, held_for: dt.timedelta
) -> None:
    # Each of a hung receiver's deliveries took a sending slot for a timeout, round after
    # round of its backlog, and every other endpoint's fresh events waited behind them.
    with raw_receiver(hang) as hung, receiver() as rx:
        timed_out, probe, held, other = sent(
            [claim(hung, 1, endpoint_id="ep_hung")],
            policy=policy,
            together=[
                claim(hung, 2, endpoint_id="ep_hung"),
                claim(hung, 3, endpoint_id="ep_hung"),
                claim(rx.url, 4, endpoint_id="ep_other"),
            ],
        )
    assert isinstance(timed_out, Outcome) and timed_out.error == "no response within 0.5 s"
    assert isinstance(probe, Outcome) and probe.error == "no response within 0.5 s"
    # No attempt spent: it waits out the overload step, as the probe's retry does, and
    # says so (the portal showed it as being sent).
    assert isinstance(held, Deferred) and held.why == HELD_ONE_AT_A_TIME
    assert held.due - probe.attempted_at >= held_for
    assert isinstance(other, Outcome) and other.succeeded


def test_a_receiver_that_has_just_hung_holds_its_share_of_the_slots_not_all() -> None:
    """Before its first timeout it is not known to be slow: its backlog took every slot,
    and another endpoint's fresh event waited that long (8 slots, 40 events behind the
    hung one: 4.6 s at the median, live)."""
    policy = dataclasses.replace(POLICY, timeout=2.0)
    freed: list[str] = []

    async def run(hung: str, fast: str) -> tuple[list[str], list[bool], Outcome | Deferred]:
        sender = Sender(
            policy,
            AddressGuard(allow_private=True),
            EndpointThrottle("memory://"),
            4,
            per_endpoint=2,
            endpoint_freed=lambda: freed.append("freed"),
        )
        try:
            backlog = [claim(hung, n, endpoint_id="ep_hung") for n in range(4)]
            hanging = asyncio.ensure_future(sender.send_all(backlog, {"ep_hung": [SECRET]}))
            await asyncio.sleep(0.1)  # two of them sent, two waiting for the endpoint's slots
            full = sender.full_endpoints()
            other = await sender.send(claim(fast, 9, endpoint_id="ep_other"), [SECRET])
            hung_meanwhile = not hanging.done()
            await hanging
            return full, [hung_meanwhile, not sender.full_endpoints()], other
        finally:
            await sender.aclose()

    with raw_receiver(hang) as hung, receiver() as rx:
        full, hung_then_freed, other = asyncio.run(run(hung, rx.url))
    assert full == ["ep_hung"]
    assert isinstance(other, Outcome) and other.succeeded
    assert hung_then_freed == [True, True]  # answered while they hung; none left after
    assert freed == ["freed"]


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (b"HTTP/1.1 TWO HUNDRED OK", "'HTTP/1.1 TWO HUNDRED OK'"),
        (b"garbage \x1b[2J", "'garbage \\x1b[2J'"),  # escaped, as Python showed it
    ],
    ids=["words", "escape"],
)
def test_a_malformed_status_line_is_quoted_as_the_receiver_sent_it(line: bytes, shown: str) -> None:
    # It read "illegal status line: bytearray(b'HTTP/1.1 TWO HUNDRED OK')" in the portal.
    with raw_receiver(lambda c: c.sendall(line + b"\r\ncontent-length: 2\r\n\r\nok")) as url:
        outcome = attempt(url)
    assert (outcome.succeeded, outcome.status_code) == (False, 0)
    assert outcome.error == f"RemoteProtocolError: illegal status line: {shown}"


def test_a_2xx_cut_short_is_not_a_success() -> None:
    with raw_receiver(
        lambda c: c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok")
    ) as url:
        outcome = attempt(url)
    assert (outcome.succeeded, outcome.status_code, outcome.response) == (False, 200, "ok")


@pytest.mark.parametrize(
    ("then", "error"),
    [
        (hang, "the response body did not end within 0.5 s"),
        (lambda _conn: None, "RemoteProtocolError: peer closed connection"),
    ],
    ids=["stalls", "cut-short"],
)
def test_a_2xx_past_the_excerpt_that_stalls_or_is_cut_short_is_not_a_success(
    then: Callable[[socket.socket], None], error: str
) -> None:
    # The sender stopped reading at the excerpt's 2 KB: past them, such a body succeeded.
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"x" * 3000)
        then(conn)

    with raw_receiver(answer) as url:
        outcome = attempt(url, policy=IMPATIENT)
    assert (outcome.succeeded, outcome.status_code) == (False, 200)
    assert outcome.error is not None
    assert outcome.error.startswith(error)
    assert outcome.response == "x" * 2048


def test_a_2xx_whose_body_is_longer_than_the_excerpt_is_a_success() -> None:
    with receiver(lambda _r: Reply(200, body=b"y" * 100_000)) as rx:
        outcome = attempt(rx.url)
    assert (outcome.succeeded, outcome.error, outcome.response) == (True, None, "y" * 2048)


def endless(conn: socket.socket) -> None:
    """A 200 whose chunked body never ends, sent as fast as the sender reads it."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
    while True:
        conn.sendall(chunk)


def two_megabytes(status: int) -> Callable[[socket.socket], None]:
    """A whole answer of ``status`` whose body is 2 MiB, sent at once."""

    def answer(conn: socket.socket) -> None:
        body = b"y" * (2 << 20)
        conn.sendall(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body))

    return answer


@pytest.mark.parametrize("answer", [endless, two_megabytes(200)], ids=["endless", "2-mib"])
def test_a_2xx_whose_body_passes_a_mebibyte_is_not_read_on_and_fails(
    answer: Callable[[socket.socket], None],
) -> None:
    # Read to its end however long: an endless body was read at the socket's speed until
    # the timeout, a core of the dispatcher's loop for each such attempt, and a long one
    # that came in time was a success.
    with raw_receiver(answer) as url:
        outcome = attempt(url)
    assert (outcome.succeeded, outcome.status_code) == (False, 200)
    assert outcome.error == "the response body was longer than 1 MiB, and was not read on"
    assert outcome.response is not None
    assert len(outcome.response) == 2048
    assert retried_in(outcome) < OVERLOADED  # the schedule's step, not a timeout's


def test_a_stored_url_the_sender_cannot_read_is_a_refused_attempt() -> None:
    # Saved before the guard read URLs as httpx2 does: InvalidURL escaped the attempt.
    outcome = attempt("http://ex\u00adample.com/hook")
    assert outcome.status_code == 0
    assert outcome.error is not None
    assert outcome.error.startswith("refused: ")
    assert "not a valid URL" in outcome.error


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port on 127.0.0.1 that takes connections and never answers: a private service."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def connected(server: socket.socket) -> bool:
    # The kernel completes a connection before connect() returns: once the attempt is
    # over, one made is waiting here.
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def resolving(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """Names resolve to ``answers`` in turn (the last one thereafter), as a name whose
    owner re-points it does; IP literals as they are. Returns the names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            asked.append(host)
            address = answers[min(len(asked), len(answers)) - 1]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# 192.0.0.9 (PCP anycast, answered by the local gateway) and 192.88.99.1 (6to4 relay
# anycast): special-purpose addresses Python's is_global calls global.
@pytest.mark.parametrize("address", ["127.0.0.1", "192.0.0.9", "192.88.99.1"])
def test_a_name_that_resolves_to_a_private_address_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket, address: str
) -> None:
    resolving(monkeypatch, [address])
    outcome = attempt(f"https://hooks.example:{listener.getsockname()[1]}/", allow_private=False)
    assert outcome.error is not None
    assert outcome.error.startswith("refused: the host 'hooks.example' resolves to a non-public")
    assert address in outcome.error
    assert not connected(listener)


def test_a_refusal_the_operators_setting_lifts_is_logged_once_per_endpoint_naming_it(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    # The attempt's error, which the endpoint's owner reads, does not name the operator's
    # setting: a receiver on loopback was refused with no word in the service's log.
    resolving(monkeypatch, ["127.0.0.1"])
    private = f"https://hooks.example:{listener.getsockname()[1]}/"
    claims = [
        claim("http://hooks.example/psapi", 1),
        claim("http://hooks.example/psapi", 2),
        claim(private, 3, endpoint_id="ep_2"),
        claim(private, 4, endpoint_id="ep_2"),
        # Refused whatever the setting: nothing to tell the operator.
        claim("https://ex\u00adample.com/hook", 5, endpoint_id="ep_3"),
    ]
    with caplog.at_level(logging.WARNING, logger=dispatcher.__name__):
        outcomes = sent(claims, allow_private=False)
    assert all(isinstance(o, Outcome) and str(o.error).startswith("refused: ") for o in outcomes)
    # The owner's view names no setting of the operator's.
    assert all("PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS" not in str(o.error) for o in outcomes)
    assert [(r.name, r.__dict__["endpoint_id"]) for r in caplog.records] == [
        (dispatcher.__name__, "ep_1"),
        (dispatcher.__name__, "ep_2"),
    ]
    first, second = (r.getMessage() for r in caplog.records)
    assert first.startswith("endpoint ep_1: deliveries refused: https is required here: ")
    assert second.startswith("endpoint ep_2: deliveries refused: the host 'hooks.example' ")
    for record in caplog.records:
        assert "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS=true allows" in record.getMessage()
        assert record.__dict__["variable"] == "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS"


class _PoolKeptElsewhere(httpx2.AsyncHTTPTransport):
    """An httpx2 whose transport no longer sends through ``_pool``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept = self._pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self._pool = self._kept
        return await super().handle_async_request(request)


def test_the_guard_holds_wherever_httpx2_keeps_its_own_pool(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    # The guarded pool was put in place of httpx2's private _pool: an httpx2 that kept its
    # pool elsewhere sent through its own, unguarded (and verifying no certificate),
    # with no error anywhere.
    monkeypatch.setattr(httpx2, "AsyncHTTPTransport", _PoolKeptElsewhere)
    test_a_name_that_resolves_to_a_private_address_is_not_connected_to(
        monkeypatch, listener, "127.0.0.1"
    )


def test_the_address_connected_to_is_the_address_checked(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    # DNS rebinding: the name answered a public address to the check before the attempt,
    # then a private one to the connection's own lookup, and the connection went there.
    # 127.0.0.2 plays the public address; nothing listens on it.
    monkeypatch.setattr(urls, "is_public_address", lambda address: address == "127.0.0.2")
    asked = resolving(monkeypatch, ["127.0.0.2", "127.0.0.1"])
    outcome = attempt(f"https://hooks.example:{listener.getsockname()[1]}/", allow_private=False)
    assert not connected(listener)
    assert outcome.status_code == 0
    assert outcome.error is not None
    assert outcome.error.startswith("ConnectError")  # 127.0.0.2 refused it
    assert asked == ["hooks.example"]


class _Acknowledging(http.server.BaseHTTPRequestHandler):
    """200 to every POST, each path kept."""

    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_a_certificate_no_ca_vouches_for_is_refused() -> None:
    # The sender's pool is its own (connections opened through the guard): it verifies.
    _Acknowledging.paths.clear()
    with https_server(_Acknowledging) as port:
        outcome = attempt(f"https://localhost:{port}/hook")
    assert not outcome.succeeded
    assert outcome.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert _Acknowledging.paths == []


def test_ssl_cert_file_names_the_roots_the_sender_trusts(monkeypatch: pytest.MonkeyPatch) -> None:
    # As any httpx2 client: receivers behind a private CA are reached once it is named.
    _Acknowledging.paths.clear()
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    with https_server(_Acknowledging) as port:
        outcome = attempt(f"https://localhost:{port}/hook")
    assert outcome.succeeded, outcome.error
    assert _Acknowledging.paths == ["/hook"]


def test_the_sender_reads_the_certificate_roots_once_and_only_for_https(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading them is most of a context's making, 20-80 ms of CPU at every start, also of
    # a process that never reached an https receiver.
    made: list[bool] = []
    make = httpcore2.default_ssl_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(True)
        return make(*args, **kwargs)

    monkeypatch.setattr(httpcore2, "default_ssl_context", counted)
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    transport = GuardedTransport(AddressGuard(allow_private=True), 4)
    assert made == []

    async def post(urls: list[str]) -> list[int]:
        async with httpx2.AsyncClient(transport=transport) as client:
            return [(await client.post(url)).status_code for url in urls]

    _Acknowledging.paths.clear()
    with receiver() as rx:
        assert asyncio.run(post([rx.url])) == [200]
        assert made == []
    with https_server(_Acknowledging) as one, https_server(_Acknowledging) as two:
        urls = [f"https://localhost:{port}/hook" for port in (one, two)]
        transport = GuardedTransport(AddressGuard(allow_private=True), 4)
        assert asyncio.run(post(urls)) == [200, 200]
    assert len(made) == 1
