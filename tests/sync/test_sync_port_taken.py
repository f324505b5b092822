"""`sync run` on an address another process listens on: refused before its app starts
(DBOS launched under the same executor id took back the running process's workflows)."""

from __future__ import annotations

import socket
from pathlib import Path

import sqlalchemy as sa

from producersync.webhooks import generate_secret
from tests.support.processes import cli


def _workflows(system_database: Path) -> int:
    """The workflows DBOS has recorded in a SQLite system database (none before launch)."""
    if not system_database.exists():
        return 0
    engine = sa.create_engine(f"sqlite:///{system_database}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("workflow_status"):
                return 0
            return int(conn.execute(sa.text("SELECT count(*) FROM workflow_status")).scalar_one())
    finally:
        engine.dispose()


def test_sync_run_on_a_port_in_use_exits_before_its_app_starts(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror.db"
    env = {
        "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{mirror}",
        "PRODUCERSYNC_WEBHOOK_SECRETS": generate_secret(),
        "PRODUCERSYNC_CLIENT_ID": "id",
        "PRODUCERSYNC_CLIENT_SECRET": "secret",
        "PRODUCERSYNC_API_URL": "http://127.0.0.1:9",  # never reached
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("sync", "run", "--port", port, env=env, check=False)
    assert result.returncode == 1, result.stderr
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    # Started, the app queued its catch-up (and recovered this executor id's workflows).
    assert "Waiting for application startup" not in result.stderr
    assert _workflows(Path(f"{mirror}.dbos.sqlite")) == 0
