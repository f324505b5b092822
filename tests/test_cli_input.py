"""What commands are given, refused before anything is opened, created or served: a bad
option is a usage error (exit 2) naming the option and the value; a bad setting from the
environment or the configuration file names its variable, and its value unless secret."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx2
import orjson
import pytest
import sqlalchemy as sa
import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from typer.testing import CliRunner, Result

from producersync.cli import common as cli_common
from producersync.cli.common import iso_date, iso_time, settings_problems
from producersync.cli.errors import JsonErrorsCommand
from producersync.cli.main import app
from producersync.cli.system_database import reach_system_database
from producersync.database_url import sqlalchemy_url
from producersync.service.settings import ServiceSettings
from producersync.service.store import migrate as store_migrate
from producersync.service.store.open import open_store
from producersync.sync.mirror import open_mirror
from producersync.sync.settings import SyncSettings
from tests.support.cli import (
    api_through,
    error_both_ways,
    producersync,
    producersync_output,
    sync_environment,
)
from tests.support.databases import database_of_a_restricted_role
from tests.support.processes import cli
from tests.support.service import free_port

pytestmark = pytest.mark.slow(60)


@pytest.mark.parametrize(
    ("command", "value"),
    [
        (["sync", "changes"], "2026-13-01"),
        (["sync", "changes"], "yesterday"),
        (["sync", "now"], "2026-02-30"),
        (["report", "changes"], "01/09/2025"),
        (["sync", "changes"], "2026-W01-1"),  # week and basic dates: Python reads them
        (["report", "changes"], "20261201"),
        (["sync", "changes"], "\uff12\uff10\uff12\uff16-12-01"),  # full-width digits
        (["admin", "endpoint", "recover", "ep_1"], "soon"),
    ],
)
def test_a_bad_since_is_a_usage_error_and_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", mirror)
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    result = CliRunner().invoke(app, [*command, "--since", value])
    assert result.exit_code == 2, result.output
    assert "--since" in result.output and repr(value) in result.output
    assert list(tmp_path.iterdir()) == []  # no mirror, no store


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2026-02-30", "is not a date: day is out of range for month"),
        ("2026-13-01T08:00:00", "is not a date: month must be in 1..12"),
        ("2026-12-01T25:00", "is not an ISO 8601 time or date, as 2025-09-01T08:00:00"),
    ],
)
@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes"]])
def test_a_since_naming_a_day_that_does_not_exist_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], value: str, why: str
) -> None:
    """It said the format was wrong, as --on once did: 2026-02-30 has the format."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, "--since", value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--since': {value!r} {why}" in _said(result)


def test_a_time_without_a_zone_is_utc_and_a_zone_is_kept() -> None:
    assert iso_time("2025-09-01") == dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    assert iso_time("2025-09-01T08:00:00") == dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)
    two_hours_ahead = dt.timezone(dt.timedelta(hours=2))
    assert iso_time("2025-09-01T08:00:00+02:00") == dt.datetime(
        2025, 9, 1, 6, tzinfo=dt.UTC
    ).astimezone(two_hours_ahead)
    assert iso_date("2025-09-01") == dt.date(2025, 9, 1)
    with pytest.raises(typer.BadParameter, match="'2025-9-1' is not a date as yyyy-MM-dd"):
        iso_date("2025-9-1")


def test_a_date_or_time_with_spaces_around_it_is_read_as_the_api_reads_it() -> None:
    """Was "' 2024-02-29' is not a date as yyyy-MM-dd" (--on, --date, --since), a date
    pasted with its line's end; the API's updatedSince and --within read it."""
    assert iso_date(" 2024-02-29\n") == dt.date(2024, 2, 29)
    assert iso_time("\t2026-03-08T02:30:00-05:00 ") == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    with pytest.raises(typer.BadParameter, match="' 2027-02-29 ' is not a date: day is out"):
        iso_date(" 2027-02-29 ")
    with pytest.raises(typer.BadParameter, match="' 2027-02-29T08:00 ' is not a date: day is"):
        iso_time(" 2027-02-29T08:00 ")


@pytest.mark.parametrize("offset", ["-05", "-0500", "-05:00"])
def test_a_time_s_offset_is_read_as_python_writes_it_to_the_hour_or_minute(offset: str) -> None:
    """An offset of hours alone, 2026-12-01T00:00-05 (fromisoformat reads it), was "not
    an ISO 8601 time or date"."""
    five_hours_behind = dt.timezone(dt.timedelta(hours=-5))
    expected = dt.datetime(2026, 12, 1, tzinfo=five_hours_behind)
    assert iso_time(f"2026-12-01T00:00{offset}") == expected
    assert iso_time(f"2026-12-01T00:00:00.5{offset}") == expected.replace(microsecond=500_000)
    assert iso_time("2026-12-01T05:00Z") == expected


@pytest.mark.parametrize("offset", ["-5", "-05:0", "-050", "-24", "-05:60", "+05:", "-05-"])
def test_an_offset_python_does_not_read_or_out_of_range_is_refused(offset: str) -> None:
    value = f"2026-12-01T00:00{offset}"
    with pytest.raises(
        typer.BadParameter,
        match=f"^'{re.escape(value)}' is not an ISO 8601 time or date, as 2025-09-01T08:00:00$",
    ):
        iso_time(value)


@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes"]])
def test_since_takes_an_offset_of_hours_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    open_mirror(url).dispose()
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", url)
    since = "2026-12-01T00:00-05"
    result = CliRunner().invoke(app, [*command, "--since", since, "--json"])
    assert result.exit_code == 0, result.output
    if command[0] == "report":
        assert orjson.loads(result.output)["since"] == "2026-12-01T05:00:00.000Z"


def test_a_time_in_lowercase_is_read_as_rfc_3339_allows() -> None:
    """'2025-09-01t08:00:00z' was refused as no ISO 8601 time; the API takes it."""
    eight = dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)
    assert iso_time("2025-09-01t08:00:00z") == eight
    assert iso_time("2025-09-01T08:00:00z") == eight
    assert iso_time("2025-09-01t08:00:00Z") == eight


@pytest.mark.parametrize(
    "value", ["2025-09-01T08:00:00xZ", "2025-09-01T08:00:00zz", "2025-09-01T08", "2025-09-01T24:00"]
)
def test_a_time_python_reads_but_the_api_does_not_is_refused(value: str) -> None:
    """fromisoformat alone read a letter before the Z, and an hour alone."""
    with pytest.raises(typer.BadParameter, match=f"'{value}' is not an ISO 8601 time"):
        iso_time(value)


_WIDE_2026 = "\uff12\uff10\uff12\uff16"  # full-width digits, which re's \d and int() take


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2026-02-30", "'2026-02-30' is not a date: day is out of range for month"),
        ("2026-13-01", "'2026-13-01' is not a date: month must be in 1..12"),
        ("0000-01-01", "'0000-01-01' is not a date: year 0 is out of range"),
        (f"{_WIDE_2026}-01-01", f"'{_WIDE_2026}-01-01' is not a date as yyyy-MM-dd"),
        ("2026-0\u0661-01", "'2026-0\u0661-01' is not a date as yyyy-MM-dd"),
        ("15/01/2026", "'15/01/2026' is not a date as yyyy-MM-dd"),
    ],
    ids=["no-such-day", "no-such-month", "year-0", "full-width", "arabic-indic", "format"],
)
def test_a_check_on_a_bad_date_says_why_in_ascii_digits_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["check", "12345678", "--state", "CA", "--loa", "Life", "--on", value]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--on': {said}" in _said(result)
    assert "Value error" not in result.output and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command", [["service", "run"], ["service", "worker"], ["sync", "run"], ["demo", "--sync-port"]]
)
@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_out_of_range_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], port: str
) -> None:
    monkeypatch.chdir(tmp_path)

    def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("served on a port out of range")

    for module in ("producersync.cli.service", "producersync.cli.sync"):
        monkeypatch.setattr(f"{module}.serve", served)
    option = [] if command[-1].startswith("--") else ["--port"]
    result = CliRunner().invoke(app, [*command, *option, port])
    assert result.exit_code == 2, result.output
    # Named with its value, as a setting's refusal is: it was "Input should be greater
    # than or equal to 1" alone.
    named = [*command, *option][-1]
    said = _said(result)
    assert f"Invalid value for '{named}': Input should be" in said
    assert f"(given: {port!r})" in said
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_store_out_of_reach_at_start_is_one_line(command: str) -> None:
    # Nothing listens on port 9 (discard) here.
    store = "postgresql://ops:hunter2@127.0.0.1:9/x"
    result = cli("service", command, "--port", "1", "--database", store, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: the database: connection failed"), result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def _sync_env(tmp_path: Path) -> dict[str, str]:
    """What ``sync run`` needs set to go as far as its databases."""
    return {
        "PRODUCERSYNC_SYNC_CONFIG": "",
        "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{tmp_path}/mirror.db",
        "PRODUCERSYNC_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(b"s" * 24).decode(),
        "PRODUCERSYNC_CLIENT_ID": "cid",
        "PRODUCERSYNC_CLIENT_SECRET": "csecret",
    }


@pytest.mark.parametrize(
    "command", [["service", "run"], ["service", "worker"], ["sync", "run"]], ids=" ".join
)
@pytest.mark.parametrize(
    "where", ["closed-port", "nohost.invalid"], ids=["closed-port", "unresolved-host"]
)
def test_a_dbos_system_database_out_of_reach_at_start_is_one_line(
    tmp_path: Path, command: list[str], where: str
) -> None:
    # A port just free has nothing listening; .invalid never resolves (RFC 2606).
    host = f"127.0.0.1:{free_port()}" if where == "closed-port" else where
    system = f"postgresql://ops:hunter2@{host}/dbos"
    env = {
        "PRODUCERSYNC_DBOS_SYSTEM_DATABASE_URL": system,
        "PRODUCERSYNC_SYNC_DBOS_SYSTEM_DATABASE_URL": system,
        **_sync_env(tmp_path),
    }
    store = ["--database", f"sqlite:///{tmp_path}/store.db"] if command[0] == "service" else []
    result = cli(*command, "--port", str(free_port()), *store, env=env, check=False)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    reason = "Connection refused" if where == "closed-port" else "failed to resolve host"
    assert line.startswith(f"error: the DBOS system database postgresql://***@{host}/dbos: ")
    assert reason in line and "hunter2" not in line


_NO_SCHEMA = "CREATE SCHEMA dbos"  # as a superuser: the role may do nothing in it
_SERVICE = ("PRODUCERSYNC_DATABASE_URL", "PRODUCERSYNC_DBOS_SYSTEM_DATABASE_URL")


@pytest.mark.parametrize(
    ("command", "setting", "variable", "setup"),
    [
        (["service", "run"], *_SERVICE, ()),
        (["service", "run"], *_SERVICE, (_NO_SCHEMA,)),
        (["service", "run"], _SERVICE[1], _SERVICE[1], ()),
        (["service", "worker"], *_SERVICE, ()),
        (
            ["sync", "run"],
            "PRODUCERSYNC_MIRROR_URL",
            "PRODUCERSYNC_SYNC_DBOS_SYSTEM_DATABASE_URL",
            (),
        ),
    ],
    ids=[
        "service-run-store",
        "service-run-store-schema-not-granted",
        "service-run-set-apart",
        "service-worker-store",
        "sync-run-mirror",
    ],
)
def test_a_role_that_cannot_keep_dbos_s_schema_is_told_in_one_line_at_start(
    tmp_path: Path, command: list[str], setting: str, variable: str, setup: tuple[str, ...]
) -> None:
    """A role that may create tables but not a schema migrated the store, then DBOS failed
    in uvicorn's lifespan: a 100-line traceback ("permission denied for database") and
    exit code 3."""
    with database_of_a_restricted_role(*setup) as url:
        env = {
            **_sync_env(tmp_path),
            "PRODUCERSYNC_DATABASE_URL": f"sqlite:///{tmp_path}/store.db",
            setting: url,
        }
        result = cli(*command, "--port", str(free_port()), env=env, check=False)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    parsed = sa.make_url(url)
    role, database = parsed.username, parsed.database
    assert line.startswith(
        f"error: the DBOS system database postgresql://***@{parsed.host}:{parsed.port}/{database}: "
        f"role {role} may not "
    ), line
    if setup:
        assert "lacks the USAGE and CREATE privileges on it" in line, line
        assert f"GRANT USAGE, CREATE ON SCHEMA dbos TO {role})" in line, line
    else:
        assert "lacks the CREATE privilege on the database" in line, line
        assert f"GRANT CREATE ON DATABASE {database} TO {role})" in line, line
        assert f"CREATE SCHEMA dbos AUTHORIZATION {role})" in line, line
    assert f"or set {variable} to a database it may keep DBOS's schema in" in line, line
    assert "hunter2" not in line


@pytest.mark.parametrize(
    "setup",
    [
        ("CREATE SCHEMA dbos AUTHORIZATION {role}",),
        (_NO_SCHEMA, "GRANT USAGE, CREATE ON SCHEMA dbos TO {role}"),
        # DBOS's tables made (by whoever migrated it): using them needs no CREATE.
        (
            _NO_SCHEMA,
            "CREATE TABLE dbos.dbos_migrations ()",
            "GRANT USAGE ON SCHEMA dbos TO {role}",
        ),
    ],
    ids=["schema-owned", "schema-granted", "tables-there"],
)
def test_a_role_that_can_keep_dbos_s_schema_is_not_refused(setup: tuple[str, ...]) -> None:
    with database_of_a_restricted_role(*setup) as url:
        reach_system_database(None, ServiceSettings, url)
        reach_system_database(url, ServiceSettings, "sqlite:///store.db")


@pytest.mark.parametrize(
    ("env", "code", "named"),
    [
        ({"PRODUCERSYNC_SYNC_PORT": "80a"}, 2, ["PRODUCERSYNC_SYNC_PORT", "'80a'"]),
        ({"PRODUCERSYNC_MIRROR_URL": "mysql://ops:hunter2@db/x"}, 2, ["mysql://***@db/x"]),
        ({"PRODUCERSYNC_API_URL": "api.example"}, 2, ["PRODUCERSYNC_API_URL", "'api.example'"]),
        (
            {"PRODUCERSYNC_API_URL": "https://api.example/v2"},
            2,
            ["PRODUCERSYNC_API_URL", "ends in the API's version /v2: give its root"],
        ),
        # Nothing listens on port 9 (discard) here: the database is out of reach.
        ({"PRODUCERSYNC_MIRROR_URL": "postgresql://ops:hunter2@127.0.0.1:9/x"}, 1, ["mirror"]),
    ],
    ids=["port", "database", "api", "api-version", "unreachable"],
)
def test_a_bad_setting_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    code: int,
    named: list[str],
) -> None:
    # Through main, as the console script runs it (a traceback would fail the test
    # here): test_the_installed_command_reports_settings_as_the_module_does is the
    # process.
    for name, value in {"PRODUCERSYNC_SYNC_CONFIG": "", **env}.items():
        monkeypatch.setenv(name, value)
    exit_code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert exit_code == code, err
    assert all(text in err for text in named), err
    assert "Traceback" not in err and "hunter2" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["admin", "account", "list", "--database", "mysql://ops:hunter2@db/x"],
        ["report", "expiring", "--within", "30", "--mirror", "not a url"],
        [
            "check",
            "1234567",
            "--state",
            "CA",
            "--loa",
            "Life",
            "--mirror",
            "oracle://ops:hunter2@db",
        ],
    ],
    ids=["database", "mirror", "check-mirror"],
)
def test_a_database_url_we_do_not_open_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "sqlite:///file.db" in result.output  # what to give instead
    assert "hunter2" not in result.output and list(tmp_path.iterdir()) == []


def test_database_urls_open_with_psycopg_or_sqlite() -> None:
    opened = "postgresql+psycopg://a:b@h:5432/d?connect_timeout=10"
    assert sqlalchemy_url("postgres://a:b@h:5432/d") == opened
    assert sqlalchemy_url("postgresql://h/d") == "postgresql+psycopg://h/d?connect_timeout=10"
    assert sqlalchemy_url("sqlite:///m.db") == "sqlite:///m.db"
    with pytest.raises(ValueError, match=r"'mysql://\*\*\*@h/d': mysql is not a supported"):
        sqlalchemy_url("mysql://a:secret@h/d")


def _lines(exc: ValidationError, settings: type[BaseSettings]) -> list[str]:
    """What the command says of each setting refused in ``exc``, a line each."""
    return [problem.message for problem in settings_problems(exc, settings)]


def test_a_refused_number_is_shown_and_a_path_must_be_absolute() -> None:
    with pytest.raises(ValidationError) as refused:
        SyncSettings(api_rate_limit_per_minute=0, webhook_path="webhooks/psapi")
    assert sorted(_lines(refused.value, SyncSettings)) == [
        "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE: Input should be greater than 0 (given: 0)",
        "PRODUCERSYNC_WEBHOOK_PATH: String should match pattern '^/' (given: 'webhooks/psapi')",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COALESCE_SECONDS", "inf"),
        ("COALESCE_SECONDS", "7200"),
        ("API_TIMEOUT_SECONDS", "inf"),
        ("API_RATE_LIMIT_PER_MINUTE", "inf"),
        ("API_RATE_LIMIT_PER_MINUTE", "nan"),
        ("SYNC_HOST", ""),
        ("RECEIPT_RETENTION_DAYS", "1000000"),
        ("RECEIPT_RETENTION_DAYS", "29"),
        ("CHANGE_RETENTION_DAYS", "0"),
        ("CHANGE_RETENTION_DAYS", "1000000"),
        ("COALESCE_MAX", "501"),
        ("COLLECT_MAX", "99999999999999999999"),
    ],
)
def test_a_sync_setting_past_what_it_can_be_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # Each was taken: with inf, activations waited for good, or the client paced at no
    # limit; an empty host bound every interface; a retention past year 1 stopped
    # `sync run` at start with an OverflowError's traceback, and a LIMIT past SQLite's
    # integers failed every collector pass. Under 30 days of receipts, a redelivery or a
    # replay could be acted on twice; past 500 NPNs, a bulk fetch's URL passes 8 KB.
    monkeypatch.setenv(f"PRODUCERSYNC_{name}", value)
    with pytest.raises(ValidationError) as refused:
        SyncSettings()
    (problem,) = _lines(refused.value, SyncSettings)
    assert problem.startswith(f"PRODUCERSYNC_{name}: "), problem
    assert f"(given: '{value}')" in problem


def test_a_sync_setting_of_nan_is_refused_as_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused as "should be less than or equal to 60", which NaN is not.
    monkeypatch.setenv("PRODUCERSYNC_POPULATION_SETTLE_SECONDS", "nan")
    with pytest.raises(ValidationError) as refused:
        SyncSettings()
    (problem,) = _lines(refused.value, SyncSettings)
    assert problem.startswith("PRODUCERSYNC_POPULATION_SETTLE_SECONDS: Input should be a finite")


def test_sync_run_names_the_option_a_refused_setting_came_from(tmp_path: Path) -> None:
    env = {"PRODUCERSYNC_SYNC_CONFIG": "", "PRODUCERSYNC_MIRROR_URL": f"sqlite:///{tmp_path}/m.db"}
    result = cli("sync", "run", "--host", "", env=env, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: --host: "), result.stderr


_FORMATS = "Input should be 'text' or 'json' (given: 'yaml')"
_LEVELS = (
    "Input should be 'critical', 'error', 'warning', 'info', 'debug' or 'trace' (given: 'loud')"
)


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--log-format", "yaml"], {}, f"--log-format: {_FORMATS}"),
        ([], {"PRODUCERSYNC_LOG_FORMAT": "yaml"}, f"PRODUCERSYNC_LOG_FORMAT: {_FORMATS}"),
        (["--log-level", "loud"], {}, f"--log-level: {_LEVELS}"),
        ([], {"PRODUCERSYNC_LOG_LEVEL": "loud"}, f"PRODUCERSYNC_LOG_LEVEL: {_LEVELS}"),
    ],
    ids=["format-option", "format-environment", "level-option", "level-environment"],
)
def test_sync_run_refuses_a_log_format_or_level_naming_where_it_came_from(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    said: str,
) -> None:
    monkeypatch.setattr("producersync.cli.sync.serve", _never_served)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, err = producersync(monkeypatch, capsys, "sync", "run", *args)
    assert (code, err) == (2, f"error: {said}\n")


def test_a_refused_secret_setting_is_named_without_its_value() -> None:
    with pytest.raises(ValidationError) as refused:
        SyncSettings(client_secret=4242424242, port=0)  # type: ignore[arg-type]
    problems = settings_problems(refused.value, SyncSettings)
    assert {(problem.field, problem.value) for problem in problems} == {
        ("PRODUCERSYNC_SYNC_PORT", "0"),
        ("PRODUCERSYNC_CLIENT_SECRET", None),  # for --json: as the line, without its value
    }
    lines = "".join(problem.message for problem in problems)
    assert "4242424242" not in lines and "(given: 0)" in lines


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"public_url": "notaurl"}, "PRODUCERSYNC_PUBLIC_URL: Input should be a valid URL"),
        ({"public_url": "ftp://api.example"}, "PRODUCERSYNC_PUBLIC_URL: URL scheme should be"),
        # Taken: the user and password went out in every HAL link, and a query or a
        # fragment came before each link's path (https://api.example/?q=1/v2/entities).
        (
            {"public_url": "https://ops:hunter2@api.example/ps"},
            "PRODUCERSYNC_PUBLIC_URL: 'https://***@api.example/ps' has a user or password: ",
        ),
        (
            {"public_url": "https://api.example/?q=1"},
            "PRODUCERSYNC_PUBLIC_URL: 'https://api.example/?q=1' has a query: ",
        ),
        (
            {"public_url": "https://api.example/ps#top"},
            "PRODUCERSYNC_PUBLIC_URL: 'https://api.example/ps#top' has a fragment: ",
        ),
        (
            {"rate_limit_storage": "mongodb://ops:hunter2@db"},
            "PRODUCERSYNC_RATE_LIMIT_STORAGE: 'mongodb://***@db' is not memory:// or a redis://",
        ),
        # Taken, then a traceback at start-up that showed the password.
        (
            {"rate_limit_storage": "redis://ops:hunter2@cache:6379x"},
            "PRODUCERSYNC_RATE_LIMIT_STORAGE: 'redis://***@cache:6379x' is not a Redis URL: ",
        ),
        (
            {"rate_limit_storage": "redis://cache?retries=3"},
            "PRODUCERSYNC_RATE_LIMIT_STORAGE: 'redis://cache?retries=3' is not a Redis URL: ",
        ),
        ({"database_url": "sqlite"}, "PRODUCERSYNC_DATABASE_URL: 'sqlite' is not a database URL"),
        # inf, nan, past a century, below zero or an empty host were taken: a traceback
        # where first used (portal-link), a poll or timeout never, every interface.
        (
            {"portal_link_ttl_seconds": "inf"},
            "PRODUCERSYNC_PORTAL_LINK_TTL_SECONDS: Input should be a finite",
        ),
        (
            {"webhook_secret_grace_seconds": "1e300"},
            "PRODUCERSYNC_WEBHOOK_SECRET_GRACE_SECONDS: Input should be less",
        ),
        ({"job_poll_seconds": "inf"}, "PRODUCERSYNC_JOB_POLL_SECONDS: Input should be a finite"),
        (
            {"token_ttl_seconds": "99999999999999"},
            "PRODUCERSYNC_TOKEN_TTL_SECONDS: Input should be less",
        ),
        (
            {"webhook_retry_schedule": "5,-5"},
            "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE: -5.0 is not a delay",
        ),
        (
            {"webhook_retry_schedule": "5,nan"},
            "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE: nan is not a delay",
        ),
        ({"host": ""}, "PRODUCERSYNC_HOST: String should have at least 1 character"),
        # Taken: 300000000 for 300 went out in every ratelimit-limit header, no limit at all.
        *(
            (
                {name: "300000000"},
                f"PRODUCERSYNC_{name.upper()}: Input should be less than or equal to 1000000",
            )
            for name in (
                "api_rate_limit_per_minute",
                "token_rate_limit_per_minute",
                "token_failure_limit_per_minute",
            )
        ),
        # Taken, kept by DBOS, then a traceback at start-up, exit code 3.
        (
            {"nipr_schedule": "0 6 31 2 *"},
            "PRODUCERSYNC_NIPR_SCHEDULE: '0 6 31 2 *' never fires: no day matches it",
        ),
        # Refused as "should be less than ... 1", which NaN is not.
        ({"nipr_churn_rate": "nan"}, "PRODUCERSYNC_NIPR_CHURN_RATE: Input should be a finite"),
        (
            {"webhook_retry_jitter": "nan"},
            "PRODUCERSYNC_WEBHOOK_RETRY_JITTER: Input should be a finite",
        ),
        # Taken: an HS256 key a word long, every token forgeable from one the API issued.
        (
            {"token_signing_key": "hunter2"},
            "PRODUCERSYNC_TOKEN_SIGNING_KEY: shorter than 32 bytes",
        ),
    ],
)
def test_service_settings_refuse_what_the_service_cannot_serve_with(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**values)  # type: ignore[arg-type]
    (problem,) = _lines(refused.value, ServiceSettings)
    assert problem.startswith(named) and "hunter2" not in problem


@pytest.mark.parametrize("key", ["k" * 32, ""], ids=["32-bytes", "empty-as-unset"])
def test_a_token_signing_key_of_32_bytes_or_none_is_taken(key: str) -> None:
    assert ServiceSettings(token_signing_key=key).token_signing_key is not None  # type: ignore[arg-type]


def test_the_installed_command_reports_settings_as_the_module_does() -> None:
    # The console script (pyproject's [project.scripts]) must be `main`, not the bare app.
    command = Path(sys.executable).parent / "producersync"
    result = subprocess.run(
        [str(command), "sync", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PRODUCERSYNC_SYNC_PORT": "80a"},
    )
    assert result.returncode == 2, result.stderr
    assert "PRODUCERSYNC_SYNC_PORT" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_revision_is_refused_and_leaves_no_store_behind(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    url = f"sqlite:///{store}"
    refused = CliRunner().invoke(app, ["db", "upgrade", "--database", url, "--revision", "nosuch"])
    assert refused.exit_code == 2, refused.output
    assert "'nosuch'" in refused.output
    assert list(tmp_path.iterdir()) == []
    # A store that was there stays, at its revision.
    assert CliRunner().invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    again = CliRunner().invoke(app, ["db", "upgrade", "--database", url, "--revision", "nosuch"])
    assert again.exit_code == 2, again.output
    assert store.exists()


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_pool_size_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_POOL_SIZE", value)
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_POOL_SIZE", value)
    with pytest.raises(ValidationError) as service:
        ServiceSettings()
    with pytest.raises(ValidationError) as sync:
        SyncSettings(webhook_secrets="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    service_lines = _lines(service.value, ServiceSettings)
    sync_lines = _lines(sync.value, SyncSettings)
    assert any(line.startswith("PRODUCERSYNC_DATABASE_POOL_SIZE") for line in service_lines)
    assert any(line.startswith("PRODUCERSYNC_MIRROR_POOL_SIZE") for line in sync_lines)
    assert all(value in line for line in service_lines + sync_lines)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5,300, 1800", [5, 300, 1800]), ("[5, 300.5]", [5, 300.5]), ("", [])],
    ids=["comma-separated", "json", "none"],
)
def test_the_retry_schedule_reads_as_every_list_does_or_as_json(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: list[float]
) -> None:
    """The reference showed the default comma-separated, a form that was a traceback."""
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE", value)
    assert ServiceSettings().webhook_retry_schedule == seconds


@pytest.mark.parametrize("value", ["5,soon", "[5,"])
def test_a_bad_retry_schedule_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE", value)
    code, err = producersync(monkeypatch, capsys, "admin", "account", "list")
    assert code == 2, err
    assert err.startswith("error: PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE")
    assert "Traceback" not in err


GOOD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_jaAJ/yK9CSztbdE30ZWACrb3qlxIrzdgMASZUQIUqEw="
_RUN_TOGETHER = "secret 1 holds 'whsec_' 2 times: secrets run together; separate them with commas"


@pytest.fixture
def sync_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return sync_environment(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("secrets", "problem"),
    [
        ("whsec_bad!secretvalueXYZ", "secret 1: webhook secret is not valid base64"),
        ("notasecret", "secret 1: webhook secret must start with 'whsec_'"),
        ("whsec_c2hvcnQ=", "secret 1: webhook secret key is 5 bytes"),
        (f'["{GOOD_SECRET}"]', "secret 1: webhook secret must start with 'whsec_'"),
        (f"{GOOD_SECRET},whsec_bad!", "secret 2: webhook secret is not valid base64"),
        # Numbered by their place as given, empty items counted: the third was "secret 2".
        (f"{GOOD_SECRET},,whsec_bad!", "secret 3: webhook secret is not valid base64"),
        (f" ,{GOOD_SECRET}, ,notasecret", "secret 4: webhook secret must start with 'whsec_'"),
        # Two secrets run together were "contains whitespace" or "uses URL-safe base64
        # ('-' or '_')" (the second's prefix), which sent the operator to the wrong fault.
        (f"{GOOD_SECRET} {OTHER_SECRET}", _RUN_TOGETHER),
        (f"{GOOD_SECRET};{OTHER_SECRET}", _RUN_TOGETHER),
        (
            f"{OTHER_SECRET},{GOOD_SECRET}whsec_",
            f"secret 2 {_RUN_TOGETHER.removeprefix('secret 1 ')}",
        ),
        (f'"{GOOD_SECRET}"', "secret 1: webhook secret is in quotes: give it without them"),
        (f"'{GOOD_SECRET}'", "secret 1: webhook secret is in quotes: give it without them"),
    ],
    ids=[
        "not-base64",
        "no-prefix",
        "too-short",
        "json",
        "second",
        "third-after-empty",
        "fourth-after-blanks",
        "space-separated",
        "semicolon-separated",
        "second-run-together",
        "double-quoted",
        "single-quoted",
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["sync", "status"],
        ["sync", "run"],
        ["check", "15645555", "--state", "CO", "--loa", "Life"],
        ["report", "expiring", "--within", "30"],
    ],
    ids=["status", "run", "check", "report"],
)
def test_a_malformed_webhook_secret_stops_every_command_without_showing_it(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    secrets: str,
    problem: str,
) -> None:
    monkeypatch.setattr("producersync.cli.sync.serve", _never_served)
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", secrets)
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert f"error: PRODUCERSYNC_WEBHOOK_SECRETS: {problem}" in err
    assert (
        "Traceback" not in err
        and "secretvalue" not in err
        and "MfKQ9r8" not in err
        and "jaAJ" not in err
    )
    assert not sync_env.exists()


def test_spaces_and_empty_items_around_the_secrets_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", f" {OTHER_SECRET} ,, {GOOD_SECRET}, ")
    assert SyncSettings().secrets() == [OTHER_SECRET, GOOD_SECRET]


def _said(result: Result) -> str:
    """A usage error's text as one line, out of the box Typer draws around it."""
    return " ".join(result.output.replace("│", " ").split())


def _never_served(*args: object, **kwargs: object) -> None:
    raise AssertionError("served with settings that should have stopped it")


@pytest.mark.parametrize("secrets", [None, "", ",", " , "])
def test_sync_run_requires_a_webhook_secret(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secrets: str | None,
) -> None:
    monkeypatch.setattr("producersync.cli.sync.serve", _never_served)
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_1")
    if secrets is not None:
        monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", secrets)
    code, err = producersync(monkeypatch, capsys, "sync", "run")
    assert code == 2, err
    assert err.startswith("error: PRODUCERSYNC_WEBHOOK_SECRETS: not set: sync run verifies")
    assert len(err.splitlines()) == 1 and not sync_env.exists()


def test_commands_other_than_sync_run_need_no_webhook_secret(
    sync_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    open_mirror(f"sqlite:///{sync_env}").dispose()
    code, err = producersync(monkeypatch, capsys, "sync", "status", "--json")
    assert code == 0, err


@pytest.mark.parametrize(
    "command", [["sync", "now", "--since", "2026-01-01"], ["sync", "backfill"], ["sync", "verify"]]
)
@pytest.mark.parametrize("missing", ["PRODUCERSYNC_CLIENT_ID", "PRODUCERSYNC_CLIENT_SECRET"])
def test_a_command_calling_the_api_without_credentials_names_the_variable(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    missing: str,
) -> None:
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    monkeypatch.delenv(missing)
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert err == f"error: {missing}: not set: the command calls the API\n"
    assert not sync_env.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["sync", "run"],
        ["sync", "now", "--since", "2026-01-01"],
        ["sync", "backfill"],
        ["sync", "verify"],
    ],
)
@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("PRODUCERSYNC_API_URL", "http://producersync.internal:8000"),
        ("PRODUCERSYNC_TOKEN_URL", "http://10.0.0.5/oauth2/token"),
    ],
)
def test_a_command_refuses_to_send_the_client_secret_over_plain_http_to_another_host(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    variable: str,
    url: str,
) -> None:
    """The secret and every token went out in clear, to any host an http:// URL named."""
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", GOOD_SECRET)
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "https://api.example")
    monkeypatch.setenv(variable, url)
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert err == (
        f"error: {variable}: plain http to another host sends the client secret, the access "
        "tokens and the records unencrypted; give an https:// URL (or set "
        "PRODUCERSYNC_ALLOW_PLAIN_HTTP_API=true, on a network no one else reads)\n"
    )
    assert not sync_env.exists()


def _refusing_token(request: httpx2.Request) -> httpx2.Response:
    assert request.url.path == "/oauth2/token"
    return httpx2.Response(401, json={"error": "invalid_client", "message": "bad credentials"})


@pytest.mark.parametrize(
    ("refusing", "said"),
    [
        (False, "error: the API: POST http://127.0.0.1:1/oauth2/token: Connection error"),
        (
            True,
            "error: the API refused the client credentials (POST "
            "http://127.0.0.1:1/oauth2/token): 401 Unauthorized: bad credentials",
        ),
    ],
    ids=["unreachable", "refused"],
)
@pytest.mark.parametrize(
    "command", [["sync", "now", "--since", "2026-01-01"], ["sync", "backfill"], ["sync", "verify"]]
)
def test_the_api_refusing_or_out_of_reach_is_one_line(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    refusing: bool,
    said: str,
) -> None:
    open_mirror(f"sqlite:///{sync_env}").dispose()  # verify reads one
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("PRODUCERSYNC_API_MAX_RETRIES", "0")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    if refusing:
        transport = httpx2.MockTransport(_refusing_token)
        api_through(monkeypatch, transport)
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == (3 if command[1] == "verify" else 1), err  # verify's 1: the mirror differs
    assert err.startswith(said) and len(err.splitlines()) == 1, err
    # The SDK's connection error names the call; the CLI does not name it again.
    assert refusing or ("Connection error" in err and err.count("127.0.0.1:1") == 1), err
    assert "hunter2" not in err


def _making_the_app(make_app: Callable[[], object], *args: object) -> object:
    """``serve`` up to the app's making: its checks, and no server."""
    return make_app()


@pytest.fixture
def no_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync run``'s app not made (DBOS, once in a process): what checks it, is."""
    monkeypatch.setattr("producersync.sync.app.create_app", lambda settings, lock: "app")


def _refusing_the_call(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/oauth2/token":
        return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
    return httpx2.Response(403, json={"error": "forbidden", "message": "no subscriptions scope"})


@pytest.mark.parametrize(
    ("api", "said"),
    [
        (
            _refusing_token,
            "error: the API refused the client credentials (POST "
            "http://127.0.0.1:1/oauth2/token): 401 Unauthorized: bad credentials",
        ),
        (
            _refusing_the_call,
            "error: the API (GET http://127.0.0.1:1/v1/accounts/subscriptions): 403 "
            "Forbidden: no subscriptions scope",
        ),
    ],
    ids=["credentials", "scope"],
)
@pytest.mark.usefixtures("no_app")
def test_sync_run_refused_by_the_api_stops_before_it_serves(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    api: Callable[[httpx2.Request], httpx2.Response],
    said: str,
) -> None:
    """It started and said nothing until the first webhook's sync failed, hours later."""
    monkeypatch.setattr("producersync.cli.sync.serve", _making_the_app)
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", GOOD_SECRET)
    api_through(monkeypatch, httpx2.MockTransport(api))
    code, err = producersync(monkeypatch, capsys, "sync", "run")
    assert code == 1, err
    assert err.startswith(said) and len(err.splitlines()) == 1, err
    assert "hunter2" not in err


@pytest.mark.parametrize("api", [_refusing_token, _refusing_the_call], ids=["credentials", "scope"])
@pytest.mark.parametrize(
    "command", [["sync", "now", "--since", "2026-01-01"], ["sync", "backfill"]]
)
def test_a_pull_the_api_refuses_records_no_run(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    api: Callable[[httpx2.Request], httpx2.Response],
) -> None:
    """A failed run was recorded: a backfill's stayed among ``failedRuns`` until another
    backfill succeeded, for a secret mistyped once."""
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    api_through(monkeypatch, httpx2.MockTransport(api))
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 1 and len(err.splitlines()) == 1, err
    engine = open_mirror(f"sqlite:///{sync_env}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sync_runs")).scalar_one() == 0
    engine.dispose()


@pytest.mark.usefixtures("no_app")
def test_sync_run_with_the_api_out_of_reach_warns_and_starts(
    sync_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[object] = []
    monkeypatch.setattr(
        "producersync.cli.sync.serve", lambda *args: served.append(_making_the_app(*args))
    )
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", GOOD_SECRET)
    code, err = producersync(monkeypatch, capsys, "sync", "run")
    assert (code, len(served)) == (0, 1), err
    assert (
        "WARNING producersync.sync: the API: POST http://127.0.0.1:1/oauth2/token: "
        "Connection error: " in err
    ), err
    assert err.rstrip().endswith("starting anyway: each sync fails until it answers"), err


def _failing_with_a_request_id(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == "/oauth2/token":
        return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
    body = {"status": 500, "error": "Internal Server Error", "message": "boom"}
    return httpx2.Response(500, json=body, headers={"x-request-id": "req_ticket42"})


@pytest.mark.parametrize(
    "command", [["sync", "now", "--since", "2026-01-01"], ["sync", "backfill"], ["sync", "verify"]]
)
def test_an_api_failure_names_the_request_id_to_quote_to_its_operator(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """The SDK's message leaves the server's request id out (``exc.request_id`` holds
    it): the command's error and the failed run's record named no request to quote."""
    open_mirror(f"sqlite:///{sync_env}").dispose()  # verify reads one
    monkeypatch.setenv("PRODUCERSYNC_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("PRODUCERSYNC_API_MAX_RETRIES", "0")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_hunter2")
    api_through(monkeypatch, httpx2.MockTransport(_failing_with_a_request_id))
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == (3 if command[1] == "verify" else 1), err
    assert err.startswith("error: the API (GET http://127.0.0.1:1/"), err
    assert err.endswith("500 Internal Server Error: boom (request_id req_ticket42)\n"), err
    if command[1] != "verify":
        code, out, _ = producersync_output(monkeypatch, capsys, "sync", "status", "--json")
        error = orjson.loads(out)["lastRun"]["error"]
        assert error == "ServerError: 500 Internal Server Error: boom (request_id req_ticket42)"


def _sync_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """A sync configuration file holding ``text``, named by its variable; its path."""
    config = tmp_path / "sync.toml"
    config.write_text(text)
    monkeypatch.setenv("PRODUCERSYNC_SYNC_CONFIG", str(config))
    return config


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda path: path.write_text("this is [not toml\n"), "not valid TOML: Expected '='"),
        (lambda path: path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe"), "not UTF-8 text"),
        (lambda path: None, "no such file"),
        (lambda path: path.mkdir(), "a directory, not a file"),
        (os.mkfifo, "not a regular file (a pipe or a device)"),  # read, it hung
    ],
    ids=["not-toml", "binary", "missing", "directory", "fifo"],
)
def test_a_sync_config_that_cannot_be_read_is_named_with_its_path(
    sync_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    write: Callable[[Path], object],
    reason: str,
) -> None:
    config = tmp_path / "sync.toml"
    write(config)
    monkeypatch.setenv("PRODUCERSYNC_SYNC_CONFIG", str(config))
    code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert code == 2, err
    assert err.startswith(f"error: PRODUCERSYNC_SYNC_CONFIG: {config}: {reason}"), err
    assert len(err.splitlines()) == 1 and not sync_env.exists()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("sync_prot = 9000\n", "no such setting 'sync_prot' (did you mean 'sync_port'?)"),
        ("port = 9000\n", "no such setting 'port' (did you mean 'sync_port'?)"),
        ("[sync]\npage_size = 50\n", "no such setting 'sync' (did you mean 'sync_port'?)"),
        (
            f'webhook_secret = "{GOOD_SECRET}"\npage_sise = 5\n',
            "no such setting 'webhook_secret' (did you mean 'webhook_secrets'?),"
            " 'page_sise' (did you mean 'page_size'?)",
        ),
    ],
    ids=["misspelt", "the-services-name", "table", "two"],
)
def test_a_sync_config_key_that_is_no_setting_is_named_not_ignored(
    sync_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    said: str,
) -> None:
    config = _sync_config(tmp_path, monkeypatch, text)
    code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert (code, err) == (2, f"error: PRODUCERSYNC_SYNC_CONFIG: {config}: {said}\n")
    assert GOOD_SECRET.removeprefix("whsec_") not in err and not sync_env.exists()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            'sync_port = "abc"\n',
            "PRODUCERSYNC_SYNC_PORT: Input should be a valid integer, unable to parse string "
            "as an integer (given: 'abc'); given as sync_port in {config}",
        ),
        (
            "page_size = 0\n",
            "PRODUCERSYNC_PAGE_SIZE: Input should be greater than or equal to 1 (given: 0); "
            "given as page_size in {config}",
        ),
        (
            "client_secret = 12\n",
            "PRODUCERSYNC_CLIENT_SECRET: Input should be a valid string; "
            "given as client_secret in {config}",
        ),
    ],
    ids=["port", "page-size", "secret"],
)
def test_a_bad_value_in_the_sync_config_is_named_with_its_key_and_file(
    sync_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    said: str,
) -> None:
    """Told under its variable alone, it sent the operator to an environment without it."""
    config = _sync_config(tmp_path, monkeypatch, text)
    code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert (code, err) == (2, f"error: {said.format(config=config)}\n")
    assert not sync_env.exists()


def test_a_sync_config_gives_defaults_beneath_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sync_config(
        tmp_path,
        monkeypatch,
        f'page_size = 50\nsync_port = 9000\nsync_host = "0.0.0.0"\n'
        f'webhook_secrets = ["{GOOD_SECRET}"]\n',
    )
    monkeypatch.setenv("PRODUCERSYNC_SYNC_PORT", "9001")
    settings = SyncSettings()
    assert (settings.page_size, settings.port, settings.secrets()) == (50, 9001, [GOOD_SECRET])
    assert settings.host == "0.0.0.0"


def test_the_sync_process_keeps_apart_from_the_services_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One environment for both processes (the demo passes its own to each): the sync
    # must not take the service's port, DBOS system database or executor id.
    for name, value in {
        "PORT": "8000",
        "HOST": "0.0.0.0",
        "EXECUTOR_ID": "service-1",
        "DBOS_SYSTEM_DATABASE_URL": "postgresql://127.0.0.1/service_dbos",
    }.items():
        monkeypatch.setenv(f"PRODUCERSYNC_{name}", value)
    monkeypatch.setenv("PRODUCERSYNC_SYNC_EXECUTOR_ID", "sync-1")
    settings = SyncSettings()
    assert (settings.port, settings.host, settings.executor_id) == (8400, "127.0.0.1", "sync-1")
    assert settings.dbos_system_database_url is None
    assert SyncSettings(port=9000).port == 9000  # an option's value, by name


@pytest.mark.parametrize(
    ("within", "why"),
    [
        ("2913000d", "at most 36500 days"),  # was an OverflowError past year 9999
        ("999999999999d", "at most 36500 days"),
        ("36501", "at most 36500 days"),
        ("\u0663\u0660", "give days, as 30 or 30d"),  # Arabic-Indic digits
        ("\uff13\uff10d", "give days, as 30 or 30d"),  # full-width digits
        ("1\u0660", "give days, as 30 or 30d"),
    ],
)
def test_a_within_past_a_hundred_years_or_not_in_ascii_digits_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, within: str, why: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "expiring", "--within", within])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--within': {within!r}: {why}" in _said(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes"]])
def test_a_since_out_of_range_in_utc_is_a_usage_error(
    sync_env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], since: str
) -> None:
    open_mirror(f"sqlite:///{sync_env}").dispose()
    result = CliRunner().invoke(app, [*command, "--since", since])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--since': {since!r} is out of range" in _said(result)


def test_the_edges_of_time_in_utc_are_accepted() -> None:
    assert iso_time("0001-01-01") == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert iso_time("9999-12-31T23:59:59+00:00") == dt.datetime.max.replace(
        microsecond=0, tzinfo=dt.UTC
    )


_NOT_A_LIMIT = "is not a whole number from 1 to"
_NOT_A_CHANGE_ID = "is not a change id"


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        *[("--limit", v, _NOT_A_LIMIT) for v in ["99999999999999999999", "1000000001", "0", "-1"]],
        *[
            ("--after", v, _NOT_A_CHANGE_ID)
            for v in ["-1", "1.5", "x", "9223372036854775808", "\uff11"]
        ],
    ],
)
@pytest.mark.parametrize("command", [["sync", "changes"], ["report", "changes"]])
def test_a_limit_or_after_out_of_range_is_a_usage_error(
    sync_env: Path, command: list[str], option: str, value: str, says: str
) -> None:
    open_mirror(f"sqlite:///{sync_env}").dispose()
    result = CliRunner().invoke(app, [*command, "--since", "2026-12-01", option, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': {value!r} {says}" in _said(result)


def test_a_mirror_url_naming_a_file_that_is_no_database_is_one_line(
    sync_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_env.write_text("export A=1\n" * 100)
    code, err = producersync(monkeypatch, capsys, "sync", "status")
    assert (code, err) == (1, f"error: the mirror at {sync_env}: file is not a database\n")


@pytest.mark.parametrize("command", [["sync", "now", "--since", "2026-12-01"], ["sync", "run"]])
def test_a_mirror_url_in_a_directory_that_is_not_there_names_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Every command said "the database: unable to open database file": not which
    database (a sync has two), nor why."""
    sync_environment(tmp_path, monkeypatch)
    mirror = tmp_path / "no-such-directory" / "mirror.db"
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", f"sqlite:///{mirror}")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", GOOD_SECRET)
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_ID", "psc_1")
    monkeypatch.setenv("PRODUCERSYNC_CLIENT_SECRET", "pss_1")
    code, err = producersync(monkeypatch, capsys, *command)
    assert (code, err) == (
        1,
        f"error: the mirror at {mirror}: unable to open database file: "
        f"there is no directory {mirror.parent}\n",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "--date", "20260101"], "'20260101' is not a date as yyyy-MM-dd"),
        (["run", "--date", "2026-W01-1"], "'2026-W01-1' is not a date as yyyy-MM-dd"),
        (["run", "--date", "2026-02-30"], "'2026-02-30' is not a date: day is out of range"),
        (["run", "--date", "9998-06-01"], "'9998-06-01' is not from 1900-01-01 to 9994-11-23"),
        (["run", "--date", "0001-01-02"], "'0001-01-02' is not from 1900-01-01 to 9994-11-23"),
        (["run", "--churn-rate", "1.5"], "Invalid value for '--churn-rate'"),
        (["run", "--churn-rate", "nan"], "Invalid value for '--churn-rate'"),
        (
            ["generate", "--producers", "5", "--start-date", "9999-12-31"],
            "'9999-12-31' is not from 0091-01-01 to 9994-11-23",
        ),
        (
            ["generate", "--producers", "5", "--start-date", "2026-02-30"],
            "'2026-02-30' is not a date: day is out of range",
        ),
    ],
)
def test_a_nipr_date_it_cannot_run_is_a_usage_error_and_touches_nothing(
    tmp_path: Path, args: list[str], said: str
) -> None:
    # A far date was an OverflowError halfway; 20260101 and week dates passed as dates;
    # refusals were exit 1.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["nipr", *args, "--database", url])
    assert result.exit_code == 2, result.output
    assert said in _said(result)
    assert list(tmp_path.iterdir()) == []


def _generated(tmp_path: Path, producers: int) -> tuple[str, CliRunner]:
    """A store of ``producers`` generated ones, and the runner that made it."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    args = ["nipr", "generate", "--producers", str(producers), "--database", url]
    assert runner.invoke(app, args).exit_code == 0
    return url, runner


def test_a_nipr_run_goes_to_the_ends_of_its_range_and_into_the_future(tmp_path: Path) -> None:
    url, runner = _generated(tmp_path, 20)
    ahead = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)).isoformat()
    for day in ("1900-01-01", ahead, "9994-11-23"):
        args = ["nipr", "run", "--date", day, "--churn-rate", "0.5", "--database", url]
        result = runner.invoke(app, [*args, "--allow-future"])
        assert result.exit_code == 0, (day, result.output)


def test_a_refused_start_date_keeps_the_universe_replace_would_delete(tmp_path: Path) -> None:
    url, runner = _generated(tmp_path, 5)
    args = ["--producers", "5", "--start-date", "9999-12-31", "--replace", "--database", url]
    assert runner.invoke(app, ["nipr", "generate", *args]).exit_code == 2
    again = runner.invoke(app, ["nipr", "generate", "--producers", "5", "--database", url])
    assert again.exit_code == 1 and "already holds a generated universe" in again.output
    # Refused before it starts, in the CLI's words: no progress bar drawn first, and the
    # option named, not the library's replace=True.
    assert "generating" not in again.output and "replace=True" not in again.output
    assert "--replace deletes it first" in again.output


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("  ", "the account name is empty"),
        ("a" * 201, "the account name is 201 characters; at most 200"),
        ("acme\x1b[31m", "the account name holds a control character ('\\x1b')"),
        ("acme\nEvil", "the account name holds a control character ('\\n')"),
    ],
    ids=["blank", "long", "escape", "newline"],
)
def test_an_account_name_no_account_can_have_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    said: str,
) -> None:
    # A 100,000-character name or one with control characters was taken on SQLite (and
    # garbled every listing); PostgreSQL's column of 200 refused a long one with a traceback.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    code, err = producersync(
        monkeypatch, capsys, "admin", "account", "create", name, "--database", url
    )
    assert (code, err) == (2, f"error: NAME: {said}\n")
    assert list(tmp_path.iterdir()) == []


def _tables(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return names


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda conn: conn.execute(sa.text("CREATE TABLE customers (id INTEGER)")),
            "is not a ProducerSync store: it holds other tables (customers) and no alembic_version",
        ),
        (None, "is not a ProducerSync store: it holds other tables (addresses, appointments,"),
    ],
    ids=["another-application", "the-mirror"],
)
def test_a_database_that_is_no_store_is_refused_and_left_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[sa.Connection], object] | None,
    said: str,
) -> None:
    # The store's migrations ran on any database: another application's got the store's
    # twenty-odd tables beside its own; a mirror failed on "table addresses already exists".
    path = tmp_path / "other.db"
    engine = (
        open_mirror(f"sqlite:///{path}") if make is None else sa.create_engine(f"sqlite:///{path}")
    )
    if make is not None:
        with engine.begin() as conn:
            make(conn)
    engine.dispose()
    before = _tables(path)
    code, err = producersync(
        monkeypatch, capsys, "admin", "account", "create", "x", "--database", f"sqlite:///{path}"
    )
    assert code == 1 and err.startswith(f"error: sqlite:///{path} {said}"), err
    assert _tables(path) == before


@pytest.mark.parametrize(
    "command",
    [
        ["admin", "account", "create", "x"],
        ["nipr", "run"],
        ["service", "run", "--port", "1"],
        ["db", "upgrade"],
    ],
)
def test_a_store_url_in_a_directory_that_is_not_there_names_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """As for the mirror: SQLite's "unable to open database file" named neither the
    database nor why."""
    store = tmp_path / "no-such-directory" / "store.db"
    code, err = producersync(monkeypatch, capsys, *command, "--database", f"sqlite:///{store}")
    assert (code, err) == (
        1,
        f"error: the store at {store}: unable to open database file: "
        f"there is no directory {store.parent}\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_store_of_a_newer_version_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Alembic's "Can't locate revision" came out as a traceback from every command.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    code, err = producersync(monkeypatch, capsys, "admin", "account", "list", "--database", url)
    assert code == 1
    assert err == (
        f"error: the store at {url} is at revision 0099, which this version of "
        f"producersync does not know (its latest is {store_migrate.HEAD}): a newer version "
        "migrated it, and migrations are never undone; run that version, or restore the "
        "backup taken before its upgrade\n"
    )


def test_a_portal_link_ttl_past_a_century_is_named_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRODUCERSYNC_PORTAL_LINK_TTL_SECONDS", "1e308")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    code, err = producersync(
        monkeypatch, capsys, "admin", "portal-link", "--account", "x", "--database", url
    )
    assert code == 2 and err.startswith("error: PRODUCERSYNC_PORTAL_LINK_TTL_SECONDS: "), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["quickstart", "--producers", "99999999999"], "Invalid value for '--producers'"),
        (["quickstart", "--credentials", "."], "Invalid value for '--credentials'"),
    ],
)
def test_a_quickstart_or_service_option_it_cannot_use_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], said: str
) -> None:
    # Each was a traceback: uvicorn's KeyError, generate's ValueError, IsADirectoryError.
    assert said in _said(_refused_unserved(tmp_path, monkeypatch, args))


def _refused_unserved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Result:
    """``producersync ARGS`` on a store in ``tmp_path``, never serving: refused as a usage
    error, having made nothing there."""
    monkeypatch.chdir(tmp_path)
    for module in ("service", "quickstart"):
        monkeypatch.setattr(f"producersync.cli.{module}.serve", _never_served)
    result = CliRunner().invoke(app, [*args, "--database", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, result.output
    assert list(tmp_path.iterdir()) == []
    return result


def test_quickstart_prints_its_store_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("producersync.cli.quickstart.listen", lambda host, port: [])
    monkeypatch.setattr("producersync.cli.quickstart.serve", lambda *args, **kwargs: None)
    # A store elsewhere, as a PostgreSQL URL with a password would name it.
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setattr("producersync.service.store.open.open_store", lambda url: store)
    url = "postgresql://ops:hunter2@db.example/producersync"
    result = CliRunner().invoke(app, ["quickstart", "--producers", "0", "--database", url])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "***@" in result.output


def test_quickstart_says_a_universe_it_was_asked_for_is_not_generated_into_a_full_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # service.md's `--producers 20000` after the README's quickstart served its 2,000, silently.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("producersync.cli.quickstart.listen", lambda host, port: [])
    monkeypatch.setattr("producersync.cli.quickstart.serve", lambda *args, **kwargs: None)
    database = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]
    said = []
    for args in (["--producers", "10"], [], ["--producers", "20"]):
        result = CliRunner().invoke(app, ["quickstart", *args, *database])
        assert result.exit_code == 0, result.output
        said.append(" ".join(result.output.split()))
    assert "loaded 10 producers" in said[0] and "not generated" not in said[0]
    assert "not generated" not in said[1]  # no --producers: the store's universe, as asked
    assert said[2].startswith(
        "--producers 20: not generated, the store holds a universe already (served as it is; "
        "another --database makes a new one) ProducerSync at"
    ), said[2]


def test_quickstart_on_a_port_in_use_sets_up_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store and the credentials were made, and the banner pointed at the other process.
    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = f"sqlite:///{tmp_path / 'store.db'}"
        args = ["quickstart", "--producers", "0", "--port", str(port), "--database", database]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.output == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["service", "run", "--rate-limit", "0"], "--rate-limit: Input should be greater"),
        (["service", "run", "--public-url", "notaurl"], "--public-url: Input should be a valid"),
        (
            ["service", "run", "--rate-limit-storage", "bogus"],
            "--rate-limit-storage: 'bogus' is not memory://",
        ),
        (
            ["service", "run", "--rate-limit", "1000001"],
            "--rate-limit: Input should be less than or equal to 1000000 (given: 1000001)",
        ),
        (["service", "run", "--chaos-latency-ms", "inf"], "--chaos-latency-ms: Input should be a"),
        (["service", "worker", "--host", ""], "--host: String should have at least 1"),
        (
            ["service", "run", "--log-format", "xml"],
            "--log-format: Input should be 'text' or 'json' (given: 'xml')",
        ),
        (
            ["service", "worker", "--log-format", "JSON"],
            "--log-format: Input should be 'text' or 'json' (given: 'JSON')",
        ),
        (
            ["service", "run", "--log-level", "bogus"],
            "--log-level: Input should be 'critical', 'error', 'warning', 'info', 'debug' or "
            "'trace' (given: 'bogus')",
        ),
        (["service", "worker", "--log-level", "INFO!"], "--log-level: Input should be 'critical'"),
        (["quickstart", "--host", ""], "--host: String should have at least 1"),
        (
            ["admin", "portal-link", "--account", "x", "--public-url", ""],
            "--public-url: Input should be a valid URL",
        ),
    ],
)
def test_a_setting_refused_from_an_option_names_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], said: str
) -> None:
    # They named PRODUCERSYNC_RATE_LIMIT_STORAGE and the like, which the user never set.
    result = _refused_unserved(tmp_path, monkeypatch, args)
    assert result.output.startswith(f"error: {said}"), result.output
    assert "PRODUCERSYNC_" not in result.output


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_delivering_process_takes_its_executor_id_as_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """`service run` delivers too, and recovers its batches under its id, which only its
    environment could give (--executor-id was the worker's)."""
    served: list[ServiceSettings] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "producersync.cli.service.serve", lambda _app, settings, _errors: served.append(settings)
    )
    result = CliRunner().invoke(app, ["service", command, "--executor-id", "api-1"])
    assert result.exit_code == 0, result.output
    assert [settings.executor_id for settings in served] == ["api-1"]


def test_sync_run_takes_its_executor_id_as_an_option(
    sync_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As `service run` and `service worker` do: only its environment could give it."""
    for name, value in {
        "PRODUCERSYNC_WEBHOOK_SECRETS": GOOD_SECRET,
        "PRODUCERSYNC_CLIENT_ID": "psc_1",
        "PRODUCERSYNC_CLIENT_SECRET": "s",
    }.items():
        monkeypatch.setenv(name, value)
    served: list[SyncSettings] = []
    monkeypatch.setattr(
        "producersync.cli.sync.serve", lambda _app, settings, _errors: served.append(settings)
    )
    code, err = producersync(monkeypatch, capsys, "sync", "run", "--executor-id", "sync-2")
    assert code == 0, err
    assert [settings.executor_id for settings in served] == ["sync-2"]


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("run", "PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE", "0"),
        ("worker", "PRODUCERSYNC_LOG_LEVEL", "verbose"),
    ],
)
def test_a_setting_refused_from_the_environment_still_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("producersync.cli.service.serve", _never_served)
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["service", command, "--host", "127.0.0.1"])
    assert result.exit_code == 2, result.output
    said = result.output
    assert said.startswith(f"error: {variable}: "), said
    assert said.rstrip().endswith(f"(given: {value!r})"), said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["create", "--url", "https://hooks.example/x", "--description", "d" * 5000],
            "--description: String should have at most 500 characters (given: 5,000 characters)",
        ),
        (
            ["create", "--url", "https://ops:hunter2@hooks.example/a b"],
            "--url: a URL has no spaces or control characters (percent-encode them) "
            "(given: 'https://***@hooks.example/a b')",
        ),
        (
            ["update", "ep_1", "--url", "https://hooks.example/a b"],
            "--url: a URL has no spaces",
        ),
        (
            ["update", "ep_1", "--description", "nul\x00"],
            "--description: a NUL character cannot be stored; remove it",
        ),
        (
            ["disable", "ep_1", "--reason", "r" * 100_000],
            "--reason: String should have at most 200 characters (given: 100,000 characters)",
        ),
    ],
    ids=["create-description", "create-url", "update-url", "update-description", "reason"],
)
def test_an_endpoint_option_the_api_would_refuse_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], said: str
) -> None:
    # The CLI skipped the request models' checks: a 5,000-character description, a
    # 100,000-character reason and a URL with a space were stored.
    monkeypatch.chdir(tmp_path)
    account = ["--account", "acme"] if args[0] == "create" else []
    database = ["--database", f"sqlite:///{tmp_path / 's.db'}"]
    result = CliRunner().invoke(app, ["admin", "endpoint", *args, *account, *database])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {said}"), result.output
    assert "hunter2" not in result.output and list(tmp_path.iterdir()) == []


_IN_MEMORY = ["sqlite://", "sqlite:///:memory:", "sqlite:///", "sqlite:///f?mode=memory&uri=true"]


@pytest.mark.parametrize("url", _IN_MEMORY)
@pytest.mark.parametrize(
    "command",
    [
        ["admin", "account", "create", "acme", "--database"],
        ["admin", "client", "create", "--account", "acme", "--database"],
        ["check", "12345678", "--state", "CA", "--loa", "Life", "--mirror"],
    ],
    ids=["account", "client", "check-mirror"],
)
def test_a_database_in_memory_is_refused_as_it_is_lost_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], url: str
) -> None:
    # A client "created" there printed a secret no store kept; a mirror there answered
    # "not in the population" for every NPN.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, url])
    assert result.exit_code == 2, result.output
    assert f"{url!r} is a database in memory, lost when the process exits" in _said(result)
    assert "client_secret" not in result.output and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        ("PRODUCERSYNC_DATABASE_URL", ["admin", "account", "list"]),
        ("PRODUCERSYNC_MIRROR_URL", ["sync", "status"]),
    ],
)
def test_a_database_in_memory_from_the_environment_is_named_by_its_variable(
    sync_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(variable, "sqlite:///:memory:")
    code, err = producersync(monkeypatch, capsys, *command)
    assert code == 2, err
    assert err.startswith(f"error: {variable}: 'sqlite:///:memory:' is a database in memory")


@pytest.mark.parametrize(
    "url", ["sqlite://ops:hunter2@//tmp/s.db", "sqlite://:hunter2@/s.db", "sqlite://host/s.db"]
)
def test_a_sqlite_url_with_credentials_or_a_host_is_refused_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    # It passed the check, then SQLAlchemy's ArgumentError was a traceback on opening it.
    monkeypatch.chdir(tmp_path)
    for args in (["--database", url], []):
        monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", url)
        code, err = producersync(monkeypatch, capsys, "admin", "account", "create", "a", *args)
        assert code == 2, err
        assert "a SQLite URL names a file, with no user, password or host" in " ".join(
            err.replace("│", " ").split()
        )
        assert "hunter2" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_upgrade_to_an_earlier_revision_says_the_store_stays_where_it_is(
    tmp_path: Path,
) -> None:
    # It printed "store at revision 0001" of a store it left at the latest.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    result = CliRunner().invoke(app, ["db", "upgrade", "--database", url, "--revision", "0001"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "unchanged: it was already at or past 0001 (db upgrade never downgrades)" in said
    assert "store at revision 0001" not in said
    with open_store(url).connect() as conn:
        (at,) = conn.execute(sa.text("SELECT version_num FROM alembic_version")).one()
    assert said.startswith(f"store at revision {at}, unchanged")


@pytest.mark.parametrize("revision", ["", " "])
def test_an_empty_revision_is_a_usage_error(tmp_path: Path, revision: str) -> None:
    # An AssertionError traceback out of Alembic.
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["db", "upgrade", "--database", url, "--revision", revision])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--revision': {revision!r} is empty" in _said(result)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"{bad", "not JSON (unexpected character"),
        (b"\xff\xfe", "not JSON ("),
        (b"[1, 2]", "not a JSON object with a client_id"),
    ],
    ids=["bad-json", "binary", "not-an-object"],
)
def test_quickstart_credentials_it_cannot_read_are_a_usage_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, said: str
) -> None:
    # A JSONDecodeError traceback (an AttributeError for a list), after the store was made.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("producersync.cli.quickstart.serve", _never_served)
    credentials = tmp_path / "creds.json"
    credentials.write_bytes(content)
    args = ["--producers", "0", "--credentials", str(credentials)]
    database = ["--database", f"sqlite:///{tmp_path / 's.db'}"]
    result = CliRunner().invoke(app, ["quickstart", *args, *database])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --credentials {credentials}: {said}"), result.output
    assert list(tmp_path.iterdir()) == [credentials] and credentials.read_bytes() == content


def _json_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command of the CLI with a --json option: its words, and it. (Typer's are its
    own copy of Click's classes: told apart by what they have.)"""
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _json_commands(sub, (*path, name))
    elif any("--json" in param.opts for param in command.params):
        yield " ".join(path), command


def test_every_command_with_json_tells_its_errors_as_json() -> None:
    """A script that asks for --json reads JSON on failure too, whichever command."""
    found = {name: type(command) for name, command in _json_commands(typer.main.get_command(app))}
    assert {"check", "report expiring", "sync status", "admin endpoint list"} <= set(found)
    assert {name for name, kind in found.items() if kind is not JsonErrorsCommand} == set()


@pytest.mark.parametrize(
    ("args", "code", "field", "value", "said"),
    [
        (["admin", "account", "create", " "], 2, None, None, "account name"),
        (["admin", "endpoint", "show-secret", "ep_nope"], 1, None, None, "no endpoint 'ep_nope'"),
        (["admin", "portal-link", "--account", "nope"], 1, None, None, "no account named"),
        (["nipr", "run", "--date", "2025-02-30"], 2, "--date", "2025-02-30", "Invalid value"),
        (["sync", "changes", "--since", "soon"], 2, "--since", "soon", "Invalid value"),
        # Exit code 1, its option and value not named: an unknown event type is a 2.
        (
            ["admin", "client", "create", "--account", "a", "--scope", "producersync.admin"],
            2,
            "--scope",
            "producersync.admin",
            "--scope: unknown scope(s) producersync.admin; known: ",
        ),
        (
            ["admin", "client", "create", "--account", "a", "--scope", " "],
            2,
            "--scope",
            " ",
            "no scope",
        ),
    ],
    ids=["account", "endpoint", "portal-link", "nipr-run", "sync-changes", "scope", "no-scope"],
)
def test_an_admin_nipr_or_sync_error_under_json_is_one_json_object(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    field: str | None,
    value: str | None,
    said: str,
) -> None:
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    error, err = error_both_ways(monkeypatch, capsys, code, *args)
    assert (error["field"], error["value"]) == (field, value)
    assert said in str(error["message"])
    assert said in err


_ENDPOINT = ["admin", "endpoint"]


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--url", "http://u:pw@127.0.0.1/hook"], "--url", "http://***@127.0.0.1/hook"),
        (["--url", "https://93.184.215.14/h", "--events", "nope"], "--events", "nope"),
        (["--url", "https://h.example", "--description", "d" * 501], "--description", "d" * 501),
    ],
    ids=["url-guard", "event-type", "description-length"],
)
def test_an_endpoint_option_refused_under_json_names_the_option_and_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    field: str,
    value: str,
) -> None:
    # Refused by the endpoint's model or by the rules (the URL guard, the event types),
    # the message named the option but its JSON error had field and value null.
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert producersync(monkeypatch, capsys, "admin", "account", "create", "a")[0] == 0
    create = [*_ENDPOINT, "create", "--account", "a", *args]
    error, err = error_both_ways(monkeypatch, capsys, 2, *create)
    assert error["field"] == field and str(error["message"]).startswith(f"{field}: ")
    assert error["value"] == value
    assert "pw" not in f"{error}{err}"


def test_an_endpoint_without_a_filter_reads_as_getting_all_event_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its text output said `eventTypes: —`, which reads as no event at all; the portal
    # says "All event types". The JSON output is the API's shape: null.
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert producersync(monkeypatch, capsys, "admin", "account", "create", "a")[0] == 0
    create = [*_ENDPOINT, "create", "--account", "a", "--url", "https://93.184.215.14/h"]
    code, out, err = producersync_output(monkeypatch, capsys, *create)
    assert code == 0, err
    assert "eventTypes: all event types\n" in out
    # The table's cells unfolded. Rich fixes a console's width at its making when COLUMNS
    # is set then, as xdist's workers have it (80): the variable set now would be unread.
    monkeypatch.setattr(cli_common.console, "_width", 200)
    code, out, err = producersync_output(monkeypatch, capsys, *_ENDPOINT, "list")
    assert code == 0, err
    assert "│ all event types │" in out, out
    code, out, err = producersync_output(monkeypatch, capsys, *_ENDPOINT, "list", "--json")
    assert code == 0, err
    assert orjson.loads(out)[0]["eventTypes"] is None


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["nipr", "run", "--date", "1899-12-31"], "--date", "1899-12-31"),
        (["nipr", "run", "--date", "9999-12-31"], "--date", "9999-12-31"),
        (
            ["check", "15645555", "--state", "CO", "--loa", "x", "--on", "2026-13-01"],
            "--on",
            "2026-13-01",
        ),
        (["nipr", "run", "--churn-rate", "2"], "--churn-rate", "2"),
        (["nipr", "run", "--churn-rate=abc"], "--churn-rate", "abc"),
        (["nipr", "run", "--seed", "x"], "--seed", "x"),
        ([*_ENDPOINT, "update", "ep_1", "--rate-limit", "many"], "--rate-limit", "many"),
        (
            [*_ENDPOINT, "create", "--account", "a", "--url", "x", "--rate-limit", "//u:pw@x"],
            "--rate-limit",
            "//***@x",
        ),
    ],
    ids=[
        "date-before",
        "date-after",
        "check-on",
        "churn-rate-range",
        "churn-rate-number",
        "seed",
        "rate-limit",
        "masked",
    ],
)
def test_a_value_refused_under_json_is_named_whichever_check_refused_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    field: str,
    value: str,
) -> None:
    # Refused by Typer's own checks (a range, a number) or by a parser raising Typer's
    # error, the value was told as null: only the project's own refusals kept it.
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    error, err = error_both_ways(monkeypatch, capsys, 2, *args)
    assert (error["field"], error["value"]) == (field, value)
    assert f"Invalid value for '{field}'" in str(error["message"])
    assert "pw" not in f"{error}{err}"


class _Refused(NamedTuple):
    """A setting refused, from the environment (``env``), the configuration file's text
    (``config``) or an option in ``args``: what --json names, its field and value."""

    args: list[str]
    env: dict[str, str]
    config: str
    field: str
    value: str | None


_SECRET = "whsec_c2VjcmV0dmFsdWU="  # well-formed, but 11 bytes: refused
_REFUSED = {
    "mirror-url": _Refused(
        ["sync", "status"],
        {"PRODUCERSYNC_MIRROR_URL": "nonsense"},
        "",
        "PRODUCERSYNC_MIRROR_URL",
        "nonsense",
    ),
    "api-url": _Refused(
        ["sync", "verify"],
        {"PRODUCERSYNC_API_URL": "nonsense"},
        "",
        "PRODUCERSYNC_API_URL",
        "nonsense",
    ),
    "database-url-masked": _Refused(
        ["admin", "account", "list"],
        {"PRODUCERSYNC_DATABASE_URL": "mysql://ops:hunter2@db.example/x"},
        "",
        "PRODUCERSYNC_DATABASE_URL",
        "mysql://***@db.example/x",
    ),
    "option": _Refused(
        ["admin", "portal-link", "--account", "x", "--public-url", "notaurl"],
        {},
        "",
        "--public-url",
        "notaurl",
    ),
    "config-file": _Refused(["sync", "status"], {}, "page_size = 0", "PRODUCERSYNC_PAGE_SIZE", "0"),
    "catch-up-cron": _Refused(
        ["sync", "status"],
        {"PRODUCERSYNC_CATCH_UP_CRON": "0 7 * *"},
        "",
        "PRODUCERSYNC_CATCH_UP_CRON",
        "0 7 * *",
    ),
    "webhook-secret": _Refused(
        ["sync", "status"],
        {"PRODUCERSYNC_WEBHOOK_SECRETS": _SECRET},
        "",
        "PRODUCERSYNC_WEBHOOK_SECRETS",
        None,
    ),
    "client-secret-in-config-file": _Refused(
        ["sync", "status"], {}, "client_secret = 4242424242", "PRODUCERSYNC_CLIENT_SECRET", None
    ),
}


@pytest.mark.parametrize("refused", _REFUSED.values(), ids=_REFUSED.keys())
def test_a_setting_refused_under_json_names_its_variable_and_value_but_a_secret_s(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refused: _Refused,
) -> None:
    # Both were null, so a script could not tell which setting to fix; a setting refused
    # for a command given --json that opens the store was told on stderr, not as JSON.
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("PRODUCERSYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    for name, given in refused.env.items():
        monkeypatch.setenv(name, given)
    _sync_config(tmp_path, monkeypatch, refused.config)
    error, err = error_both_ways(monkeypatch, capsys, 2, *refused.args)
    assert (error["field"], error["value"]) == (refused.field, refused.value)
    message = str(error["message"])
    assert message.startswith(f"{refused.field}: ") and f"error: {message}\n" == err
    assert refused.value is None or refused.value in message  # the line names it too
    told = f"{error}{err}"
    assert all(hidden not in told for hidden in (_SECRET, "4242424242", "hunter2")), told


def test_settings_refused_together_under_json_are_each_named_in_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Told as one, their messages joined, the field and value of each were lost.
    sync_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("PRODUCERSYNC_MIRROR_URL", "nonsense")
    monkeypatch.setenv("PRODUCERSYNC_WEBHOOK_SECRETS", _SECRET)
    _sync_config(tmp_path, monkeypatch, "page_size = 0")
    error, err = error_both_ways(monkeypatch, capsys, 2, "sync", "status")
    problems = error["problems"]
    assert isinstance(problems, list)
    told = {(p["field"], p["value"]) for p in problems}
    assert told == {
        ("PRODUCERSYNC_MIRROR_URL", "nonsense"),
        ("PRODUCERSYNC_WEBHOOK_SECRETS", None),
        ("PRODUCERSYNC_PAGE_SIZE", "0"),
    }
    assert (error["field"], error["value"]) == (None, None)
    assert error["message"] == "; ".join(p["message"] for p in problems)
    assert err.splitlines() == [f"error: {p['message']}" for p in problems]
    assert _SECRET not in f"{error}{err}"
