"""Stores for the NIPR tests, on SQLite and on PostgreSQL: a new migrated one (a copy of
the worker's), or an empty one for the tests of what migrating an empty store does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import BACKENDS
from tests.support.databases import migrated_store, store_url


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The backend: "sqlite" or "postgres"."""
    return str(request.param)


@pytest.fixture
def empty_store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty store (not yet migrated). A PostgreSQL one is dropped
    afterwards: tests that do not need an empty store take ``new_store_url``."""
    with store_url(kind, tmp_path) as url:
        yield url


@pytest.fixture
def new_store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new store as ``open_store`` leaves one (migrated, the sandbox's
    producers in it): a copy of the worker's, put back afterwards, rather than each test
    migrating an empty one and dropping it (~3 s a PostgreSQL test)."""
    with migrated_store(kind, tmp_path) as url:
        yield url
