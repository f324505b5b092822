"""The databases the process tests are handed already made: copies of one the worker
migrated, as new as those the tests made for themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from producersync.sync.mirror import migrate
from tests.conftest import BACKENDS
from tests.support.databases import migrated_mirror, stored_revisions


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_process_tests_mirror_is_at_head_before_its_sync_process_starts(
    kind: str, tmp_path: Path
) -> None:
    """``migrated_mirror`` gives a `sync run` a mirror it opens without migrating (on
    SQLite the ``mirror.db`` the tests look for)."""
    with migrated_mirror(kind, tmp_path) as url:
        assert stored_revisions(url, migrate.VERSION_TABLE) == [migrate.HEAD]
        if kind == "sqlite":
            assert url == f"sqlite:///{tmp_path / 'mirror.db'}"
