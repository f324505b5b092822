"""OAuth scopes the service grants. The public docs do not name ProducerSync's; these are ours."""

from __future__ import annotations

__all__ = ["ALL_SCOPES", "READ", "WRITE", "parse_scopes"]

READ = "producersync.read"
WRITE = "producersync.write"  # changes the monitored population
ALL_SCOPES: frozenset[str] = frozenset({READ, WRITE})


def parse_scopes(value: str) -> frozenset[str]:
    return frozenset(value.split())
