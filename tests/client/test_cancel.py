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


def _call_in_thread(
    client: Client, cancel: Cancellation
) -> tuple[threading.Thread, list[BaseException | Any]]:
    """``GET /v2/licenses`` under ``cancel``, in a thread: the thread, and its outcome."""
    return _in_thread(lambda: client.request("GET", "/v2/licenses", cancel=cancel))


def test_a_cancelled_call_gives_up_its_wait_for_a_slot_and_sends_nothing() -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake.client(rate_limit=1) as client:  # a slot a minute
        client.request("GET", "/v2/licenses")
        cancel = Cancellation()
        thread, outcome = _call_in_thread(client, cancel)
        eventually(lambda: bool(client.pacer._waiting))
        cancel.cancel()
        thread.join(timeout=10)  # not the minute to its slot
        assert not thread.is_alive()
    assert isinstance(outcome[0], CallCancelledError)
    assert len(fake.api_requests) == 1


def test_a_cancelled_call_gives_up_its_wait_to_retry() -> None:
    def unavailable(request: httpx2.Request) -> httpx2.Response:
        return error(503, headers={"retry-after": "100"})  # under the cap: waited out

    fake = FakeAPI(unavailable)
    with fake.client() as client:
        cancel = Cancellation()
        thread, outcome = _call_in_thread(client, cancel)
        eventually(lambda: len(fake.api_requests) == 1)
        cancel.cancel()
        thread.join(timeout=10)  # not the 100 s
        assert not thread.is_alive()
    assert isinstance(outcome[0], CallCancelledError)
    assert isinstance(outcome[0].__context__, ServerError)  # what it would have retried
    assert len(fake.api_requests) == 1


def test_a_call_under_a_cancellation_not_cancelled_goes_as_any_other() -> None:
    fake = FakeAPI(lambda request: json_response(200, {"ok": True}))
    with fake.client() as client:
        assert client.request("GET", "/v2/licenses", cancel=Cancellation()) == {"ok": True}


def test_a_copy_with_a_cancellation_ends_its_list_s_wait_for_a_slot() -> None:
    """Only ``request()`` took a ``cancel=``: a resource's list waited out its slots."""
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake.client(rate_limit=1) as client:  # a slot a minute
        client.request("GET", "/v2/licenses")
        stop = Cancellation()
        stoppable = client.with_options(cancel=stop)
        thread, outcome = _in_thread(lambda: list(stoppable.licenses.list(npns=["15645555"])))
        eventually(lambda: bool(client.pacer._waiting))
        stop.cancel()
        thread.join(timeout=10)  # not the minute to its slot
        assert not thread.is_alive()
    assert isinstance(outcome[0], CallCancelledError)
    assert len(fake.api_requests) == 1


def test_a_copy_with_a_cancellation_ends_a_job_wait_between_its_polls() -> None:
    fake = FakeAPI(lambda request: job_status("IN_PROGRESS"))
    with fake.client() as client:
        stop = Cancellation()
        stoppable = client.with_options(cancel=stop)
        thread, outcome = _in_thread(
            lambda: stoppable.subscriptions.wait(JOB, timeout=600, poll_interval=100)
        )
        eventually(lambda: len(fake.api_requests) == 1)
        stop.cancel()
        thread.join(timeout=10)  # not the 100 s to its next poll
        assert not thread.is_alive()
    assert isinstance(outcome[0], CallCancelledError)
    assert "for a job's next poll" in str(outcome[0])
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
