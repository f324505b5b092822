"""Client credentials: generated once, stored only as salted hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "new_client_id", "new_client_secret", "verify_secret"]

# Client secrets are 256 random bits, so a salted SHA-256 resists offline guessing as well
# as a slow KDF would, and keeps the token endpoint cheap at 200 requests/min per client.
_SCHEME = "sha256"


def new_client_id() -> str:
    return "psc_" + secrets.token_hex(12)


def new_client_secret() -> str:
    return "pss_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((salt + secret).encode()).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$", 2)
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hashlib.sha256((salt + secret).encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)
