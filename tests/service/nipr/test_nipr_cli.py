"""`producersync nipr generate` and `nipr run`."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.support.cli import error_both_ways, producersync_output
from tests.support.loads import load_cut_short
from tests.support.processes import cli
from typer.testing import CliRunner

from producersync.cli.main import app
from producersync.cli.quickstart import ensure_universe
from producersync.service.nipr.loader import interrupted_load
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, nipr_runs


def test_generate_then_refuse_then_replace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()

    first = runner.invoke(app, ["nipr", "generate", "--producers", "60", "--database", url])
    assert first.exit_code == 0, first.output
    assert "60 producers" in first.output
    assert "entities 60" in first.output
    # Each type as feed files and the API name it, not as its table (license_loas).
    assert "licenseLoas" in first.output and "license_loas" not in first.output
    assert "database file" in first.output

    again = runner.invoke(app, ["nipr", "generate", "--producers", "60", "--database", url])
    assert again.exit_code == 1
    assert "--replace" in again.output

    replaced = runner.invoke(
        app,
        ["nipr", "generate", "--producers", "30", "--seed", "2", "--database", url, "--replace"],
    )
    assert replaced.exit_code == 0, replaced.output
    assert "30 producers" in replaced.output


def interrupted_store(url: str) -> sa.Engine:
    """A store holding part of a universe: a generate stopped midway."""
    engine = open_store(url)
    load_cut_short(engine)
    return engine


def test_part_of_a_universe_is_refused_until_loaded_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    interrupted_store(url).dispose()
    runner = CliRunner()

    for command in (["nipr", "run", "--date", "2025-01-10"], ["service", "run", "--port", "1"]):
        refused = runner.invoke(app, [*command, "--database", url])
        assert refused.exit_code == 1, refused.output
        assert "the store holds part of a universe" in refused.output
        assert "did not finish" in refused.output
        assert "--replace" in refused.output
    again = runner.invoke(app, ["nipr", "generate", "--producers", "60", "--database", url])
    assert again.exit_code == 1
    assert "interrupted generate" in again.output

    replaced = runner.invoke(
        app, ["nipr", "generate", "--producers", "60", "--database", url, "--replace"]
    )
    assert replaced.exit_code == 0, replaced.output
    day = runner.invoke(app, ["nipr", "run", "--date", "2025-01-10", "--database", url, "--json"])
    assert day.exit_code == 0, day.output


def test_the_quickstart_loads_again_what_an_interrupted_generate_left(tmp_path: Path) -> None:
    engine = interrupted_store(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_universe(engine, 60, seed=1)
    assert not interrupted_load(engine)
    with engine.connect() as conn:
        producers = conn.execute(sa.select(sa.func.count()).select_from(entities)).scalar_one()
    assert producers == 60 + len(SANDBOX_NPNS)
    engine.dispose()


@pytest.mark.slow(40)
def test_a_run_kept_waiting_by_another_on_sqlite_says_so(tmp_path: Path) -> None:
    """Another writer (the scheduled run, on a large store) holds a SQLite store past the
    busy timeout: `nipr run` said only "the database: database is locked"."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with write_transaction(engine):
            held.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        args = ["nipr", "run", "--date", "2025-01-10", "--database", url]
        refused = CliRunner().invoke(app, args)
    finally:
        done.set()
        holder.join()
    assert refused.exit_code == 1, refused.output
    assert "locked by another writer" in refused.output
    assert "a NIPR run in progress" in refused.output
    assert "nothing was changed" in refused.output
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(nipr_runs)).scalar_one() == 0
    engine.dispose()


def test_a_run_date_after_today_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A year's typo (2062 for 2026) was run: its records, and every later day's, were
    stamped decades ahead, and that day marked run."""
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    today = dt.datetime.now(dt.UTC).date()
    typo = (today + dt.timedelta(days=36 * 365)).isoformat()
    error, err = error_both_ways(monkeypatch, capsys, 2, "nipr", "run", "--date", typo)
    assert (error["field"], error["value"]) == ("--date", typo)
    for said in (str(error["message"]), err):
        assert f"--date {typo} is after today ({today}, UTC)" in said
        assert "nothing was changed (--allow-future runs it" in said
    assert list(tmp_path.iterdir()) == []

    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    args = ["nipr", "run", "--date", tomorrow, "--allow-future", "--json"]
    code, out, _ = producersync_output(monkeypatch, capsys, *args)
    assert (code, orjson.loads(out)["runDate"]) == (0, tomorrow)
    code, out, _ = producersync_output(monkeypatch, capsys, "nipr", "run", "--json")
    assert (code, orjson.loads(out)["runDate"]) == (0, today.isoformat())


def test_a_run_says_its_counts_and_types_as_people_and_feed_files_do(tmp_path: Path) -> None:
    """A run that queued one delivery printed "1 deliveries queued", and named each type
    as its table (license_loas) where feed files and the API say licenseLoas; --json's
    changes keeps the table names, which scripts read."""
    env = {
        "PRODUCERSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
        "COLUMNS": "200",
    }
    cli("admin", "account", "create", "acme", env=env)
    cli(
        "admin", "endpoint", "create", "--account", "acme", "--url", "http://127.0.0.1:9/h", env=env
    )
    out = cli("nipr", "run", "--date", "2025-01-10", env=env).stdout
    assert "1 updates_available event published (1 delivery queued)" in out
    assert re.search(r"\blicenseLoas\b", out) and "license_loas" not in out, out
    out = cli("nipr", "run", "--date", "2025-01-11", "--json", env=env).stdout
    assert "license_loas" in orjson.loads(out)["changes"]


def test_a_run_on_a_full_disk_names_the_store_file_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "error: the database: database or disk is full": not which file, so not
    which disk to free space on."""
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    made = CliRunner().invoke(app, ["nipr", "generate", "--producers", "60", "--database", url])
    assert made.exit_code == 0, made.output

    def full(dbapi_connection: Any, *_: Any) -> None:
        # SQLite raises a page limit below the pages in use to them: nothing can grow.
        dbapi_connection.execute("PRAGMA max_page_count = 1")

    sa.event.listen(sa.pool.Pool, "checkout", full)
    try:
        args = ["nipr", "run", "--date", "2025-01-10", "--churn-rate", "1", "--database", url]
        _, err = error_both_ways(monkeypatch, capsys, 1, *args)
    finally:
        sa.event.remove(sa.pool.Pool, "checkout", full)
    assert err == f"error: the database at {path}: database or disk is full\n"
    engine = open_store(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(nipr_runs)).scalar_one() == 0
    engine.dispose()
