"""``test_sync_process``'s tests on PostgreSQL (the store, the mirror and the DBOS system
database): a file of its own, so that another worker runs it beside the SQLite one
(``--dist loadfile`` keeps a file on one worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sync_harness import Harness
from tests.sync import test_sync_process as on_sqlite

pytestmark = pytest.mark.slow(120)


@pytest.fixture(scope="module", params=[on_sqlite.POSTGRES])
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    yield from on_sqlite.harness_on(request.param, tmp_path_factory)


# Every test there, in its order (each builds on the state the one before left), collected
# here again with this file's harness: none is left out when one is added there.
globals().update({name: test for name, test in vars(on_sqlite).items() if name.startswith("test_")})
