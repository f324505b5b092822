"""One log format for every line a long-running process writes: ours, uvicorn's, DBOS's
and any library's (``producersync.log_format``, as docs/operations.md shows it), text by
default or JSON (``--log-format json``, ``PRODUCERSYNC_LOG_FORMAT``), at the level
``--log-level`` or ``PRODUCERSYNC_LOG_LEVEL`` sets."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from producersync.cli.main import app
from producersync.log_format import LogFormat, log_config
from producersync.service.settings import ServiceSettings
from producersync.sync.hooks import GROUP
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret
from tests.support import forked
from tests.support.databases import store_url
from tests.support.processes import cli, service_process
from tests.support.service import free_port
from tests.support.waiting import eventually
from tests.test_cli_variables import MISSPELT, TOLD

_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# A variable no process reads is told of among the log lines, once, never with its value:
# a plain `warning:` line before logging was set, it was the one line of a JSON log that
# was no JSON.
_MISSPELT = {MISSPELT: "whsec_s3cret-in-the-log"}


def test_a_process_logs_every_line_in_the_format(tmp_path: Path) -> None:
    with (
        store_url("sqlite", tmp_path) as url,
        service_process(url, tmp_path, command="worker", env=_MISSPELT) as worker,
    ):
        pass
    text = worker.log.read_text()
    lines = text.splitlines()
    assert any("uvicorn.error: Uvicorn running on" in line for line in lines), lines
    assert all(_LINE.match(line) for line in lines), lines
    told = [line for line in lines if line.endswith(f"WARNING producersync.settings: {TOLD}")]
    assert len(told) == 1 and "s3cret" not in text, lines


def test_a_process_started_with_log_format_json_logs_every_line_as_json(
    tmp_path: Path,
) -> None:
    with (
        store_url("sqlite", tmp_path) as url,
        service_process(url, tmp_path, "--log-format", "json", env=_MISSPELT) as service,
    ):
        pass
    text = service.log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(x["message"].startswith("Uvicorn running on") for x in lines), lines
    for line in lines:
        assert list(line)[:4] == ["timestamp", "level", "logger", "message"], line
        assert _TIMESTAMP.match(line["timestamp"]), line
    told = [x for x in lines if x["logger"] == "producersync.settings"]
    assert [{k: v for k, v in x.items() if k != "timestamp"} for x in told] == [
        {
            "level": "warning",
            "logger": "producersync.settings",
            "message": TOLD,
            "variable": MISSPELT,
            "suggestion": "PRODUCERSYNC_WEBHOOK_SECRETS",
        }
    ]
    assert "s3cret" not in text


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (["service", "worker", "--log-format", "json"], {}),
        (["service", "run", "--log-level", "critical"], {"PRODUCERSYNC_LOG_FORMAT": "json"}),
    ],
    ids=["worker-option", "run-environment-critical"],
)
def test_a_process_that_cannot_start_tells_why_in_its_json_log(
    tmp_path: Path, command: list[str], env: dict[str, str]
) -> None:
    """A store out of reach at start (a restart while the database is down, a wrong URL)
    was told in a bare `error:` line, the one line of a JSON log that was no JSON, at the
    moment the operator most needed the shipper to read it. Critical: every log level
    shows it."""
    missing = tmp_path / "no-such-directory" / "store.db"
    database = ["--database", f"sqlite:///{missing}", "--port", str(free_port())]
    result = cli(*command, *database, env=env, check=False)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(x["level"], x["logger"], x["field"]) for x in lines] == [
        ("critical", "producersync.cli", None)
    ]
    assert lines[0]["message"].startswith(f"the store at {missing}: "), lines
    assert _TIMESTAMP.match(lines[0]["timestamp"]), lines


# What DBOS() does: it adds its own handler to a logger that has none; and two warnings
# from one line of DBOS's while PostgreSQL is down, of which only the first is logged.
_SNIPPET = """
import logging, logging.config, sys
import psycopg
from dbos._logger import init_logger
from producersync.log_format import log_config
logging.config.dictConfig(log_config("info", sys.argv[1]))
init_logger()
logging.getLogger("dbos").warning("from dbos")
for _ in range(2):
    try:
        raise psycopg.OperationalError("connection failed")
    except psycopg.OperationalError as e:
        logging.getLogger("dbos").warning(f"Notification listener error: {e}")
logging.getLogger("producersync.sync.app").info("from us", extra={"run_id": 7})
logging.getLogger("producersync.sync.app").debug("not at info")
logging.getLogger("sqlalchemy.pool").warning("from a library")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("producersync.x").exception("with a traceback")
"""
_LOGGED = [
    ("dbos", "from dbos"),
    ("dbos", "Notification listener error: connection failed"),
    ("producersync.sync.app", "from us"),
    ("sqlalchemy.pool", "from a library"),
    ("producersync.x", "with a traceback"),
]


def _run(log_format: LogFormat) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _SNIPPET, log_format],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stderr.splitlines()


def test_dbos_ours_and_libraries_share_the_format() -> None:
    lines = _run("text")
    heads = [line for line in lines if _LINE.match(line)]
    assert [tuple(line.split(" ", 2)[2].split(": ", 1)) for line in heads] == _LOGGED
    assert lines[len(heads) - 1 :][1] == "Traceback (most recent call last):"


def test_dbos_ours_and_libraries_share_the_json_format() -> None:
    lines: list[dict[str, Any]] = [json.loads(line) for line in _run("json")]
    assert [(line["logger"], line["message"]) for line in lines] == _LOGGED
    assert lines[2]["run_id"] == 7
    assert lines[-1]["exception"].endswith("ZeroDivisionError: division by zero")
    assert all(_TIMESTAMP.match(line["timestamp"]) for line in lines)


@pytest.mark.parametrize("settings", [ServiceSettings, SyncSettings])
@pytest.mark.parametrize(
    ("name", "default", "other"), [("log_format", "text", "json"), ("log_level", "info", "debug")]
)
def test_the_log_format_and_level_are_read_from_the_environment_with_defaults(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[ServiceSettings | SyncSettings],
    name: str,
    default: str,
    other: str,
) -> None:
    variable = f"PRODUCERSYNC_{name.upper()}"
    monkeypatch.delenv(variable, raising=False)
    assert getattr(settings(), name) == default
    monkeypatch.setenv(variable, other)
    assert getattr(settings(), name) == other


@pytest.mark.parametrize(
    ("command", "env", "args", "level"),
    [
        (["service", "run"], None, [], "info"),
        (["service", "run"], "debug", [], "debug"),
        (["service", "worker"], "debug", [], "debug"),
        (["service", "worker"], "debug", ["--log-level", "error"], "error"),
        (["quickstart"], "debug", ["--producers", "0"], "debug"),
    ],
    ids=["default", "environment", "worker-environment", "option-first", "quickstart"],
)
def test_a_serving_command_logs_at_the_environment_s_level_unless_the_option_says(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    env: str | None,
    args: list[str],
    level: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # quickstart's credentials file
    if env is None:
        monkeypatch.delenv("PRODUCERSYNC_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("PRODUCERSYNC_LOG_LEVEL", env)
    served: list[str] = []

    def serve(app: object, settings: ServiceSettings, *rest: object) -> None:
        served.append(settings.log_level)

    for module in ("service", "quickstart"):
        monkeypatch.setattr(f"producersync.cli.{module}.serve", serve)
    monkeypatch.setattr("producersync.cli.quickstart.listen", lambda host, port: [])
    for module in ("app.create_app", "worker.create_worker_app"):
        monkeypatch.setattr(f"producersync.service.{module}", lambda settings: None)
    database = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    result = CliRunner().invoke(app, [*command, *database, *args])
    assert (result.exit_code, served) == (0, [level]), result.output


def test_a_text_line_hides_a_url_s_user_and_password_in_its_message_and_traceback() -> None:
    url = "https://reporter:hunter2@crm.example/hook"
    try:
        raise ConnectionError(f"cannot reach {url}")
    except ConnectionError:
        failure = sys.exc_info()
    formatter = logging.config.DictConfigurator(log_config()).configure_formatter(
        log_config()["formatters"]["line"]
    )
    record = logging.makeLogRecord(
        {"name": "producersync.sync.hooks", "msg": "hook failed on %s", "args": (url,)}
    )
    record.exc_info = failure
    text = formatter.format(record)
    assert "hunter2" not in text and "reporter" not in text
    assert text.count("https://***@crm.example/hook") == 2


def _unloadable_hook(directory: Path) -> dict[str, str]:
    """The environment of a sync process whose one hook cannot be loaded (logged at its
    start, an error), the API nowhere (its first call fails)."""
    info = directory / "hooks" / "acme_hooks-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-hooks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\ncrm = acme_no_such_module:notify\n")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(info.parent), os.environ.get("PYTHONPATH", "")]),
        "PRODUCERSYNC_API_URL": "http://127.0.0.1:9",  # nothing listens: the catch-up fails
        "PRODUCERSYNC_CLIENT_ID": "psc_1",
        "PRODUCERSYNC_CLIENT_SECRET": "pss_1",
        "PRODUCERSYNC_WEBHOOK_SECRETS": generate_secret(),
        "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{directory / 'mirror.db'}",
    }


def _logged_until(args: list[str], env: dict[str, str], log: Path, until: str) -> list[str]:
    """The lines ``producersync ARGS`` writes to stderr until one holds ``until`` (or it
    ends); then it is stopped."""
    with log.open("wb") as err:
        process = forked.start(args, env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        eventually(lambda: until in log.read_text() or process.poll() is not None)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return log.read_text().splitlines()


def test_a_sync_process_tells_a_hook_it_cannot_load_in_the_log_format(tmp_path: Path) -> None:
    """The hooks are loaded as the app is made, which was before the log format was set:
    a hook that could not be loaded was told in bare lines, no time nor level, not JSON
    under --log-format json."""
    args = ["sync", "run", "--port", str(free_port()), "--log-format", "json"]
    logged = _logged_until(
        args, _unloadable_hook(tmp_path), tmp_path / "sync.log", "Uvicorn running on"
    )
    lines = [json.loads(line) for line in logged]
    assert any("crm" in x["message"] and x["level"] == "error" for x in lines), lines


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["now", "--since", "2026-01-01"], {"PRODUCERSYNC_LOG_FORMAT": "json"}),
        (["backfill", "--log-format", "json"], {}),
    ],
    ids=["now-environment", "backfill-option"],
)
def test_a_pull_logs_in_the_format_sync_run_does(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    """`sync now` and `sync backfill` set no logging: a hook they could not load, a hook
    that failed, an API call retried, came as bare lines (Python's last resort), whatever
    PRODUCERSYNC_LOG_FORMAT said, and their INFO lines not at all."""
    environment = {**_unloadable_hook(tmp_path), **env}
    log = tmp_path / "pull.log"
    lines = _logged_until(["sync", *args], environment, log, "could not be loaded")
    first = json.loads(lines[0])
    assert (first["level"], first["logger"]) == ("error", "producersync.sync.hooks"), lines
    assert first["message"] == "sync hook 'crm' (acme_no_such_module:notify) could not be loaded"
    assert first["exception"].endswith("No module named 'acme_no_such_module'")


def test_a_line_logged_under_a_progress_bar_is_printed_above_it() -> None:
    """On a terminal Rich puts a proxy in sys.stderr while a progress bar is drawn (`sync
    now`, `sync backfill`), which prints each line above the bar; the handler held the
    stream it was configured with, wrote behind the proxy, and the bar was drawn over the
    line."""
    config = log_config()
    del config["root"]  # the test's logger only
    config["loggers"] = {"producersync.tests.bar": {"handlers": ["stderr"], "propagate": False}}
    logging.config.dictConfig(config)
    logger = logging.getLogger("producersync.tests.bar")
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    try:
        with Progress(console=terminal) as progress:
            progress.add_task("manual: streams", total=4)
            logger.warning("sync hook 'crm' failed on a batch")
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
    drawn = terminal.file.getvalue()
    assert "sync hook 'crm' failed on a batch" in drawn
    assert drawn.index("failed on a batch") < drawn.rindex("manual: streams")
