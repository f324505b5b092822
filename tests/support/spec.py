"""The OpenAPI spec the service publishes at its default settings, built once a process."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from producersync.service.app import create_app

__all__ = ["published_spec"]


def published_spec() -> dict[str, Any]:
    """A copy of the spec, the caller's to change. Built from its routes' models, a spec
    took 0.18-0.29 CPU-s, and the spec tests built it 14 times a worker, 3 of them as a
    worker collected the suite; a copy takes 0.01."""
    return copy.deepcopy(_built())


@cache
def _built() -> dict[str, Any]:
    return create_app().openapi()
