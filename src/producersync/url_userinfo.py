"""A URL's user and password hidden wherever text may hold one: error messages, status
lines, and every log line (``log_format``). Apart from ``database_url``, which imports
SQLAlchemy, so that a process's logging and its CLI's errors need not."""

from __future__ import annotations

import re

__all__ = ["masked"]

# A password runs to the last "@" before a space: SQLAlchemy's URLs take one holding "/",
# "?" or "#" (an `openssl rand -base64` one unencoded), and redis-py's one holding "@".
# A user's name stops at ":" or "/", so a URL with no "@" in its host's part is left as is.
# Read a word at a time, its last "@" found once: a regular expression searching the rest
# of the line for an "@" from each "//" took seconds on a line of many "//:" and none
# (60 KB: 6.6 s), and one bounded to 256 characters left a longer password shown.
_WORD = re.compile(r"\S+")
_USER_ENDS = re.compile(r"[/:@]")

# Both take a password holding spaces or tabs too ("correct horse battery staple"), which
# a word at a time showed whole. Such a one runs from its URL's "//user:" over the next
# words of its line to the first holding an "@", and is masked to that word's last "@".
# It is not one where a port follows the ":" ("http://host:8080, mail me@example.com"),
# nor across a line's end or a word holding "//" (another URL) before its "@". Each
# quantifier possessive and each stretch stopping at the next "//": a "//" where no
# match starts is scanned past once, so the search stays linear.
_SPACED = re.compile(
    r"""
    //(?!\[)[^\s/:@]*+:                          # a user (no IPv6 address's "["), ":"
    (?!\d*+(?:[/?#]|[^\w\s]*+(?!\S)))            # not a port, a path or "," after it
    (?:(?!//)[^\s@])*+                            # the password's first word
    (?:[^\S\n\r]++(?:(?!//)[^\s@])++(?=\s))*+     # its words with no "@"
    [^\S\n\r]++(?:(?!//)[^\s@])*+@(?:\S*@)?       # the word with its "@", to the last
    """,
    re.VERBOSE,
)


def masked(text: str) -> str:
    """``text`` with the user and password of any URL in it replaced by ``***``."""
    if "//" not in text or "@" not in text:
        return text
    return _WORD.sub(_masked_word, _SPACED.sub("//***@", text))


def _masked_word(found: re.Match[str]) -> str:
    word = found[0]
    last_at = word.rfind("@")
    parts: list[str] = []
    shown = 0  # the word up to here is in parts
    slashes = word.find("//")
    while slashes != -1 and slashes < last_at:
        user_end = _USER_ENDS.search(word, slashes + 2)
        assert user_end is not None  # the "@" at last_at is one
        if user_end[0] == "/":  # no userinfo here: a path, or a "///"
            slashes = word.find("//", user_end.start())
            continue
        # "user@": the userinfo ends there; "user:": the password runs to the last "@".
        at = user_end.start() if user_end[0] == "@" else last_at
        parts.append(word[shown : slashes + 2] + "***@")
        shown = at + 1
        slashes = word.find("//", shown)
    parts.append(word[shown:])
    return "".join(parts)
