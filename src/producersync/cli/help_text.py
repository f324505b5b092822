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


def _unwrap(command: Any) -> None:
    command.help = unwrapped(command.help)
    command.short_help = unwrapped(command.short_help)
    for sub in getattr(command, "commands", {}).values():
        _unwrap(sub)
