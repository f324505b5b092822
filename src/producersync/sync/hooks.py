"""Python hooks: downstream code called with each committed batch of changes.

A distribution registers a callable in the entry-point group ``producersync.sync.hooks``::

    [project.entry-points."producersync.sync.hooks"]
    crm = "acme.crm:on_mirror_changes"

Each page the sync upserts is one batch, as is a purge of deactivated NPNs: once its
transaction commits, every hook gets the batch's changes (``list[Change]``, the
change-feed rows just written), in registration order. A hook that fails to load or
raises is logged and skipped; it never breaks the sync, whose data is already committed.
Delivery is at most once (a crash between the commit and the call skips the call): a
hook that must see everything keeps the id of the last change it handled and reads the
feed after it (``mirror.changes_since(..., after=)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Final

from producersync.sync.mirror import Change

__all__ = ["GROUP", "Hook", "Hooks"]

GROUP: Final = "producersync.sync.hooks"
Hook = Callable[[list[Change]], object]

_log = logging.getLogger(__name__)


class Hooks:
    """The hooks of one process; calling it runs each on a batch, errors logged."""

    def __init__(self, hooks: Sequence[tuple[str, Hook]] = ()) -> None:
        self._hooks = list(hooks)

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

    def __call__(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        for name, hook in self._hooks:
            try:
                hook(list(changes))  # a copy each: one hook cannot edit another's batch
            except Exception:
                _log.exception("sync hook %r failed on a batch of %d changes", name, len(changes))
