"""A closed client's refusal, the same wherever a call meets it: before its slot, or
waiting for one when the client closes."""

from __future__ import annotations

import httpx2

__all__ = ["CLOSED", "refuse_closed"]

CLOSED = (
    "this ProducerSync client is closed (close() was called, or its with block ended): "
    "a closed client is not reopened, make a new one"
)


def refuse_closed(http: httpx2.Client | httpx2.AsyncClient) -> None:
    """``RuntimeError`` at once for a call on a closed client (or a copy of one). httpx2
    raised its own only when the request was sent: after a pacing slot, each call on a
    closed client waited its turn (up to the hour of a ``429``'s hold) to fail."""
    if http.is_closed:
        raise RuntimeError(CLOSED)
