"""The size of a list page: the API's, and the CLI's lists', whose help names it."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_PAGE", "MAX_PAGE"]

MAX_PAGE: Final = 250
DEFAULT_PAGE: Final = 50
