"""The base of every process's settings: shown (``repr``, ``str``, a debugger's or a
traceback's view of them) with each URL's user and password masked. A secret is a
``SecretStr`` and shows as one; a URL is text its readers open as it is given, so the
database's, the system database's, Redis's or the API's password showed in full."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic_settings import BaseSettings

from producersync.url_userinfo import masked

__all__ = ["MaskedSettings"]


class MaskedSettings(BaseSettings):
    """``BaseSettings`` whose every text value is shown masked (``url_userinfo.masked``)."""

    @classmethod
    def given_in(cls, name: str) -> str | None:
        """Where the value of the setting ``name`` came from, when not its environment
        variable (a configuration file's key, for an error to name it): None here."""
        return None

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # pydantic's repr, str and rich's pretty printing all read these.
        for name, value in super().__repr_args__():
            yield name, masked(value) if isinstance(value, str) else value
