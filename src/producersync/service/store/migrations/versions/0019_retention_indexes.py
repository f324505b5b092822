"""indexes of what the retention pruner still has to prune: the messages whose payload
is kept and the attempts whose response body is, each by its time, and finished jobs by
status and time, so that each batch starts where the work is instead of scanning

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import Index, build_indexes

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_MESSAGES = Index("ix_webhook_messages_kept_created_at", ["created_at"], where="payload <> ''")
_ATTEMPTS = Index(
    "ix_webhook_attempts_kept_attempted_at", ["attempted_at"], where="response IS NOT NULL"
)
_JOBS = ["status", "updated_at"]


def upgrade() -> None:
    build_indexes("webhook_messages", [_MESSAGES])
    build_indexes("webhook_attempts", [_ATTEMPTS])
    build_indexes("jobs", [_JOBS])


def downgrade() -> None:
    op.drop_index(_MESSAGES.name, table_name="webhook_messages")
    op.drop_index(_ATTEMPTS.name, table_name="webhook_attempts")
    op.drop_index("ix_jobs_status_updated_at", table_name="jobs")
