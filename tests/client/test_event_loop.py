"""An ``AsyncClient`` belongs to the event loop of its first call: one from another loop
(a second ``asyncio.run()``, a test framework's loop per test) is refused at once, saying
so, where it failed on the first loop's pooled connections as asyncio's bare error."""

from __future__ import annotations

import asyncio

import pytest

from producersync.client import AsyncClient
from tests.support.service import RunningService

OTHER_LOOP = "belongs to the event loop of its first call"


def test_a_call_from_a_second_event_loop_is_refused_saying_why(service: RunningService) -> None:
    creds = service.account()
    client = AsyncClient(
        creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace()
    )
    copy = client.with_options(max_retries=0)

    async def read(on: AsyncClient) -> int | None:
        return (await on.subscriptions.page(0)).total_elements

    assert asyncio.run(read(client)) == 0  # a pooled connection now belongs to that loop
    for on in (client, copy):
        with pytest.raises(RuntimeError, match=OTHER_LOOP):
            asyncio.run(read(on))


def test_a_client_made_and_used_in_one_loop_serves_every_call_of_it(
    service: RunningService,
) -> None:
    creds = service.account()

    async def main() -> list[int | None]:
        async with AsyncClient(
            creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace()
        ) as client:
            pages = await asyncio.gather(*(client.subscriptions.page(0) for _ in range(5)))
            return [page.total_elements for page in pages]

    assert asyncio.run(main()) == [0] * 5
    assert asyncio.run(main()) == [0] * 5  # a client per loop: the next loop makes its own
