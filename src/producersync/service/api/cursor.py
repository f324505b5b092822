"""Continuation tokens: a keyset position (npn, id), bound by MAC to the account and to
the listing: the list's path and its filters.

Opaque to clients; a token from another account, another list, the same list under other
filters, or a typo is refused with a precise 400 instead of silently paging from the
wrong place.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from producersync.model import is_npn
from producersync.service.api.numbers import MAX_ROW_ID
from producersync.service.errors import ApiError

__all__ = ["START", "CursorCodec"]

START = "0"
_MAC_BYTES = 9
_MAC = re.compile(r"[A-Za-z0-9_-]{12}")  # _MAC_BYTES in base64, unpadded
"""A MAC as ``encode`` writes it. Checked before the comparison: ``compare_digest``
refuses a string with a character past ASCII (a TypeError, so a 500) rather than say
it differs."""


def _is_id(text: str) -> bool:
    """A record id as a token writes it: any the store holds, up to a BIGINT's 19 digits
    (at 18, a list holding a larger id, which a feed file may give, ended at its page)."""
    return (
        0 < len(text) <= len(str(MAX_ROW_ID))
        and text.isascii()
        and text.isdigit()
        and 0 < int(text) <= MAX_ROW_ID
    )


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"continuation-token:" + key).digest()

    def _mac(self, account_id: int, listing: str, body: str) -> str:
        digest = hmac.new(self._key, f"{account_id}|{listing}|{body}".encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode()

    def encode(self, account_id: int, listing: str, npn: str, record_id: int) -> str:
        body = f"{npn}.{record_id}"
        return f"{body}.{self._mac(account_id, listing, body)}"

    def decode(self, account_id: int, listing: str, token: str | None) -> tuple[str, int] | None:
        """The position after which to read; None for the first page."""
        if token is None or token == START:
            return None
        parts = token.split(".")
        if (
            len(parts) != 3
            or not is_npn(parts[0])
            or not _is_id(parts[1])
            or not _MAC.fullmatch(parts[2])
        ):
            raise ApiError.bad_parameter("continuationToken", token, "not a token this API issued")
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2], self._mac(account_id, listing, body)):
            raise ApiError.bad_parameter(
                "continuationToken",
                token,
                "issued for another list, other filters or another account; follow links.next.href",
            )
        return parts[0], int(parts[1])
