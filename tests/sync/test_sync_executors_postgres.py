"""``test_sync_executors``'s test on PostgreSQL (the store, the mirror and the DBOS system
database): a file of its own, so that another worker runs it beside the SQLite one
(``--dist loadfile`` keeps a file on one worker)."""

from __future__ import annotations

import pytest

from tests.sync import test_sync_executors as on_sqlite

pytestmark = pytest.mark.slow(80)


@pytest.fixture(params=[on_sqlite.POSTGRES])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# Every test there, collected here again with this file's backend: none is left out when
# one is added there.
globals().update({name: test for name, test in vars(on_sqlite).items() if name.startswith("test_")})
