"""Shared fixtures for the webhook tests: fixed secrets, a fixed event, ``generate_headers``
and an HMAC written out independently of the code under test."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from hypothesis import HealthCheck, settings

from producersync.model import UpdatesAvailable
from producersync.webhooks import SecretsLike, parse_secrets

# Settings for every property test: enough examples to mean something, no deadline (CI
# machines are slow and noisy), and no health check that fails on a slow first example.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"\xff" * 32).decode()

NOW = 1_753_397_465  # 2025-07-24T22:51:05Z
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

EVENT = UpdatesAvailable.create(
    dt.date(2025, 7, 24),
    event_id="whe_000012345",
    timestamp=dt.datetime(2025, 7, 24, 22, 51, 5, 206000, tzinfo=dt.UTC),
)
BODY = EVENT.to_json()

# The Standard Webhooks / Svix published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<b64>`` computed here from the spec, not by the code under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def generate_headers(
    *,
    body: bytes = BODY,
    msg_id: str = MSG_ID,
    timestamp: int | str = NOW,
    secret: SecretsLike = SECRET,
    signature: str | None = None,
    prefix: str = "webhook",
) -> dict[str, str]:
    """Headers for a delivery of ``body``; any part can be replaced to break one check.

    The signature is computed over the given id and timestamp (even malformed ones) with
    every secret, unless ``signature`` gives the header value outright."""
    if signature is None:
        texts = [s.get_secret_value() for s in parse_secrets(secret)]
        signature = " ".join(
            independent_signature(text, msg_id, str(timestamp), body) for text in texts
        )
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(timestamp),
        f"{prefix}-signature": signature,
    }
