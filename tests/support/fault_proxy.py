"""An HTTP proxy on 127.0.0.1 that answers a share of the requests it relays with a fault:
a 5xx of its own, a 429 with Retry-After and ratelimit headers, a connection reset
(before the request is relayed, or after: its answer lost), a response slower than the
client waits, or one dribbled a byte at a time (each byte
sooner than a read times out, the whole later than any caller waits). Runs its event
loop in a thread of the test. The upstream is a server, or an app in the test's process
(``transport``).

The faults come from a shuffled deck of 100 outcomes per round, so the mix is exact for
every 100 requests (each kind is dealt at least once in the first 100) and a seed repeats
it.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx2

from tests.support.service import free_port

__all__ = ["FaultMix", "FaultProxy", "dribbled", "fault_proxy"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_ROUND = 100


@dataclass(frozen=True)
class FaultMix:
    """Faults per 100 requests, and how slow a slow response is."""

    server_error: int = 10
    rate_limited: int = 5
    reset: int = 2
    slow: int = 1
    slow_seconds: float = 3.0
    dribble: int = 0
    dribble_seconds: float = 1.0  # between two bytes of a dribbled response
    lost: int = 0  # relayed, then the connection reset: the upstream acted, no one heard

    def deck(self) -> list[str]:
        faults = (
            ["server_error"] * self.server_error
            + ["rate_limited"] * self.rate_limited
            + ["reset"] * self.reset
            + ["slow"] * self.slow
            + ["dribble"] * self.dribble
            + ["lost"] * self.lost
        )
        return faults + ["relayed"] * (_ROUND - len(faults))


@dataclass
class FaultProxy:
    upstream: str
    mix: FaultMix
    seed: int
    transport: httpx2.AsyncBaseTransport | None = None  # to an upstream in the process
    port: int = field(default_factory=free_port)
    dealt: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._deck: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def use(self, mix: FaultMix) -> None:
        """Deal from ``mix`` from the next request on."""
        with self._lock:
            self.mix, self._deck = mix, []

    def _deal(self) -> str:
        with self._lock:
            if not self._deck:
                self._deck = self.mix.deck()
                self._rng.shuffle(self._deck)
            outcome = self._deck.pop()
            self.dealt[outcome] += 1
            return outcome

    async def serve(self, started: threading.Event, stop: asyncio.Event) -> None:
        async with httpx2.AsyncClient(
            base_url=self.upstream, timeout=60, transport=self.transport
        ) as client:
            server = await asyncio.start_server(
                lambda r, w: self._connection(client, r, w), "127.0.0.1", self.port
            )
            started.set()
            await stop.wait()
            server.close()
            # Keep-alive connections would outlive the server: end them with it.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

    async def _connection(
        self, client: httpx2.AsyncClient, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while raw := await _read_request(reader):
                request = client.build_request(
                    raw.method, raw.target, headers=raw.headers, content=raw.body
                )
                if not await self._answer(client, request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, client: httpx2.AsyncClient, request: httpx2.Request, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection is done for."""
        outcome = self._deal()
        if outcome == "reset":
            _reset(writer)
            return False
        if outcome == "server_error":
            status = self._rng.choice([500, 502, 503, 504])
            await _write(writer, status, {"content-type": "application/json"}, b'{"error":"fault"}')
            return True
        if outcome == "rate_limited":
            headers = {
                "retry-after": "1",
                "ratelimit-limit": "300",
                "ratelimit-remaining": "0",
                "ratelimit-reset": "1",
                "content-type": "application/json",
            }
            await _write(writer, 429, headers, b'{"error":"Too Many Requests"}')
            return True
        if outcome == "slow":
            await asyncio.sleep(self.mix.slow_seconds)
        response = await client.send(request, stream=True)
        try:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        if outcome == "lost":
            _reset(writer)
            return False
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        if outcome == "dribble":
            await _write(writer, response.status_code, headers, b"", length=len(body))
            for byte in range(len(body)):
                await asyncio.sleep(self.mix.dribble_seconds)
                if writer.is_closing():
                    return False  # the client gave up: writes to it would not fail
                writer.write(body[byte : byte + 1])
                await writer.drain()
            return True
        await _write(writer, response.status_code, headers, body)
        return True


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # RST, not FIN: a reset mid-request


@dataclass(frozen=True)
class _Raw:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Raw | None:
    """The next request on the connection (bodies by content-length: what the SDK
    sends), or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    pairs = [(n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in lines if h)]
    length = next((int(v) for n, v in pairs if n.lower() == "content-length"), 0)
    body = await reader.readexactly(length)
    kept = [(n, v) for n, v in pairs if n.lower() not in _HOP_BY_HOP | {"host"}]
    return _Raw(method, target, kept, body)


async def _write(
    writer: asyncio.StreamWriter,
    status: int,
    headers: dict[str, str],
    body: bytes,
    length: int | None = None,
) -> None:
    """A response: its head, and ``body``, all of it or (``length``) its start."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(body) if length is None else length}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


@contextmanager
def fault_proxy(
    upstream: str,
    mix: FaultMix | None = None,
    seed: int = 0,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Iterator[FaultProxy]:
    """A running proxy to ``upstream`` (reached through ``transport``, if given); its URL
    stands in for the upstream's."""
    proxy = FaultProxy(upstream, mix or FaultMix(), seed, transport)
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(proxy.serve(started, stop),), daemon=True
    )
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the fault proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def dribbled(seconds: float) -> FaultMix:
    """Every response dribbled, ``seconds`` between two bytes."""
    return FaultMix(
        server_error=0, rate_limited=0, reset=0, slow=0, dribble=100, dribble_seconds=seconds
    )
