"""Moving windows in Redis, shared by every process that points at it.

One script counts the hit and reads the window, by Redis's clock. ``limits``' Redis
windows stamped each hit with the clock of the host that made it and read the count in a
second round trip: a host whose clock was a minute behind had its hits aged out at once
in every other host's eyes (twice the limit admitted), and concurrent requests were told
each other's counts (five at once all read 0 remaining).
"""

from __future__ import annotations

import uuid

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from producersync.service.window import Count

__all__ = ["RedisWindow"]

_TIMEOUT_SECONDS = 1.0

# A sorted set per key: one member per counted hit, scored by Redis's time of it. The
# key expires with its newest hit, so an idle client leaves nothing behind. With no
# member, the script only looks (a peek); an empty window's reset is 0. A window may
# hold more hits than the limit asked with: counted under a higher one (a limit lowered,
# processes restarted one by one). It frees a request once all but limit - 1 of them
# aged out, not the oldest alone: a reset of the oldest would tell a client 10 s where
# 50 s are due, and 'remaining' go negative.
_HIT = """
local limit, seconds, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - seconds)
local counted = redis.call('ZCARD', KEYS[1])
local allowed = counted < limit
if allowed and member ~= '' then
    redis.call('ZADD', KEYS[1], string.format('%.6f', now), member)
    redis.call('EXPIRE', KEYS[1], seconds)
    counted = counted + 1
end
local freeing = math.max(0, counted - limit)
local freed_by = redis.call('ZRANGE', KEYS[1], freeing, freeing, 'WITHSCORES')[2]
local reset = freed_by and tonumber(freed_by) + seconds - now or 0
return {allowed and 1 or 0, counted, string.format('%.6f', reset)}
"""


class RedisWindow:
    def __init__(self, url: str, prefix: str = "producersync") -> None:
        self._prefix = prefix
        client = redis.Redis.from_url(
            url,
            # A Redis that does not answer holds each request this long at most, not for
            # the system's TCP timeout (minutes).
            socket_connect_timeout=_TIMEOUT_SECONDS,
            socket_timeout=_TIMEOUT_SECONDS,
            # Once again at once, on a new connection: a pooled one that a Redis restart
            # or failover cut failed the next request, and the process counted alone for
            # RETRY_SECONDS, where Redis answered. A hit whose answer alone was lost is
            # counted twice, once.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            retry_on_error=[RedisConnectionError],
        )
        self._client = client
        self._script = client.register_script(_HIT)

    async def hit(self, key: str, limit: int, seconds: int) -> Count:
        return await self._run(key, limit, seconds, uuid.uuid4().hex)

    async def peek(self, key: str, limit: int, seconds: int) -> Count:
        return await self._run(key, limit, seconds, "")

    async def reach(self) -> None:
        await self._client.ping()

    async def _run(self, key: str, limit: int, seconds: int, member: str) -> Count:
        allowed, counted, reset = await self._script(
            keys=[f"{self._prefix}:{key}"], args=[limit, seconds, member]
        )
        return Count(bool(allowed), max(0, limit - int(counted)), float(reset))
