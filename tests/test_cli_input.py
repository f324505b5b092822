"""What commands are given, refused before anything is opened, created or served: a bad
option is a usage error (exit 2) naming the option and the value; a bad setting from the
environment or the configuration file names its variable, and its value unless secret."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from producersync.cli.common import iso_date, iso_time, settings_problems
from producersync.cli.main import app
from producersync.sync.settings import SyncSettings
from tests.support.processes import cli


@pytest.mark.parametrize(
    ("command", "value"),
    [
        (["sync", "changes"], "2026-13-01"),
        (["sync", "changes"], "yesterday"),
        (["sync", "now"], "2026-02-30"),
        (["report", "changes"], "01/09/2025"),
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


def test_a_time_without_a_zone_is_utc_and_a_zone_is_kept() -> None:
    assert iso_time("2025-09-01") == dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    assert iso_time("2025-09-01T08:00:00") == dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC)
    two_hours_ahead = dt.timezone(dt.timedelta(hours=2))
    assert iso_time("2025-09-01T08:00:00+02:00") == dt.datetime(
        2025, 9, 1, 6, tzinfo=dt.UTC
    ).astimezone(two_hours_ahead)
    assert iso_date("2025-09-01") == dt.date(2025, 9, 1)
    with pytest.raises(typer.BadParameter, match="'2025-9-1' is not a date as YYYY-MM-DD"):
        iso_date("2025-9-1")


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
    assert "port" in result.output and list(tmp_path.iterdir()) == []


def test_a_bad_setting_from_the_environment_is_named_not_a_traceback(tmp_path: Path) -> None:
    result = cli("sync", "run", env={"PRODUCERSYNC_PORT": "80a"}, check=False)
    assert result.returncode == 2, result.stderr
    assert "PRODUCERSYNC_PORT" in result.stderr and "'80a'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_secret_setting_is_named_without_its_value() -> None:
    with pytest.raises(ValidationError) as refused:
        SyncSettings(client_secret=4242424242, port=0)  # type: ignore[arg-type]
    problems = settings_problems(refused.value, SyncSettings)
    assert {line.split(":")[0] for line in problems} == {
        "PRODUCERSYNC_PORT",
        "PRODUCERSYNC_CLIENT_SECRET",
    }
    assert "4242424242" not in "".join(problems) and "(given: 0)" in "".join(problems)
