"""A ``Client`` in a process forked from the one that made it (Celery's prefork pool,
gunicorn's ``--preload``): each child reads its own answers on connections of its own,
and is not queued behind the parent's threads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from producersync.client import Client
from tests.client.fake import FakeAPI, json_response
from tests.support.service import RunningService
from tests.support.waiting import eventually


def in_children(count: int, work: Callable[[int], bool]) -> list[int]:
    """``work(i)`` in ``count`` forked children, started together; their exit codes: 0
    when it returned true, 1 when false, 2 when it raised."""
    start_read, start_write = os.pipe()
    children = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's
            code = 2
            try:
                os.close(start_write)
                os.read(start_read, 1)  # until the parent has made every child
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
