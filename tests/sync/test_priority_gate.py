"""The mirror's one SQLite writer served by priority (``mirror.write_transaction``)."""

from __future__ import annotations

import threading
from pathlib import Path

from producersync.sync import mirror
from producersync.sync.mirror.engine import _writer_gate
from tests.support.waiting import eventually


def test_the_writer_of_highest_priority_goes_next_first_come_among_equals(
    tmp_path: Path,
) -> None:
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with mirror.write_transaction(engine):
            holding.set()
            release.wait(30)

    def writer(name: str, priority: float | None) -> None:
        # A page gives the pages its stream has left; any other writer, none.
        with mirror.write_transaction(engine, *([] if priority is None else [priority])):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    holding.wait(30)
    queued = [("a page, 3 left", 3), ("a receipt", None), ("a page, 40 left", 40)]
    queued += [("another page, 40 left", 40), ("a heartbeat", None)]
    for count, (name, priority) in enumerate(queued, 1):
        threads.append(threading.Thread(target=writer, args=(name, priority)))
        threads[-1].start()
        eventually(lambda count=count: len(_writer_gate(engine)._waiting) == count)  # type: ignore[misc]
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    engine.dispose()
    assert order == [
        "a receipt",
        "a heartbeat",
        "a page, 40 left",
        "another page, 40 left",
        "a page, 3 left",
    ]
