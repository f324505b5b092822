"""The retry policy: the schedule with jitter, Retry-After honoured and capped, and the
attempts that are never retried. Deterministic: every draw comes from a seeded rng."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producersync.service.delivery.policy import RetryPolicy
from producersync.service.settings import ServiceSettings

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
# The contract's: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
TOLERANCE = 1e-5  # seconds: timedelta keeps microseconds
# The same examples on every run.
DETERMINISTIC = settings(derandomize=True, deadline=None)


def policy(
    schedule: tuple[float, ...] = SCHEDULE, jitter: float = 0.2, cap: float = 3600.0
) -> RetryPolicy:
    return RetryPolicy(
        schedule=schedule,
        jitter=jitter,
        retry_after_cap=cap,
        overload_step=60.0,
        timeout=10.0,
        disable_after=dt.timedelta(days=5),
        claim_lease=30.0,
    )


def wait(
    rule: RetryPolicy,
    attempts_made: int,
    *,
    status: int = 500,
    retry_after: float | None = None,
    manual: bool = False,
    timed_out: bool = False,
    seed: int = 0,
) -> float | None:
    """Seconds until the next attempt, or ``None``."""
    at = rule.next_attempt(
        attempts_made=attempts_made,
        manual=manual,
        status_code=status,
        retry_after=retry_after,
        timed_out=timed_out,
        now=NOW,
        rng=random.Random(seed),
    )
    return None if at is None else (at - NOW).total_seconds()


schedules = st.lists(
    st.floats(min_value=0.5, max_value=100_000, allow_nan=False), min_size=1, max_size=8
).map(tuple)
jitters = st.floats(min_value=0.0, max_value=0.95, allow_nan=False)
seeds = st.integers(min_value=0, max_value=2**32)
plain_statuses = st.sampled_from([0, 400, 404, 408, 500, 502, 504])
# Standard Webhooks: 429, 502 and 504 say "throttle", and a 503 may say until when.
THROTTLING = [429, 502, 503, 504]


@DETERMINISTIC
@given(schedule=schedules, jitter=jitters, seed=seeds, status=plain_statuses, data=st.data())
def test_each_step_is_jittered_within_bounds(
    schedule: tuple[float, ...], jitter: float, seed: int, status: int, data: st.DataObject
) -> None:
    attempts_made = data.draw(st.integers(min_value=1, max_value=len(schedule)))
    step = schedule[attempts_made - 1]
    got = wait(policy(schedule, jitter), attempts_made, status=status, seed=seed)
    assert got is not None
    assert step * (1 - jitter) - TOLERANCE <= got <= step * (1 + jitter) + TOLERANCE


def test_no_jitter_gives_the_schedule_exactly() -> None:
    rule = policy(jitter=0.0)
    assert [wait(rule, n) for n in range(1, len(SCHEDULE) + 1)] == list(SCHEDULE)


def test_jitter_spreads_both_ways() -> None:
    rule = policy(jitter=0.2)
    draws = [wait(rule, 2, seed=seed) for seed in range(200)]
    assert all(d is not None for d in draws)
    values = [d for d in draws if d is not None]
    assert min(values) < 300.0 < max(values)
    assert len(set(values)) > 150  # not one value repeated
    assert min(values) >= 240.0 - TOLERANCE
    assert max(values) <= 360.0 + TOLERANCE


@pytest.mark.parametrize("extra", [1, 2, 10])
def test_attempts_beyond_the_schedule_are_not_retried(extra: int) -> None:
    rule = policy()
    assert wait(rule, len(SCHEDULE)) is not None  # the last step still schedules a retry
    assert wait(rule, len(SCHEDULE) + extra) is None
    assert wait(rule, len(SCHEDULE) + extra, status=429, retry_after=10.0) is None


@DETERMINISTIC
@given(attempts_made=st.integers(min_value=1, max_value=20), status=st.integers(0, 599))
def test_a_manual_attempt_is_never_retried(attempts_made: int, status: int) -> None:
    assert wait(policy(), attempts_made, status=status, manual=True, retry_after=5.0) is None


@pytest.mark.parametrize("retry_after", [None, 1.0, 60.0])
@pytest.mark.parametrize("attempts_made", [1, 3])
def test_410_gone_is_never_retried(retry_after: float | None, attempts_made: int) -> None:
    assert wait(policy(), attempts_made, status=410, retry_after=retry_after) is None


@pytest.mark.parametrize("status", THROTTLING)
def test_retry_after_above_the_step_is_waited(status: int) -> None:
    rule = policy(cap=3600.0)
    got = wait(rule, 1, status=status, retry_after=120.0)  # step 1 is 5 s (±20%)
    assert got == pytest.approx(120.0)


@pytest.mark.parametrize("status", THROTTLING)
def test_retry_after_is_capped(status: int) -> None:
    rule = policy(cap=3600.0)
    assert wait(rule, 1, status=status, retry_after=86_400.0) == pytest.approx(3600.0)


@pytest.mark.parametrize("status", THROTTLING)
def test_retry_after_below_the_step_leaves_the_step(status: int) -> None:
    rule = policy()
    for seed in range(20):
        assert wait(rule, 3, status=status, retry_after=10.0, seed=seed) == wait(
            rule, 3, status=500, seed=seed
        )


@DETERMINISTIC
@given(
    schedule=schedules,
    jitter=jitters,
    cap=st.floats(min_value=0.0, max_value=200_000, allow_nan=False),
    retry_after=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    status=st.sampled_from(THROTTLING),
    seed=seeds,
    data=st.data(),
)
def test_retry_after_is_honoured_up_to_the_cap(
    schedule: tuple[float, ...],
    jitter: float,
    cap: float,
    retry_after: float,
    status: int,
    seed: int,
    data: st.DataObject,
) -> None:
    rule = policy(schedule, jitter, cap)
    attempts_made = data.draw(st.integers(min_value=1, max_value=len(schedule)))
    plain = wait(rule, attempts_made, status=status, seed=seed)  # without Retry-After
    got = wait(rule, attempts_made, status=status, retry_after=retry_after, seed=seed)
    assert plain is not None
    assert got is not None
    honoured = min(retry_after, cap)
    assert got >= honoured - TOLERANCE  # at least what was asked, as far as the cap
    assert got >= plain - TOLERANCE  # never sooner than the schedule
    assert got <= max(plain, cap) + TOLERANCE  # the cap bounds Retry-After
    assert got == pytest.approx(max(plain, honoured), abs=TOLERANCE)


@DETERMINISTIC
@given(
    attempts_made=st.integers(min_value=1, max_value=len(SCHEDULE)),
    status=st.integers(min_value=0, max_value=599).filter(
        lambda s: s != 410 and s not in THROTTLING
    ),
    retry_after=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    seed=seeds,
)
def test_retry_after_on_other_statuses_is_ignored(
    attempts_made: int, status: int, retry_after: float, seed: int
) -> None:
    rule = policy()
    assert wait(rule, attempts_made, status=status, retry_after=retry_after, seed=seed) == wait(
        rule, attempts_made, status=status, seed=seed
    )


def test_retry_after_on_a_500_is_ignored() -> None:
    rule = policy()
    assert wait(rule, 1, status=500, retry_after=3000.0, seed=7) == wait(rule, 1, seed=7)
    got = wait(rule, 1, status=500, retry_after=3000.0, seed=7)
    assert got is not None
    assert got <= 5.0 * 1.2 + TOLERANCE


# Svix's overload penalty: a receiver that timed out (0: no response; 200: its body did
# not end) or said 429 had its retry 5 s later, on top of the load it was under.
@pytest.mark.parametrize(("status", "timed_out"), [(0, True), (200, True), (429, False)])
def test_a_timed_out_or_429_attempt_is_retried_a_minute_on_at_least(
    status: int, timed_out: bool
) -> None:
    rule = policy(jitter=0.0)
    assert wait(rule, 1, status=status, timed_out=timed_out) == 60.0  # not the step's 5 s
    assert wait(rule, 2, status=status, timed_out=timed_out) == 300.0  # a longer step holds
    jittered = [wait(policy(), 1, status=status, timed_out=timed_out, seed=n) for n in range(50)]
    assert all(d is not None and 48.0 - TOLERANCE <= d <= 72.0 + TOLERANCE for d in jittered)


def test_a_longer_retry_after_on_a_429_is_waited_beyond_the_minute() -> None:
    assert wait(policy(jitter=0.0), 1, status=429, retry_after=120.0) == 120.0


def test_lease_outlasts_any_attempt() -> None:
    assert policy().lease == dt.timedelta(seconds=30)
    slow = RetryPolicy(
        schedule=SCHEDULE,
        jitter=0.2,
        retry_after_cap=60,
        overload_step=60.0,
        timeout=25.0,
        disable_after=dt.timedelta(days=1),
        claim_lease=30.0,
    )
    assert slow.lease == dt.timedelta(seconds=75)
    assert dataclasses.replace(slow, claim_lease=120.0).lease == dt.timedelta(seconds=120)


def test_from_settings() -> None:
    settings = ServiceSettings(
        webhook_retry_schedule=[1.0, 2.0, 3.0],
        webhook_retry_jitter=0.1,
        webhook_retry_after_cap_seconds=600.0,
        webhook_retry_overload_seconds=20.0,
        webhook_timeout_seconds=7.0,
        webhook_disable_after_seconds=3600.0,
        webhook_claim_lease_seconds=45.0,
    )
    rule = RetryPolicy.from_settings(settings)
    assert tuple(rule.schedule) == (1.0, 2.0, 3.0)
    assert rule.jitter == 0.1
    assert rule.retry_after_cap == 600.0
    assert rule.overload_step == 20.0
    assert rule.timeout == 7.0
    assert rule.disable_after == dt.timedelta(hours=1)
    assert rule.lease == dt.timedelta(seconds=45)


def test_the_default_policy_is_the_contract_s() -> None:
    """Unset, the settings give the contract's schedule, its ±20 % jitter, its 5 s for a
    2xx and its 5 days of failures before an endpoint is disabled."""
    rule = RetryPolicy.from_settings(ServiceSettings())
    assert tuple(rule.schedule) == SCHEDULE
    assert rule.jitter == 0.2
    assert rule.timeout == 5.0
    assert rule.disable_after == dt.timedelta(days=5)
