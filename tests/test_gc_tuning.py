"""The collector as the long-running processes set it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from producersync.gc_tuning import pause_gc, tune_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """This process's collector as it was, after the test."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


@pytest.mark.usefixtures("collector")
def test_tuning_turns_the_collector_back_on_after_a_pause() -> None:
    pause_gc()
    assert not gc.isenabled()
    tune_gc()
    assert gc.isenabled()
    assert gc.get_threshold() == (50_000, 20, 100)
