"""Client-side pacing under the rate limit: the schedule on a fake clock, and the queue
of callers, threads (``take``) and tasks (``atake``) alike, on the real one."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import anyio
import pytest

from producersync.client import CallCancelledError, Cancellation
from producersync.client._pacing import _LATE, WINDOW_MARGIN, Pacer
from tests.client.fake import FakeAPI, json_response
from tests.support.staggered import tasks, threads
from tests.support.waiting import eventually


class Clock:
    """A fake clock, on which a lone caller's wait for its slot passes at once."""

    def __init__(self) -> None:
        # Where the pacer's schedule starts, so that its first call is not one after idle
        # time: that one's next slot may come up to _LATE sooner (a caller woken late
        # keeps the schedule), which the tests of idle time allow for.
        self.now = 0.0
        self.late: Callable[[], float] = lambda: 0.0  # how late each wait comes back

    def __call__(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "a lone caller never waits behind another"
        self.now += timeout + self.late()
        return True


def paced(per_minute: float) -> tuple[Pacer, Clock]:
    clock = Clock()
    pacer = Pacer(per_minute, clock=clock)
    pacer._turns.wait = clock.wait  # type: ignore[method-assign]
    return pacer, clock


def waited(pacer: Pacer, clock: Clock) -> float:
    """How long the next call waits for its slot."""
    before = clock.now
    pacer.take()
    return clock.now - before


def test_slots_are_evenly_spaced_the_limit_in_a_minute_and_the_margin() -> None:
    pacer, clock = paced(300)
    waits = [waited(pacer, clock) for _ in range(5)]
    step = (60 + WINDOW_MARGIN) / 300
    assert waits == pytest.approx([0, step, step, step, step])


def test_an_idle_gap_is_lost_once_not_every_minute() -> None:
    pacer, clock = paced(60)
    sent = []
    for i in range(200):
        if i == 10:
            clock.now += 5  # nothing to send for 5 s
        sent.append(pacer.take())
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert gaps[9] == pytest.approx(5)
    # Never 5 s again; at most an interval and the _LATE the slot after the gap came
    # early by (idle time), which the window holds the one a minute later to.
    assert max(gaps[10:]) <= pacer.interval + _LATE + 1e-9


def test_late_wake_ups_never_put_more_than_the_limit_in_a_minute() -> None:
    pacer, clock = paced(60)
    lateness = itertools.cycle([0.0] + [0.04] * 6)  # some wake up late, then catch up
    clock.late = lambda: next(lateness)
    sent = [pacer.take() for _ in range(200)]
    for i in range(60, len(sent)):
        assert sent[i] - sent[i - 60] >= 60


def test_our_own_requests_filling_the_window_hold_nothing_back() -> None:
    pacer, clock = paced(300)
    for _ in range(300):
        pacer.take()
    pacer.observe(200, {"ratelimit-remaining": "0", "ratelimit-reset": "1"}, clock.now)
    # Our own 300 fill the server's window: the next goes at its slot, not after the
    # server's coarse reset (which would be a second lost after every request).
    assert waited(pacer, clock) == pytest.approx(pacer.interval)


def test_someone_else_spending_the_credential_makes_the_window_wait() -> None:
    pacer, clock = paced(300)
    for _ in range(100):
        pacer.take()
    headers = {"ratelimit-limit": "300", "ratelimit-remaining": "0", "ratelimit-reset": "7"}
    pacer.observe(200, headers, clock.now)  # 300 spent, 100 of them ours
    assert waited(pacer, clock) == pytest.approx(7)


def test_a_server_limit_below_ours_filled_by_our_own_requests_makes_the_window_wait() -> None:
    pacer, clock = paced(300)
    for _ in range(20):
        pacer.take()
    headers = {"ratelimit-limit": "20", "ratelimit-remaining": "0", "ratelimit-reset": "56"}
    pacer.observe(200, headers, clock.now)  # our own 20 fill the server's 20
    assert waited(pacer, clock) == pytest.approx(56)  # not the 21st request, refused


def test_a_server_limit_below_ours_spaces_the_slots_over_its_window() -> None:
    pacer, clock = paced(300)
    pacer.take()
    headers = {"ratelimit-limit": "20", "ratelimit-remaining": "19", "ratelimit-reset": "57"}
    pacer.observe(200, headers, clock.now)
    assert waited(pacer, clock) == pytest.approx(3.0)  # 19 requests left for 57 s


def test_idle_time_is_not_banked_as_a_burst() -> None:
    pacer, clock = paced(60)
    pacer.take()
    clock.now += 100
    assert waited(pacer, clock) == 0
    assert waited(pacer, clock) >= pacer.interval - _LATE - 1e-9


def test_a_429_holds_every_slot_until_retry_after() -> None:
    pacer, clock = paced(6000)
    pacer.observe(429, {"retry-after": "7"})
    assert waited(pacer, clock) == pytest.approx(7)


def test_a_429_holds_every_slot_for_the_wait_its_body_asks_for() -> None:
    pacer, clock = paced(6000)
    pacer.observe(429, {"ratelimit-reset": "30"}, body={"retry_after": 7})
    assert waited(pacer, clock) == pytest.approx(7)


def test_an_exhausted_window_waits_for_its_reset() -> None:
    pacer, clock = paced(6000)
    pacer.observe(200, {"ratelimit-remaining": "0", "ratelimit-reset": "12"})
    assert waited(pacer, clock) == pytest.approx(12)


def test_epoch_reset_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    import producersync.client._retry as retry

    monkeypatch.setattr(retry.time, "time", lambda: 1_800_000_000.0)
    pacer, clock = paced(6000)
    pacer.observe(200, {"ratelimit-remaining": "1", "ratelimit-reset": "1800000009"})
    assert waited(pacer, clock) == pytest.approx(9)


def test_a_shared_credential_tightens_the_pace() -> None:
    pacer, clock = paced(300)
    pacer.take()
    pacer.observe(200, {"ratelimit-remaining": "10", "ratelimit-reset": "50"})
    assert waited(pacer, clock) == pytest.approx(5.0)  # 10 requests left for 50 s


def test_plenty_of_headroom_does_not_speed_up_past_the_base_pace() -> None:
    pacer, clock = paced(300)
    pacer.take()
    pacer.observe(200, {"ratelimit-remaining": "299", "ratelimit-reset": "1"})
    assert waited(pacer, clock) == pytest.approx(pacer.interval)


def test_an_absurd_retry_after_is_not_taken_at_its_word() -> None:
    pacer, clock = paced(6000)
    pacer.observe(429, {"retry-after": "86400"})
    assert waited(pacer, clock) == pytest.approx(3600)


def queued(kind: str, pacer: Pacer, priorities: list[float], stagger: float) -> list[int]:
    """Callers of ``kind`` taking a slot each, at ``priorities``: their order."""
    if kind == "threads":
        return threads(lambda i: pacer.take(priorities[i]), len(priorities), stagger)
    return tasks(lambda i: pacer.atake(priorities[i]), len(priorities), stagger)


CALLERS = pytest.mark.parametrize("kind", ["threads", "tasks"])
PRIORITIES = [1.0, 5.0, 3.0, 5.0, 0.0]
# The highest first, and of the two at 5 the first to ask: arrival order breaks ties.
BY_PRIORITY = [1, 3, 2, 0, 4]


@CALLERS
def test_queued_callers_take_evenly_spaced_slots(kind: str) -> None:
    pacer = Pacer(600)
    queued(kind, pacer, [0.0] * 20, 0.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(pacer._sent)]
    # 20 slots at 0.1 s: none doubled up, and late wake-ups do not stretch the schedule.
    assert len(pacer._sent) == 20
    assert min(gaps) >= 0.1 - 0.06
    assert pacer._sent[-1] - pacer._sent[0] == pytest.approx(1.9, abs=0.3)


@CALLERS
def test_the_highest_priority_waiting_goes_first(kind: str) -> None:
    pacer = Pacer(600)
    pacer.observe(429, {"retry-after": "0.5"})  # everyone queues behind the hold
    assert queued(kind, pacer, PRIORITIES, 0.02) == BY_PRIORITY


@CALLERS
def test_a_call_s_priority_orders_it_among_the_calls_waiting(kind: str) -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))

    def path(index: int) -> str:
        return f"/v1/calls/{index}"

    if kind == "threads":
        with fake.client(rate_limit=600) as client:
            client.pacer.observe(429, {"retry-after": "0.5"})
            threads(
                lambda i: client.request("GET", path(i), priority=PRIORITIES[i]),
                len(PRIORITIES),
                0.02,
            )
    else:
        async_client = fake.async_client(rate_limit=600)
        async_client.pacer.observe(429, {"retry-after": "0.5"})
        tasks(
            lambda i: async_client.request("GET", path(i), priority=PRIORITIES[i]),
            len(PRIORITIES),
            0.02,
        )
    assert [request.url.path for request in fake.api_requests] == list(map(path, BY_PRIORITY))


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


def test_a_cancelled_waiter_leaves_the_queue_at_once_and_only_it() -> None:
    pacer = Pacer(1)  # a slot a minute
    pacer.take()
    stop, other = Cancellation(), Cancellation()
    outcomes: dict[str, BaseException | float] = {}

    def take(name: str, priority: float, cancel: Cancellation) -> None:
        try:
            outcomes[name] = pacer.take(priority, cancel)
        except BaseException as exc:
            outcomes[name] = exc

    first = threading.Thread(target=take, args=("first", 9, stop))
    second = threading.Thread(target=take, args=("second", 0, other))
    first.start()
    eventually(lambda: len(pacer._waiting) == 1)
    second.start()
    eventually(lambda: len(pacer._waiting) == 2)
    stop.cancel()
    first.join(timeout=10)  # not the minute to its slot
    assert not first.is_alive()
    assert isinstance(outcomes["first"], CallCancelledError)
    # The other waits on, first in line now, for its slot.
    assert second.is_alive() and len(pacer._waiting) == 1
    other.cancel()
    second.join(timeout=10)
    assert isinstance(outcomes["second"], CallCancelledError)
    assert not pacer._waiting and len(pacer._sent) == 1


def test_a_call_cancelled_before_it_asks_takes_no_slot_even_one_due() -> None:
    pacer = Pacer(600)
    stop = Cancellation()
    stop.cancel()
    with pytest.raises(CallCancelledError):
        pacer.take(cancel=stop)
    assert not pacer._waiting and not pacer._sent
    pacer.take()  # the slot is still there


def test_a_task_that_gives_up_leaves_the_queue() -> None:
    pacer = Pacer(600)
    pacer.observe(429, {"retry-after": "0.3"})

    async def main() -> float:
        with anyio.move_on_after(0.05):
            await pacer.atake(9)
        started = time.monotonic()
        with anyio.fail_after(2):
            await pacer.atake()  # not stuck behind the ticket of the one that left
        return time.monotonic() - started

    assert anyio.run(main) < 0.5


def test_the_log_of_our_slots_keeps_two_minutes_not_the_whole_limit() -> None:
    pacer, clock = paced(1_000_000)  # a limit lifted
    for _ in range(10_000):
        clock.now += 0.1  # 600 requests a minute
        pacer.take()
    assert len(pacer._sent) <= 2 * 600 + 1
