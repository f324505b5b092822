"""How long a stopping process that serves HTTP answers the requests in flight before it
cuts them (``PRODUCERSYNC_SHUTDOWN_GRACE_SECONDS``), as pydantic reads it; apart from
``cli.common``, for the settings to import without uvicorn."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

__all__ = ["SHUTDOWN_GRACE_SECONDS", "ShutdownGraceSetting"]

SHUTDOWN_GRACE_SECONDS: Final = 10
"""uvicorn's default was to wait for good, and a client that sent half a request held a
SIGTERMed process up until the supervisor's SIGKILL. Well below the 30 s that Kubernetes
gives before that (DBOS then has its 5 s)."""

ShutdownGraceSetting = Annotated[
    int,
    Field(
        ge=1,
        le=3600,
        description="Seconds a stopping process (SIGTERM, Ctrl-C) answers the requests in "
        "flight before it cuts those left (answered 503); keep it and DBOS's 5 s within "
        "the time your supervisor gives before its SIGKILL (`docker stop`: 10 s).",
    ),
]
