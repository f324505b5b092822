"""The time bound on a request's head in every process that serves HTTP
(``PRODUCERSYNC_HEAD_TIMEOUT_SECONDS``), as pydantic reads it; apart from ``bounded_head``,
which imports uvicorn's protocol, for the settings to import without it."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

__all__ = ["HEAD_TIMEOUT_SECONDS", "HeadTimeoutSetting"]

HEAD_TIMEOUT_SECONDS: Final = 30.0
"""Apache's mod_reqtimeout allows a head 20 s, up to 40 as it comes; a client on a slow
link sends a few KB in far less."""

HeadTimeoutSetting = Annotated[
    float,
    Field(
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds a connection has, from its first byte (a new connection: from "
        "its opening), to send a request's line and headers; past them it is answered 408 "
        "(closed if it sent nothing) and closed. Keep-alive waits between requests and "
        "request bodies are not counted.",
    ),
]
