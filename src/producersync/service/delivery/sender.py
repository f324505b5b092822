"""One attempt: sign the stored bytes, POST them, and say what happened."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import logging
import random
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import httpx2

from producersync import __version__
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.throttle import EndpointThrottle
from producersync.service.delivery.transport import GuardedTransport
from producersync.service.delivery.urls import (
    AddressGuard,
    EndpointUrlError,
    PrivateEndpointError,
)
from producersync.service.store.outbox import (
    HELD_ONE_AT_A_TIME,
    HELD_RATE_LIMIT,
    Claimed,
    Deferred,
    Outcome,
)
from producersync.webhooks import headers as signed_headers

__all__ = ["Clock", "Sender", "local_clock"]

_EXCERPT_BYTES = 2048
# The most of a response's body read: a webhook's answer is a few bytes, and a receiver's
# endless (or 2 GB) body was read at the socket's speed for the whole timeout, a core's
# worth of CPU in the dispatcher's loop per such attempt, slowing every other one.
_BODY_LIMIT = 1 << 20
_LOCATION_CHARS = 200
Clock = Callable[[], dt.datetime]
_USER_AGENT = f"ProducerSync-Webhooks/{__version__}"
_ALLOW_PRIVATE = "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS"
# The dispatcher's: what the delivery tells the operator is under the one logger that
# operations.md's table names, so that a filter or an alert on it sees every line.
log = logging.getLogger("producersync.service.delivery.dispatcher")


def _retry_after(value: str | None, now: dt.datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: a number, or an HTTP date (0 once past);
    ``None`` for anything else, a negative number or a fraction included."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also takes superscripts ('²'), which float()
    # refuses, and a receiver's header must never raise out of an attempt (it would take
    # its whole batch down with it, to be sent again after the lease, and again).
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def local_clock() -> dt.datetime:
    """This process's clock: the store's clock where the two are one (SQLite, tests)."""
    return dt.datetime.now(dt.UTC)


# h11 quotes the receiver's bytes as Python shows them: ``bytearray(b'HTTP/1.1 TWO OK')``.
_QUOTED = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_BYTES_SHOWN = re.compile(rf"bytearray\(b{_QUOTED}\)|\bb{_QUOTED}")


def _described(exc: BaseException) -> str:
    """``Name: message``, the message the first of the exception and its causes that has
    one: a connection the receiver reset is a ReadError that says nothing itself, and its
    attempts read ``ReadError: `` in the portal, the API and the operator's queries,
    where its cause says ``[Errno 104] Connection reset by peer``. The receiver's bytes
    it quotes are shown quoted, as escaped as they were, without Python's ``bytearray(b``
    around them (``illegal status line: 'HTTP/1.1 TWO OK'``)."""
    cause: BaseException | None = exc
    for _ in range(10):  # a chain is a few links; a cycle is not followed for good
        if cause is None:
            break
        if text := str(cause):
            text = _BYTES_SHOWN.sub(lambda m: m[1] or m[2], text)
            return f"{type(exc).__name__}: {text}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: the connection failed, and no cause was given"


def _storable(text: str) -> str:
    """The receiver's text as an attempt row can keep it: PostgreSQL's text has no NUL (the
    insert failed, and with it the settling of the whole batch), so a NUL is shown as
    U+FFFD, as any byte that is not UTF-8 is."""
    return text.replace("\x00", "\ufffd")


def _redirect_error(location: str | None) -> str:
    """Why a 3xx failed, and where it pointed (the owner's likeliest fix is that URL). The
    ``Location`` is the receiver's own text: cut, and a control or format character
    (an escape sequence, a line break, a bidi override) shown as U+FFFD, so that it
    cannot fill the row or rewrite a terminal or a log line that shows it."""
    if location is None:
        return "redirects are not followed (no location given)"
    shown = location[:_LOCATION_CHARS] + ("…" if len(location) > _LOCATION_CHARS else "")
    shown = "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in shown)
    return f"redirects are not followed (location: {shown})"


@dataclass(slots=True)
class _Response:
    """What the receiver answered, filled in as it arrives: an attempt cut off in the body
    (a 200 whose body then hung, or was cut short) still has its status, and the bytes
    that came."""

    status: int = 0
    retry_after: float | None = None
    location: str | None = None
    body: bytearray = field(default_factory=bytearray)
    length: int = 0  # the body's bytes read, the excerpt's and those dropped

    @property
    def excerpt(self) -> str | None:
        return _storable(bytes(self.body[:_EXCERPT_BYTES]).decode("utf-8", "replace")) or None


class Sender:
    """Sends attempts over one pooled client; redirects are not followed (a 3xx is a
    failure), a response is not decompressed, and every attempt has ``policy.timeout``
    seconds from the first byte sent to the last byte of the response (of which the
    first 2 KB are kept, and no more than 1 MiB is read)."""

    def __init__(
        self,
        policy: RetryPolicy,
        guard: AddressGuard,
        throttle: EndpointThrottle,
        concurrency: int,
        *,
        per_endpoint: int | None = None,
        endpoint_freed: Callable[[], None] = lambda: None,
    ) -> None:
        self._policy = policy
        self._guard = guard
        self._throttle = throttle
        self._slots = asyncio.Semaphore(concurrency)
        # At most ``per_endpoint`` of the slots to one endpoint: a receiver that has just
        # hung, not yet known to be slow, held every slot with its backlog for the first
        # timeout, and every other endpoint's fresh events waited that long (8 slots, 40
        # events behind the hung one: 4.6 s at the median, live). The deliveries past it
        # wait for one of their endpoint's own, holding none of the shared slots.
        self._per_endpoint = per_endpoint or concurrency
        self._endpoint_slots: dict[str, asyncio.Semaphore] = {}
        self._holding: dict[str, int] = {}  # each endpoint's deliveries in ``send``
        self._endpoint_freed = endpoint_freed
        self._stopping = False
        self._rng = random.Random()
        self._told: set[str] = set()  # endpoints ``_tell_operator`` has logged
        # The endpoints whose last attempt here timed out, and each one's attempts in
        # flight: such an endpoint gets one attempt at a time (``_held_back``).
        self._slow: set[str] = set()
        self._in_flight: dict[str, int] = {}
        # What the dispatcher reads to claim beside batches held up by slow attempts.
        self.entered = 0  # deliveries given to ``send``, ever
        self._waiting = 0  # of them, those waiting for a sending slot
        self._moved = asyncio.Event()
        self._client = httpx2.AsyncClient(
            follow_redirects=False,
            timeout=httpx2.Timeout(policy.timeout),
            transport=GuardedTransport(guard, concurrency),
            # The excerpt is of the bytes as they come: decoded, 64 KiB of gzip read from
            # the socket is 64 MiB in memory (and a few MiB of brotli, gigabytes) before
            # the first 2 KB could be cut from it.
            headers={
                "user-agent": _USER_AGENT,
                "content-type": "application/json",
                "accept-encoding": "identity",
            },
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        self._guard.close()

    def has_room(self) -> bool:
        """Whether an attempt given now would go at once: a slot is free, none waits."""
        return not self._slots.locked() and not self._waiting

    def full_endpoints(self) -> list[str]:
        """The endpoints that have as many deliveries here as they may send at once (in
        flight, or waiting for one of their slots): a claim takes none more of theirs,
        which would wait here behind them, and takes the others' instead. Once one has
        fewer, ``endpoint_freed`` is called."""
        return sorted(e for e, n in self._holding.items() if n >= self._per_endpoint)

    def moved(self) -> Awaitable[object]:
        """Done once, from this call on, a delivery is given to ``send`` or an attempt
        gives its sending slot back: what ``entered`` and ``has_room`` tell may have
        changed."""
        self._moved.clear()
        return self._moved.wait()

    @contextlib.asynccontextmanager
    async def _slot(self, endpoint_id: str) -> AsyncIterator[None]:
        """A sending slot, held while the block runs, taken once the endpoint has one of
        its own free; the wait for the shared one counted (``has_room``), not the wait
        for the endpoint's: a hung endpoint's deliveries waiting for theirs leave the
        shared slots free to the others."""
        with self._held(endpoint_id):
            own = self._endpoint_slots.get(endpoint_id)
            if own is None:
                own = self._endpoint_slots[endpoint_id] = asyncio.Semaphore(self._per_endpoint)
            async with own:
                self._waiting += 1
                try:
                    await self._slots.acquire()
                finally:
                    self._waiting -= 1
                try:
                    yield
                finally:
                    self._slots.release()
                    self._moved.set()

    @contextlib.contextmanager
    def _held(self, endpoint_id: str) -> Iterator[None]:
        """The delivery counted as the endpoint's, here, while the block runs."""
        self._holding[endpoint_id] = self._holding.get(endpoint_id, 0) + 1
        try:
            yield
        finally:
            left = self._holding[endpoint_id] - 1
            if left:
                self._holding[endpoint_id] = left
            else:
                del self._holding[endpoint_id]
                self._endpoint_slots.pop(endpoint_id, None)  # none waits on it, none holds it
            if left == self._per_endpoint - 1:
                self._endpoint_freed()

    def stop_sending(self) -> None:
        """The process is stopping: the attempts in flight go on to their answer, and those
        still waiting for a sending slot are not made but handed back, due at once (to
        another process, or this one's next start). A stop waited for every attempt of
        the batches claimed, rounds of them as slow as the receivers: minutes past the
        supervisor's SIGKILL with a receiver that hung."""
        self._stopping = True

    async def send_all(
        self,
        claimed: Sequence[Claimed],
        secrets: dict[str, list[str]],
        clock: Clock = local_clock,
    ) -> list[Outcome | Deferred]:
        """Each claimed delivery sent, or handed back; ``clock`` tells the store's time,
        which the claims' leases are in."""
        return list(
            await asyncio.gather(
                *(self.send(c, secrets.get(c.endpoint_id, []), clock) for c in claimed)
            )
        )

    def _outlasts_claim(self, claimed: Claimed, now: dt.datetime) -> bool:
        """Whether an attempt begun now could still run when the claim's lease ends: by
        then another sender may have taken the delivery, and sent it. A batch recovered
        after its lease (its process restarted late), or one that waited that long for
        sending slots, sent every delivery again, though another worker had delivered it."""
        return now + dt.timedelta(seconds=self._policy.timeout) > claimed.lease_until

    async def send(
        self, claimed: Claimed, secrets: list[str], clock: Clock = local_clock
    ) -> Outcome | Deferred:
        self.entered += 1
        # A batch's deliveries come in after the dispatcher has last looked, while it
        # waits for one of its batches to end or a slot to be freed: told only by those,
        # it waited out a hung attempt's timeout, slots free, its last claim all in.
        self._moved.set()
        # Not sent but handed back: unless another sender holds the delivery now, it is
        # due at once (its lease is over, or nearly).
        if self._outlasts_claim(claimed, clock()):
            return Deferred(claimed, clock())
        endpoint_id = claimed.endpoint_id
        # Not due again before its probe has ended: at an overload step of 0, put back
        # due at once, the endpoint's backlog was claimed and put back over and over.
        wait = max(self._policy.overload_step, self._policy.timeout)
        overloaded = Deferred(claimed, clock() + dt.timedelta(seconds=wait), HELD_ONE_AT_A_TIME)
        if self._held_back(endpoint_id):
            return overloaded
        async with self._slot(endpoint_id):
            if self._stopping or self._outlasts_claim(claimed, clock()):
                return Deferred(claimed, clock())
            if self._held_back(endpoint_id):  # its probe went while this waited
                return overloaded
            # Counted as the attempt goes, in its slot: counted before it waits for one,
            # the attempts let through a second apart would go out together once slots
            # are free (4 in 0.14 s to an endpoint of 2 a second, behind a hung receiver).
            if claimed.rate_limit_per_second:
                limit = claimed.rate_limit_per_second
                wait = await self._throttle.wait(claimed.endpoint_id, limit)
                if wait:
                    due = clock() + dt.timedelta(seconds=wait)
                    return Deferred(claimed, due, HELD_RATE_LIMIT)
            attempted_at = clock()
            started = time.perf_counter()
            response = _Response()
            error: str | None = None
            timed_out = False
            refusal = self._guard.refusal(claimed.url)
            if refusal is not None:
                error = f"refused: {refusal}"
                self._tell_operator(claimed.endpoint_id, refusal)
            elif not secrets:
                error = "the endpoint has no signing secret"
            else:
                self._in_flight[endpoint_id] = self._in_flight.get(endpoint_id, 0) + 1
                try:
                    async with asyncio.timeout(self._policy.timeout):
                        await self._post(claimed, secrets, response, clock)
                except TimeoutError:
                    what = "the response body did not end" if response.status else "no response"
                    error = f"{what} within {self._policy.timeout:g} s"
                    timed_out = True
                except EndpointUrlError as exc:  # an address the connection refused
                    error = f"refused: {exc}"
                    self._tell_operator(claimed.endpoint_id, exc)
                except httpx2.HTTPError as exc:
                    error = _storable(_described(exc)[:500])
                    timed_out = isinstance(exc, httpx2.TimeoutException)
                finally:
                    self._in_flight[endpoint_id] -= 1
                    if not self._in_flight[endpoint_id]:
                        del self._in_flight[endpoint_id]
            duration_ms = round((time.perf_counter() - started) * 1000)
        if timed_out:
            self._slow.add(endpoint_id)
        else:
            self._slow.discard(endpoint_id)
        status = response.status
        if error is None and 300 <= status < 400:
            error = _redirect_error(response.location)
        if error is None and 200 <= status < 300 and response.length > _BODY_LIMIT:
            error = (
                f"the response body was longer than {_BODY_LIMIT >> 20} MiB, and was not read on"
            )
        # A 2xx whose body did not come whole in time is no success (the attempt's time
        # runs to the body's end), but the row says what the receiver answered.
        succeeded = 200 <= status < 300 and error is None
        next_at = None
        if not succeeded:
            next_at = self._policy.next_attempt(
                attempts_made=claimed.attempts + 1,
                manual=claimed.manual,
                status_code=status,
                retry_after=response.retry_after,
                timed_out=timed_out,
                now=clock(),
                rng=self._rng,
            )
        return Outcome(
            claimed=claimed,
            attempted_at=attempted_at,
            succeeded=succeeded,
            status_code=status,
            duration_ms=duration_ms,
            response=response.excerpt,
            error=error,
            next_attempt_at=next_at,
            disable_endpoint=status == 410,
        )

    def _held_back(self, endpoint_id: str) -> bool:
        """Whether a delivery to the endpoint waits out the overload step (the timeout at
        least) unsent, no attempt spent: its last attempt timed out and another is in
        flight. Sent, the attempts of a hung receiver's backlog took every sending slot, a
        timeout each,
        round after round, and the other endpoints' fresh events waited behind them
        (1 of 8 endpoints hung, 40 events behind it: the others' took 14.6 s, not 0.5)."""
        return endpoint_id in self._slow and endpoint_id in self._in_flight

    def _tell_operator(self, endpoint_id: str, refusal: EndpointUrlError) -> None:
        """A refusal the operator's setting would lift, logged once per endpoint in this
        process (every attempt is refused alike: a line each would flood the log). The
        attempt's error, which the endpoint's owner reads, does not name the setting, the
        operator's: the log is where the operator learns which one lets a local receiver
        through."""
        if not isinstance(refusal, PrivateEndpointError) or endpoint_id in self._told:
            return
        self._told.add(endpoint_id)
        log.warning(
            "endpoint %s: deliveries refused: %s; %s=true allows plain http and private "
            "addresses, for local development (told once per endpoint)",
            endpoint_id,
            refusal,
            _ALLOW_PRIVATE,
            extra={"endpoint_id": endpoint_id, "variable": _ALLOW_PRIVATE},
        )

    async def _post(
        self, claimed: Claimed, secrets: list[str], answer: _Response, clock: Clock
    ) -> None:
        # Signed per attempt: a fresh timestamp, the same webhook-id on every retry. The
        # store's time, as every worker tells it: by its host's, a worker whose clock ran
        # off by more than the receivers' tolerance (5 min) had every attempt refused.
        at = int(clock().timestamp())
        sent = signed_headers(claimed.message_id, at, claimed.payload, secrets)
        request = self._client.build_request(
            "POST", claimed.url, content=claimed.payload, headers=sent
        )
        response = await self._client.send(request, stream=True)
        try:
            answer.status = response.status_code
            # Until a date, read by the clock the retry is then set by.
            answer.retry_after = _retry_after(response.headers.get("retry-after"), clock())
            answer.location = response.headers.get("location")
            # Read to the end, the bytes past the excerpt dropped: a 2xx is a success only
            # once its body has ended, and stopping at the excerpt would make one of more
            # than 2 KB that then stalls, or is cut short, a success, where a shorter one of
            # the same kind fails. Past _BODY_LIMIT it is not read on (nor is it a success).
            async for chunk in response.aiter_raw():
                answer.body += chunk[: _EXCERPT_BYTES - len(answer.body)]
                answer.length += len(chunk)
                if answer.length > _BODY_LIMIT:
                    break
        finally:
            await response.aclose()
