"""What a durable step retries (``db_outage.STEP_RETRIES``): an outage, or a transaction
PostgreSQL rolled back for a conflict; never a fault of the statement."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors

from producersync.db_outage import STEP_RETRIES


def _raised(orig: psycopg.Error) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("UPDATE entities ...", {}, orig, psycopg.Error)


@pytest.mark.parametrize(
    ("orig", "retried"),
    [
        (errors.DeadlockDetected("deadlock detected"), True),
        (errors.SerializationFailure("could not serialize access"), True),
        (errors.AdminShutdown("terminating connection"), True),
        (errors.UniqueViolation("duplicate key"), False),
        (errors.QueryCanceled("canceling statement due to statement timeout"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_step_retries_outages_and_lost_conflicts_only(orig: psycopg.Error, retried: bool) -> None:
    assert STEP_RETRIES["should_retry"](_raised(orig)) is retried
