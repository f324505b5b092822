"""Every command's ``--help``, as a terminal shows it: no sentence broken where its
source had a line break."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from producersync.cli.main import app
from tests.support.cli import producersync_output

# Wide enough that Rich wraps nothing: every line break left is the help text's own.
_WIDE = "1000"
# A terminal's width as most are opened.
_NARROW = "80"
_FRAME = "│╭╮╰╯─ "


def _paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of ``command`` and of every command beneath it."""
    found = [path]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            found += _paths(sub, (*path, name))
    return found


def _broken(text: str) -> list[str]:
    """The places where a line ends mid-sentence (on a word, a comma or a semicolon) and
    the next goes on (not an option's row, nor its default): with nothing wrapped, the
    help text broke the sentence there."""
    # A panel's top and bottom borders (its title: "Options") part what they enclose.
    lines = [
        "" if line.lstrip().startswith(("╭", "╰")) else line.strip(_FRAME)
        for line in text.splitlines()
    ]
    return [
        f"{before!r} / {after!r}"
        for before, after in itertools.pairwise(lines)
        if re.search(r"[\w,;]$", before) and after and not after.startswith(("-", "["))
    ]


def _helps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], columns: str
) -> dict[str, str]:
    """Every command's ``--help`` at ``columns`` wide, by its path."""
    monkeypatch.setenv("COLUMNS", columns)
    paths = _paths(typer.main.get_command(app))
    assert len(paths) > 40  # the walk reached the commands beneath the groups
    helps = {}
    for path in paths:
        code, out, err = producersync_output(monkeypatch, capsys, *path, "--help")
        assert (code, err) == (0, ""), path
        helps[" ".join(path)] = out
    return helps


def test_every_commands_help_keeps_its_sentences_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {
        path: found
        for path, out in _helps(monkeypatch, capsys, _WIDE).items()
        if (found := _broken(out))
    }
    assert broken == {}


def test_no_flag_is_shown_taking_a_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every flag (--json, --help, --sandbox ...) was shown as of type <bool>, read as an
    option taking true or false: `--json true` was an unexpected extra argument."""
    shown = {
        path: [line.strip(_FRAME) for line in out.splitlines() if "<bool>" in line]
        for path, out in _helps(monkeypatch, capsys, _WIDE).items()
        if "<bool>" in out
    }
    assert shown == {}


def test_no_commands_help_is_cut_at_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rich cuts a word wider than its column with an ellipsis: a long default
    (``.producersync/sandbox-client.json``) or a variable's name in a cramped table
    (``$PRODUCERSYNC_DAT…``) was unreadable in a terminal of the usual width."""
    cut = {
        path: [line.strip(_FRAME) for line in out.splitlines() if "…" in line]
        for path, out in _helps(monkeypatch, capsys, _NARROW).items()
        if "…" in out
    }
    assert cut == {}


def test_each_command_is_listed_in_a_line_or_two() -> None:
    """A group's --help lists each command by the first paragraph of its help: report's
    listed expiring in 748 characters, nine lines of an 80-column terminal, the whole of
    its help, and sync's status in 417, before the reader had chosen a command."""
    # Two lines of a terminal of the usual width; the rest is the command's own --help.
    most = 2 * 100
    root = typer.main.get_command(app)
    long = {}
    for path in _paths(root):
        command: Any = root
        for name in path:
            command = command.commands[name]
        listed = (command.short_help or command.help or "").split("\n\n")[0]
        if len(listed) > most:
            long[" ".join(path)] = len(listed)
    assert long == {}
