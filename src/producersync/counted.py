"""A count with its noun as people read it, one rule for every output: each command
wrote its own, and `nipr run` printed "1 deliveries queued"."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: float, noun: str, plural: str | None = None) -> str:
    """``1 delivery``, ``2 deliveries``, ``1,500 changes``, ``1.5 seconds``: the noun as
    it is for one, else ``plural``, by default the noun's regular plural (``_plural``)."""
    number = f"{count:,}" if isinstance(count, int) else f"{count:,g}"
    return f"{number} {noun if count == 1 else plural or _plural(noun)}"


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return f"{noun[:-1]}ies"  # delivery, deliveries; day, days
    if noun.endswith(("s", "x", "ch", "sh")):
        return f"{noun}es"  # batch, batches
    return f"{noun}s"
