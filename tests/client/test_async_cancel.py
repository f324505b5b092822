"""An ``AsyncClient`` call cancelled as a task is (a timeout around it, a task group
failing), wherever it is: waiting to retry after a 503, its request in flight, its
answer coming slowly. Nothing of it goes on, and no pooled connection stays busy with
it."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from producersync.client import AsyncClient
from tests.support.fault_proxy import FaultMix, fault_proxy
from tests.support.service import RunningService

pytestmark = pytest.mark.slow(5)

# Half the calls answered 503 (retried after a backoff), half two seconds late.
_MIX = FaultMix(server_error=50, rate_limited=0, reset=0, slow=50, slow_seconds=2.0)


@pytest.mark.parametrize("after", [0.3, 1.5])  # waiting to retry; a response on its way
def test_cancelled_calls_leave_no_task_and_no_busy_connection(
    service: RunningService, after: float
) -> None:
    creds = service.account()
    with fault_proxy(service.base_url, _MIX, seed=1) as proxy:

        async def main() -> None:
            async with AsyncClient(
                creds.client_id,
                creds.client_secret,
                base_url=proxy.url,
                token_url=f"{service.base_url}/oauth2/token",
                **service.pace(),
            ) as client:
                before = asyncio.all_tasks()
                with anyio.move_on_after(after):
                    async with anyio.create_task_group() as group:
                        for _ in range(25):  # more than the pool's 20 connections
                            group.start_soon(client.subscriptions.page, 0)
                assert asyncio.all_tasks() == before
                pool = client._http._transport._pool  # type: ignore[attr-defined]
                assert all(connection.is_idle() for connection in pool.connections)

        asyncio.run(main())
