"""The fields of a URL-encoded form body as sent, before Starlette decodes them.

Starlette reads such a body leniently: a percent-escape that is not UTF-8 becomes U+FFFD
and a byte past ASCII is read as Latin-1, so a value is answered as other text than the
client sent. The portal's forms and the token endpoint's (RFC 6749 Appendix B: UTF-8,
percent-encoded) refuse such a field instead, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

__all__ = ["decoded", "fault", "pairs"]


def decoded(part: bytes) -> bytes:
    """A name or value as the form means it: ``+`` a space, ``%XX`` a byte."""
    return unquote_to_bytes(part.replace(b"+", b" "))


def fault(part: bytes) -> str | None:
    """What is wrong with a name or value as sent, if anything."""
    if not part.isascii():
        return "has bytes that are not percent-encoded"  # browsers encode all past ASCII
    try:
        decoded(part).decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    return None


def pairs(body: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each field's name and value as sent; ``a=1&&b=2`` has two, as Starlette reads it."""
    for pair in body.split(b"&"):
        if pair:
            name, _, value = pair.partition(b"=")
            yield name, value
