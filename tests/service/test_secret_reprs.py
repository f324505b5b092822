"""The answers that carry a secret (a new endpoint's signing secret, an endpoint's secret,
an access token) keep it out of their repr and str, which a debugger, a traceback
printing its locals or a line formatting them shows; the answer itself carries it."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

from producersync.service.api.webhook_models import EndpointSecret, WebhookEndpointCreated
from producersync.service.auth.principal import Principal
from producersync.service.auth.token_endpoint import TokenResponse
from producersync.service.auth.tokens import TokenCodec
from producersync.webhooks import generate_secret
from tests.support.secret_scan import SecretScanner

_WEBHOOK_SECRET = generate_secret()
_TOKEN = TokenCodec(b"k" * 32, 60).issue(Principal("psc_1", 1, False, "producersync.read"))
_NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("answer", "secret"),
    [
        (
            WebhookEndpointCreated(
                id="ep_1",
                url="https://hooks.example/a",
                description="",
                event_types=None,
                enabled=True,
                disabled_reason=None,
                rate_limit_per_second=None,
                failing_since=None,
                created_at=_NOW,
                updated_at=_NOW,
                secret=_WEBHOOK_SECRET,
            ),
            _WEBHOOK_SECRET,
        ),
        (EndpointSecret(secret=_WEBHOOK_SECRET), _WEBHOOK_SECRET),
        (
            TokenResponse(
                token_type="Bearer", expires_in=60, access_token=_TOKEN, scope="producersync.read"
            ),
            _TOKEN,
        ),
    ],
    ids=["endpoint-created", "endpoint-secret", "access-token"],
)
def test_an_answer_carrying_a_secret_shows_it_in_no_repr(answer: BaseModel, secret: str) -> None:
    scanner = SecretScanner()
    scanner.remember(secret)
    assert scanner.find(f"{answer!r} {answer}") == []
    assert secret in answer.model_dump_json()
