"""A ``Client`` in a process forked from the one that made it (Celery's prefork pool,
gunicorn's ``--preload``): each child reads its own answers on connections of its own,
and is not queued behind the parent's threads nor stuck on a lock one of them held. An
``AsyncClient`` used in the parent refuses a child's event loop at once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx2
import pytest

from producersync.client import (
    AsyncClient,
    CallCancelledError,
    Cancellation,
    Client,
    ClientClosedError,
)
from tests.client.fake import FakeAPI, error, json_response
from tests.support.service import RunningService
from tests.support.waiting import eventually


def in_children(count: int, work: Callable[[int], bool]) -> list[int]:
    """``work(i)`` in ``count`` forked children, started together; their exit codes: 0
    when it returned true, 1 when false, 2 when it raised, -SIGALRM when it was stuck
    (a minute: a child waiting for good would hold up the test run)."""
    start_read, start_write = os.pipe()
    children = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's
            code = 2
            try:
                os.close(start_write)
                os.read(start_read, 1)  # until the parent has made every child
                signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's
                signal.alarm(60)
                code = 0 if work(index) else 1
            finally:
                os._exit(code)
        children.append(pid)
    os.close(start_read)
    os.close(start_write)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]


def test_children_forked_after_a_call_each_read_their_own_answers(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    npns = universe_npns[:4]
    service.subscribe(creds, npns)
    with Client(
        creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace()
    ) as client:
        copy = client.with_options(max_retries=0)
        assert client.entities.get(npns[0]).npn == npns[0]  # a connection left in the pool

        def read(index: int) -> bool:
            on = copy if index % 2 else client
            return all(on.entities.get(npns[index]).npn == npns[index] for _ in range(20))

        # Sharing the parent's socket, a child read another's entity, or a body cut short.
        assert in_children(4, read) == [0, 0, 0, 0]
        assert client.entities.get(npns[1]).npn == npns[1]  # the parent's pool goes on


def test_a_child_forked_while_a_thread_waits_its_slot_is_not_queued_behind_it() -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake.client(rate_limit=60) as client:  # a slot a second
        client.request("GET", "/v1/accounts/subscriptions")
        waiting = threading.Thread(target=client.request, args=("GET", "/v1/calls/next"))
        waiting.start()
        eventually(lambda: bool(client.pacer._waiting))

        def call(index: int) -> bool:
            # Behind the ticket of a thread that does not run here, it waited to its end.
            client.request("GET", "/v1/accounts/subscriptions", ends=time.monotonic() + 10)
            return True

        assert in_children(1, call) == [0]
        waiting.join()


@contextmanager
def held_by_a_thread(*locks: threading.Lock) -> Iterator[None]:
    """Within: another thread holds ``locks``, as one cancelling, or starting or ending
    a wait, holds a ``Cancellation``'s for that moment."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait()
        for lock in locks:
            lock.release()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_child_forked_while_a_thread_holds_a_cancellations_lock_pauses_and_closes() -> None:
    failed: list[bool] = []

    def flaky(request: httpx2.Request) -> httpx2.Response:
        if not failed:  # the child's first call: a retry, paused under both cancellations
            failed.append(True)
            return error(503, headers={"retry-after": "0"})
        return json_response(200, {})

    client = FakeAPI(flaky).client()
    cancel = Cancellation()

    def pause_and_close(index: int) -> bool:
        # Held for good here: the pause waited to register its waker, and close() too.
        assert client.request("GET", "/v2/licenses", cancel=cancel) == {}
        client.close()
        with pytest.raises(ClientClosedError):
            client.request("GET", "/v2/licenses")
        return True

    with held_by_a_thread(cancel._lock, client._closing._lock):
        assert in_children(1, pause_and_close) == [0]
    client.close()


def test_a_client_closed_and_a_call_cancelled_before_the_fork_stay_so_in_the_child() -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    closed, open_ = fake.client(), fake.client()
    closed.close()
    cancel = Cancellation()
    cancel.cancel()

    def refused(index: int) -> bool:
        with pytest.raises(ClientClosedError):
            closed.request("GET", "/v2/licenses")
        with pytest.raises(CallCancelledError):
            open_.request("GET", "/v2/licenses", cancel=cancel)
        return open_.request("GET", "/v2/licenses") == {}

    assert in_children(1, refused) == [0]
    open_.close()


def test_an_async_client_used_before_the_fork_refuses_a_childs_loop_at_once() -> None:
    fake = FakeAPI(lambda request: json_response(200, {"ok": True}))
    used, unused = fake.async_client(), fake.async_client()
    asyncio.run(used.request("GET", "/v2/licenses"))

    async def call(client: AsyncClient) -> object:
        return await client.request("GET", "/v2/licenses")

    def in_a_new_loop(index: int) -> bool:
        # Its connections and waits belong to a loop that does not run here.
        with pytest.raises(RuntimeError, match="forked process"):
            asyncio.run(call(used))
        return asyncio.run(call(unused)) == {"ok": True}  # nothing of it bound yet

    assert in_children(1, in_a_new_loop) == [0]
