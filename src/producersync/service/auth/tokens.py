"""Signed access tokens (JWT, HS256): validated with the key alone, no database round trip."""

from __future__ import annotations

import time
import uuid

import jwt

from producersync.service.auth.principal import Principal

__all__ = ["ISSUER", "InvalidToken", "TokenCodec"]

ISSUER = "producersync"


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or for another issuer."""


class TokenCodec:
    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds

    def issue(self, principal: Principal, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": ISSUER,
            "sub": principal.client_id,
            "acct": principal.account_id,
            "sbx": principal.sandbox,
            "scope": principal.scope,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> tuple[Principal, int]:
        """The principal and the issue time (for revocation checks)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "acct"]},
            )
            principal = Principal(
                client_id=str(claims["sub"]),
                account_id=int(claims["acct"]),
                sandbox=bool(claims.get("sbx", False)),
                scope=str(claims.get("scope", "")),
            )
            return principal, int(claims["iat"])
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired") from exc
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("The access token is invalid") from exc
