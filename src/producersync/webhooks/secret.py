"""Webhook secrets: ``whsec_`` and the standard base64 of 24 to 64 random bytes.

The HMAC key is the decoded bytes (not the text of the secret). A ``WebhookSecret`` holds
them; its ``repr`` shows a fingerprint, never the key, and so does every error here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from typing import Final, final

from producersync.webhooks._exceptions import WebhookSecretError

__all__ = [
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "SecretsLike",
    "WebhookSecret",
    "generate_secret",
    "parse_secret",
    "parse_secrets",
]

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32
"""Random bytes in a generated secret."""
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64

_URL_SAFE = frozenset("-_")


@final
class WebhookSecret:
    """A parsed secret: the HMAC key, kept out of ``repr`` and ``str``."""

    __slots__ = ("_key",)
    _key: bytes

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes):
            raise WebhookSecretError("webhook secret key must be bytes")
        if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
            raise WebhookSecretError(
                f"webhook secret key is {len(key)} bytes;"
                f" expected {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}"
            )
        self._key = key

    @property
    def key(self) -> bytes:
        """The HMAC-SHA256 key."""
        return self._key

    @property
    def fingerprint(self) -> str:
        """Eight hex digits of the key's SHA-256: tells secrets apart in logs."""
        return hashlib.sha256(self._key).hexdigest()[:8]

    def get_secret_value(self) -> str:
        """The secret as text (``whsec_...``), e.g. to show once in the portal."""
        return SECRET_PREFIX + base64.b64encode(self._key).decode("ascii")

    def __repr__(self) -> str:
        return f"WebhookSecret(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WebhookSecret):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.fingerprint)


SecretsLike = str | WebhookSecret | Sequence[str | WebhookSecret]
"""One secret, or several (rotation): text or parsed."""


def generate_secret() -> str:
    """A new secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def _not_text(value: object) -> WebhookSecretError:
    said = f"webhook secret must be a string, not {type(value).__name__}"
    if not isinstance(value, bytes | bytearray):
        return WebhookSecretError(said)
    # Bytes are a raw key to standardwebhooks' Webhook(), or the text read in binary: told
    # only "not bytes", a receiver moving from it had no way in for its key.
    if value.startswith(SECRET_PREFIX.encode()):
        return WebhookSecretError(f"{said}: decode it")
    return WebhookSecretError(f"{said}: a raw HMAC key goes in as WebhookSecret(key)")


def parse_secret(value: str | WebhookSecret) -> WebhookSecret:
    """Parse ``whsec_<base64>`` (padding optional); raise ``WebhookSecretError`` naming the
    problem (never the value) if it is not one."""
    if isinstance(value, WebhookSecret):
        return value
    if not isinstance(value, str):
        raise _not_text(value)
    if not value:
        raise WebhookSecretError("webhook secret is empty")
    if value != value.strip():
        # Said before the prefix: " whsec_…" (a list split at ", ") was "must start with
        # 'whsec_'", which it visibly does.
        raise WebhookSecretError("webhook secret has whitespace around it")
    if value[:1] in ("'", '"') and value[1:].startswith(SECRET_PREFIX):
        # Docker's --env-file, and a .env file read by hand, keep the quotes around a value:
        # "must start with 'whsec_'" was said of a secret that visibly does.
        raise WebhookSecretError("webhook secret is in quotes: give it without them")
    if not value.startswith(SECRET_PREFIX):
        said = f"webhook secret must start with {SECRET_PREFIX!r}"
        if _key_of(value) is not None:
            # A key copied without its prefix, which standardwebhooks takes bare: told only
            # the rule, its holder could not tell it from any other string.
            said += f" (if this is the key's base64 alone, put {SECRET_PREFIX!r} before it)"
        raise WebhookSecretError(said)
    encoded = value[len(SECRET_PREFIX) :]
    if not encoded:
        raise WebhookSecretError(f"webhook secret has nothing after {SECRET_PREFIX!r}")
    if (count := value.count(SECRET_PREFIX)) > 1:
        # A rotation's "whsec_…,whsec_…" (a variable holding several) passed unsplit was
        # told "uses URL-safe base64", for the '_' of the second prefix, or "contains
        # whitespace": standard base64 holds no '_', so this is no secret's own text.
        raise WebhookSecretError(
            f"webhook secret is {count} secrets in one string ({SECRET_PREFIX!r} {count}"
            " times): pass several as a list, one secret each"
        )
    if any(c.isspace() for c in encoded):
        raise WebhookSecretError("webhook secret contains whitespace")
    if not encoded.isascii():
        raise WebhookSecretError("webhook secret contains non-ASCII characters")
    if _URL_SAFE & set(encoded):
        raise WebhookSecretError(
            "webhook secret uses URL-safe base64 ('-' or '_'); expected standard base64"
        )
    key = _decoded(encoded)
    if key is None:
        raise WebhookSecretError("webhook secret is not valid base64")
    return WebhookSecret(key)


def _decoded(encoded: str) -> bytes | None:
    """Standard base64, padding optional; None if it is not."""
    unpadded = encoded.rstrip("=")
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _key_of(text: str) -> bytes | None:
    """The key ``text`` would be as a secret's base64 alone (of a key's length), else None."""
    key = _decoded(text) if text.isascii() else None
    return key if key is not None and MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES else None


def parse_secrets(value: SecretsLike) -> tuple[WebhookSecret, ...]:
    """Parse one secret or several (at least one); see ``parse_secret``."""
    if isinstance(value, str | WebhookSecret):
        return (parse_secret(value),)
    if isinstance(value, bytes | bytearray):
        raise _not_text(value)
    if value is None:
        # os.environ.get() of a variable the receiver's deployment lacks: it was a bare
        # TypeError ("'NoneType' object is not iterable") naming no secret, to a
        # receiver that answered it 500 for every delivery.
        raise WebhookSecretError("no webhook secret given (None: is its setting unset?)")
    if not isinstance(value, Iterable):
        raise WebhookSecretError(
            f"webhook secret must be a string or a list of them, not {type(value).__name__}"
        )
    items = list(value)
    if not items:
        raise WebhookSecretError("no webhook secret given")
    if len(items) == 1:
        return (parse_secret(items[0]),)
    parsed = []
    for number, item in enumerate(items, 1):
        try:
            parsed.append(parse_secret(item))
        except WebhookSecretError as exc:
            # Which of them: "must start with 'whsec_'" alone left a receiver given three
            # (a rotation's, and a trailing comma's empty one) to guess.
            raise WebhookSecretError(f"secret {number} of {len(items)}: {exc}") from None
    return tuple(parsed)
