"""The webhook management API (``/v1/webhooks``) as the SDK reads it: endpoints, their
secrets, messages, their deliveries and attempts, and what Send Example, replay and
recover queue.

The service writes these bodies from its own models (``service/api/webhook_models``, which
carry its spec's rules); a test holds the two to the same fields. Unknown fields are kept
and each value the API enumerates is widened by ``| str``, as for records: a field or a
state a newer service adds must not refuse the whole answer to an older client. A signing
secret is never in a model's ``repr`` (a debugger's, a traceback's locals, a log line of
the model), as in the service's.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

__all__ = [
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryAccepted",
    "WebhookEndpoint",
    "WebhookEndpointCreated",
    "WebhookEndpointSecret",
    "WebhookEventType",
    "WebhookMessage",
    "WebhookMessageAccepted",
    "WebhookRecoverAccepted",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


class WebhookEndpoint(_Wire):
    id: str
    url: str
    description: str
    event_types: list[str] | None = Field(description="None: every event type")
    enabled: bool
    disabled_reason: str | None
    rate_limit_per_second: int | None = Field(description="None: no limit")
    failing_since: dt.datetime | None = Field(
        description="Start of the current run of failed attempts; None after any success"
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookEndpointCreated(WebhookEndpoint):
    """A new endpoint, with the signing secret no other answer but ``secret()`` carries."""

    secret: str = Field(repr=False, description="The signing secret (whsec_...)")


class WebhookEndpointSecret(_Wire):
    secret: str = Field(repr=False, description="The signing secret (whsec_...)")


class WebhookEventType(_Wire):
    name: str
    description: str


class WebhookDelivery(_Wire):
    """A message's delivery state at one endpoint."""

    endpoint_id: str
    state: Literal["pending", "succeeded", "failed"] | str
    attempts: int
    next_attempt_at: dt.datetime | None
    updated_at: dt.datetime


class WebhookMessage(_Wire):
    id: str = Field(description="The event id, sent as webhook-id")
    event_type: str
    payload: dict[str, JsonValue] = Field(
        description='The event exactly as sent; {"expired": True} once its payload expired'
    )
    created_at: dt.datetime
    deliveries: list[WebhookDelivery]


class WebhookAttempt(_Wire):
    id: int
    message_id: str
    endpoint_id: str
    url: str | None = Field(description="The URL it was sent to; None: not known")
    attempt_number: int
    trigger: Literal["scheduled", "manual"] | str
    attempted_at: dt.datetime
    succeeded: bool
    status_code: int = Field(description="0: no HTTP response")
    duration_ms: int
    response: str | None = Field(description="The first bytes of the response body")
    error: str | None
    next_attempt_at: dt.datetime | None = Field(description="None: no more automatic attempts")
    sent: bool = Field(description="False: the attempt was not made ('error' says why)")


class _Queued(_Wire):
    waits_until_enabled: bool = Field(
        description="True: the endpoint is disabled, and what was queued waits until it is "
        "enabled again"
    )


class WebhookMessageAccepted(_Queued):
    """Send Example's answer: the message it queued."""

    message_id: str


class WebhookDeliveryAccepted(_Queued):
    """A replay's answer: the delivery it queued or brought forward."""

    delivery_id: int


class WebhookRecoverAccepted(_Queued):
    """Recover's answer: how many failed deliveries it queued again."""

    queued: int
