"""The databases the process tests are handed already made: copies of one the worker
migrated (and loaded), as new as those the tests made for themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.nipr.loader import holds_universe
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, nipr_loads
from producersync.sync.mirror import migrate
from tests.conftest import BACKENDS
from tests.support.databases import migrated_mirror, stored_revisions, universe_store


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


def _universe(url: str) -> tuple[list[str], list[tuple[object, object]]]:
    engine = open_store(url)
    try:
        assert holds_universe(engine)
        with engine.connect() as conn:
            npns = list(conn.execute(sa.select(entities.c.npn).order_by(entities.c.npn)).scalars())
            loads = conn.execute(sa.select(nipr_loads.c.started_at, nipr_loads.c.finished_at))
            return npns, [tuple(row) for row in loads]
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", BACKENDS)
def test_each_harness_store_is_a_copy_of_one_universe_load(kind: str, tmp_path: Path) -> None:
    """Two stores of one universe (the sync harness's): the same producers, from the same
    finished load, in databases of their own."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        universe_store(kind, tmp_path / "a", 60, 5) as first,
        universe_store(kind, tmp_path / "b", 60, 5) as second,
    ):
        assert first != second
        npns, loads = _universe(first)
        assert len(npns) >= 60
        assert len(loads) == 1 and loads[0][1] is not None
        assert _universe(second) == (npns, loads)
