"""Signing a delivery: ``v1,<base64 HMAC-SHA256>`` per secret, and the three headers."""

from __future__ import annotations

import base64
from typing import Final

from producersync.webhooks._hmac import MSG_ID_RE, TIMESTAMP_RE, digest
from producersync.webhooks.secret import SecretsLike, WebhookSecret, parse_secret, parse_secrets

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "headers",
    "sign",
    "signature_header",
]

ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
SIGNATURE_VERSION: Final = "v1"


def _check_inputs(msg_id: str, timestamp: int, body: bytes) -> str:
    if not isinstance(msg_id, str) or not MSG_ID_RE.fullmatch(msg_id):
        raise ValueError("msg_id must be 1 to 256 visible ASCII characters without '.'")
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, int)
        or not TIMESTAMP_RE.fullmatch(str(timestamp))
    ):
        raise ValueError("timestamp must be an int of Unix seconds, 0 to 10**12 - 1")
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    return str(timestamp)


def sign(msg_id: str, timestamp: int, body: bytes, secret: str | WebhookSecret) -> str:
    """The signature of one delivery under one secret: ``v1,<base64>``."""
    ts = _check_inputs(msg_id, timestamp, body)
    mac = digest(parse_secret(secret).key, msg_id, ts, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode('ascii')}"


def signature_header(msg_id: str, timestamp: int, body: bytes, secrets: SecretsLike) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated, so a
    receiver holding any one of them (old or new, during rotation) accepts it."""
    parsed = parse_secrets(secrets)
    return " ".join(sign(msg_id, timestamp, body, secret) for secret in parsed)


def headers(msg_id: str, timestamp: int, body: bytes, secrets: SecretsLike) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(msg_id, timestamp, body, secrets),
    }
