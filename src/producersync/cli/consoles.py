"""The command's two consoles, each made at its first use.

A Rich ``Console`` reads its terminal as it is made: the width (COLUMNS), the colours
(NO_COLOR, FORCE_COLOR...) and whether its stream is a terminal. Made as the command's
modules were imported, they told the terminal of whatever process had imported them, not
of the one printing: a process forked from one that had imported the command (as the
tests start theirs) printed to its parent's terminal settings. Each is made on the first
read or write of one of its attributes, in the process that prints, from the environment
and streams it has then; from then on it is that process's console, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from rich.console import Console

__all__ = ["console", "err_console"]


class _AtFirstUse:
    """Stands for the console ``make`` returns, made at the first attribute read or set
    through it (``console.print``, ``console.width``, a test's ``monkeypatch.setattr``) or
    the first ``with`` of it."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], Console]) -> None:
        object.__setattr__(self, "_make", make)
        object.__setattr__(self, "_made", None)

    def _console(self) -> Console:
        if self._made is None:
            object.__setattr__(self, "_made", self._make())
        return cast(Console, self._made)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._console(), name, value)

    # The console's own special methods, which Python looks up on the type, not through
    # ``__getattr__``: Rich's Live enters the console (``with console:``) as it draws.
    def __enter__(self) -> Console:
        return self._console().__enter__()

    def __exit__(self, *raised: Any) -> None:
        self._console().__exit__(*raised)

    def __repr__(self) -> str:
        return repr(self._console())


# Typed as the console it stands for: every use of it is one of the console's.
console = cast(Console, _AtFirstUse(Console))
# Never wrapped: an error is one line, however narrow the terminal (or 80 columns, when
# stderr is not one), so that a script or a log keeps it whole.
err_console = cast(Console, _AtFirstUse(functools.partial(Console, stderr=True, soft_wrap=True)))
