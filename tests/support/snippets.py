"""The Python snippets of the project's documents, as a reader copies them."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ROOT", "snippets"]

ROOT = Path(__file__).resolve().parents[2]
_SNIPPET = re.compile(r"```python\n(.*?)```", re.S)


def snippets(page: str, *, before: str | None = None) -> list[str]:
    """The snippets of ``page`` (a path from the repository's root), in order; with
    ``before``, only those above the first line that starts with it."""
    text = (ROOT / page).read_text()
    if before is not None:
        text = text.split(f"\n{before}", 1)[0]
    return _SNIPPET.findall(text)
