"""Client-side pacing under the rate limit."""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from producersync.client._pacing import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_window_is_spent_at_once_then_as_it_frees() -> None:
    clock = Clock()
    pacer = Pacer(300, share=0.97, clock=clock)
    assert pacer.budget == 291
    assert [pacer.reserve() for _ in range(291)] == [0] * 291
    assert pacer.reserve() == pytest.approx(60)  # the first send leaves the window
    clock.now += 30
    assert pacer.reserve() == pytest.approx(30)  # the second, 60 s after it went


def test_no_minute_holds_more_than_the_share() -> None:
    clock = Clock()
    pacer = Pacer(10, share=1.0, clock=clock)
    sent = []
    for _ in range(100):
        clock.now += 0.7  # work arrives faster than the limit lets it through
        sent.append(clock.now + pacer.reserve())
    assert sent == sorted(sent)
    assert max(bisect.bisect_right(sent, t + 60 - 1e-9) - i for i, t in enumerate(sent)) == 10


def test_idle_time_beyond_a_window_is_not_banked() -> None:
    clock = Clock()
    pacer = Pacer(2, window=1.0, share=1.0, clock=clock)
    pacer.reserve()
    clock.now += 100
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0, 0, 1.0])


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


def test_a_shared_credential_counts_what_others_spent() -> None:
    clock = Clock()
    pacer = Pacer(300, share=1.0, clock=clock)
    pacer.reserve()
    # The server has 10 left where our own log has 299: the rest went elsewhere.
    pacer.observe(200, {"ratelimit-remaining": "10", "ratelimit-reset": "50"})
    assert [pacer.reserve() for _ in range(9)] == [0] * 9
    assert pacer.reserve() == pytest.approx(60)


def test_plenty_of_headroom_does_not_raise_the_budget() -> None:
    clock = Clock()
    pacer = Pacer(2, share=1.0, clock=clock)
    pacer.reserve()
    pacer.observe(200, {"ratelimit-remaining": "299", "ratelimit-reset": "1"})
    assert pacer.reserve() == 0
    assert pacer.reserve() == pytest.approx(60)


def _most_in_a_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def test_threads_never_overfill_a_window() -> None:
    clock = Clock()
    pacer = Pacer(10, window=1.0, share=1.0, clock=clock)
    slots: list[float] = []
    lock = threading.Lock()

    def reserve() -> None:
        for _ in range(25):
            wait = pacer.reserve()
            with lock:
                slots.append(clock.now + wait)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 reservations, 10 a second: the last ones 19 s out, no second holding 11.
    assert len(slots) == 200
    assert max(slots) - clock.now == pytest.approx(19)
    assert _most_in_a_window(slots, 1.0) == 10


def test_an_absurd_retry_after_is_not_taken_at_its_word() -> None:
    clock = Clock()
    pacer = Pacer(6000, clock=clock)
    pacer.observe(429, {"retry-after": "86400"})
    assert pacer.reserve() == pytest.approx(3600)


def test_queued_threads_fill_each_window_and_no_more() -> None:
    pacer = Pacer(5, window=0.5, share=1.0)
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
    # 20 takes, 5 a half second: four windows' worth. A thread notes its time just
    # after its take, hence the shorter window checked.
    assert _most_in_a_window(taken, 0.5 - 0.05) == 5
    assert max(taken) - min(taken) == pytest.approx(1.5, abs=0.3)


def test_the_highest_priority_waiting_goes_first() -> None:
    pacer = Pacer(600, share=1.0)
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
    pacer = Pacer(600, share=1.0)
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
