"""A ``Client`` call given a ``Cancellation``: cancelled from another thread, it gives up
its waits (for its slot, to retry) and sends nothing more."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from producersync.client import CallCancelledError, Cancellation, Client, ServerError
from tests.client.fake import JOB, FakeAPI, error, job_status, json_response
from tests.support.waiting import eventually


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException | Any]]:
    """``work()`` in a thread: the thread, and its outcome (its result or its error)."""
    outcome: list[BaseException | Any] = []

    def call() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, outcome


def _cancelled_during(
    cancel: Cancellation, waiting: Callable[[], bool], work: Callable[[], Any]
) -> BaseException | Any:
    """``work()`` in a thread, ``cancel`` cancelled once ``waiting()`` holds: its outcome,
    come at once, not after the wait it was in (a minute to a slot, 100 s to retry)."""
    thread, outcome = _in_thread(work)
    eventually(waiting)
    cancel.cancel()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return outcome[0]


# A call waiting for its slot: given its cancellation itself, or on a copy of the client
# that holds one (only ``request()`` took a ``cancel=``: a resource's list waited out its
# slots).
UNDER: dict[str, Callable[[Client, Cancellation], Any]] = {
    "request": lambda client, cancel: client.request("GET", "/v2/licenses", cancel=cancel),
    "a copy's list": lambda client, cancel: list(
        client.with_options(cancel=cancel).licenses.list(npns=["15645555"])
    ),
}


@pytest.mark.parametrize("under", list(UNDER))
def test_a_cancelled_call_gives_up_its_wait_for_a_slot_and_sends_nothing(under: str) -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake.client(rate_limit=1) as client:  # a slot a minute
        client.request("GET", "/v2/licenses")
        cancel = Cancellation()
        outcome = _cancelled_during(
            cancel, lambda: bool(client.pacer._waiting), lambda: UNDER[under](client, cancel)
        )
    assert isinstance(outcome, CallCancelledError)
    assert len(fake.api_requests) == 1


def test_a_cancelled_call_gives_up_its_wait_to_retry() -> None:
    def unavailable(request: httpx2.Request) -> httpx2.Response:
        return error(503, headers={"retry-after": "100"})  # under the cap: waited out

    fake = FakeAPI(unavailable)
    with fake.client() as client:
        cancel = Cancellation()
        outcome = _cancelled_during(
            cancel, lambda: len(fake.api_requests) == 1, lambda: UNDER["request"](client, cancel)
        )
    assert isinstance(outcome, CallCancelledError)
    assert isinstance(outcome.__context__, ServerError)  # what it would have retried
    assert len(fake.api_requests) == 1


def test_a_call_under_a_cancellation_not_cancelled_goes_as_any_other() -> None:
    fake = FakeAPI(lambda request: json_response(200, {"ok": True}))
    with fake.client() as client:
        assert client.request("GET", "/v2/licenses", cancel=Cancellation()) == {"ok": True}


def test_a_copy_with_a_cancellation_ends_a_job_wait_between_its_polls() -> None:
    fake = FakeAPI(lambda request: job_status("IN_PROGRESS"))
    with fake.client() as client:
        stop = Cancellation()
        stoppable = client.with_options(cancel=stop)
        outcome = _cancelled_during(  # not the 100 s to its next poll
            stop,
            lambda: len(fake.api_requests) == 1,
            lambda: stoppable.subscriptions.wait(JOB, timeout=600, poll_interval=100),
        )
    assert isinstance(outcome, CallCancelledError)
    assert "for a job's next poll" in str(outcome)
    assert len(fake.api_requests) == 1


def test_a_copy_s_cancellation_is_one_or_none() -> None:
    fake = FakeAPI(lambda request: json_response(200, {"ok": True}))
    with fake.client() as client:
        with pytest.raises(TypeError, match=r"cancel takes a producersync\.client\.Cancellation"):
            client.with_options(cancel=threading.Event())  # type: ignore[arg-type]
        stop = Cancellation()
        stop.cancel()
        resumed = client.with_options(cancel=stop).with_options(cancel=None)
        assert resumed.request("GET", "/v2/licenses") == {"ok": True}
