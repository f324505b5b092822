"""When the next attempt of a delivery is due: the retry schedule, with jitter, capped
``Retry-After``, and the attempts that are never retried."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from producersync.service.settings import ServiceSettings

__all__ = ["RetryPolicy"]

# The statuses that mean "slow down": 429, the 503 whose Retry-After Standard Webhooks
# names, and the 502 and 504 it says to throttle on (a receiver's gateway answering for
# a backend under load, whose Retry-After was ignored).
_HONOUR_RETRY_AFTER = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: Sequence[float]  # seconds before retry 1, 2, ...
    jitter: float
    retry_after_cap: float
    # Svix's overload penalty: an attempt that timed out, or was answered 429, is retried
    # no sooner than this step (jittered as any): the schedule's first, 5 s, would send a
    # receiver too slow or too busy to answer its retry on top of the load it is under.
    overload_step: float
    timeout: float
    disable_after: dt.timedelta
    claim_lease: float

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RetryPolicy:
        return cls(
            schedule=tuple(settings.webhook_retry_schedule),
            jitter=settings.webhook_retry_jitter,
            retry_after_cap=settings.webhook_retry_after_cap_seconds,
            overload_step=settings.webhook_retry_overload_seconds,
            timeout=settings.webhook_timeout_seconds,
            disable_after=dt.timedelta(seconds=settings.webhook_disable_after_seconds),
            claim_lease=settings.webhook_claim_lease_seconds,
        )

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed delivery is kept from other senders: beyond any attempt."""
        return dt.timedelta(seconds=max(self.claim_lease, 3 * self.timeout))

    def next_attempt(
        self,
        *,
        attempts_made: int,
        manual: bool,
        status_code: int,
        retry_after: float | None,
        timed_out: bool,
        now: dt.datetime,
        rng: random.Random,
    ) -> dt.datetime | None:
        """After a failed attempt (the ``attempts_made``-th), when to try again; ``None``
        when the schedule is exhausted, the attempt was manual, or the endpoint said 410.
        ``timed_out``: the attempt ran out of time (no response, or a body that did not
        end)."""
        if manual or status_code == 410 or attempts_made > len(self.schedule):
            return None
        step = self.schedule[attempts_made - 1]
        if timed_out or status_code == 429:
            step = max(step, self.overload_step)
        delay = step * rng.uniform(1 - self.jitter, 1 + self.jitter)
        if status_code in _HONOUR_RETRY_AFTER and retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return now + dt.timedelta(seconds=delay)
