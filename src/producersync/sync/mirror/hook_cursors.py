"""Each Python hook's cursor in the change feed (``sync.hooks``), and the lease of the
process delivering to it.

A process claims a hook's lease, reads the cursor, calls the hook with the changes after
it, and moves the cursor on (the lease renewed) only once the hook has returned; then
it lets the lease go. Another process finds the lease held and leaves the hook to it: a
hook is never called by two processes at once. A process that dies holding a lease
holds it until it runs out (by the mirror's clock, as a run's: ``runs.mirror_now``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Final

import sqlalchemy as sa

from producersync.sync.mirror.engine import dialect_insert
from producersync.sync.mirror.runs import iso_text, mirror_now
from producersync.sync.mirror.tables import changes, hook_cursors

__all__ = [
    "ERROR_CHARS",
    "advance_hook",
    "claim_hook",
    "hook_lags",
    "hooks_behind",
    "register_hooks",
    "release_hook",
]

ERROR_CHARS: Final = 200  # of a failed call's line kept for ``sync status``


def register_hooks(conn: sa.Connection, names: Iterable[tuple[str, bool]]) -> None:
    """A cursor for each hook ``(name, from_beginning)`` that has none: at the feed's
    end (its first change is the next committed), or before its first change."""
    last = conn.execute(sa.select(sa.func.max(changes.c.id))).scalar_one() or 0
    now = mirror_now(conn)
    rows = [
        {"name": name, "after": 0 if from_beginning else last, "updated_at": now}
        for name, from_beginning in names
    ]
    if rows:
        conn.execute(dialect_insert(conn, hook_cursors).on_conflict_do_nothing(), rows)


def claim_hook(conn: sa.Connection, name: str, holder: str, lease: dt.timedelta) -> int | None:
    """Hold hook ``name`` for ``lease`` (again, if ``holder`` holds it); its cursor, or
    None if another process holds it (or it has no cursor)."""
    now = mirror_now(conn)
    claim = (
        sa.update(hook_cursors)
        .where(
            hook_cursors.c.name == name,
            sa.or_(
                hook_cursors.c.holder.is_(None),
                hook_cursors.c.holder == holder,
                hook_cursors.c.lease_until < now,
            ),
        )
        .values(holder=holder, lease_until=now + lease)
        .returning(hook_cursors.c.after)
    )
    after = conn.execute(claim).scalar_one_or_none()
    return None if after is None else int(after)


def advance_hook(
    conn: sa.Connection, name: str, holder: str, after: int, lease: dt.timedelta | None
) -> bool:
    """Hook ``name`` has handled the changes up to ``after``: its cursor moves there, and
    ``holder`` holds it ``lease`` more (None: lets it go). False if ``holder`` no longer
    held it (its lease ran out and another process took it): the cursor stays."""
    now = mirror_now(conn)
    advanced = conn.execute(
        sa.update(hook_cursors)
        .where(hook_cursors.c.name == name, hook_cursors.c.holder == holder)
        .values(
            after=sa.func.max(hook_cursors.c.after, after)
            if conn.dialect.name == "sqlite"
            else sa.func.greatest(hook_cursors.c.after, after),
            updated_at=now,
            lease_until=None if lease is None else now + lease,
            holder=None if lease is None else holder,
            failures=0,
            failing_since=None,
            last_error=None,
        )
    )
    return advanced.rowcount == 1


def release_hook(conn: sa.Connection, name: str, holder: str, error: str | None = None) -> None:
    """Let hook ``name`` go, if ``holder`` holds it; its cursor stays. ``error``: its
    call failed so (one line), counted and kept until a call succeeds (``advance_hook``)."""
    failed: dict[str, Any] = {}
    if error is not None:
        failed = {
            "failures": hook_cursors.c.failures + 1,
            "failing_since": sa.func.coalesce(hook_cursors.c.failing_since, mirror_now(conn)),
            "last_error": error[:ERROR_CHARS],
        }
    conn.execute(
        sa.update(hook_cursors)
        .where(hook_cursors.c.name == name, hook_cursors.c.holder == holder)
        .values(holder=None, lease_until=None, **failed)
    )


def hooks_behind(conn: sa.Connection) -> set[str]:
    """The hooks with changes committed after their cursors: one look at the feed's last
    id (``hook_lags`` counts the changes, a walk of them)."""
    last = sa.select(sa.func.max(changes.c.id)).scalar_subquery()
    return set(
        conn.execute(sa.select(hook_cursors.c.name).where(hook_cursors.c.after < last)).scalars()
    )


def hook_lags(conn: sa.Connection) -> list[dict[str, Any]]:
    """Each hook's cursor, the changes committed after it (not handled yet), its failed
    calls in a row (since when, the last one's line) and the process calling it (until
    when), by name."""
    behind = (
        sa.select(sa.func.count())
        .where(changes.c.id > hook_cursors.c.after)
        .correlate(hook_cursors)
        .scalar_subquery()
    )
    c = hook_cursors.c
    rows = conn.execute(
        sa.select(
            c.name,
            c.after,
            c.updated_at,
            behind,
            c.failures,
            c.failing_since,
            c.last_error,
            c.holder,
            c.lease_until,
        ).order_by(c.name)
    )
    return [
        {
            "name": row.name,
            "lastChangeId": int(row.after),
            "behind": int(row[3]),
            "movedAt": iso_text(row.updated_at),
            "failures": int(row.failures),
            "failingSince": iso_text(row.failing_since),
            "lastError": row.last_error,
            "holder": row.holder,
            "leaseUntil": iso_text(row.lease_until),
        }
        for row in rows
    ]
