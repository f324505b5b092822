"""The bytecode a run's processes read, written once for them (``tests/support/bytecode.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _pytest.assertion.rewrite import _read_pyc

import producersync.cli.main
import tests.conftest
from tests.support import bytecode, waiting


def test_the_test_modules_a_worker_collects_are_read_rewritten_not_rewritten_again(
    pytestconfig: pytest.Config,
) -> None:
    if pytestconfig.getoption("assertmode") == "plain":
        pytest.skip("--assert=plain: pytest rewrites no module")
    for module in (Path(__file__), Path(tests.conftest.__file__)):
        assert _read_pyc(module, bytecode.rewritten_pyc(module)) is not None, module


def test_the_helpers_and_producersync_are_read_compiled() -> None:
    for module in (waiting, producersync.cli.main):
        assert module.__file__ is not None
        assert Path(importlib.util.cache_from_source(module.__file__)).is_file(), module
