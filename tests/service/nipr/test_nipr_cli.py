"""`producersync nipr generate`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from producersync.cli.main import app


def test_generate_then_refuse_then_replace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()

    first = runner.invoke(app, ["nipr", "generate", "--producers", "60", "--database", url])
    assert first.exit_code == 0, first.output
    assert "60 producers" in first.output
    assert "entities 60" in first.output
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
