"""How long a process waits for its executor id's lock, held by another process, before
it refuses to start (``ExecutorLock.take``), as pydantic reads it; apart from
``executors``, which imports DBOS, for the settings to import without it."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

__all__ = ["EXECUTOR_LOCK_WAIT_SECONDS", "ExecutorLockWaitSetting"]

EXECUTOR_LOCK_WAIT_SECONDS: Final = 90.0
"""Longer than PostgreSQL takes to let go the lock of a host that died holding it (about
25 s, 30 s at most: ``executors.KEEPALIVE``), with room for a server under load."""

ExecutorLockWaitSetting = Annotated[
    float,
    Field(
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds a process waits for its executor id while another process "
        "holds it (a host that died holding it lets it go within about 30 s), before it "
        "exits with code 2 rather than run that process's workflows again.",
    ),
]
