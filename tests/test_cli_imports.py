"""Every `producersync` command starts by importing the CLI; what a command does not run
stays out of it. Importing it all made every command, and every --help, take 1.3 s of
which a few milliseconds were its own work: each command imports what it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from producersync.service.store.open import open_store
from producersync.sync.mirror import open_mirror
from tests.support.service import free_port

# The apps and the machinery under them, imported by `service run`, `service worker`,
# `sync run`, `sync replay` and `quickstart` in their own bodies.
SERVING = (
    "dbos",
    "fastapi",
    "uvicorn",
    "producersync.service.app",
    "producersync.service.portal.app",
    "producersync.service.worker",
    "producersync.sync.app",
    "producersync.sync.workflows",
)
# What only a command that opens a database or calls the API needs.
DATABASES = ("sqlalchemy", "alembic", "psycopg", "redis", "httpx2")
API_CLIENT = ("producersync.client", "httpx2")
STORE = "producersync.service.store"
MIRROR = "producersync.sync.mirror"

# Runs `producersync ARGS` as the console script does, in a process of its own (with
# `serve` a no-op, for a command that serves: what it imports up to serving is the
# point), and writes its exit code, the modules it imported and whether the garbage
# collector ran when it would have served to the file OUT.
_PROBE = """
import gc, json, sys
import producersync.cli.main as cli
collecting = []
for name, module in list(sys.modules.items()):
    if name.startswith("producersync.cli.") and hasattr(module, "serve"):
        module.serve = lambda app, settings, refusal: collecting.append(gc.isenabled())
out, sys.argv = sys.argv[1], ["producersync", *sys.argv[2:]]
code = 0
try:
    cli.main()
except SystemExit as exit:
    code = exit.code or 0
with open(out, "w") as file:
    json.dump({"code": code, "modules": sorted(sys.modules), "collecting": collecting}, file)
"""


def probed(tmp_path: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """What `producersync *args` left in the probe's file, once it has ended with ``code``."""
    out = tmp_path / "imported.json"
    subprocess.run([sys.executable, "-c", _PROBE, str(out), *args], check=True, cwd=tmp_path)
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["code"] == code
    return result


def imported(tmp_path: Path, *args: str, code: int = 0) -> set[str]:
    """The modules `producersync *args` imported, once it has ended with ``code``."""
    return set(probed(tmp_path, *args, code=code)["modules"])


def of(modules: set[str], *packages: str) -> set[str]:
    """The ``packages`` of which ``modules`` holds the package or one of its modules."""
    return {p for p in packages if any(m == p or m.startswith(f"{p}.") for m in modules)}


def test_the_cli_imports_no_app_until_a_command_serves() -> None:
    probe = (
        f"import sys, producersync.cli.main; print([m for m in {SERVING!r} if m in sys.modules])"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["sync", "run"],
        ["service", "run"],
        ["admin", "endpoint", "attempts"],
        ["check"],
        ["report", "changes"],
        ["nipr", "generate"],
        ["db", "upgrade"],
    ],
    ids=lambda command: " ".join(command) or "producersync",
)
def test_help_imports_no_database_nor_server(tmp_path: Path, command: list[str]) -> None:
    modules = imported(tmp_path, *command, "--help")
    assert of(modules, *SERVING, *DATABASES, STORE, MIRROR) == set()


# A schema at its head (every start but the first) is opened without Alembic.
def test_a_mirror_command_imports_the_mirror_not_the_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    open_mirror(url).dispose()
    modules = imported(tmp_path, "report", "changes", "--since", "2026-01-01", "--mirror", url)
    assert of(modules, MIRROR, STORE, *SERVING, "alembic") == {MIRROR}


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a script run after the demo's export: a mirror (empty, on
    SQLite), and an API and its credentials, which only `sync verify` calls (nothing
    listens on its port, and it is tried once)."""
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    open_mirror(url).dispose()
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", url)
    monkeypatch.setenv("PRODUCERSYNC_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("PRODUCERSYNC_API_MAX_RETRIES", "0")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_probe")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_probe")


# What users script, a check per producer in a shell loop, a status probe in monitoring,
# starts without the SDK it does not call (some 30 ms of CPU a start), and on a SQLite
# mirror without PostgreSQL's driver (as much again for `sync verify`) nor the cron
# parser of a catch-up schedule left at its default.
UNSCHEDULED = ("psycopg", "croniter")


@pytest.mark.usefixtures("scripted")
@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["check", "1234567", "--state", "CA", "--loa", "Life"], 4),  # not monitored
        (["report", "expiring", "--within", "30"], 0),
        (["sync", "status"], 0),
        (["sync", "changes", "--since", "2026-01-01"], 0),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else str(value),
)
def test_a_command_reading_the_mirror_imports_no_api_client(
    tmp_path: Path, command: list[str], code: int
) -> None:
    modules = imported(tmp_path, *command, code=code)
    assert of(modules, MIRROR, STORE, *SERVING, *API_CLIENT, *UNSCHEDULED) == {MIRROR}


@pytest.mark.usefixtures("scripted")
def test_sync_verify_imports_the_api_client_and_no_server(tmp_path: Path) -> None:
    modules = imported(tmp_path, "sync", "verify", code=3)  # the API out of reach
    found = of(modules, MIRROR, STORE, *SERVING, *API_CLIENT, *UNSCHEDULED)
    assert found == {MIRROR, *API_CLIENT}


# Nor Redis: the settings it reads name a rate-limit store only the service uses.
def test_an_admin_command_imports_the_store_not_the_mirror(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url).dispose()
    modules = imported(tmp_path, "admin", "account", "list", "--database", url)
    assert of(modules, MIRROR, STORE, *SERVING, "httpx2", "alembic", "redis") == {STORE}


def test_the_service_imports_no_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    modules = imported(tmp_path, "service", "run", "--database", url)
    assert of(modules, "producersync.service.app", "fastapi", "producersync.sync") == {
        "producersync.service.app",
        "fastapi",
    }


# The Redis client only where a rate-limit store is redis://: memory:// is the default.
@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_service_on_memory_rate_limits_imports_no_redis(tmp_path: Path, command: str) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    modules = imported(tmp_path, "service", command, "--database", url)
    assert of(modules, "fastapi", "redis") == {"fastapi"}


# Its start (``tune_gc``) collects once and turns the collector back on.
def test_a_serving_command_builds_its_app_without_collecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", f"sqlite:///{tmp_path / 'mirror.db'}")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_probe")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_probe")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    for command in ("run", "worker"):
        assert probed(tmp_path, "service", command, "--database", store)["collecting"] == [False]
    assert probed(tmp_path, "sync", "run")["collecting"] == [False]
