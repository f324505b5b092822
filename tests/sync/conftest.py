"""Fixtures of the sync tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import migrated_mirror


@pytest.fixture
def sqlite_mirror(tmp_path: Path) -> Iterator[str]:
    """A new SQLite mirror, ``mirror.db`` in the test's ``tmp_path`` (``migrated_mirror``)."""
    with migrated_mirror("sqlite", tmp_path) as url:
        yield url
