"""Standard Webhooks v1 for ProducerSync events: secrets, signing and verification.

No I/O; imports nothing of ours but ``producersync.model``.

    >>> import time, datetime as dt
    >>> from producersync.model import UpdatesAvailable
    >>> from producersync.webhooks import generate_secret, headers, verify
    >>> secret = generate_secret()
    >>> body = UpdatesAvailable.create(dt.date(2025, 7, 24)).to_json()
    >>> sent = headers("msg_1", int(time.time()), body, secret)
    >>> verify(body, sent, secret).data.run_date  # or raises WebhookVerificationError
    datetime.date(2025, 7, 24)
"""

from producersync.webhooks._exceptions import (
    VerificationCheck,
    WebhookError,
    WebhookSecretError,
    WebhookVerificationError,
)
from producersync.webhooks.secret import (
    MAX_SECRET_BYTES,
    MIN_SECRET_BYTES,
    SECRET_BYTES,
    SECRET_PREFIX,
    SecretsLike,
    WebhookSecret,
    generate_secret,
    parse_secret,
    parse_secrets,
)
from producersync.webhooks.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_VERSION,
    TIMESTAMP_HEADER,
    headers,
    sign,
    signature_header,
)
from producersync.webhooks.verification import (
    DEFAULT_TOLERANCE,
    HEADER_PREFIXES,
    HeadersLike,
    parse_event,
    verify,
    verify_signature,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER_PREFIXES",
    "ID_HEADER",
    "MAX_SECRET_BYTES",
    "MIN_SECRET_BYTES",
    "SECRET_BYTES",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "HeadersLike",
    "SecretsLike",
    "VerificationCheck",
    "WebhookError",
    "WebhookSecret",
    "WebhookSecretError",
    "WebhookVerificationError",
    "generate_secret",
    "headers",
    "parse_event",
    "parse_secret",
    "parse_secrets",
    "sign",
    "signature_header",
    "verify",
    "verify_signature",
]
