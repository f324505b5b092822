"""A bulk load of a universe stopped midway, as an interrupted `nipr generate` leaves it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from producersync.service.nipr.loader import load
from producersync.service.nipr.universe import Batch, generate

__all__ = ["BEFORE_THE_CUT", "load_cut_short"]

BEFORE_THE_CUT = 100  # producers committed (the first batch of three) when the load stops


def load_cut_short(engine: sa.Engine) -> None:
    """Load a universe of 300 producers into ``engine``'s store, stopped by Ctrl-C after
    its first batch committed (a SIGKILL leaves the same)."""

    def cut_short() -> Iterator[Batch]:
        batches = generate(3 * BEFORE_THE_CUT, seed=1, batch_size=BEFORE_THE_CUT)
        yield next(batches)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load(engine, cut_short())
