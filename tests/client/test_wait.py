"""A job wait's error says which job and what it last read."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import WaitTimeoutError
from tests.client.fake import JOB, FakeAPI, job_status

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


def _statuses(*answers: Callable[[], httpx2.Response]) -> FakeAPI:
    """A job whose polls are answered in this order, QUEUED after."""
    polls = iter(answers)
    return FakeAPI(lambda request: next(polls, lambda: job_status("QUEUED"))())


def _waited(kind: str, fake: FakeAPI, **options: Any) -> Any:
    if kind == "sync":
        with fake.client() as client:
            return client.subscriptions.wait(JOB, **options)

    async def main() -> Any:
        async with fake.async_client() as client:
            return await client.subscriptions.wait(JOB, **options)

    return anyio.run(main)


@KINDS
def test_a_wait_s_error_carries_the_job_its_last_status_and_its_timeout(kind: str) -> None:
    """They were in its message alone."""
    with pytest.raises(WaitTimeoutError) as raised:
        _waited(kind, _statuses(), timeout=0.2, poll_interval=0.01)
    exc = raised.value
    assert exc.last_status is not None
    assert (exc.job_id, exc.last_status.id, exc.last_status.status) == (JOB, JOB, "QUEUED")
    assert exc.timeout == 0.2
    assert str(exc) == f"job {JOB} still QUEUED after 0.2 s"
    again = pickle.loads(pickle.dumps(exc))  # as a durable workflow records a step's error
    assert (type(again), str(again)) == (WaitTimeoutError, str(exc))
    assert (again.job_id, again.last_status, again.timeout) == (JOB, exc.last_status, 0.2)
