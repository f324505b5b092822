"""The generated reference pages match the code: a setting or a command changed without
`python -m producersync.cli.reference` fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from producersync.cli.main import app
from producersync.cli.reference import PAGES
from producersync.service.settings import ServiceSettings
from producersync.settings_variables import variable
from producersync.sync.settings import SyncSettings

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_reference_page_is_current(page: str) -> None:
    committed = (DOCS / page).read_text()
    assert committed == PAGES[page](), (
        f"docs/{page} is stale: run python -m producersync.cli.reference"
    )


def test_every_setting_and_command_is_described() -> None:
    configuration, cli = PAGES["configuration.md"](), PAGES["cli.md"]()
    assert "|  |" not in configuration  # a setting without a description
    for command in ("demo", "service run", "service worker", "sync verify", "admin portal-link"):
        assert f"## `producersync {command}`" in cli or f"### `producersync {command}`" in cli


def _commands(command: Any, path: str = "producersync") -> Iterator[tuple[str, Any]]:
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")
    if not hasattr(command, "commands"):
        yield path, command


def test_every_option_that_sets_a_setting_names_its_variable() -> None:
    """An option overrides its variable, so its help says which: `--rate-limit` said
    "(default 300)" while PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE set the default."""
    unnamed = []
    for path, command in _commands(typer.main.get_command(app)):
        sync = path.split()[1] in ("sync", "check", "report")
        settings = SyncSettings if sync else ServiceSettings
        unnamed += [
            f"{path} {param.opts[0]}"
            for param in command.params
            if param.name in settings.model_fields
            and f"${variable(settings, param.name)}" not in (param.help or "")
        ]
    assert not unnamed
