"""Cross-checks with two independent verifiers: the ``standardwebhooks`` reference library
and ``svix``. Both read the wall clock, so these deliveries carry the current time."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import standardwebhooks
import svix.webhooks
from hypothesis import given
from hypothesis import strategies as st

from producersync.webhooks import (
    WebhookSecret,
    WebhookVerificationError,
    headers,
    verify,
    verify_signature,
)
from producersync.webhooks._hmac import MSG_ID_RE
from tests.webhooks.support import BODY, EVENT, MSG_ID, OLD_SECRET, PROPERTY, SECRET

VERIFIERS = {
    "standardwebhooks": lambda secret: standardwebhooks.Webhook(secret),
    "svix": lambda secret: svix.webhooks.Webhook(secret),
}


def _svix_names(sent: dict[str, str]) -> dict[str, str]:
    return {k.replace("webhook-", "svix-"): v for k, v in sent.items()}


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_they_accept_our_headers(verifier: str) -> None:
    sent = headers(MSG_ID, int(time.time()), BODY, SECRET)
    VERIFIERS[verifier](SECRET).verify(BODY, sent)


def test_svix_accepts_our_signature_under_svix_header_names() -> None:
    sent = _svix_names(headers(MSG_ID, int(time.time()), BODY, SECRET))
    svix.webhooks.Webhook(SECRET).verify(BODY, sent)


@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize("receiver_secret", [SECRET, OLD_SECRET], ids=["new", "old"])
def test_they_accept_our_rotation_headers_with_either_secret(
    verifier: str, receiver_secret: str
) -> None:
    sent = headers(MSG_ID, int(time.time()), BODY, [SECRET, OLD_SECRET])
    VERIFIERS[verifier](receiver_secret).verify(BODY, sent)


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_they_reject_what_we_reject(verifier: str) -> None:
    sent = headers(MSG_ID, int(time.time()), BODY, SECRET)
    tampered = BODY.replace(b"2025", b"2026")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        VERIFIERS[verifier](SECRET).verify(tampered, sent)
    with pytest.raises(WebhookVerificationError):
        verify(tampered, sent, SECRET)


def test_we_accept_what_standardwebhooks_signs() -> None:
    now = dt.datetime.now(dt.UTC)
    signature = standardwebhooks.Webhook(SECRET).sign(MSG_ID, now, BODY.decode())
    sent = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert verify(BODY, sent, SECRET) == EVENT


def test_we_accept_what_svix_signs_under_svix_header_names() -> None:
    now = dt.datetime.now(dt.UTC)
    signature = svix.webhooks.Webhook(SECRET).sign(MSG_ID, now, BODY.decode())
    sent = {
        "svix-id": MSG_ID,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": signature,
    }
    assert verify(BODY, sent, SECRET) == EVENT


_secrets = st.binary(min_size=24, max_size=64).map(lambda k: WebhookSecret(k).get_secret_value())


@PROPERTY
@given(
    text=st.text(max_size=2048),
    msg_id=st.from_regex(MSG_ID_RE, fullmatch=True),
    secret=_secrets,
)
def test_all_three_agree_on_any_utf8_body(text: str, msg_id: str, secret: str) -> None:
    body = text.encode()
    now = int(time.time())
    sent = headers(msg_id, now, body, secret)
    standardwebhooks.Webhook(secret).verify(body, sent, json_parse=False)
    svix.webhooks.Webhook(secret).verify(body, sent)
    theirs = standardwebhooks.Webhook(secret).sign(
        msg_id, dt.datetime.fromtimestamp(now, dt.UTC), text
    )
    verify_signature(body, {**sent, "webhook-signature": theirs}, secret, now=now)


@pytest.mark.parametrize("signature", ["garbage", "v1,a,b"])
def test_standardwebhooks_raises_value_error_where_we_raise_ours(signature: str) -> None:
    # Why verify() does not delegate to standardwebhooks: a malformed header escapes as a
    # bare ValueError there (reference/webhooks.md §1, sharp edge 2).
    sent = headers(MSG_ID, int(time.time()), BODY, SECRET) | {"webhook-signature": signature}
    with pytest.raises(ValueError) as theirs:
        standardwebhooks.Webhook(SECRET).verify(BODY, sent)
    assert not isinstance(theirs.value, standardwebhooks.WebhookVerificationError)
    with pytest.raises(WebhookVerificationError, match="malformed webhook-signature"):
        verify(BODY, sent, SECRET)


def test_standardwebhooks_parses_the_same_json() -> None:
    sent = headers(MSG_ID, int(time.time()), BODY, SECRET)
    assert standardwebhooks.Webhook(SECRET).verify(BODY, sent) == json.loads(BODY)
