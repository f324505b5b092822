"""Where the real ProducerSync lives, and what a URL given instead must be."""

from __future__ import annotations

from enum import Enum
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["Environment", "EnvironmentName", "http_url", "named_environment"]

EnvironmentName = Literal["sandbox", "production"]


def http_url(value: str, name: str | None = None) -> str:
    """``value`` if it is an http(s) URL with a host; else a ``ValueError`` naming
    ``name`` and the value (credentials in it masked): a misconfigured URL fails at once
    instead of after every retry."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        userinfo, at, _ = parts.netloc.rpartition("@")
        shown = value.replace(userinfo + at, "***@", 1) if at else value
        prefix = f"{name}: " if name else ""
        raise ValueError(f"{prefix}{shown!r} is not an http(s) URL with a host")
    return value


class Environment(Enum):
    """AgentSync's environments: (API base URL, token URL)."""

    SANDBOX = ("https://api.sandbox.agentsync.io", "https://auth.sandbox.agentsync.io/oauth2/token")
    PRODUCTION = ("https://api.agentsync.io", "https://auth.agentsync.io/oauth2/token")

    @property
    def base_url(self) -> str:
        return self.value[0]

    @property
    def token_url(self) -> str:
        return self.value[1]


def named_environment(value: Environment | str) -> Environment:
    """``value``, or the ``Environment`` it names (``"sandbox"``, ``"production"``, in
    any case), as a configuration file or variable gives it; else ``ValueError`` naming
    it. A name failed as a bare AttributeError, naming neither the option nor the value."""
    if isinstance(value, Environment):
        return value
    found = Environment.__members__.get(value.upper()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"environment: {value!r:.60} is not 'sandbox' or 'production'")
    return found
