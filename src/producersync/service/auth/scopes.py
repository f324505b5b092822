"""OAuth scopes the service grants. The public docs do not name ProducerSync's; these are ours."""

from __future__ import annotations

import re

__all__ = ["ALL_SCOPES", "READ", "WRITE", "malformed", "parse_scopes"]

READ = "producersync.read"
WRITE = "producersync.write"  # changes the monitored population
ALL_SCOPES: frozenset[str] = frozenset({READ, WRITE})

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), one SP between tokens.
_NOT_TOKEN = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e ]")
_RULE = "RFC 6749 §3.3: scopes of printable ASCII but '\"' and '\\', one space between them"


def parse_scopes(value: str) -> frozenset[str]:
    return frozenset(value.split())


def malformed(value: str) -> str | None:
    """What makes ``value`` no scope of RFC 6749 §3.3; None if it is one. Split on any
    whitespace, a tab or a doubled space was taken as a separator, a scope sent so
    granted as if written otherwise."""
    found = _NOT_TOKEN.search(value)
    if found:
        char = found[0]
        named = f"'{char}' (U+{ord(char):04X})" if char.isprintable() else f"U+{ord(char):04X}"
        return f"it has the character {named} ({_RULE})"
    if value.startswith(" ") or value.endswith(" ") or "  " in value:
        return f"it begins or ends with a space, or has two together ({_RULE})"
    return None
