"""What ``producersync.webhooks`` raises.

    ValueError
     └── WebhookError                  anything this package rejects
          ├── WebhookSecretError       a secret is malformed (configuration: fix the setting)
          └── WebhookVerificationError a delivery failed verification; ``check`` says which

A ``WebhookSecretError`` is the receiver's own fault, so it is not a verification error: a
receiver that answers it with a 5xx gets the delivery retried once the setting is fixed.
Neither message ever contains a secret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "VerificationCheck",
    "WebhookError",
    "WebhookSecretError",
    "WebhookVerificationError",
]


class VerificationCheck(StrEnum):
    """The check a delivery failed, in the order they run."""

    MISSING_HEADER = "missing_header"
    MALFORMED_ID = "malformed_id"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    MALFORMED_SIGNATURE = "malformed_signature"
    NO_MATCHING_SIGNATURE = "no_matching_signature"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    BODY_NOT_UTF8 = "body_not_utf8"
    BODY_NOT_JSON = "body_not_json"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_EVENT = "invalid_event"


_CONTENT_CHECKS = frozenset(
    {
        VerificationCheck.BODY_NOT_UTF8,
        VerificationCheck.BODY_NOT_JSON,
        VerificationCheck.UNKNOWN_EVENT_TYPE,
        VerificationCheck.INVALID_EVENT,
    }
)


class WebhookError(ValueError):
    """Base of everything this package rejects."""


class WebhookSecretError(WebhookError):
    """A webhook secret is malformed; the message names the problem, never the secret."""


class WebhookVerificationError(WebhookError):
    """A delivery failed verification; the message names the failed check."""

    check: VerificationCheck

    def __init__(self, check: VerificationCheck, message: str) -> None:
        super().__init__(message)
        self.check = check

    @property
    def authentic(self) -> bool:
        """True when the signature matched and the timestamp was fresh, but the body is
        unreadable (not UTF-8, not JSON, or not a known event): the sender sent it, so a
        retry will not help and a receiver may acknowledge it (and keep it for a human)."""
        return self.check in _CONTENT_CHECKS

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.check, str(self)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.check.value!r}, {str(self)!r})"
