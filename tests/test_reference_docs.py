"""The generated reference pages match the code: a setting or a command changed without
`python -m producersync.cli.reference` fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from producersync.cli.reference import PAGES

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
