"""``Client``s in a process forked from the one that made them: Celery's prefork pool,
gunicorn's ``--preload``, multiprocessing's ``fork``.

A forked process gets a copy of its parent's memory, and with it each client's pooled
connections: their sockets are the parent's, shared by every child. Two children that
each sent a request on one read each other's answers (measured: a child asking for one
NPN's entity got another child's NPN's, another a body cut mid-JSON). It gets the
pacer's queue too, holding the tickets of parent threads that do not run in it, and
any lock one of them held: its first call waited behind them for good.

So in a forked child each client, its copies with it, gets a new connection pool, its
pacer an empty queue, and its token cache free locks (the token is kept); each
``Cancellation``, a ``Client``'s close signal among them, a free lock and none of the
parent's threads' wakers (``_cancel``).
"""

from __future__ import annotations

import os
import weakref
from functools import cache
from typing import Protocol

__all__ = ["Forkable", "renewed_in_forks"]


class Forkable(Protocol):
    def _renew_after_fork(self) -> None: ...


_RENEWED: weakref.WeakSet[Forkable] = weakref.WeakSet()


def renewed_in_forks(held: Forkable) -> None:
    """Have ``held`` renewed in every process forked from this one from now on."""
    _watch()
    _RENEWED.add(held)


@cache
def _watch() -> None:
    os.register_at_fork(after_in_child=_renew)


def _renew() -> None:
    for held in list(_RENEWED):
        held._renew_after_fork()
