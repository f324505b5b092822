"""Signed access tokens (JWT, HS256): validated with the key alone, no database round trip."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Callable

import jwt

from producersync.service.auth.principal import Principal

__all__ = ["ISSUER", "InvalidToken", "TokenCodec"]

ISSUER = "producersync"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_VERIFIED_MOST = 4096  # tokens remembered as verified; the oldest is forgotten first
_BIGINT = range(-(2**63), 2**63)  # what the store's account ids can hold


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or for another issuer."""


class TokenCodec:
    def __init__(
        self, key: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds
        self._clock = clock  # for a remembered token's expiry (PyJWT reads its own)
        # A client sends the same token for an hour: its signature and claims are checked
        # once (PyJWT takes ~40 us, on every request), then only its expiry. Keyed by the
        # token's digest, so that no bearer secret sits in memory as a key to compare.
        self._verified: dict[bytes, tuple[Principal, dt.datetime | None, int]] = {}
        self._verified_lock = threading.Lock()

    def issue(
        self,
        principal: Principal,
        secret_rotated_at: dt.datetime | None = None,
        now: float | None = None,
    ) -> str:
        """A token for ``principal``, whose client authenticated with the secret rotated in
        at ``secret_rotated_at`` (``None``: its first)."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": principal.client_id,
            "acct": principal.account_id,
            "sbx": principal.sandbox,
            "scope": principal.scope,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        # Which secret the token was issued under, exactly: the store's stamp of its
        # rotation, to the microsecond. iat cannot tell: in whole seconds, by this host's
        # clock, a token taken with the leaked secret just before a rotation and one taken
        # with the new secret just after bear the same iat, or the order of two clocks.
        if secret_rotated_at is not None:
            claims["srt"] = (secret_rotated_at - _EPOCH) // _MICROSECOND
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> tuple[Principal, dt.datetime | None]:
        """The principal, and when the secret the token was issued under was rotated in
        (``None``: the client's first secret), for the check against later rotations."""
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            principal, secret_rotated_at, expires = known
            if expires <= self._clock():  # as PyJWT decides it, without leeway
                raise InvalidToken("The access token has expired")
            return principal, secret_rotated_at
        principal, secret_rotated_at, expires = self._decode(token)
        with self._verified_lock:
            if len(self._verified) >= _VERIFIED_MOST:
                del self._verified[next(iter(self._verified))]
            self._verified[digest] = (principal, secret_rotated_at, expires)
        return principal, secret_rotated_at

    def _decode(self, token: str) -> tuple[Principal, dt.datetime | None, int]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                # iat is not checked against this clock: another process, its clock a
                # moment ahead, stamps an iat in this one's future, and PyJWT would refuse
                # such a token ("not yet valid") as soon as it is issued. exp bounds it.
                options={"require": ["exp", "iat", "sub", "acct"], "verify_iat": False},
            )
            account_id = int(claims["acct"])
            if account_id not in _BIGINT:
                # Signed with the key, yet no account's: the store's queries cannot hold
                # it (a 500 on either database), where a token is valid or a 401.
                raise ValueError(f"account id {account_id} out of range")
            principal = Principal(
                client_id=str(claims["sub"]),
                account_id=account_id,
                sandbox=bool(claims.get("sbx", False)),
                scope=str(claims.get("scope", "")),
            )
            stamp = claims.get("srt")
            rotated = None if stamp is None else _EPOCH + int(stamp) * _MICROSECOND
            return principal, rotated, int(claims["exp"])
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired") from exc
        # OverflowError: an srt past the datetimes' range.
        except (jwt.PyJWTError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidToken("The access token is invalid") from exc
