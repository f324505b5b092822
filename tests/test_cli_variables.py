"""A ``PRODUCERSYNC_*`` variable that no part of producersync reads is told of, a warning
line a command, with the setting it is closest to and never its value: pydantic ignored
it, and a misspelt ``PRODUCERSYNC_MIRROR_ULR`` left the sync on a SQLite file in its
working directory without a word. A variable another process reads stays silent: one
environment often serves the service, the sync service and the SDK together."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from producersync.cli._setting_variables import SETTINGS_VARIABLES
from producersync.cli.common import service_settings
from producersync.cli.variables import known_variables, told, unread_variables
from producersync.service.settings import ServiceSettings
from producersync.settings_variables import variable
from producersync.sync.mirror import open_mirror
from producersync.sync.settings import CONFIG_ENV, SyncSettings
from tests.support.cli import producersync, sync_environment
from tests.test_doc_commands import VARIABLE

ROOT = Path(__file__).resolve().parents[1]
_SECRET = "s3cret-in-the-url"

# The other half's variables, set beside a misspelt one of the command's own.
_SERVICE_VARIABLES = {
    "PRODUCERSYNC_DATABASE_URL": "sqlite:///elsewhere.db",
    "PRODUCERSYNC_PORT": "8001",
    "PRODUCERSYNC_EXECUTOR_ID": "service-1",
    "PRODUCERSYNC_TOKEN_SIGNING_KEY": "k" * 40,
}
_SYNC_VARIABLES = {
    "PRODUCERSYNC_SYNC_PORT": "8401",
    "PRODUCERSYNC_WEBHOOK_SECRETS": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "PRODUCERSYNC_CLIENT_ID": "psc_x",
    "PRODUCERSYNC_CLIENT_SECRET": "pss_x",
    "producersync_api_url": "http://127.0.0.1:8001",  # pydantic reads any case
}


# A misspelt variable (its value a secret: never shown) and what is told of it, for the
# other files' tests: this file's misspellings are the only ones the last test passes.
MISSPELT = "PRODUCERSYNC_WEBHOOK_SECRET"
TOLD = (
    f"{MISSPELT} is not a producersync setting and is ignored "
    "(did you mean PRODUCERSYNC_WEBHOOK_SECRETS?)"
)


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def test_a_sync_command_warns_of_a_misspelt_variable_once_not_of_the_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = sync_environment(tmp_path, monkeypatch)
    open_mirror(f"sqlite:///{mirror}").dispose()
    for name, value in _SERVICE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_ULR", f"postgresql://me:{_SECRET}@db/mirror")
    code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert code == 0
    assert _warnings(err) == [
        "warning: PRODUCERSYNC_MIRROR_ULR is not a producersync setting and is ignored "
        "(did you mean PRODUCERSYNC_MIRROR_URL?)"
    ]
    assert _SECRET not in err and "db/mirror" not in err


def test_a_service_command_warns_of_a_misspelt_variable_once_not_of_the_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_environment(tmp_path, monkeypatch)  # the sync's own mirror URL among them
    for name, value in _SYNC_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(MISSPELT, "whsec_" + _SECRET)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, err = producersync(monkeypatch, capsys, "admin", "account", "list", "--database", store)
    assert code == 0
    assert _warnings(err) == [f"warning: {TOLD}"]
    assert _SECRET not in err


# A command may read its settings more than once (its own, then a store's).
def test_a_command_reading_its_settings_twice_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCERSYNC_DATABASE", "sqlite:///x.db")
    app = typer.Typer()

    @app.command()
    def twice() -> None:
        service_settings()
        service_settings()

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0
    assert _warnings(result.stderr) == [
        "warning: PRODUCERSYNC_DATABASE is not a producersync setting and is ignored "
        "(did you mean PRODUCERSYNC_DATABASE_URL?)"
    ]


def test_a_name_close_to_no_setting_gets_no_suggestion() -> None:
    environ = {"PRODUCERSYNC_XYZZY": "1", "PRODUCERSYNC_PORT": "1", "OTHER_XYZZY": "1"}
    assert unread_variables(environ) == {"PRODUCERSYNC_XYZZY": None}


def test_a_name_in_another_case_is_read_and_a_misspelt_one_named_as_given() -> None:
    environ = {"producersync_mirror_url": "x", "Producersync_Mirror_Ulr": "x"}
    assert unread_variables(environ) == {"Producersync_Mirror_Ulr": "PRODUCERSYNC_MIRROR_URL"}


# `demo` starts the service and the sync service: each repeated in its log what the demo
# had told of. A variable the child's environment adds is still told of, as is every one
# in a process started by no other.
def test_a_process_leaves_what_the_one_that_started_it_told_of() -> None:
    parent = {"PRODUCERSYNC_MIRROR_ULR": "x", "PRODUCERSYNC_XYZZY": "1", "PRODUCERSYNC_PORT": "1"}
    assert list(unread_variables(parent)) == ["PRODUCERSYNC_MIRROR_ULR", "PRODUCERSYNC_XYZZY"]
    child = {**parent, **told(parent), "PRODUCERSYNC_SYNC_PROT": "8401"}
    assert unread_variables(child) == {"PRODUCERSYNC_SYNC_PROT": "PRODUCERSYNC_SYNC_PORT"}


# Generated: computed when a command runs, it imported the other process's settings.
def test_the_settings_variables_are_every_settings_variable() -> None:
    settings = (ServiceSettings, SyncSettings)
    computed = {variable(s, name) for s in settings for name in s.model_fields} | {CONFIG_ENV}
    assert computed == SETTINGS_VARIABLES, "run python -m producersync.cli.reference"


# The code's, the suite's and the benchmarks': an environment set for them passes them on
# to every command, which would warn of each one not known. (This file's misspellings
# aside.)
def test_every_variable_the_code_tests_and_benchmarks_name_is_known() -> None:
    files = [
        path
        for directory in ("src", "tests", "bench")
        for path in (ROOT / directory).rglob("*.py")
        if path != Path(__file__)
    ]
    named = {name for path in files for name in VARIABLE.findall(path.read_text())}
    assert len(named) > 60  # read, not passed over
    assert named - known_variables() == set()
