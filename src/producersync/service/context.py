"""What a running service holds: settings, store, token codec, limiters, revocations."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.requests import HTTPConnection

from producersync.service.api.cursor import CursorCodec
from producersync.service.auth.tokens import TokenCodec
from producersync.service.ratelimit import RateLimiter
from producersync.service.settings import ServiceSettings
from producersync.service.store.accounts import Cutoff, token_cutoffs

__all__ = ["Revocations", "ServiceContext", "get_context"]

_REVOCATION_REFRESH_SECONDS = 5.0
# How far apart two hosts' clocks may be: a token's expiry is stamped by its issuing
# host's clock and judged by the checking host's (an hour apart is a case the tests run).
_CLOCKS_APART = dt.timedelta(days=1)


@dataclass
class Revocations:
    """Revoked clients and rotated secrets, reread at most every few seconds so that token
    checks stay off the database while either still takes effect everywhere within seconds.
    Only those of a token's lifetime ago (``token_ttl_seconds``) and less are read, as the
    tokens issued before them have expired: every revocation and rotation ever made were
    kept, read every few seconds in every process."""

    engine: sa.Engine
    token_ttl_seconds: int
    _cutoffs: dict[str, Cutoff] = field(default_factory=dict)
    _read_at: float = 0.0

    async def refusal(self, client_id: str, secret_rotated_at: dt.datetime | None) -> str | None:
        """Why a token of ``client_id`` issued under the secret rotated in at
        ``secret_rotated_at`` is refused, or ``None``."""
        if time.monotonic() - self._read_at > _REVOCATION_REFRESH_SECONDS:
            self._cutoffs = await anyio.to_thread.run_sync(self._read)
            self._read_at = time.monotonic()
        cutoff = self._cutoffs.get(client_id)
        if cutoff is None:
            return None
        if cutoff.revoked:
            return "The client has been revoked"
        # Older, not other: a token issued under a secret rotated in after this process
        # last read the rotations is taken, not refused until its next read.
        rotated = cutoff.secret_rotated_at
        if rotated is not None and (secret_rotated_at is None or secret_rotated_at < rotated):
            return "The client secret the token was issued under has been rotated"
        return None

    def _read(self) -> dict[str, Cutoff]:
        with self.engine.connect() as conn:
            return token_cutoffs(conn, dt.timedelta(seconds=self.token_ttl_seconds) + _CLOCKS_APART)


class KeyedLock:
    """One holder at a time per key; a key's lock is dropped once none holds or awaits it,
    so that a key seen once (a client's address) is not kept."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (anyio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class ServiceContext:
    settings: ServiceSettings
    engine: sa.Engine
    tokens: TokenCodec
    cursors: CursorCodec
    api_limiter: RateLimiter
    token_limiter: RateLimiter
    token_failure_limiter: RateLimiter  # keyed by the client's address
    revocations: Revocations
    # One token request at a time per address is checked against its failures.
    authenticating: KeyedLock = field(default_factory=KeyedLock)
    # Tells the dispatcher that deliveries were just queued (a no-op without one).
    published: Callable[[], None] = lambda: None


def get_context(conn: HTTPConnection) -> ServiceContext:
    ctx: ServiceContext = conn.app.state.context
    return ctx
