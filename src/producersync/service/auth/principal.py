"""Who is calling: what a valid access token says, with no database round trip."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The OAuth client behind a request, and the account it acts for."""

    client_id: str
    account_id: int
    sandbox: bool
    scope: str
