"""The local mirror: the records of the monitored population, the webhook receipts, the
sync runs and a change feed, in SQLite (WAL) by default or PostgreSQL by URL.

Every function takes a ``Connection``; writers open it with ``write_transaction``::

    engine = open_mirror("sqlite:///producersync-mirror.db")
    with write_transaction(engine) as conn:
        counts = upsert_records(conn, "licenses", [lic.model_dump(mode="json", by_alias=True)])
"""

from producersync.sync.mirror.engine import delete_in_batches, write_transaction
from producersync.sync.mirror.feed import Change, changes_since, iter_changes, prune_changes
from producersync.sync.mirror.open import open_mirror
from producersync.sync.mirror.population import (
    activate_listed,
    activate_npns,
    active_npns,
    any_active,
    count_active,
    deactivate_npns,
    fetched_since_activation,
    mark_activations_fetched,
    mark_fetched,
    owed_fetches,
    purge_inactive,
)
from producersync.sync.mirror.receipts import (
    ACCEPTED,
    HEADERS_CUT,
    IGNORED,
    REJECTED,
    UNVERIFIED_BODY_KEPT,
    UNVERIFIED_HEADERS_KEPT,
    Receipt,
    first_body_sha256,
    latest_verdict,
    mark_all_processed,
    mark_processed,
    prune_receipts,
    receipt_body,
    record_receipt,
    record_receipts,
    unprocessed_events,
    unverified,
)
from producersync.sync.mirror.records import Malformed, UpsertCounts, purge_npns, upsert_records
from producersync.sync.mirror.runs import (
    MANUAL_KINDS,
    RUN_KINDS,
    RunGoingOn,
    beat_runs,
    finish_run,
    interrupt_run,
    last_synced_run_date,
    record_synced_through,
    set_last_synced_run_date,
    start_run,
    sync_start,
    synced_through_bound,
)
from producersync.sync.mirror.status import (
    lag_days,
    latest_run_date,
    malformed_count,
    malformed_fields,
    record_counts,
    records_not_stored,
    sync_status,
)
from producersync.sync.mirror.tables import RESOURCES

__all__ = [
    "ACCEPTED",
    "HEADERS_CUT",
    "IGNORED",
    "MANUAL_KINDS",
    "REJECTED",
    "RESOURCES",
    "RUN_KINDS",
    "UNVERIFIED_BODY_KEPT",
    "UNVERIFIED_HEADERS_KEPT",
    "Change",
    "Malformed",
    "Receipt",
    "RunGoingOn",
    "UpsertCounts",
    "activate_listed",
    "activate_npns",
    "active_npns",
    "any_active",
    "beat_runs",
    "changes_since",
    "count_active",
    "deactivate_npns",
    "delete_in_batches",
    "fetched_since_activation",
    "finish_run",
    "first_body_sha256",
    "interrupt_run",
    "iter_changes",
    "lag_days",
    "last_synced_run_date",
    "latest_run_date",
    "latest_verdict",
    "malformed_count",
    "malformed_fields",
    "mark_activations_fetched",
    "mark_all_processed",
    "mark_fetched",
    "mark_processed",
    "open_mirror",
    "owed_fetches",
    "prune_changes",
    "prune_receipts",
    "purge_inactive",
    "purge_npns",
    "receipt_body",
    "record_counts",
    "record_receipt",
    "record_receipts",
    "record_synced_through",
    "records_not_stored",
    "set_last_synced_run_date",
    "start_run",
    "sync_start",
    "sync_status",
    "synced_through_bound",
    "unprocessed_events",
    "unverified",
    "upsert_records",
    "write_transaction",
]
