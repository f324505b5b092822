"""Where the real ProducerSync lives."""

from __future__ import annotations

from enum import Enum

__all__ = ["Environment"]


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
