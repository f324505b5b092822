"""Secondary indexes of the record tables: dropped for bulk loads, always restorable,
swapped by migrations."""

from __future__ import annotations

import sqlalchemy as sa

from producersync.index_builds import build_indexes
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import RECORD_TABLES

__all__ = ["drop_secondary_indexes", "ensure_secondary_indexes", "swap_record_index"]

_PG_LOCK_ID = 0x49445853  # "IDXS": an arbitrary constant shared by every service process


def _secondary_indexes() -> list[sa.Index]:
    # Unique indexes stay: they are what rejects a duplicate NPN.
    return [index for table in RECORD_TABLES for index in table.indexes if not index.unique]


def drop_secondary_indexes(engine: sa.Engine) -> None:
    """Drop them for a bulk load into SQLite, but those that find nested records by their
    parent's id, which building the stored documents reads by.

    Not for PostgreSQL: there an index built after the copy is one no transaction can use
    while any that began before it runs anywhere on the server, a backup's, a report's
    (``pg_index.indcheckxmin``: the sandbox's rows, and the copied ones as their documents
    were built, were updated in place, and such a transaction could still see their old
    versions). The documents were then built with a whole scan of the LOAs for each
    license (209 s instead of 7 for 20,000 producers), and the API's reads by NPN or by
    update time scanned whole tables until that transaction ended. Kept through the load,
    the indexes cost no measurable time at 20,000 producers."""
    with engine.begin() as connection:
        for index in _secondary_indexes():
            if not _finds_parent(index):
                index.drop(connection, checkfirst=True)


def ensure_secondary_indexes(engine: sa.Engine, *, parents_only: bool = False) -> None:
    """Create whichever secondary index is missing (a bulk load killed half-way leaves
    them dropped); a no-op, one catalogue look-up each, when all are there.
    ``parents_only``: just those that find nested records by their parent's id (what
    building the stored documents reads). Safe when processes start together: they
    queue on SQLite's write lock, or on PostgreSQL's advisory lock once one finds an
    index missing; each looks again when its turn comes. Without them, the processes
    after the first failed their start building an index it had just built."""
    with write_transaction(engine) as connection:
        missing = _missing(connection, parents_only)
        if missing and engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            missing = _missing(connection, parents_only)
            if missing:
                connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for index in missing:
            index.create(connection)


def _missing(connection: sa.Connection, parents_only: bool) -> list[sa.Index]:
    # A new inspector each time: one caches what it has read.
    inspector = sa.inspect(connection)
    return [
        index
        for index in _secondary_indexes()
        if not inspector.has_index(index.table.name, str(index.name))  # type: ignore[union-attr]
        and (not parents_only or _finds_parent(index))
    ]


def _finds_parent(index: sa.Index) -> bool:
    return [column.name for column in index.columns] in (["license_id"], ["regulatory_action_id"])


def swap_record_index(old: list[str], new: list[str]) -> None:
    """In a migration: on every record table, build the index on ``new`` before dropping
    the one on ``old``, so that the queries it serves keep an index meanwhile (on
    PostgreSQL concurrently: ``index_builds``)."""
    for table in RECORD_TABLES:
        build_indexes(table.name, [new], replacing=[old])
