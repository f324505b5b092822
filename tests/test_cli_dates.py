"""Dates and times given to commands: one parser each, a bad value a usage error (exit 2)
naming the option and the value, before anything is opened or created."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from producersync.cli.common import iso_date, iso_time
from producersync.cli.main import app


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
