"""CSRF tokens: an HMAC of the secret the browser holds in an HttpOnly cookie (the session
id, or before sign-in a one-off nonce), so a token works only with its own session, needs
no storage, and cannot be read or forged by another site."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["csrf_matches", "csrf_token"]

_PURPOSE = b"producersync-portal-csrf"


def csrf_token(secret: str) -> str:
    mac = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_matches(secret: str, given: str) -> bool:
    """Whether ``given`` is the token of ``secret``, compared in constant time."""
    return hmac.compare_digest(csrf_token(secret).encode(), given.encode())
