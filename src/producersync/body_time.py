"""The time bound on a request's body, in every process that reads one (the API's
``BodyLimit``, the sync service's receiver), as Apache's mod_reqtimeout has it
(body=20,MinRate=500): ``BODY_SECONDS`` from its first read, a second more for each
``BODY_MIN_RATE`` bytes that came. uvicorn bounds no body's time."""

from __future__ import annotations

from typing import Final

__all__ = ["BODY_MIN_RATE", "BODY_SECONDS", "body_ends"]

BODY_SECONDS: Final = 20.0
"""Seconds a body has from its first read, before ``BODY_MIN_RATE`` adds to them."""

BODY_MIN_RATE: Final = 500
"""Bytes a second that keep a body's time growing: a 4 MiB subscription list over a
link that slow still arrives; a sender slower than that is cut off."""


def body_ends(
    started: float, came: int, seconds: float = BODY_SECONDS, min_rate: int = BODY_MIN_RATE
) -> float:
    """When a body first read at ``started``, of which ``came`` bytes came, must have
    ended (on ``started``'s clock)."""
    return started + seconds + came / min_rate
