"""Signing: the published vector, one signature per secret, the three headers."""

from __future__ import annotations

import pytest

from producersync.webhooks import headers, parse_secret, sign, signature_header
from tests.webhooks.support import (
    BODY,
    MSG_ID,
    NOW,
    OLD_SECRET,
    SECRET,
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
    independent_signature,
)


def test_sign_reproduces_the_published_test_vector() -> None:
    assert sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE


def test_sign_keys_the_hmac_with_the_decoded_secret() -> None:
    assert sign(MSG_ID, NOW, BODY, SECRET) == independent_signature(SECRET, MSG_ID, str(NOW), BODY)
    assert sign(MSG_ID, NOW, BODY, parse_secret(SECRET)) == sign(MSG_ID, NOW, BODY, SECRET)


def test_signature_header_has_one_signature_per_secret_in_order() -> None:
    value = signature_header(MSG_ID, NOW, BODY, [SECRET, OLD_SECRET])
    assert value.split(" ") == [
        sign(MSG_ID, NOW, BODY, SECRET),
        sign(MSG_ID, NOW, BODY, OLD_SECRET),
    ]


def test_signature_header_takes_a_single_secret_string() -> None:
    assert signature_header(MSG_ID, NOW, BODY, SECRET) == sign(MSG_ID, NOW, BODY, SECRET)


def test_headers_are_the_three_standard_webhooks_headers() -> None:
    assert headers(MSG_ID, NOW, BODY, [SECRET, OLD_SECRET]) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature_header(MSG_ID, NOW, BODY, [SECRET, OLD_SECRET]),
    }


@pytest.mark.parametrize("msg_id", ["", "a.b", "a b", "é", "x" * 257])
def test_sign_rejects_an_id_verifiers_would_reject(msg_id: str) -> None:
    with pytest.raises(ValueError, match="msg_id"):
        sign(msg_id, NOW, BODY, SECRET)


@pytest.mark.parametrize("timestamp", [-1, 10**12, True, 1.5])
def test_sign_rejects_a_timestamp_verifiers_would_reject(timestamp: int) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        sign(MSG_ID, timestamp, BODY, SECRET)


def test_sign_rejects_a_text_body() -> None:
    with pytest.raises(TypeError, match="body must be bytes"):
        sign(MSG_ID, NOW, BODY.decode(), SECRET)  # type: ignore[arg-type]
