"""``POST /webhooks/psapi``: verify, record, start, acknowledge.

Every delivery is recorded as a receipt (event id, type, headers, raw body, verdict; of
a delivery whose signature did not verify, its body's first 4 KiB, its length and digest,
and 4 KiB of its headers), and the answer tells the sender what to do next:

- 200: accepted (and its workflow started), a redelivery of a known id, a
  ``webhook.test``, or an authentic event of a type we do not know (a retry would not
  help; the receipt keeps it for a human);
- 401: the signature does not verify or the timestamp is more than 5 min off;
- 400: an authentic body that is not a readable event, or dated after its receipt;
- 413: a body over the limit (reading stops there);
- 415: a body whose signature does not verify, in a content coding (``Content-Encoding``
  other than ``identity``): signed before it was compressed, it would read as forged, a
  401 that sends its operator after the secret (a body that verifies as sent is read whatever
  its label says, as whatever its ``Content-Type`` says);
- 408: a body not in within ``BODY_SECONDS`` of its first read, and a second more for
  each ``BODY_MIN_RATE`` bytes that came;
- 503, with ``Retry-After``: the mirror is unavailable (a database restart, its
  connections cut, a full disk), so nothing was recorded and the sender retries.

A sender's mistake is never a 500; our own (a malformed secret in the settings) is, so
that the sender retries once it is fixed. An answer given before the body has all come
(a 413, a 408) ends the connection (``bounded_head``): the rest is not read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import anyio
import sqlalchemy as sa
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from producersync.body_time import BODY_SECONDS, body_ends
from producersync.db_outage import OutageLog, unavailable
from producersync.echo import cut
from producersync.model.events import ENDPOINT_TEST, Event, NpnActivated, NpnDeactivated
from producersync.retry_shortly import RETRY_AFTER
from producersync.sync import mirror
from producersync.sync.metrics import Metrics
from producersync.sync.mirror.records import same_json
from producersync.sync.receipt_log import ReceiptLog
from producersync.webhooks import (
    DEFAULT_TOLERANCE,
    HEADER_PREFIXES,
    ID_HEADER,
    VerificationCheck,
    WebhookVerificationError,
    verify,
)

__all__ = ["Receiver", "is_private_header", "refused", "stopping"]

log = logging.getLogger(__name__)

_WARN_EVERY: Final = 60.0  # seconds

_PRIVATE_PARTS: Final = (
    "auth",  # authorization, proxy-authorization, x-auth-token
    "cookie",
    "session",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "api-key",
    "apikey",
    "api_key",
)


def is_private_header(name: str) -> bool:
    """Whether a header is never stored with a receipt. Webhook signatures are not
    secrets; these may be: a sender's endpoint can carry custom headers, and an API key
    for a gateway in front of the receiver is the usual one (``x-api-key``)."""
    lowered = name.lower()
    return any(part in lowered for part in _PRIVATE_PARTS)


class _Throttled:
    """A warning logged at most once every ``_WARN_EVERY`` seconds, the lines held back
    counted in the next: a forger, a secret gone stale or a sender reusing ids sends many."""

    def __init__(self) -> None:
        self._at, self._held = -_WARN_EVERY, 0

    def warn(self, head: str, tail: str = "") -> None:
        now = time.monotonic()
        if now - self._at < _WARN_EVERY:
            self._held += 1
            return
        more = f" ({self._held} more since the last such line)" if self._held else ""
        self._at, self._held = now, 0
        log.warning("%s%s%s", head, more, tail)


Start = Callable[[Event, str], None]
"""Have an event's workflow started under an id; called on the event loop, so it hands
the start over (``Starter.submit``) instead of doing it."""


@dataclass(frozen=True)
class _Refused:
    """A body not read whole: its answer's status, and why."""

    status: int
    reason: str


@dataclass(frozen=True)
class _Outcome:
    status: int
    verdict: str  # for the metric: accepted, duplicate, ignored, rejected, unavailable
    detail: str


class Receiver:
    """The webhook endpoint (``handle`` is the Starlette view) over the mirror and a
    workflow starter."""

    def __init__(
        self,
        engine: sa.Engine,
        secrets: list[str],
        start: Start,
        metrics: Metrics,
        max_body_bytes: int,
        *,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self._engine, self._secrets, self._start = engine, secrets, start
        self._metrics, self._max = metrics, max_body_bytes
        self._body_seconds = body_seconds
        self._log = ReceiptLog(engine)
        self._outage = OutageLog(log, "receiver")
        self._rejected, self._changed = _Throttled(), _Throttled()

    async def handle(self, request: Request) -> Response:
        started, received_at = time.perf_counter(), dt.datetime.now(dt.UTC)
        headers = _joined(request.headers.items())
        try:
            outcome = await self._outcome(await self._read(request), headers, received_at)
        except ClientDisconnect:
            # The sender's network, not our error (and no traceback in the log): no one
            # reads this answer, and the sender retries what it did not see acknowledged.
            return Response(status_code=400)
        except asyncio.CancelledError:
            # Cut by the process's stop: RetryShortly, outside, answers it ``stopping``.
            self._count(_STOPPING, started)
            raise
        self._count(outcome, started)
        if outcome.verdict == "rejected":
            claimed = _header(headers, ID_HEADER)
            head = f"delivery {claimed!r} rejected with {outcome.status}: {outcome.detail}"
            self._rejected.warn(head, _HINTS.get(outcome.status, ""))
        return _answer(outcome)

    async def _outcome(
        self, body: bytes | _Refused, headers: dict[str, str], received_at: dt.datetime
    ) -> _Outcome:
        try:
            outcome = await self._handle(body, headers, received_at)
        except Exception as exc:
            if not unavailable(exc):
                raise
            self._outage.failed(exc, "answering 503")
            return _Outcome(503, "unavailable", "the mirror is unavailable; retry shortly")
        # Every answer of ``_handle`` recorded its receipt: the mirror was reached.
        self._outage.succeeded()
        return outcome

    def _count(self, outcome: _Outcome, started: float) -> None:
        # Every answer counted, the 503s too: a receipt rate that drops to nothing in an
        # outage or a restart looks like a sender that stopped sending.
        self._metrics.receipts.labels(outcome.verdict).inc()
        elapsed = time.perf_counter() - started
        self._metrics.receipt_seconds.labels(outcome.verdict).observe(elapsed)

    async def _read(self, request: Request) -> bytes | _Refused:
        """The raw body; refused once it exceeds the limit, or once its time is out (the
        rest is not read). Without a time bound (uvicorn has none), a sender that
        declared a body and sent part of it, or sent it a byte a minute, held its
        request, and a file descriptor, for good: a few thousand such exhausted the
        process's."""
        declared = request.headers.get("content-length", "")
        too_large = _Refused(413, f"body over {self._max} bytes")
        if declared.isdigit() and int(declared) > self._max:
            return too_large
        chunks: list[bytes] = []
        size = 0
        stream, started = request.stream(), anyio.current_time()
        while True:
            ends = body_ends(started, size, self._body_seconds)
            with anyio.move_on_after(ends - anyio.current_time()):
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self._max:
                    return too_large
                chunks.append(chunk)
                continue
            late = f"{ends - started:.1f}".removesuffix(".0")
            return _Refused(408, f"body not received within {late} s ({size} bytes came)")

    def close(self) -> None:
        """Write the receipts still queued; later deliveries are not recorded."""
        self._log.close()

    async def _handle(
        self, body: bytes | _Refused, headers: dict[str, str], received_at: dt.datetime
    ) -> _Outcome:
        claimed_id = _header(headers, ID_HEADER)  # unverified until the signature is
        if isinstance(body, _Refused):
            verdict = f"{mirror.REJECTED}{body.reason}"
            await self._record(claimed_id, None, received_at, headers, b"", verdict)
            return _Outcome(body.status, "rejected", body.reason)
        try:
            event = verify(body, headers, self._secrets)
        except WebhookVerificationError as exc:
            # Ignored, as the metric counts it: authentic, but of a type we do not know.
            unknown = exc.check is VerificationCheck.UNKNOWN_EVENT_TYPE
            compressed = _compressed(headers, exc)
            reason = compressed or str(exc)
            verdict = f"{mirror.IGNORED}{exc}" if unknown else f"{mirror.REJECTED}{reason}"
            await self._record(
                claimed_id, None, received_at, headers, body, verdict, verified=exc.authentic
            )
            if unknown:
                return _Outcome(200, "ignored", str(exc))
            status = 415 if compressed else 400 if exc.authentic else 401
            return _Outcome(status, "rejected", reason)
        future = _future_time(event, received_at)
        if future is not None:
            await self._record(
                event.id, None, received_at, headers, body, f"{mirror.REJECTED}{future}"
            )
            return _Outcome(400, "rejected", future)
        first = await self._record(
            event.id, event.type, received_at, headers, body, mirror.ACCEPTED
        )
        if event.type == ENDPOINT_TEST:
            await anyio.to_thread.run_sync(self._processed, event.id)
            return _Outcome(200, "ignored", "endpoint test acknowledged")
        if not first and not await anyio.to_thread.run_sync(self._as_received, event.id, body):
            # A sender's mistake a retry would not mend; the first body is the event, as
            # a replay reads it. Acknowledged, it would go unseen: the operator is told.
            self._changed.warn(
                f"event {event.id!r} received again with another body: the first one's is "
                "acted on, this one's is only recorded (the sender reuses event ids?)"
            )
            return _Outcome(200, "duplicate", "already received, with another body: not acted on")
        # A redelivery starts nothing new: the workflow id is the event id. Starting it
        # again anyway covers a crash between recording the receipt and starting it.
        self._start(event, event.id)
        if not first:
            return _Outcome(200, "duplicate", "already received")
        self._metrics.workflows_started.labels(event.type).inc()
        return _Outcome(200, "accepted", "accepted")

    async def _record(
        self,
        event_id: str | None,
        event_type: str | None,
        received_at: dt.datetime,
        headers: dict[str, str],
        body: bytes,
        verdict: str,
        *,
        verified: bool = True,
    ) -> bool:
        """Record the delivery; ``verified``: its signature verified (an unverified one
        keeps only the beginning of its body, ``mirror.unverified``)."""
        receipt = mirror.Receipt(event_id, event_type, received_at, headers, body, verdict)
        return await self._log.record(receipt if verified else mirror.unverified(receipt))

    def _as_received(self, event_id: str, body: bytes) -> bool:
        """Whether ``body`` is the event its first receipt holds: the same bytes (by their
        digest, without reading the first body: a replay flood read 100 KiB at each), or
        the same JSON (a sender may write it again otherwise: spaces, the order of keys),
        of one type at any depth (``same_json``: Python's 1 == True took a 1 become true
        for no change)."""
        digest = hashlib.sha256(body).hexdigest()
        with self._engine.connect() as conn:
            if mirror.first_body_sha256(conn, event_id) == digest:
                return True
            first = mirror.receipt_body(conn, event_id)
        return first is None or same_json(json.loads(first), json.loads(body))

    def _processed(self, event_id: str) -> None:
        with mirror.write_transaction(self._engine) as conn:
            mirror.mark_processed(conn, event_id, dt.datetime.now(dt.UTC))


def _answer(outcome: _Outcome) -> Response:
    extra = {503: RETRY_AFTER, 415: _IDENTITY}.get(outcome.status)
    body = {"status": outcome.verdict, "detail": outcome.detail}
    return JSONResponse(body, outcome.status, extra)


# The codings taken, as RFC 7694 has a 415 for a content coding name them.
_IDENTITY: Final[Mapping[str, str]] = {"accept-encoding": "identity"}
_CODING_SHOWN: Final = 40  # characters of a refused Content-Encoding


def _compressed(headers: dict[str, str], exc: WebhookVerificationError) -> str | None:
    """Why a delivery whose signature matched none is refused 415, if it claims a content
    coding: most likely signed, then compressed. Not decompressed here: nothing says the
    signature is over the body decompressed, and a body decompressed would be bounded by
    its compressed size alone."""
    if exc.check is not VerificationCheck.NO_MATCHING_SIGNATURE:
        return None
    codings = [coding.strip() for coding in headers.get("content-encoding", "").split(",")]
    given = [coding for coding in codings if coding.lower() not in ("", "identity")]
    if not given:
        return None
    shown = cut(", ".join(given), _CODING_SHOWN)
    return (
        f"content-encoding {shown!r} is not supported: no signature matches the body as "
        "sent; send it uncompressed"
    )


_STOPPING: Final = _Outcome(503, "unavailable", "the receiver is stopping; retry shortly")


def stopping(_path: str) -> Response:
    """The answer to a delivery that the process's stop cut (``RetryShortly``): nothing
    of it was acknowledged, so the sender retries it, here or to a sibling."""
    return _answer(_STOPPING)


def refused(status: int, detail: str, _path: str) -> Response:
    """The answer to a request refused before the app reads it (``bounded_head``)."""
    return _answer(_Outcome(status, "rejected", detail))


_HINTS: Final = {
    401: "; if every delivery is, PRODUCERSYNC_WEBHOOK_SECRETS lacks the endpoint's "
    "current secret (rotated?) or this host's clock is off",
    413: "; PRODUCERSYNC_MAX_BODY_BYTES is the limit",
    415: "; the sender compresses its deliveries: have it send them as they are",
    408: "; a sender this slow is cut off (a body has 20 s, and 1 s more per 500 bytes that came)",
}


def _future_time(event: Event, received_at: dt.datetime) -> str | None:
    """What is wrong with an authentic event dated after its receipt (beyond the clock
    skew the signature allows): the later of two changes of an NPN wins in the mirror, so
    an activation in 2099 would outrank every real deactivation for good."""
    latest = received_at + dt.timedelta(seconds=DEFAULT_TOLERANCE)
    times = {"timestamp": event.timestamp}
    if isinstance(event, NpnActivated):
        times["data.activatedAt"] = event.data.activated_at
    elif isinstance(event, NpnDeactivated):
        times["data.deactivatedAt"] = event.data.deactivated_at
    for name, at in times.items():
        if at > latest:
            return f"invalid event: {name}: after the time of receipt (given '{at.isoformat()}')"
    return None


_SIGNATURE_HEADERS: Final = frozenset(f"{prefix}-signature" for prefix in HEADER_PREFIXES)


def _joined(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers kept with a receipt (names in lower case), a name given more than once
    with its values joined, as HTTP joins a list's lines: the last alone was read, so a
    signature line of the secret held, followed by one of a secret not held, was a 401.
    Signatures are joined by a space, their own separator, so each is still tried; an
    id or a timestamp given twice becomes one that is not well-formed, refused (401)
    rather than one of them picked. Each name's values are joined once, at the end: one
    string grown line by line was copied whole at each, and a request of 100,000 lines
    of one name (2 MB) took the event loop, and every delivery behind it, for 88 s."""
    lines: dict[str, list[str]] = {}
    for name, value in fields:
        if not is_private_header(name):
            lines.setdefault(name, []).append(value)
    return {
        name: (" " if name in _SIGNATURE_HEADERS else ", ").join(values)
        for name, values in lines.items()
    }


def _header(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.replace("webhook-", "svix-"))
    return value[:256] if value else None
