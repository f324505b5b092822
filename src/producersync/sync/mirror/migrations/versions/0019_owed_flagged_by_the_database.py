"""the database flags the NPNs owed a fetch (``population.owed``), whichever process
writes: a sync process of the version before 0018, left running while the mirror was
upgraded, activated NPNs without the flag, and `sync status`'s ``pendingNpns`` and
`report expiring`'s pending marks missed them until a fetch

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-11 12:00:00

An NPN is owed a fetch while it is active and no run that finished without error fetched
its current activation (``population.activation_fetched``). Each write that can make it
so flags it, in the writing statement's transaction:

- the population: an NPN inserted active, made active again, or given a later activation
  (its row flagged, unless the statement flags it itself);
- ``fetched``: a fetch recorded anew or taken over by a run not finished yet, or
  forgotten (each NPN named, if active and not flagged);
- ``sync_runs``: a run that finished without error finished again with one, or deleted
  (the NPNs it fetched, if active and not flagged).

A flag left on costs only a look at the NPN's fetch (``owed_fetch``), and the next run
that finishes without error clears it. The NPNs such a process activated between 0018
and this migration are flagged now, as 0018 flagged those of before.

A later migration that copies one of these tables to change it (SQLite's batch mode
drops the table, and its triggers with it) must make its triggers again.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The active NPNs no finished, error-free run fetched since their activation, unflagged.
_UNFLAGGED_OWED = (
    "UPDATE population SET owed = TRUE WHERE active AND owed IS NULL AND NOT EXISTS ("
    " SELECT 1 FROM fetched JOIN sync_runs ON sync_runs.id = fetched.run_id"
    " WHERE fetched.npn = population.npn"
    " AND fetched.activated_at >= population.activated_at"
    " AND sync_runs.finished_at IS NOT NULL AND sync_runs.error IS NULL)"
)
# When each trigger fires (on PostgreSQL, its WHEN: the flag function runs only then).
_ACTIVATED = "NEW.active AND NEW.owed IS NULL"
_ACTIVATED_AGAIN_SQLITE = (
    f"{_ACTIVATED} AND (NOT OLD.active OR NEW.activated_at IS NOT OLD.activated_at)"
)
_ACTIVATED_AGAIN_PG = (
    f"{_ACTIVATED} AND (NOT OLD.active OR NEW.activated_at IS DISTINCT FROM OLD.activated_at)"
)
_UNCOVERED = (
    "OLD.finished_at IS NOT NULL AND OLD.error IS NULL"
    " AND (NEW.finished_at IS NULL OR NEW.error IS NOT NULL)"
)
_COVERING = "OLD.finished_at IS NOT NULL AND OLD.error IS NULL"
_RUNS_FETCHES = (
    "UPDATE population SET owed = TRUE WHERE active AND owed IS NULL"
    " AND npn IN (SELECT npn FROM fetched WHERE run_id = OLD.id)"
)

# Each event on ``fetched``, the trigger's name for it, and the rows that name the NPNs.
_FETCHED_EVENTS = (
    ("INSERT", "inserted", "NEW"),
    ("UPDATE", "updated", "NEW"),
    ("DELETE", "deleted", "OLD"),
)

_SQLITE = (
    # The row flagged once written: a SQLite trigger cannot change the row it fires for.
    "CREATE TRIGGER population_owed_inserted AFTER INSERT ON population"
    f" WHEN {_ACTIVATED} BEGIN UPDATE population SET owed = TRUE WHERE npn = NEW.npn; END",
    "CREATE TRIGGER population_owed_activated AFTER UPDATE OF active, activated_at"
    f" ON population WHEN {_ACTIVATED_AGAIN_SQLITE}"
    " BEGIN UPDATE population SET owed = TRUE WHERE npn = NEW.npn; END",
    *(
        f"CREATE TRIGGER fetched_owed_{done} AFTER {event} ON fetched BEGIN"
        f" UPDATE population SET owed = TRUE WHERE npn = {row}.npn AND active"
        " AND owed IS NULL; END"
        for event, done, row in _FETCHED_EVENTS
    ),
    "CREATE TRIGGER sync_runs_owed_failed AFTER UPDATE OF finished_at, error ON sync_runs"
    f" WHEN {_UNCOVERED} BEGIN {_RUNS_FETCHES}; END",
    f"CREATE TRIGGER sync_runs_owed_deleted AFTER DELETE ON sync_runs WHEN {_COVERING}"
    f" BEGIN {_RUNS_FETCHES}; END",
)
_SQLITE_TRIGGERS = [statement.split()[2] for statement in _SQLITE]

_POSTGRESQL = (
    # The row flagged as it is written (BEFORE), and only when the WHEN says so: a
    # statement that flags its rows itself calls no function.
    "CREATE FUNCTION population_owed_flag() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN NEW.owed := TRUE; RETURN NEW; END $$",
    "CREATE TRIGGER population_owed_inserted BEFORE INSERT ON population FOR EACH ROW"
    f" WHEN ({_ACTIVATED}) EXECUTE FUNCTION population_owed_flag()",
    "CREATE TRIGGER population_owed_activated BEFORE UPDATE OF active, activated_at"
    f" ON population FOR EACH ROW WHEN ({_ACTIVATED_AGAIN_PG})"
    " EXECUTE FUNCTION population_owed_flag()",
    # Once per statement over the rows it wrote: a pass's 250,000 fetches one join.
    "CREATE FUNCTION fetched_owed_flag() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE population SET owed = TRUE FROM written"
    " WHERE population.npn = written.npn AND population.active AND population.owed IS NULL;"
    " RETURN NULL; END $$",
    *(
        f"CREATE TRIGGER fetched_owed_{done} AFTER {event} ON fetched"
        f" REFERENCING {rows} TABLE AS written FOR EACH STATEMENT"
        " EXECUTE FUNCTION fetched_owed_flag()"
        for event, done, rows in _FETCHED_EVENTS
    ),
    "CREATE FUNCTION sync_runs_owed_flag() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN {_RUNS_FETCHES}; RETURN NULL; END $$",
    "CREATE TRIGGER sync_runs_owed_failed AFTER UPDATE OF finished_at, error ON sync_runs"
    f" FOR EACH ROW WHEN ({_UNCOVERED}) EXECUTE FUNCTION sync_runs_owed_flag()",
    "CREATE TRIGGER sync_runs_owed_deleted AFTER DELETE ON sync_runs FOR EACH ROW"
    f" WHEN ({_COVERING}) EXECUTE FUNCTION sync_runs_owed_flag()",
)
_PG_TRIGGERS = {
    "population": ["population_owed_inserted", "population_owed_activated"],
    "fetched": [f"fetched_owed_{done}" for _, done, _ in _FETCHED_EVENTS],
    "sync_runs": ["sync_runs_owed_failed", "sync_runs_owed_deleted"],
}
_PG_FUNCTIONS = ["population_owed_flag", "fetched_owed_flag", "sync_runs_owed_flag"]


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    for statement in _POSTGRESQL if _postgresql() else _SQLITE:
        op.execute(statement)
    op.execute(_UNFLAGGED_OWED)


def downgrade() -> None:
    if _postgresql():
        for table, triggers in _PG_TRIGGERS.items():
            for trigger in triggers:
                op.execute(f"DROP TRIGGER {trigger} ON {table}")
        for function in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
