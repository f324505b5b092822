"""A URL's user and password hidden wherever text may hold one: error messages, status
lines, and every log line (``log_format``). Apart from ``database_url``, which imports
SQLAlchemy, so that a process's logging and its CLI's errors need not."""

from __future__ import annotations

import re

__all__ = ["masked"]

# A password runs to the last "@" before a space: SQLAlchemy's URLs take one holding "/",
# "?" or "#" (an `openssl rand -base64` one unencoded), and redis-py's one holding "@".
# A user's name stops at ":" or "/", so a URL with no "@" in its host's part is left as is.
# The password's run is bounded: unbounded, a line of many "//:" and no "@" (60 KB of them)
# took seconds, each "//" searching the rest of the line for an "@".
_USERINFO = re.compile(r"//[^\s/:]*(?::\S{0,256})?@")


def masked(text: str) -> str:
    """``text`` with the user and password of any URL in it replaced by ``***``."""
    return _USERINFO.sub("//***@", text)
