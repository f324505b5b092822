"""The retry policy's pure functions."""

from __future__ import annotations

import email.utils
import random

import httpx2
import pytest

from producersync.client._retry import (
    backoff,
    parse_reset,
    parse_retry_after,
    server_wait,
    should_retry,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "x", "retry-after": "2"}, 2.0),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, 10.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "Fri, 15 Jan 2027 07:59:00 GMT"}, 0.0),
        # Unreadable, not "retry at once": a negative or non-finite delay.
        ({"retry-after": "-4"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "-100", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    # The HTTP date in the table is 10 s after this instant.
    now = email.utils.parsedate_to_datetime("Fri, 15 Jan 2027 08:00:00 GMT").timestamp()
    value = parse_retry_after(headers, now=now)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


RATE_LIMITED = {"error": "rate_limit_exceeded", "error_description": "slow down"}


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {**RATE_LIMITED, "retry_after": 45}, 45.0),
        ({}, {**RATE_LIMITED, "retry_after": "2.5"}, 2.5),
        ({"ratelimit-reset": "30"}, {"retry_after": 45}, 45.0),  # the hint, not the window
        ({"retry-after": "3"}, {"retry_after": 45}, 3.0),  # the header first
        ({"ratelimit-reset": "30"}, {"retry_after": -1}, 30.0),  # unreadable: as if none
        ({"ratelimit-reset": "30"}, {"retry_after": True}, 30.0),
        ({"ratelimit-reset": "30"}, {"retry_after": [45]}, 30.0),
        ({"ratelimit-reset": "30"}, ["retry_after"], 30.0),
        ({}, "retry_after: 45", None),
        ({}, None, None),
    ],
)
def test_a_429_s_wait_is_read_from_its_body_when_no_header_gives_it(
    headers: dict[str, str], body: object, expected: float | None
) -> None:
    """A 429 body's ``retry_after`` (``{"error": "rate_limit_exceeded", …,
    "retry_after": 45}``, as a portal documents it) went unread: without a Retry-After
    the call backed off half a second, or waited for a window's reset it was not asked
    to wait for."""
    assert server_wait(429, headers, body) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("30", 30.0),
        ("0", 0.0),
        (str(int(NOW) + 45), 45.0),
        ("junk", None),
        ("nan", None),
        ("99999", 3600.0),
        (str(int(NOW) - 5), 0.0),
    ],
)
def test_parse_reset_reads_delta_seconds_and_epochs(
    value: str | None, expected: float | None
) -> None:
    assert parse_reset(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_should_retry(status: int, retry: bool) -> None:
    assert should_retry(httpx2.Response(status)) is retry


def test_should_retry_honours_the_server_hint() -> None:
    assert should_retry(httpx2.Response(500, headers={"x-should-retry": "false"})) is False
    assert should_retry(httpx2.Response(400, headers={"x-should-retry": "true"})) is True


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        for _ in range(50):
            assert 0.75 * base <= backoff(attempt, rng) <= base
