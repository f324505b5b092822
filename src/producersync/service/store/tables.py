"""The service's schema, as SQLAlchemy Core tables (one definition for SQLite and Postgres).

Record tables keep the API's field names in snake_case so that a row maps to the wire
by name; ``npn`` is repeated on child tables (LOAs, action values) so that every list
is filtered by the caller's population with one index.
"""

from __future__ import annotations

import sqlalchemy as sa

from producersync.service.store.creation_order import creation_order
from producersync.timestamps import UtcDateTime

__all__ = [
    "DUE_TO_ENABLED",
    "RECORD_TABLES",
    "accounts",
    "addresses",
    "api_clients",
    "appointments",
    "contact_infos",
    "data_columns",
    "entities",
    "idempotency_keys",
    "job_items",
    "jobs",
    "license_loas",
    "licenses",
    "metadata",
    "nipr_loads",
    "nipr_runs",
    "other_names",
    "portal_links",
    "portal_sessions",
    "regulatory_action_values",
    "regulatory_actions",
    "service_keys",
    "subscriptions",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "webhook_messages",
    "webhook_secrets",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("created_at", sa.Date, nullable=False),
        sa.Column("updated_at", sa.Date, nullable=False),
        sa.Column("nipr_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


def _record_table(
    name: str, *columns: sa.Column[object], with_state: bool = True, materialized: bool = True
) -> sa.Table:
    cols: list[sa.Column[object]] = [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("npn", sa.String(10), nullable=False),
    ]
    if with_state:
        cols.append(sa.Column("for_state", sa.String(2)))
    cols += [*columns, *_record_columns()]
    if materialized:
        # The record's JSON as served (see store/documents.py), kept current by every
        # write: building it per read would be most of a page's time.
        cols.append(sa.Column("document", sa.Text))
    table = sa.Table(name, metadata, *cols)
    # (npn, id) drives keyset pages over a population, and with updated_at beside it a
    # page of one day's changes is checked in the index instead of in each record's row
    # (SQLite: 102 ms -> 14 ms for one day over 10,000 NPNs). (updated_at, npn, id) finds
    # the day's changes and whose they are without reading a row: a page of a day's
    # changes starts there when they are few (records.list_after).
    sa.Index(None, table.c.npn, table.c.id, table.c.updated_at)
    sa.Index(None, table.c.updated_at, table.c.npn, table.c.id)
    return table


entities = _record_table(
    "entities",
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("fein_id", sa.String(16)),
    sa.Column("company_name", sa.String(200)),
    sa.Column("first_name", sa.String(100)),
    sa.Column("middle_name", sa.String(100)),
    sa.Column("last_name", sa.String(100)),
    sa.Column("date_of_birth", sa.Date),
    sa.Column("no_licenses", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("subscription_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_nipr_entity_update", UtcDateTime),
    with_state=False,
    # subscriptionCount moves with every subscription: built per read instead.
    materialized=False,
)
sa.Index("uq_entities_npn", entities.c.npn, unique=True)

licenses = _record_table(
    "licenses",
    sa.Column("branch_id", sa.String(32)),
    sa.Column("nipr_date_updated", sa.Date),
    sa.Column("license_num", sa.String(32)),
    sa.Column("original_issue_date", sa.Date),
    sa.Column("expiration_date", sa.Date),
    sa.Column("license_class", sa.String(100)),
    sa.Column("license_class_code", sa.String(8)),
    sa.Column("residency_status", sa.String(2)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("agent_types", sa.String(200)),  # comma-joined
    sa.Column("renewal_periods", sa.JSON),
)
# The daily run's licenses whose expiration date has come (churn.expired_license_npns).
sa.Index(None, licenses.c.active, licenses.c.expiration_date)

license_loas = _record_table(
    "license_loas",
    sa.Column("license_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("loa", sa.String(100)),
    sa.Column("loa_code", sa.String(16)),
    sa.Column("issue_date", sa.Date),
    sa.Column("status", sa.String(16)),
    sa.Column("status_reason_date", sa.Date),
    sa.Column("ce_compliance", sa.String(32)),
    sa.Column("ce_credits_needed", sa.Integer),
    sa.Column("loa_categories", sa.String(200)),  # comma-joined loaMapping.categories
)
sa.Index(None, license_loas.c.license_id)

appointments = _record_table(
    "appointments",
    sa.Column("branch_id", sa.String(32)),
    sa.Column("company_name", sa.String(200)),
    sa.Column("fein_id", sa.String(16)),
    sa.Column("co_code", sa.String(5)),
    sa.Column("loa", sa.String(100)),
    sa.Column("loa_code", sa.String(16)),
    sa.Column("status", sa.String(16)),
    sa.Column("status_reason_date", sa.Date),
    sa.Column("termination_reason", sa.String(100)),
    sa.Column("county_code", sa.String(8)),
    sa.Column("loa_categories", sa.String(200)),
)

addresses = _record_table(
    "addresses",
    sa.Column("type", sa.String(16)),
    sa.Column("branch_id", sa.String(32)),
    sa.Column("nipr_date_updated", sa.Date),
    sa.Column("line1", sa.String(200)),
    sa.Column("line2", sa.String(200)),
    sa.Column("city", sa.String(100)),
    sa.Column("state", sa.String(2)),
    sa.Column("zip", sa.String(10)),
    sa.Column("country", sa.String(32)),
)

contact_infos = _record_table(
    "contact_infos",
    sa.Column("type", sa.String(16)),
    sa.Column("branch_id", sa.String(32)),
    sa.Column("nipr_date_updated", sa.Date),
    sa.Column("value", sa.String(200)),
)

other_names = _record_table(
    "other_names",
    sa.Column("type", sa.String(16)),
    sa.Column("branch_id", sa.String(32)),
    sa.Column("state_co_id", sa.String(32)),
    sa.Column("name", sa.String(200)),
)

regulatory_actions = _record_table(
    "regulatory_actions",
    sa.Column("action_id", sa.String(32)),
    sa.Column("action_date", sa.Date),
    sa.Column("effective_date", sa.Date),
    sa.Column("enter_date", sa.Date),
    sa.Column("penalty_fine_forfeiture", sa.Integer),
    sa.Column("length_of_order", sa.Integer),
)

regulatory_action_values = _record_table(
    "regulatory_action_values",
    sa.Column(
        "regulatory_action_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False
    ),
    sa.Column("type", sa.String(16)),
    sa.Column("value", sa.String(200)),
    with_state=False,
)
sa.Index(None, regulatory_action_values.c.regulatory_action_id)

RECORD_TABLES: tuple[sa.Table, ...] = (
    entities,
    licenses,
    license_loas,
    appointments,
    addresses,
    contact_infos,
    other_names,
    regulatory_actions,
    regulatory_action_values,
)

# --- accounts, credentials, population ------------------------------------------------

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("sandbox", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

api_clients = sa.Table(
    "api_clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(500), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("secret_rotated_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    # The order they are listed in: made in one transaction, their times tie.
    creation_order("api_clients"),
)
sa.Index(None, api_clients.c.account_id)
sa.Index(None, api_clients.c.seq, unique=True)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("npn", sa.String(10), primary_key=True),
    sa.Column("activated_at", UtcDateTime, nullable=False),
)
# The v1 list's order: NPNs added while a client pages through it land after its pages.
sa.Index(None, subscriptions.c.account_id, subscriptions.c.activated_at, subscriptions.c.npn)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),  # REPLACE | APPEND | REMOVE
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("npns", sa.JSON, nullable=False),
    sa.Column("requested", sa.Integer, nullable=False, server_default="0"),
    sa.Column("activated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deactivated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.String(500)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # The order jobs run in: their times tie within a transaction (creation_order.py).
    creation_order("jobs"),
)
sa.Index(None, jobs.c.seq, unique=True)
sa.Index(None, jobs.c.status, jobs.c.seq)
sa.Index(None, jobs.c.account_id)
# The pruner's finished jobs past their retention (store/retention.py).
sa.Index(None, jobs.c.status, jobs.c.updated_at)

job_items = sa.Table(
    "job_items",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
    sa.Column("npn", sa.String(10), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # ACTIVATE | DEACTIVATE
    sa.Column("result", sa.String(16), nullable=False),  # SUCCESS | UNCHANGED | FAILED
    sa.Column("reason", sa.String(200)),
)
sa.Index(None, job_items.c.job_id, job_items.c.id)

service_keys = sa.Table(
    "service_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# --- webhooks: endpoints, the outbox of messages and deliveries, attempts -------------

_Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # ep_<time-ordered hex>
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    # NULL: every event type; else a list of types and groups ("producersync").
    sa.Column("event_types", sa.JSON),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(200)),
    sa.Column("rate_limit_per_second", sa.Integer),
    # Start of the current run of failed attempts (NULL after any success).
    sa.Column("failing_since", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # The order they are listed in: their ids are a host's milliseconds, then random.
    creation_order("webhook_endpoints"),
)
sa.Index(None, webhook_endpoints.c.account_id)
sa.Index(None, webhook_endpoints.c.seq, unique=True)

webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column(
        "endpoint_id",
        sa.String(40),
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # NULL for the current secret; a rotated-out secret signs beside it until then.
    sa.Column("expires_at", UtcDateTime),
)
sa.Index(None, webhook_secrets.c.endpoint_id)

webhook_messages = sa.Table(
    "webhook_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # the event id: webhook-id
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body sent
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The lists' tie-break among messages of one time: those published in one transaction.
    creation_order("webhook_messages"),
)
sa.Index(None, webhook_messages.c.seq, unique=True)
sa.Index(None, webhook_messages.c.account_id, webhook_messages.c.created_at, webhook_messages.c.seq)
# A filter by type (portal and API lists): the updates_available of an account are one a
# day among thousands of NPN events; without it, finding them reads all of them.
sa.Index(
    None,
    webhook_messages.c.account_id,
    webhook_messages.c.event_type,
    webhook_messages.c.created_at,
    webhook_messages.c.seq,
)
# The messages whose payload is kept, oldest first: the pruner's batches start at the
# oldest to expire, past the expired ones, which leave the index (store/retention.py).
sa.Index(
    "ix_webhook_messages_kept_created_at",
    webhook_messages.c.created_at,
    postgresql_where=webhook_messages.c.payload != sa.literal_column("''"),
    sqlite_where=webhook_messages.c.payload != sa.literal_column("''"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(40), sa.ForeignKey("webhook_messages.id"), nullable=False),
    sa.Column(
        "endpoint_id",
        sa.String(40),
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("state", sa.String(16), nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # The next attempt is a manual one (replay, recover): it is not retried.
    sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.false()),
    # The next attempt is a Resend of a delivery still on its retry schedule: a manual one,
    # sent whatever the endpoint's filter, after which the retries it had are kept.
    sa.Column("resent", sa.Boolean, nullable=False, server_default=sa.false()),
    # Due time while pending; a claimed row is pushed a lease ahead, so a sender that dies
    # mid-attempt leaves it due again.
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Pending while its endpoint is disabled: left out of the due index until the endpoint
    # is enabled again. In the index, a disabled endpoint's backlog (50,000 waiting) was
    # read past by every claim, the due deliveries to the others found behind it. Set as
    # the row becomes pending (outbox: publish, replay, recover, from the endpoint's row,
    # locked) and, when ``enabled`` changes, by the database (migration 0018's trigger on
    # webhook_endpoints): whatever process changes it, an old one in a rolling upgrade
    # too, the endpoint's pending deliveries follow in the same transaction.
    sa.Column("parked", sa.Boolean, nullable=False, server_default=sa.false()),
    # Why a sender put it back unsent (``outbox.HELD_RATE_LIMIT``, ``HELD_ONE_AT_A_TIME``),
    # and the due time it set: the reason holds while ``next_attempt_at`` is still that
    # time (a claim, an attempt, a replay moves it on). Told by its due time alone, a
    # delivery held back was shown "Sending now", as one a sender has in hand.
    sa.Column("held_until", UtcDateTime),
    sa.Column("held_for", sa.String(16)),
    sa.UniqueConstraint("message_id", "endpoint_id"),
)
# The due index's rows, said so by the claims' query for the planner to use it.
DUE_TO_ENABLED = sa.and_(
    webhook_deliveries.c.state == "pending", webhook_deliveries.c.parked == sa.false()
)
sa.Index(
    "ix_webhook_deliveries_due_to_enabled",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=DUE_TO_ENABLED,
    sqlite_where=DUE_TO_ENABLED,
)
sa.Index(None, webhook_deliveries.c.endpoint_id, webhook_deliveries.c.id)
# A message's deliveries in the order queued, a page at a time (the portal's message
# page): by the unique (message_id, endpoint_id) index, every delivery of the message was
# read and sorted for each page (migration 0025).
sa.Index(None, webhook_deliveries.c.message_id, webhook_deliveries.c.id)
# An endpoint's pending deliveries, which enabling or disabling it (un)parks: found by the
# endpoint's every delivery ever made, a change would take as long as its history.
sa.Index(
    "ix_webhook_deliveries_pending_endpoint_id",
    webhook_deliveries.c.endpoint_id,
    postgresql_where=webhook_deliveries.c.state == "pending",
    sqlite_where=webhook_deliveries.c.state == "pending",
)
# An account's messages with a delivery in a state, when few are (outbox.list_messages):
# found through each of its messages in turn, a failed one among 100,000 costs a page
# 650 ms. By endpoint, as an account's deliveries are those to its endpoints: counted
# for the account, another's failures do not make them look common. The endpoint first:
# led by the state, it would be SQLite's choice for the claims' pending deliveries (no
# statistics), the parked backlog read with them. Every state, succeeded too: few
# succeed while an account's endpoints are down.
sa.Index(
    None,
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.state,
    webhook_deliveries.c.message_id,
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column(
        "delivery_id",
        _Id,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("message_id", sa.String(40), nullable=False),
    sa.Column("endpoint_id", sa.String(40), nullable=False),
    # The message's, kept beside the attempt: a list filtered by type reads the type's
    # attempts in its index, where joining each attempt to its message to test the type
    # would read an endpoint's attempts back until enough are of a rare one (1.4 s on
    # SQLite).
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("attempt_number", sa.Integer, nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),  # scheduled | manual
    sa.Column("attempted_at", UtcDateTime, nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    # False: the attempt was not made (its type no longer subscribed to), which no figure
    # of the receiver's successes and failures counts.
    sa.Column("sent", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("status_code", sa.Integer, nullable=False),  # 0: no HTTP response
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("response", sa.String(2048)),  # the first bytes of the response body
    sa.Column("error", sa.String(500)),
    sa.Column("next_attempt_at", UtcDateTime),
    # Where it was sent (not sent: where it would have gone), the endpoint's URL then:
    # read from the endpoint, an edit made the attempts of before read as sent to the new
    # one. NULL: made before attempts kept it (migration 0022), where it is not known.
    sa.Column("url", sa.String(2048)),
)
# An endpoint's attempts in the list's order, newest first read backwards: a time window
# anywhere in the log starts where the index reaches it.
sa.Index(
    None, webhook_attempts.c.endpoint_id, webhook_attempts.c.attempted_at, webhook_attempts.c.id
)
# The same, one event type at a time: the list filtered by type pages through it alike.
sa.Index(
    None,
    webhook_attempts.c.endpoint_id,
    webhook_attempts.c.event_type,
    webhook_attempts.c.attempted_at,
    webhook_attempts.c.id,
)
# The same, by outcome: the failed attempts to an endpoint, rare among its successes,
# were found by reading its attempts back until enough had failed (all of them, 20,000,
# for a page when none had: SQLite walked the index above, PostgreSQL scanned the table
# and sorted what it found).
sa.Index(
    None,
    webhook_attempts.c.endpoint_id,
    webhook_attempts.c.succeeded,
    webhook_attempts.c.attempted_at,
    webhook_attempts.c.id,
)
sa.Index(None, webhook_attempts.c.message_id)
sa.Index(None, webhook_attempts.c.delivery_id)
# The attempts whose response body is kept, oldest first, likewise.
sa.Index(
    "ix_webhook_attempts_kept_attempted_at",
    webhook_attempts.c.attempted_at,
    postgresql_where=webhook_attempts.c.response.is_not(None),
    sqlite_where=webhook_attempts.c.response.is_not(None),
)

# --- the webhook portal: one-time login links and sessions ------------------------------

# Only SHA-256 digests of the link tokens and session ids are kept (hex, the primary key):
# a copy of the table opens no portal.
portal_links = sa.Table(
    "portal_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),  # a link starts one session, then says it was used
)

portal_sessions = sa.Table(
    "portal_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)
sa.Index(None, portal_sessions.c.expires_at)

# --- Idempotency-Key ----------------------------------------------------------------------

# A write's answer kept for a retry of it (``service/idempotency.py``): by account and a
# digest of its method, path and key (a path is as long as a client makes it, a key up to
# 255 characters: the digest bounds the primary key); ``status`` NULL while the first
# request runs; ``committed_at`` set by its write, in the write's own transaction.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # of the query and the body
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("headers", sa.JSON),
    sa.Column("body", sa.LargeBinary),
    sa.Column("committed_at", UtcDateTime),
)
sa.Index(None, idempotency_keys.c.created_at)

# --- the daily NIPR cycle ---------------------------------------------------------------

nipr_runs = sa.Table(
    "nipr_runs",
    metadata,
    sa.Column("run_date", sa.Date, primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),  # "synthetic" or the feed file
    sa.Column("changes", sa.JSON, nullable=False),  # records changed per table
    sa.Column("completed_at", UtcDateTime, nullable=False),
)


# A generated universe is loaded over many transactions (one per batch): a load that
# never finished leaves part of one, which nothing else would tell from a whole one.
nipr_loads = sa.Table(
    "nipr_loads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)


def data_columns(table: sa.Table) -> list[sa.Column[object]]:
    """A record table's own columns: those a writer supplies (not the derived document)."""
    return [column for column in table.columns if column.name != "document"]
