"""A ``Client`` call given a ``Cancellation``: cancelled from another thread, it gives up
its waits (for its slot, to retry) and sends nothing more."""

from __future__ import annotations

import threading
from typing import Any

import httpx2

from producersync.client import CallCancelledError, Cancellation, Client, ServerError
from tests.client.fake import FakeAPI, error, json_response
from tests.support.waiting import eventually


def _call_in_thread(
    client: Client, cancel: Cancellation
) -> tuple[threading.Thread, list[BaseException | Any]]:
    """``GET /v2/licenses`` under ``cancel``, in a thread: the thread, and its outcome."""
    outcome: list[BaseException | Any] = []

    def call() -> None:
        try:
            outcome.append(client.request("GET", "/v2/licenses", cancel=cancel))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, outcome


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
