"""The monitored population: which NPNs are active, with their history.

Activation and deactivation events can arrive out of order (retries, redeliveries), so
each change carries its time ``at`` and loses to a later change already recorded: a
deactivation at 10:00 delivered after an activation at 10:05 leaves the NPN active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from producersync.sync.mirror.driver import converters, write_rows
from producersync.sync.mirror.feed import Change
from producersync.sync.mirror.records import chunks, purge_npns
from producersync.sync.mirror.tables import OWED, fetched, population, sync_runs
from producersync.timestamps import as_utc

__all__ = [
    "activate_listed",
    "activate_npns",
    "activation_fetched",
    "active_npns",
    "any_active",
    "count_active",
    "deactivate_npns",
    "fetched_since_activation",
    "mark_activations_fetched",
    "mark_fetched",
    "owed_fetch",
    "owed_fetches",
    "purge_inactive",
    "settle_owed",
]


At = dt.datetime | Mapping[str, dt.datetime]
"""One time for every NPN, or each NPN's own: a batch of events is one set of statements
whatever its times."""


def activate_npns(conn: sa.Connection, npns: Sequence[str], at: At) -> list[str]:
    """Mark ``npns`` active from ``at``; the ones that were not active before. An active
    NPN takes a later activation's time too: it was deactivated and subscribed again in
    between, and the deactivation, delivered after, must lose to it (and the records of
    the new activation are owed)."""
    return _activate(conn, npns, at, settle=True)


def _activate(conn: sa.Connection, npns: Sequence[str], at: At, *, settle: bool) -> list[str]:
    """``activate_npns``; ``settle``: the flag of an activation a finished pass covered
    cleared (else left on)."""
    times, current = _current(conn, npns, at)
    newly = [
        npn
        for npn, when in times.items()
        if npn not in current
        or (not current[npn].active and _not_later(current[npn].deactivated_at, when))
    ]
    later = [
        npn
        for npn, when in times.items()
        if npn in current and current[npn].active and _earlier(current[npn].activated_at, when)
    ]
    written = {npn: times[npn] for npn in [*newly, *later]}
    # A pass that listed it subscribed from then may have fetched it already. Only an NPN
    # the population holds can have been (a pass activates what it fetches; else its
    # flag stays on, which costs a look until a run's finish settles it): a storm's
    # NPNs never seen are looked up nowhere.
    known = {npn: at for npn, at in written.items() if npn in current}
    covered = _covered(conn, known) if settle else []
    _write(conn, written, active=True, covered=covered)
    return newly


def deactivate_npns(conn: sa.Connection, npns: Sequence[str], at: At, *, purge: bool) -> list[str]:
    """Mark ``npns`` inactive from ``at``, their records kept unless ``purge``; the ones
    that were active before. An NPN never seen is recorded inactive, so that an older
    activation delivered late cannot bring it back."""
    times, current = _current(conn, npns, at)
    newly = [
        npn
        for npn, when in times.items()
        if npn in current and current[npn].active and _not_later(current[npn].activated_at, when)
    ]
    unseen = [npn for npn in times if npn not in current]
    _write(conn, {npn: times[npn] for npn in [*newly, *unseen]}, active=False)
    if purge:
        purge_inactive(conn, npns, at)
    return newly


def purge_inactive(conn: sa.Connection, npns: Sequence[str], at: At) -> list[Change]:
    """Delete the records of those of ``npns`` inactive now (a deactivation recorded
    first), each change stamped with its NPN's time; the changes, for the hooks."""
    times, current = _current(conn, npns, at)
    # Active still: activated after its time, and so not its deactivation's to purge.
    kept = {n for n in times if n in current and current[n].active}
    return purge_npns(conn, {n: when for n, when in times.items() if n not in kept})


def active_npns(conn: sa.Connection) -> list[str]:
    query = sa.select(population.c.npn).where(population.c.active).order_by(population.c.npn)
    return list(conn.execute(query).scalars())


def any_active(conn: sa.Connection) -> bool:
    query = sa.select(sa.literal(1)).select_from(population).where(population.c.active).limit(1)
    return conn.execute(query).first() is not None


def count_active(conn: sa.Connection) -> int:
    query = sa.select(sa.func.count()).select_from(population).where(population.c.active)
    return int(conn.execute(query).scalar_one())


def _current(
    conn: sa.Connection, npns: Sequence[str], at: At
) -> tuple[dict[str, dt.datetime], dict[str, Any]]:
    """Each NPN once with its time in UTC, and the population rows of those known."""
    if isinstance(at, dt.datetime):
        times = dict.fromkeys(npns, as_utc(at))
    else:
        times = {npn: as_utc(at[npn]) for npn in dict.fromkeys(npns)}
    rows: dict[str, Any] = {}
    for chunk in chunks(list(times)):
        query = sa.select(population).where(population.c.npn.in_(chunk))
        rows.update((row.npn, row) for row in conn.execute(query))
    return times, rows


def _not_later(recorded: dt.datetime | None, at: dt.datetime) -> bool:
    return recorded is None or recorded <= at


def _earlier(recorded: dt.datetime | None, at: dt.datetime) -> bool:
    return recorded is None or recorded < at


def _write(
    conn: sa.Connection,
    times: dict[str, dt.datetime],
    *,
    active: bool,
    covered: Sequence[str] = (),
) -> None:
    """The NPNs' state and its time; the other time is kept (a storm's 100,000 rows in
    one statement of the driver's, not SQLAlchemy's per-row parameters). The flag of
    the ``covered`` ones (``_covered``), which the write sets, is settled after it."""
    stamp = "activated_at" if active else "deactivated_at"
    stamps = _stamps(conn, times.values())
    # An activation may be owed its fetch; an inactive NPN is owed none.
    owed = True if active else None
    # Only the covered ones settled: a settle of every written NPN read the whole
    # population for each chunk on a mirror filled in the same transaction (no planner
    # statistics; a quadratic storm, 100,000 NPNs 10.3 s on PostgreSQL). The database's
    # triggers flag the covered ones too, so their flag is cleared once written.
    rows = [(npn, active, stamps[at], owed) for npn, at in times.items()]
    write_rows(conn, population, ("npn", "active", stamp, "owed"), rows, upsert=True)
    for chunk in chunks(covered):
        settle_owed(conn, population.c.npn.in_(chunk))


def _covered(conn: sa.Connection, times: Mapping[str, dt.datetime]) -> list[str]:
    """Those NPNs whose activation at their time a run that finished without error
    fetched (``activation_fetched``'s condition), from their fetches read by NPN,
    before their activation is written."""
    found: list[str] = []
    for chunk in chunks(list(times)):
        query = (
            sa.select(fetched.c.npn, fetched.c.activated_at)
            .join(sync_runs, sync_runs.c.id == fetched.c.run_id)
            .where(
                fetched.c.npn.in_(chunk),
                sync_runs.c.finished_at.is_not(None),
                sync_runs.c.error.is_(None),
            )
        )
        found.extend(npn for npn, at in conn.execute(query) if as_utc(at) >= times[npn])
    return found


def _stamps(conn: sa.Connection, times: Iterable[dt.datetime]) -> dict[dt.datetime, Any]:
    """Each distinct time in the driver's form, converted once: a storm's 100,000 NPNs
    share a few."""
    timestamp = converters(conn).timestamp
    return {at: timestamp(at) for at in set(times)}


def mark_fetched(conn: sa.Connection, activations: Mapping[str, dt.datetime], run_id: int) -> None:
    """Run ``run_id``, a pass over the whole population, covers each NPN's activation at
    its time in ``activations`` (the NPN was subscribed before the pass read a page)."""
    times = {npn: as_utc(at) for npn, at in activations.items()}
    stamps = _stamps(conn, times.values())
    rows = [(npn, stamps[at], run_id) for npn, at in times.items()]
    # Their fetch is now this run's, unfinished: owed until it finishes without error.
    # The database flags them (``population.owed``), in this statement (mirror migration
    # 0019's triggers on ``fetched``).
    write_rows(conn, fetched, ("npn", "activated_at", "run_id"), rows, upsert=True)


def settle_owed(conn: sa.Connection, among: sa.ColumnElement[bool] = OWED) -> None:
    """Clear the flag (``population.owed``) of the NPNs ``among`` the flagged ones whose
    current activation a run that finished without error fetched: by default every
    flagged one, read through their index, as a run finishes so."""
    covered = sa.update(population).where(among, OWED, activation_fetched(population))
    conn.execute(covered.values(owed=None))


def activate_listed(
    conn: sa.Connection, subscribed: Mapping[str, dt.datetime], run_id: int
) -> None:
    """The NPNs the API's subscriptions list names, each active from its activation
    time there, and covered by run ``run_id``, a pass over the whole population that
    read the list before any page: their activation events, whenever they come, fetch
    nothing more."""
    # None settled: their fetches, this run's and unfinished, flag them again.
    _activate(conn, list(subscribed), subscribed, settle=False)
    mark_fetched(conn, subscribed, run_id)


def fetched_since_activation(conn: sa.Connection, npns: Sequence[str]) -> set[str]:
    """Those of ``npns`` (active) whose current activation a pass over the population
    covered, the pass's run finished without error: fetching them again would bring
    nothing new. An activation after the one covered (deactivated, then subscribed
    again) is not covered."""
    found: set[str] = set()
    for chunk in chunks(list(npns)):
        query = sa.select(population.c.npn).where(
            population.c.npn.in_(chunk), population.c.active, activation_fetched(population)
        )
        found.update(conn.execute(query).scalars())
    return found


def activation_fetched(entries: sa.FromClause) -> sa.Exists:
    """Whether a pass over the population covered the current activation of the row of
    ``entries`` (``population``, or an alias of it) the statement reads, the pass's run
    finished without error: ``fetched_since_activation``'s condition, for a statement
    that reads the population for more (``report expiring``'s licenses)."""
    return sa.exists().where(
        fetched.c.npn == entries.c.npn,
        fetched.c.activated_at >= entries.c.activated_at,
        sync_runs.c.id == fetched.c.run_id,
        sync_runs.c.finished_at.is_not(None),
        sync_runs.c.error.is_(None),
    )


def owed_fetch(entries: sa.FromClause) -> sa.ColumnElement[bool]:
    """Whether the row of ``entries`` (``population``, or an alias of it) is an active
    NPN owed a fetch, for a statement that reads those of the whole population: the
    flagged ones first (``population.owed``, their index), each then looked at as
    ``activation_fetched`` does (a flag left on is not a fetch owed)."""
    return sa.and_(entries.c.owed.is_not(None), entries.c.active, ~activation_fetched(entries))


def owed_fetches(conn: sa.Connection, npns: Sequence[str]) -> list[str]:
    """Those of ``npns`` active now whose current activation no finished, error-free run
    fetched: what a collector has to fetch. A run that failed leaves its NPNs owed, so
    the events it did not finish are fetched when they are collected again."""
    active = _activations(conn, npns)
    return sorted(set(active).difference(fetched_since_activation(conn, list(active))))


def mark_activations_fetched(conn: sa.Connection, npns: Sequence[str], run_id: int) -> None:
    """Run ``run_id`` fetches ``npns`` by NPN: it covers the current activation of each
    active one."""
    mark_fetched(conn, _activations(conn, npns), run_id)


def _activations(conn: sa.Connection, npns: Sequence[str]) -> dict[str, dt.datetime]:
    """The active ones of ``npns`` and when they were activated."""
    found: dict[str, dt.datetime] = {}
    for chunk in chunks(list(dict.fromkeys(npns))):
        query = sa.select(population.c.npn, population.c.activated_at).where(
            population.c.npn.in_(chunk), population.c.active
        )
        found.update((npn, at) for npn, at in conn.execute(query))
    return found
