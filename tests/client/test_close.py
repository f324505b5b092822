"""A closed client: its calls, its lists part-read and its copies fail at once, saying
so, without waiting for a pacing slot first."""

from __future__ import annotations

import threading
import time

import anyio
import httpx2
import pytest

from tests.client.fake import FakeAPI, json_response, license_row, page
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
    with pytest.raises(RuntimeError, match=CLOSED):
        client.request("GET", "/v2/licenses", ends=time.monotonic() + 5)
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
