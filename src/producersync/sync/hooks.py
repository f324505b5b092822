"""Python hooks: downstream code called with each committed batch of changes.

A distribution registers a callable in the entry-point group ``producersync.sync.hooks``::

    [project.entry-points."producersync.sync.hooks"]
    crm = "acme.crm:on_mirror_changes"

Each page the sync upserts is one batch, as is a purge of deactivated NPNs: once its
transaction commits, every hook gets the batch's changes (``list[Change]``, the
change-feed rows just written), in registration order. The batches come one at a time,
from one thread, in the order of their change ids (commit order), however many pages
are written side by side (``in_order``); a writer does not wait for the hooks, unless
they are ``_BACKLOG`` batches behind. A hook that fails to load or raises is logged and
skipped; it never breaks the sync, whose data is already committed. Delivery is at most
once (a process that ends between a commit and its call never makes it; ``close`` logs
what it left): a hook that must see everything keeps the id of the last change it
handled and reads the feed after it (``mirror.changes_since(..., after=)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Final

from producersync.sync.in_order import InOrder
from producersync.sync.mirror import Change

__all__ = ["GROUP", "Batch", "Hook", "Hooks"]

GROUP: Final = "producersync.sync.hooks"
Hook = Callable[[list[Change]], object]

# Batches committed and not yet handed to every hook, at most, before a writer waits:
# enough that a hook runs beside the next pages' writes, few enough that a hook slower
# than the sync holds it back rather than a backfill's changes in memory.
_BACKLOG: Final = 16
# How long ``close`` delivers what was committed before the process ends.
_DRAIN_SECONDS: Final = 10.0

_log = logging.getLogger(__name__)


class Batch:
    """A write transaction's changes on their way to the hooks (``Hooks.batch``)."""

    def __init__(self, order: InOrder[list[Change]] | None) -> None:
        self._order = order
        self._place: int | None = None
        self._changes: list[Change] = []

    @property
    def wanted(self) -> bool:
        """Whether any hook listens (else the changes need not be read back)."""
        return self._order is not None

    def hold(self, changes: Sequence[Change]) -> None:
        """The transaction's changes, kept for the hooks until it commits. Call it once,
        last in the transaction, after its last change is appended: the writer holds
        the feed's order then (``mirror.feed``), so the batch takes its place in the
        order of the commits."""
        if self._place is not None:
            raise RuntimeError("a batch holds the changes of one transaction, once")
        if self._order is not None and changes:
            self._changes = list(changes)
            self._place = self._order.take()

    def _committed(self) -> None:
        if self._order is None or self._place is None:
            return
        if not self._order.hand_over(self._place, self._changes):
            _log.warning("sync hooks closed: %s", _not_delivered([self._changes]))

    def _rolled_back(self) -> None:
        if self._order is not None and self._place is not None:
            self._order.give_up(self._place)


class Hooks:
    """The hooks of one process, and the thread that calls them with each batch."""

    def __init__(self, hooks: Sequence[tuple[str, Hook]] = ()) -> None:
        self._hooks = list(hooks)
        self._order = (
            InOrder(self._call, backlog=_BACKLOG, name="sync-hooks") if self._hooks else None
        )

    @classmethod
    def from_entry_points(cls) -> Hooks:
        loaded: list[tuple[str, Hook]] = []
        for point in entry_points(group=GROUP):
            try:
                loaded.append((point.name, point.load()))
            except Exception:
                _log.exception("sync hook %r (%s) could not be loaded", point.name, point.value)
        return cls(loaded)

    def __bool__(self) -> bool:
        """Whether any hook is registered (a batch's changes have somewhere to go)."""
        return bool(self._hooks)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Around a write transaction, which ``hold``s its changes: once it has
        committed (the block ends without an error) they go to the hooks, after every
        batch committed before them. First waits while the hooks are behind."""
        if self._order is not None:
            self._order.room()
        batch = Batch(self._order)
        try:
            yield batch
        except BaseException:
            batch._rolled_back()
            raise
        batch._committed()

    def close(self, timeout: float = _DRAIN_SECONDS) -> None:
        """Deliver the batches committed, for at most ``timeout`` seconds, before the
        process ends; log what was not."""
        if self._order is None:
            return
        left = self._order.close(timeout)
        if left.batches or left.open_places:
            still_open = _many(left.open_places, "write")
            open_writes = f"; {still_open} still open" if left.open_places else ""
            _log.warning(
                "sync hooks stopped after %.0f s: %s%s",
                timeout,
                _not_delivered(left.batches),
                open_writes,
            )

    def _call(self, changes: list[Change]) -> None:
        for name, hook in self._hooks:
            try:
                hook(list(changes))  # a copy each: one hook cannot edit another's batch
            # BaseException too: a hook's sys.exit() (SystemExit) ended the thread that
            # delivers every batch, and once 16 were waiting the sync stopped for good.
            except BaseException:
                _log.exception("sync hook %r failed on a batch of %d changes", name, len(changes))


def _not_delivered(batches: Sequence[list[Change]]) -> str:
    """What a log line says of ``batches`` left undelivered: where to read them again."""
    if not batches:
        return "every batch committed was delivered"
    ids = [change.id for changes in batches for change in changes]
    return (
        f"{_many(len(batches), 'batch', 'es')} committed ({_many(len(ids), 'change')}, ids "
        f"{min(ids)} to {max(ids)}) not delivered to every hook: they are in the change feed "
        f"after id {min(ids) - 1} (`producersync sync changes --since 0001-01-01 --after "
        f"{min(ids) - 1}`)"
    )


def _many(count: int, noun: str, plural: str = "s") -> str:
    return f"{count} {noun}{plural if count != 1 else ''}"
