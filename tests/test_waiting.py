"""``eventually``: how often it looks, on a clock of the test's own (no time waited)."""

from __future__ import annotations

import pytest

from tests.support import waiting


class _Clock:
    """``time.monotonic`` and ``time.sleep`` for ``waiting``: a check moves it on by what
    it takes, a pause by its length, and each pause is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    made = _Clock()
    monkeypatch.setattr(waiting.time, "monotonic", made.monotonic)
    monkeypatch.setattr(waiting.time, "sleep", made.sleep)
    return made


# What a check takes, the least pause asked for, and the pause between two checks.
_PAUSES = [
    (0.001, 0.05, 0.05),  # a quick check: every 0.05 s, as asked
    (0.012, 0.05, 0.108),  # a whole `sync status`: nine times its length
    (0.1, 0.05, 0.25),  # longer still: a quarter of a second at most
    (0.012, 1.0, 1.0),  # a longer pause asked for is kept
]


def test_a_wait_pauses_nine_times_as_long_as_its_check_took_when_that_is_longer(
    clock: _Clock,
) -> None:
    """One table, every row of it (on a clock that only checks and pauses move)."""
    found = []
    for takes, every, _ in _PAUSES:
        clock.pauses.clear()
        looks = 0

        def check(takes: float = takes) -> bool:
            nonlocal looks
            looks += 1
            clock.now += takes
            return looks == 4

        waiting.eventually(check, every=every)
        found.append((looks, clock.pauses[:]))
    assert found == [(4, [pause] * 3) for *_, pause in _PAUSES]


def test_a_wait_past_its_timeout_raises_with_what_tells_why(clock: _Clock) -> None:
    def check() -> bool:
        clock.now += 0.012
        return False

    with pytest.raises(TimeoutError, match="still 3"):
        waiting.eventually(check, timeout=2, what=lambda: "still 3")
    assert 2 <= clock.now < 2.5
    assert set(clock.pauses) == {0.108}
