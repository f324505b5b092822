"""Commands started together on a database that does not exist yet, as a supervisor or
a script starts them: one migrates it, once and cleanly, and the others wait for it.
Real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from producersync.service.store import migrate as store_migrate
from producersync.sync.mirror import migrate as mirror_migrate
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.migrate import VERSION_TABLE
from tests.support.databases import revisions, stored_revisions
from tests.support.processes import cli_together

pytestmark = pytest.mark.slow(45)


def _failures(results: list[subprocess.CompletedProcess[str]]) -> list[str]:
    return [f"exit {r.returncode}: {r.stderr}" for r in results if r.returncode != 0]


def test_commands_started_together_on_a_new_store_migrate_it_once(database: str) -> None:
    """Six commands on a store that does not exist yet: each waits for the one that
    migrates, none fails "database is locked" (SQLite) or on a table another created."""
    results = cli_together(*[["admin", "account", "list", "--database", database]] * 6)
    assert not _failures(results)
    assert stored_revisions(database) == revisions(store_migrate)[-1:]


def test_commands_started_together_on_an_old_mirror_migrate_it_once(tmp_path: Path) -> None:
    # A mirror at its first revision: the commands that only read one make none (an
    # empty file is refused), but bring an old one to head.
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    engine = make_engine(url)
    mirror_migrate.upgrade(engine, revisions(mirror_migrate)[0])
    engine.dispose()
    results = cli_together(*[["sync", "status"]] * 6, env={"PRODUCERSYNC_MIRROR_URL": url})
    assert not _failures(results)
    assert stored_revisions(url, VERSION_TABLE) == revisions(mirror_migrate)[-1:]
