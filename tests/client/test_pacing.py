"""Client-side pacing under the rate limit."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from producersync.client._pacing import WINDOW_MARGIN, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_slots_are_evenly_spaced_the_limit_in_a_minute_and_the_margin() -> None:
    clock = Clock()
    pacer = Pacer(300, clock=clock)
    waits = [pacer.reserve() for _ in range(5)]
    step = (60 + WINDOW_MARGIN) / 300
    assert waits == pytest.approx([0, step, 2 * step, 3 * step, 4 * step])


def test_an_idle_gap_is_lost_once_not_every_minute() -> None:
    clock = Clock()
    pacer = Pacer(60, clock=clock)
    sent = []
    for i in range(200):
        if i == 10:
            clock.now += 5  # nothing to send for 5 s
        clock.now += pacer.reserve()
        sent.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert gaps[9] == pytest.approx(5)
    assert max(gaps[10:]) == pytest.approx(pacer.interval)


def test_late_wake_ups_never_put_more_than_the_limit_in_a_minute() -> None:
    clock = Clock()
    pacer = Pacer(60, clock=clock)
    sent = []
    for i in range(200):
        clock.now = max(clock.now, pacer.now() + pacer.reserve())
        clock.now += 0.04 if i % 7 else 0.0  # some sends go out late, then catch up
        sent.append(clock.now)
    for i in range(60, len(sent)):
        assert sent[i] - sent[i - 60] >= 60


def test_our_own_requests_filling_the_window_hold_nothing_back() -> None:
    clock = Clock()
    pacer = Pacer(300, clock=clock)
    for _ in range(300):
        clock.now += pacer.reserve()
    pacer.observe(200, {"ratelimit-remaining": "0", "ratelimit-reset": "1"}, clock.now)
    # Our own 300 fill the server's window: the next goes at its slot, not after the
    # server's coarse reset (which would be a second lost after every request).
    assert pacer.reserve() == pytest.approx(pacer.interval)


def test_someone_else_spending_the_credential_makes_the_window_wait() -> None:
    clock = Clock()
    pacer = Pacer(300, clock=clock)
    for _ in range(100):
        clock.now += pacer.reserve()
    headers = {"ratelimit-limit": "300", "ratelimit-remaining": "0", "ratelimit-reset": "7"}
    pacer.observe(200, headers, clock.now)  # 300 spent, 100 of them ours
    assert pacer.reserve() == pytest.approx(7)


def test_idle_time_is_not_banked_as_a_burst() -> None:
    clock = Clock()
    pacer = Pacer(60, clock=clock)
    pacer.reserve()
    clock.now += 100
    assert pacer.reserve() == 0
    assert pacer.reserve() == pytest.approx(pacer.interval)


def test_a_429_holds_every_slot_until_retry_after() -> None:
    clock = Clock()
    pacer = Pacer(6000, clock=clock)
    pacer.observe(429, {"retry-after": "7"})
    assert pacer.reserve() == pytest.approx(7)


def test_an_exhausted_window_waits_for_its_reset() -> None:
    clock = Clock()
    pacer = Pacer(6000, clock=clock)
    pacer.observe(200, {"ratelimit-remaining": "0", "ratelimit-reset": "12"})
    assert pacer.reserve() == pytest.approx(12)


def test_epoch_reset_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    import producersync.client._retry as retry

    monkeypatch.setattr(retry.time, "time", lambda: 1_800_000_000.0)
    clock = Clock()
    pacer = Pacer(6000, clock=clock)
    pacer.observe(200, {"ratelimit-remaining": "1", "ratelimit-reset": "1800000009"})
    assert pacer.reserve() == pytest.approx(9)


def test_a_shared_credential_tightens_the_pace() -> None:
    clock = Clock()
    pacer = Pacer(300, clock=clock)
    pacer.reserve()
    pacer.observe(200, {"ratelimit-remaining": "10", "ratelimit-reset": "50"})
    assert pacer.reserve() == pytest.approx(5.0)  # 10 requests left for 50 s


def test_plenty_of_headroom_does_not_speed_up_past_the_base_pace() -> None:
    clock = Clock()
    pacer = Pacer(300, clock=clock)
    pacer.reserve()
    pacer.observe(200, {"ratelimit-remaining": "299", "ratelimit-reset": "1"})
    assert pacer.reserve() == pytest.approx(pacer.interval)


def test_threads_never_share_a_slot() -> None:
    pacer = Pacer(600)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            wait = pacer.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 reservations at 0.1 s spacing: the last one is ~19.9 s out, none doubled up.
    assert len(waits) == 200
    assert max(waits) == pytest.approx(19.9, abs=0.5)


def test_an_absurd_retry_after_is_not_taken_at_its_word() -> None:
    clock = Clock()
    pacer = Pacer(6000, clock=clock)
    pacer.observe(429, {"retry-after": "86400"})
    assert pacer.reserve() == pytest.approx(3600)


def test_queued_threads_take_evenly_spaced_slots() -> None:
    pacer = Pacer(600)
    taken: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            pacer.take()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(taken)]
    # 20 slots at 0.1 s: none doubled up, and late wake-ups do not stretch the schedule.
    assert min(gaps) >= 0.1 - 0.06
    assert taken[-1] - taken[0] == pytest.approx(1.9, abs=0.3)


def test_the_highest_priority_waiting_goes_first() -> None:
    pacer = Pacer(600)
    pacer.observe(429, {"retry-after": "0.5"})  # everyone queues behind the hold
    order: list[int] = []
    lock = threading.Lock()

    def take(priority: int) -> None:
        pacer.take(priority)
        with lock:
            order.append(priority)

    threads = [threading.Thread(target=take, args=(p,)) for p in (1, 5, 3, 5, 0)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # arrival order is part of what is checked (ties)
    for thread in threads:
        thread.join()
    assert order == [5, 5, 3, 1, 0]


def test_a_waiter_that_gives_up_leaves_the_queue() -> None:
    pacer = Pacer(600)
    pacer.observe(429, {"retry-after": "0.3"})
    interrupted = threading.Thread(target=_take_and_fail, args=(pacer,))
    interrupted.start()
    interrupted.join()
    started = time.monotonic()
    pacer.take()  # not stuck behind the ticket of the one that left
    assert time.monotonic() - started < 0.5


def _take_and_fail(pacer: Pacer) -> None:
    class Interrupted(Exception):
        pass

    def interrupt(*_: object) -> bool:
        raise Interrupted

    turns = pacer._turns
    original = turns.wait
    turns.wait = interrupt  # type: ignore[method-assign]
    try:
        pacer.take(9)
    except Interrupted:
        pass
    finally:
        turns.wait = original  # type: ignore[method-assign]


def test_the_log_of_our_slots_keeps_two_minutes_not_the_whole_limit() -> None:
    clock = Clock()
    pacer = Pacer(1_000_000, clock=clock)  # a limit lifted
    for _ in range(10_000):
        clock.now += 0.1  # 600 requests a minute
        pacer.take()
    assert len(pacer._sent) <= 2 * 600 + 1
