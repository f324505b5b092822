"""The commands and variables README.md and docs/*.md name exist: every `producersync ...`
line of a code block or a code span names a command and only options that command takes,
and every `PRODUCERSYNC_*` variable is one producersync reads (``known_variables``).
test_doc_snippets runs the Python snippets; these lines are shell, read here instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from producersync.cli.main import app
from producersync.cli.variables import known_variables

ROOT = Path(__file__).resolve().parents[1]
# cli.md is generated from the commands themselves (test_reference_docs).
PAGES = ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]
PAGES.remove("docs/cli.md")

_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_SPAN = re.compile(r"`(producersync [^`]+)`")
# Prose names a subcommand without the program too (`service run --no-delivery`).
_ROOT: Any = typer.main.get_command(app)
_GROUPS = [name for name, c in _ROOT.commands.items() if hasattr(c, "commands")]
_BARE_SPAN = re.compile(rf"`((?:{'|'.join(_GROUPS)}) [a-z][^`]*)`")
_IN_BLOCK = re.compile(r"(?:^|[\s($])(producersync\s+\S.*)")
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
# A variable's name; not a prefix (`PRODUCERSYNC_SYNC_…`, `PRODUCERSYNC_SYNC_*`).
VARIABLE = re.compile(r"PRODUCERSYNC_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*{…])")


def command_lines(text: str) -> Iterator[str]:
    """Each `producersync ...` of the page: in a code block (a line continued with a
    backslash joined to the next, a comment cut off), or a code span of its prose, with
    the program's name or without it (`sync run`)."""
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            if found := _IN_BLOCK.search(line.split(" #")[0]):
                yield found.group(1)
    prose = " ".join(_FENCE.sub("", text).split())
    yield from _SPAN.findall(prose)
    yield from (f"producersync {span}" for span in _BARE_SPAN.findall(prose))


def _find(root: Any, words: list[str]) -> tuple[Any, list[str]]:
    """The command the words name, and the words after it."""
    command = root
    while words and words[0] in getattr(command, "commands", {}):
        command, words = command.commands[words[0]], words[1:]
    return command, words


def _parents(group: Any) -> dict[int, Any]:
    """Each command's group, by the command's id."""
    parents = {}
    for sub in getattr(group, "commands", {}).values():
        parents[id(sub)] = group
        parents |= _parents(sub)
    return parents


def refusals(line: str) -> Iterator[str]:
    """What in ``line`` the CLI does not have. `a | b` offers another command of the same
    group (`disable EP | enable EP`) or another option of the same command."""
    root = typer.main.get_command(app)
    parents = _parents(root)
    first, *alternatives = line.split(" | ")
    command, words = _find(root, first.split()[1:])
    segments = [(command, words)]
    for alternative in alternatives:
        group = parents.get(id(command), root)
        sibling, after = _find(group, alternative.split())
        if sibling is not group:
            command = sibling
        segments.append((command, after))
    for command, words in segments:
        yield from _unknown(command, words)


def _unknown(command: Any, words: list[str]) -> Iterator[str]:
    if hasattr(command, "commands"):
        if words and re.fullmatch(r"[a-z][a-z-]+", words[0]):
            yield f"no command {words[0]!r}"
        return
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    yield from (o for o in _OPTION.findall(" ".join(words)) if o not in options)


@pytest.mark.parametrize("page", PAGES)
def test_every_command_line_names_a_command_and_its_options(page: str) -> None:
    wrong = [
        f"{line}: {refusal}"
        for line in command_lines((ROOT / page).read_text())
        for refusal in refusals(line)
    ]
    assert not wrong


# The misspelt variable of a warning shown, as the commands tell one (cli.variables): a
# line on stderr, or of a process's log.
_MISSPELT = re.compile(
    r"(?:warning:|WARNING\s+producersync\.settings:)\s+(PRODUCERSYNC_\w+)\s+is\s+not\s+a\s+"
    r"producersync\s+setting"
)


@pytest.mark.parametrize("page", PAGES)
def test_every_variable_named_is_read(page: str) -> None:
    text = (ROOT / page).read_text()
    named = set(VARIABLE.findall(text)) - set(_MISSPELT.findall(text))
    assert named - known_variables() == set()


def test_a_wrong_command_or_option_is_found() -> None:
    assert list(refusals("producersync sync run --prot 8400")) == ["--prot"]
    assert list(refusals("producersync sync frobnicate")) == ["no command 'frobnicate'"]
    assert list(refusals("producersync admin endpoint disable EP | enable EP --json")) == []
    assert list(refusals("producersync admin endpoint delete EP | enable EP --reason R")) == [
        "--reason"
    ]
    assert list(command_lines("run `service run --no-delivery` and `sync frob`")) == [
        "producersync service run --no-delivery",
        "producersync sync frob",
    ]
    block = "```bash\nX=1 producersync check 1 \\\n  --loa L  # --no\n```"
    assert [" ".join(line.split()) for line in command_lines(block)] == [
        "producersync check 1 --loa L"
    ]
    read = [line for page in PAGES for line in command_lines((ROOT / page).read_text())]
    assert len(read) > 60  # the pages' commands are read, not passed over
