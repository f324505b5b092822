"""The mirror's schema (SQLAlchemy Core): one table per record resource, plus the
population, the webhook receipts, the sync runs and state, and the change feed.

Each record table keeps the whole wire record (camelCase JSON, links dropped) in
``record``, and copies into typed columns only what queries filter on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from producersync.timestamps import UtcDateTime

__all__ = [
    "CHILDREN",
    "MIRRORED",
    "NOT_REFUSED",
    "OWED",
    "REJECTED",
    "RESOURCES",
    "WORD_INDEXED",
    "Mirrored",
    "addresses",
    "appointments",
    "change_fields",
    "changes",
    "contact_infos",
    "entities",
    "events",
    "hook_cursors",
    "license_loas",
    "licenses",
    "malformed",
    "metadata",
    "other_names",
    "population",
    "receipts",
    "regulatory_action_values",
    "regulatory_actions",
    "sync_runs",
    "sync_state",
    "word_key",
]

# Synced in this order: a license before its LOAs, an action before its values.
RESOURCES: tuple[str, ...] = (
    "entities",
    "licenses",
    "licenseLoas",
    "appointments",
    "addresses",
    "contactInfos",
    "otherNames",
    "regulatoryActions",
)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_N_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_RecordId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


@dataclass(frozen=True)
class Mirrored:
    """How one wire resource maps onto its table."""

    resource: str
    table: sa.Table
    # Typed column -> path to its value in the wire record (camelCase keys).
    columns: dict[str, tuple[str, ...]]


# Query column -> (its path in the wire record, its type).
_Typed = dict[str, tuple[str, sa.types.TypeEngine[Any]]]


def _mirrored(resource: str, name: str, typed: _Typed, indexes: tuple[str, ...] = ()) -> Mirrored:
    """A record table: the columns every record has, then the resource's query columns."""
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", _RecordId, primary_key=True, autoincrement=False),
        sa.Column("npn", sa.String(10), nullable=True, index=True),
        sa.Column("updated_at", sa.Date, nullable=True),
        sa.Column("nipr_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        *(sa.Column(column, type_) for column, (_, type_) in typed.items()),
        sa.Column("record", _Json, nullable=False),
        sa.Column("synced_at", UtcDateTime, nullable=False),
    )
    for column in indexes:
        sa.Index(None, table.c[column])
    paths = {"npn": "npn", "updated_at": "updatedAt", "nipr_deleted": "niprDeleted"}
    paths.update((column, path) for column, (path, _) in typed.items())
    return Mirrored(resource, table, {c: tuple(path.split(".")) for c, path in paths.items()})


_IN_STATE: _Typed = {"state": ("forState", sa.String())}
_TYPED: _Typed = {"type": ("type", sa.String())}
_AUTHORITY: _Typed = {
    "loa": ("loa", sa.String()),
    "loa_code": ("loaCode", sa.String()),
    "status": ("status", sa.String()),
    "categories": ("loaMapping.categories", _Json),
}

MIRRORED: dict[str, Mirrored] = {
    m.resource: m
    for m in (
        _mirrored("entities", "entities", _TYPED),
        _mirrored(
            "licenses",
            "licenses",
            {
                **_IN_STATE,
                "license_num": ("licenseNum", sa.String()),
                "active": ("active", sa.Boolean()),
                "expiration_date": ("expirationDate", sa.Date()),
                "license_class": ("licenseClass", sa.String()),
                "residency_status": ("residencyStatus", sa.String()),
            },
            # Not ``state``: SQLite would take it for a license by NPN and state (the
            # compliance check), and read every license of the state (migration 0010).
            indexes=("expiration_date",),
        ),
        _mirrored(
            "licenseLoas",
            "license_loas",
            {
                "license_id": ("licenseId", _RecordId),
                **_IN_STATE,
                **_AUTHORITY,
                "ce_compliance": ("ceCompliance", sa.String()),
            },
            # And the words a check's LOA is told a typo by: see ``word_key``.
            indexes=("license_id",),
        ),
        _mirrored(
            "appointments",
            "appointments",
            {
                **_IN_STATE,
                "co_code": ("coCode", sa.String()),
                "company_name": ("companyName", sa.String()),
                **_AUTHORITY,
                "termination_reason": ("terminationReason", sa.String()),
            },
            # Not ``co_code``: the NPN's index finds an appointment (migration 0010).
        ),
        _mirrored("addresses", "addresses", {**_IN_STATE, **_TYPED}),
        _mirrored("contactInfos", "contact_infos", {**_IN_STATE, **_TYPED}),
        _mirrored("otherNames", "other_names", {**_IN_STATE, **_TYPED}),
        _mirrored(
            "regulatoryActions",
            "regulatory_actions",
            {
                **_IN_STATE,
                "action_id": ("actionId", sa.String()),
                "action_date": ("actionDate", sa.Date()),
            },
        ),
        _mirrored(
            "regulatoryActionValues",
            "regulatory_action_values",
            {"regulatory_action_id": ("regulatoryActionId", _RecordId), **_TYPED},
            indexes=("regulatory_action_id",),
        ),
    )
}
# The tables by name, in MIRRORED's order.
(
    entities,
    licenses,
    license_loas,
    appointments,
    addresses,
    contact_infos,
    other_names,
    regulatory_actions,
    regulatory_action_values,
) = (m.table for m in MIRRORED.values())

WORD_INDEXED = 200
"""Characters of an LOA word (a name, a code, the categories' JSON text) its index holds."""


def word_key(column: sa.Column[Any]) -> sa.ColumnElement[str]:
    """What an LOA word's index holds: its first ``WORD_INDEXED`` characters. Walked a
    value at a time (``queries.loa_terms``; migration 0013). Not the whole word: a
    PostgreSQL index entry holds ~2,700 bytes, and a longer name (the API's, unbounded)
    failed its license's page on every sync (migration 0014). The bounds are sent as
    literals: an index on an expression serves only a query that spells it alike."""
    first, most = (sa.literal(n, literal_execute=True) for n in (1, WORD_INDEXED))
    key: sa.ColumnElement[str] = sa.func.substr(sa.cast(column, sa.Text), first, most)
    return key


for _word in ("loa", "loa_code", "categories"):
    sa.Index(f"ix_license_loas_{_word}", word_key(license_loas.c[_word]))

# Parent resource -> (the wire key of its nested list, the child resource, the child's
# field naming the parent).
CHILDREN: dict[str, tuple[str, str, str]] = {
    "licenses": ("licenseLoas", "licenseLoas", "licenseId"),
    "regulatoryActions": ("regulatoryActionValues", "regulatoryActionValues", "regulatoryActionId"),
}


population = sa.Table(
    "population",
    metadata,
    sa.Column("npn", sa.String(10), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("activated_at", UtcDateTime, nullable=True),
    sa.Column("deactivated_at", UtcDateTime, nullable=True),
    # True while the NPN may be owed a fetch, NULL once a run that fetched it finished
    # without error (migration 0018): set by its activation and by a run that starts to
    # fetch it, cleared as that run finishes. The database sets it (migration 0019's
    # triggers), whichever process writes, one of the version before 0018 too, and the
    # sync's own writes of an activation set it themselves (on PostgreSQL, the trigger's
    # function is then not called). Never NULL for one owed: a flag left on
    # only costs a look at its fetch. ``OWED`` reads the population's few flagged NPNs,
    # where their count and first ones read every NPN's fetch (250,000 NPNs: 118 ms on
    # SQLite, 249 ms on PostgreSQL, at each `sync status`, `report expiring`). NULL, not
    # False: IS NOT NULL is the same words on both backends, which SQLite's planner
    # needs to match the query to the partial index.
    sa.Column("owed", sa.Boolean, nullable=True),
)
OWED = population.c.owed.is_not(None)
sa.Index("ix_population_owed", population.c.npn, sqlite_where=OWED, postgresql_where=OWED)

# Every delivery as it arrived, accepted or not: the audit trail and the replay source.
receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", _RecordId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(), nullable=True, index=True),
    sa.Column("event_type", sa.String(), nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
    sa.Column("headers", _Json, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("verdict", sa.Text, nullable=False),
    # A delivery whose signature did not verify keeps only the beginning of its body
    # (``UNVERIFIED_BODY_KEPT``), and a duplicate of an accepted event that came with its
    # first receipt's body again keeps none (migration 0017; its body is that receipt's):
    # these give the whole one's length and SHA-256 (hex). NULL when ``body`` is whole, as
    # every receipt's was before migration 0012.
    sa.Column("body_length", sa.BigInteger, nullable=True),
    sa.Column("body_sha256", sa.String(64), nullable=True),
)
REJECTED = "rejected: "  # and why: the beginning of a refused delivery's verdict
# The receipts a real sender's deliveries made (accepted, ignored), indexed apart from
# the refused ones, which a storm of forged deliveries makes by the million (migration
# 0016): `sync status` and the lag gauge read only these. The pattern is written into
# the statement, not bound: SQLite uses a partial index only for a WHERE it can see
# implies the index's.
NOT_REFUSED = receipts.c.verdict.not_like(sa.literal(f"{REJECTED}%", literal_execute=True))
sa.Index(
    "ix_receipts_not_refused",
    receipts.c.event_type,
    receipts.c.received_at,
    receipts.c.verdict,
    receipts.c.event_id,
    sqlite_where=NOT_REFUSED,
    postgresql_where=NOT_REFUSED,
)

# One row per accepted event id: the primary key is what makes dedupe atomic.
events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.String(), primary_key=True),
    sa.Column("event_type", sa.String(), nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
    sa.Column("processed_at", UtcDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # The SHA-256 (hex) of its first receipt's body: a duplicate with the same one keeps
    # no body of its own. NULL for an event accepted before migration 0017 until its
    # first duplicate fills it in.
    sa.Column("body_sha256", sa.String(64), nullable=True),
)
# What is still owed, oldest first, without reading past everything already done.
sa.Index(
    "ix_events_unprocessed",
    events.c.received_at,
    events.c.event_id,
    sqlite_where=events.c.processed_at.is_(None),
    postgresql_where=events.c.processed_at.is_(None),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", _RecordId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("run_date", sa.Date, nullable=True),
    sa.Column("since", sa.Date, nullable=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("counts", _Json, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # The run's lease, renewed by the process running it (``sync.heartbeat``): when it
    # last showed the run alive, and until when it promised to show it again. Past that
    # without a finish, the run is shown interrupted. Both NULL on runs from before.
    sa.Column("heartbeat_at", UtcDateTime, nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    # The workflow step that started the run (``<workflow id>:<step id>``), NULL for runs
    # started by hand. A step runs again when its process died after the run's insert
    # committed but before DBOS recorded the step's result: it finds its run here.
    sa.Column("started_by", sa.String(), nullable=True, unique=True),
    # Stopped with its ``error`` to start over at once (a pass whose population grew): not
    # a failure to show or count, nor a whole fetch that finished.
    sa.Column("restarted", sa.Boolean, nullable=False, server_default=sa.false()),
    # Records the run was served that have no key to be stored under (not an object, or
    # no integer id): not in the mirror, nor in ``malformed``, which lists stored ones.
    sa.Column("not_stored", sa.Integer, nullable=False, server_default="0"),
)

# NPNs a pass over the whole population covered, and the activation it covered (the
# NPN was listed as subscribed, from that time, before the pass read a page): that
# activation needs no fetch of its own once the pass's run has finished without error.
fetched = sa.Table(
    "fetched",
    metadata,
    sa.Column("npn", sa.String(10), primary_key=True),
    sa.Column("activated_at", UtcDateTime, nullable=False),
    sa.Column("run_id", _RecordId, nullable=False),
)

# A single row (id 1): the mirror's sync position.
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_synced_run_date", sa.Date, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# A field of a stored record that its typed column could not hold (a blank date, a list
# where a string belongs), the column left NULL and the raw value kept in ``record``;
# or a nested child that could not be stored at all (no integer id). Kept while the
# record stands as it was written: its next change, written clean, clears it.
malformed = sa.Table(
    "malformed",
    metadata,
    sa.Column("resource", sa.String(), primary_key=True),
    sa.Column("record_id", _RecordId, primary_key=True, autoincrement=False),
    sa.Column("field", sa.String(), primary_key=True),
    sa.Column("npn", sa.String(), nullable=True, index=True),
    sa.Column("value", sa.Text, nullable=False),  # its repr, cut short
    sa.Column("run_id", _RecordId, nullable=True),
    sa.Column("seen_at", UtcDateTime, nullable=False),
)
# ``sync status``'s latest ten, read in this order rather than all sorted (migration 0013).
sa.Index(
    "ix_malformed_latest",
    malformed.c.seen_at.desc(),
    malformed.c.resource,
    malformed.c.record_id,
    malformed.c.field,
)

# Each list of fields an insert's change named, once (its JSON text, sorted): an insert
# names every field of its record, and a backfill's 212,000 inserts share a few dozen
# lists, which were ~190 of a change row's ~260 bytes (migration 0011).
change_fields = sa.Table(
    "change_fields",
    metadata,
    sa.Column("id", _RecordId, primary_key=True, autoincrement=True),
    sa.Column("fields", sa.Text, nullable=False, unique=True),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", _RecordId, primary_key=True, autoincrement=True),
    sa.Column("resource", sa.String(), nullable=False),
    sa.Column("record_id", _RecordId, nullable=False),
    # Not indexed: no query reads the feed by NPN (migration 0010).
    sa.Column("npn", sa.String(10), nullable=True),
    sa.Column("action", sa.String(), nullable=False),
    # JSON null where ``fields_id`` names the list in ``change_fields`` (an insert's since
    # migration 0011, but one too long to index: ``feed._LISTED_MOST``; it kept the
    # column NOT NULL, the feed not rebuilt on SQLite).
    sa.Column("fields", _Json, nullable=False),
    sa.Column("fields_id", _RecordId, nullable=True),
    sa.Column("run_id", _RecordId, nullable=True),
    sa.Column("changed_at", UtcDateTime, nullable=False, index=True),
)

# Each Python hook's place in the feed (``sync.hooks``), by its entry point's name: the
# last change it has handled, moved on only once it has returned. ``holder`` delivers to
# it until ``lease_until`` (by the mirror's clock, as a run's lease): two sync processes
# on one mirror never call one hook side by side (migration 0015).
hook_cursors = sa.Table(
    "hook_cursors",
    metadata,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("after", _RecordId, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("holder", sa.String(), nullable=True),
    sa.Column("lease_until", UtcDateTime, nullable=True),
    # The calls failed in a row (0: the last succeeded), since when, and the last one's
    # line, for ``sync status``: a hook in its backoff shows as failing, not as idle.
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failing_since", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.String(), nullable=True),
)
