"""the LOA words' indexes over their first 200 characters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:00:00

A PostgreSQL index entry holds ~2,700 bytes, and the API bounds no LOA name, code or
category: a license with an LOA named longer failed its page (``index row size ...
exceeds btree version 4 maximum``) on every retry and every later sync. The indexes
0013 made for walking these words now hold each one's first 200 characters
(``tables.word_key``), which the walk reads; a longer word is read by its beginning.
"""

from __future__ import annotations

import sqlalchemy as sa

from producersync.index_builds import Index, build_indexes

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_WORDS = ("loa", "loa_code", "categories")


_WHOLE = [[column] for column in _WORDS]  # 0013's, named ix_license_loas_<column>


def upgrade() -> None:
    # Under their names: each old index dropped before the new one is built. No query
    # of this version reads the old ones, which refused a longer word's insert meanwhile.
    build_indexes("license_loas", [], replacing=_WHOLE)
    beginnings = [
        Index(f"ix_license_loas_{column}", [sa.text(f"substr(CAST({column} AS TEXT), 1, 200)")])
        for column in _WORDS
    ]
    build_indexes("license_loas", beginnings)


def downgrade() -> None:
    build_indexes("license_loas", [], replacing=_WHOLE)
    build_indexes("license_loas", _WHOLE)
