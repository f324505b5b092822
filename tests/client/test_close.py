"""A closed client: its calls, its lists part-read and its copies fail at once, saying
so, without waiting for a pacing slot first; and the calls waiting when it closes (for a
slot, to retry, for a job's next poll) end at once the same way."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial

import anyio
import httpx2
import pytest

from producersync.client import ClientClosedError
from tests.client.fake import JOB, FakeAPI, error, job_status, json_response, license_row, page
from tests.support.waiting import eventually

CLOSED = "this ProducerSync client is closed"
CLOSED_MESSAGE = (
    "this ProducerSync client is closed (close() was called, or its with block ended): "
    "a closed client is not reopened, make a new one"
)


def two_pages(request: httpx2.Request) -> httpx2.Response:
    token = request.url.params.get("continuationToken")
    rows, following = ([license_row(1)], 2) if token is None else ([license_row(2)], None)
    return json_response(200, page("licenses", rows, following))


def test_a_call_on_a_closed_client_fails_at_once_not_after_its_slot() -> None:
    fake = FakeAPI(two_pages)
    client = fake.client()
    pages = client.licenses.list(page_size=1).pages()
    first = next(pages)
    client.close()
    # An hour's hold of the pacing (a 429's): a call that took its slot before looking
    # whether the client is open would wait it out, here until the call's end.
    client.pacer.observe(429, {"retry-after": "3600"})
    with pytest.raises(ClientClosedError, match=CLOSED) as raised:
        client.request("GET", "/v2/licenses", ends=time.monotonic() + 5)
    assert isinstance(raised.value, RuntimeError)  # as a closed client's call raised before
    with pytest.raises(RuntimeError, match=CLOSED):
        next(pages)  # a list part-read when its client closed
    with pytest.raises(RuntimeError, match=CLOSED):
        first.get_next_page()
    with pytest.raises(RuntimeError, match=CLOSED):
        client.with_options(max_retries=0).licenses.get(1)
    assert len(fake.api_requests) == 1


def test_a_closed_client_is_not_entered_again() -> None:
    client = FakeAPI(two_pages).client()
    with client:
        pass
    with pytest.raises(RuntimeError, match=CLOSED), client:
        pass


def test_a_call_on_a_closed_async_client_fails_at_once_not_after_its_slot() -> None:
    fake = FakeAPI(two_pages)

    async def main() -> None:
        client = fake.async_client()
        async with client:
            first = await anext(aiter(client.licenses.list(page_size=1).pages()))
        client.pacer.observe(429, {"retry-after": "3600"})
        with pytest.raises(RuntimeError, match=CLOSED):
            await client.request("GET", "/v2/licenses", ends=time.monotonic() + 5)
        with pytest.raises(RuntimeError, match=CLOSED):
            await first.get_next_page()
        with pytest.raises(RuntimeError, match=CLOSED):
            async with client:
                pass

    anyio.run(main)
    assert len(fake.api_requests) == 1


def test_closing_a_client_ends_the_waits_of_the_calls_queued_for_a_slot() -> None:
    """A worker's shutdown: its threads queued for slots (behind a 429's hold of an
    hour, here) waited them out, then failed on the closed pool."""
    fake = FakeAPI(two_pages)
    client = fake.client(rate_limit=60)
    client.request("GET", "/v2/licenses")
    client.pacer.observe(429, {"retry-after": "3600"})
    outcomes: list[BaseException] = []

    def call() -> None:
        try:
            client.request("GET", "/v2/licenses")
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    eventually(lambda: len(client.pacer._waiting) == 4)
    client.close()
    for thread in threads:
        thread.join(timeout=10)  # not the hour of the hold
        assert not thread.is_alive()
    assert [str(outcome) for outcome in outcomes] == [CLOSED_MESSAGE] * 4
    assert len(fake.api_requests) == 1


def test_closing_an_async_client_ends_the_waits_of_the_calls_queued_for_a_slot() -> None:
    fake = FakeAPI(two_pages)

    async def main() -> list[BaseException]:
        client = fake.async_client(rate_limit=60)
        await client.request("GET", "/v2/licenses")
        client.pacer.observe(429, {"retry-after": "3600"})
        outcomes: list[BaseException] = []

        async def call() -> None:
            try:
                await client.request("GET", "/v2/licenses")
            except RuntimeError as exc:
                outcomes.append(exc)

        with anyio.fail_after(10):  # not the hour of the hold
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(call)
                while len(client.pacer._waiting) < 4:
                    await anyio.sleep(0.01)
                await client.close()
        return outcomes

    assert [str(outcome) for outcome in anyio.run(main)] == [CLOSED_MESSAGE] * 4
    assert len(fake.api_requests) == 1


def _unavailable(request: httpx2.Request) -> httpx2.Response:
    return error(503, headers={"retry-after": "60"})  # under the cap: waited out


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("leave", ["close", "with"])
def test_closing_a_client_ends_a_call_pausing_to_retry(leave: str) -> None:
    """A 503 asking for a minute: the call slept it out after its client closed, then
    failed on the closed pool."""
    fake = FakeAPI(_unavailable)
    client = fake.client()
    thread, outcome = _in_thread(lambda: client.request("GET", "/v2/licenses"))
    eventually(lambda: len(fake.api_requests) == 1)
    if leave == "with":
        with client:
            pass
    else:
        client.close()
    thread.join(timeout=10)  # not the minute
    assert not thread.is_alive()
    assert [str(exc) for exc in outcome] == [CLOSED_MESSAGE]
    assert isinstance(outcome[0], ClientClosedError)
    assert len(fake.api_requests) == 1


def test_closing_a_client_ends_a_job_wait_between_its_polls() -> None:
    fake = FakeAPI(lambda request: job_status("IN_PROGRESS"))
    client = fake.client()
    thread, outcome = _in_thread(
        partial(client.subscriptions.wait, JOB, timeout=600, poll_interval=60)
    )
    eventually(lambda: len(fake.api_requests) == 1)
    client.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], ClientClosedError)
    assert len(fake.api_requests) == 1


def test_closing_an_async_client_ends_a_call_pausing_to_retry() -> None:
    fake = FakeAPI(_unavailable)

    async def main() -> BaseException:
        client = fake.async_client()
        with anyio.fail_after(10):  # not the minute
            async with anyio.create_task_group() as group:
                outcome: list[BaseException] = []

                async def call() -> None:
                    try:
                        await client.request("GET", "/v2/licenses")
                    except ClientClosedError as exc:
                        outcome.append(exc)

                group.start_soon(call)
                while not fake.api_requests:
                    await anyio.sleep(0.01)
                async with client:
                    pass
        return outcome[0]

    assert str(anyio.run(main)) == CLOSED_MESSAGE
    assert len(fake.api_requests) == 1


def test_closing_an_async_client_in_another_event_loop_is_refused_saying_why() -> None:
    """Closed in a second ``asyncio.run()`` once the first had ended, it failed as
    asyncio's bare "Event loop is closed" (pooled connections), or closed nothing."""
    fake = FakeAPI(two_pages)
    client = fake.async_client()
    asyncio.run(client.request("GET", "/v2/licenses"))
    with pytest.raises(RuntimeError, match="its close\\(\\) is awaited in another"):
        asyncio.run(client.close())
    assert not client._http.is_closed  # nothing closed: it says so
    asyncio.run(client.with_options(max_retries=0).close())  # a copy closes nothing


def test_an_async_client_never_used_closes_in_any_event_loop() -> None:
    client = FakeAPI(two_pages).async_client()
    asyncio.run(client.close())
    assert client._http.is_closed
