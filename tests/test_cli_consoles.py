"""The CLI's consoles are made at their first use, from the environment and the streams
of the process printing then (``producersync.cli.consoles``), and stand for a Rich
console wherever one is used."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import Progress

from producersync.cli import consoles


def test_a_console_reads_the_terminal_as_it_is_first_used(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in = consoles._AtFirstUse(Console)
    monkeypatch.setenv("COLUMNS", "33")  # set after the import and the stand-in
    assert stand_in.width == 33


def test_a_console_stands_for_a_rich_console_in_a_progress_bar() -> None:
    """Rich's Live enters its console (``with console:``) as it draws: a special method,
    looked up on the type, which ``__getattr__`` does not serve."""
    out = io.StringIO()
    stand_in = consoles._AtFirstUse(lambda: Console(file=out, force_terminal=True, width=60))
    with Progress(console=stand_in) as progress:  # type: ignore[arg-type]
        progress.add_task("generating", total=1, completed=1)
    assert "generating" in out.getvalue()
    own = {"__init__", "__dict__", "__doc__", "__module__", "__annotations__", "__weakref__"}
    special = {name for name in vars(Console) if name.startswith("__")} - own
    assert special <= set(vars(consoles._AtFirstUse))
