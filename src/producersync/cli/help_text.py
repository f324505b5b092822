"""Help text as people read it: a paragraph's line breaks are the source's wrapping.

Typer's Rich help (its default markup mode) keeps a docstring's single line breaks in
the commands' list and in a command's paragraphs after its first, so a sentence was
broken wherever its source line ended, beside lines Rich wrapped at the terminal's width
(``producersync admin endpoint --help``: "failed for good, of the" / "messages created
since --since."). Markdown mode would join them, but would also read every help text as
Markdown (a ``*``, a ``_``, a list). The root group takes them out instead, once, for
every command beneath it; a paragraph that starts with ``\\b`` keeps its lines, as Click
means it to.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer._click import Context
from typer.core import TyperGroup

__all__ = ["UnwrappedGroup", "unwrapped"]


def unwrapped(text: str | None) -> str | None:
    """``text`` (a docstring, a ``help=``) with each paragraph on one line."""
    if text is None:
        return None
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph if paragraph.startswith("\b") else " ".join(paragraph.split())
        for paragraph in paragraphs
    )


class UnwrappedGroup(TyperGroup):
    """The root group: built once every command beneath it is, it unwraps their help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _unwrap(self)

    def get_params(self, ctx: Any) -> list[Any]:
        # Typer adds the completion flags to the root after it is made.
        params: list[Any] = super().get_params(ctx)
        _no_type(params)
        return params


def _unwrap(command: Any) -> None:
    command.help = unwrapped(command.help)
    command.short_help = unwrapped(command.short_help)
    _no_flag_type(command)
    for sub in getattr(command, "commands", {}).values():
        _unwrap(sub)


def _no_flag_type(command: Any) -> None:
    """A flag's row shows no type: Typer's Rich help gave every flag, --help and --json
    among them, the type ``<bool>``, read as an option taking true or false (``--json
    true`` was "Got unexpected extra argument (true)"). The help option is made here,
    as Typer makes it (once, then kept), to be told so too."""
    _no_type([*command.params, command.get_help_option(Context(command))])


def _no_type(params: list[Any]) -> None:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
