"""The one HMAC: ``HMAC-SHA256(key, "{id}.{timestamp}.{body}")`` over the body's exact bytes."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

__all__ = ["MSG_ID_RE", "TIMESTAMP_RE", "digest"]

MSG_ID_RE: Final = re.compile(r"[!-\-/-~]{1,256}")
"""A message id: 1 to 256 visible ASCII characters, no full stop (it separates the parts)."""

TIMESTAMP_RE: Final = re.compile(r"0|[1-9][0-9]{0,11}")
"""A timestamp: whole Unix seconds in canonical decimal (what every verifier re-formats)."""


def digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    content = b"".join((msg_id.encode("ascii"), b".", timestamp.encode("ascii"), b".", body))
    return hmac.new(key, content, hashlib.sha256).digest()
