"""Secrets: generated in the documented format, parsed strictly, never shown."""

from __future__ import annotations

import base64
import re

import pytest

from producersync.webhooks import (
    MAX_SECRET_BYTES,
    MIN_SECRET_BYTES,
    SECRET_BYTES,
    WebhookSecret,
    WebhookSecretError,
    generate_secret,
    parse_secret,
    parse_secrets,
)
from tests.webhooks.support import OLD_SECRET, SECRET


def _secret(n: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(n))).decode()


def test_generate_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == SECRET_BYTES
    assert parse_secret(secret).get_secret_value() == secret


def test_generate_secret_is_random() -> None:
    assert len({generate_secret() for _ in range(50)}) == 50


@pytest.mark.parametrize("n", [MIN_SECRET_BYTES, SECRET_BYTES, MAX_SECRET_BYTES])
def test_parse_accepts_24_to_64_bytes(n: int) -> None:
    assert parse_secret(_secret(n)).key == bytes(range(n))


def test_parse_accepts_unpadded_base64() -> None:
    padded = _secret(32)
    assert padded.endswith("=")
    assert parse_secret(padded.rstrip("=")) == parse_secret(padded)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (base64.b64encode(bytes(32)).decode(), "must start with 'whsec_'"),
        ("whsec_", "nothing after"),
        (_secret(32)[:20] + " " + _secret(32)[20:], "whitespace"),
        (_secret(32) + "\n", "whitespace"),
        ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "URL-safe"),
        ("whsec_" + "é" * 40, "non-ASCII"),
        ("whsec_" + "A" * 41, "not valid base64"),
        ("whsec_AAAA=AAAA", "not valid base64"),
        ("whsec_" + "!" * 40, "not valid base64"),
        (_secret(MIN_SECRET_BYTES - 1), "23 bytes; expected 24 to 64"),
        (_secret(MAX_SECRET_BYTES + 1), "65 bytes; expected 24 to 64"),
    ],
    ids=[
        "no-prefix",
        "empty",
        "inner-space",
        "trailing-newline",
        "url-safe",
        "non-ascii",
        "bad-length",
        "inner-padding",
        "bad-characters",
        "too-short",
        "too-long",
    ],
)
def test_parse_rejects_naming_the_problem_never_the_secret(value: str, problem: str) -> None:
    with pytest.raises(WebhookSecretError, match=problem) as info:
        parse_secret(value)
    body = value.removeprefix("whsec_").strip()
    if body:
        assert body not in str(info.value)
        assert body not in repr(info.value)
    assert info.value.__cause__ is None


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(WebhookSecretError, match="must be a string, not bytes"):
        parse_secret(SECRET.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        (SECRET.encode(), "decode it"),
        (bytes(range(32)), "a raw HMAC key goes in as WebhookSecret(key)"),
        (bytearray(range(32)), "a raw HMAC key goes in as WebhookSecret(key)"),
    ],
    ids=["text-as-bytes", "raw-key", "raw-key-bytearray"],
)
def test_bytes_for_a_secret_are_told_the_way_in(value: bytes, fix: str) -> None:
    """standardwebhooks' ``Webhook(bytes)`` takes the raw key: told only "not bytes", a
    receiver moving from it had no way in for its key (which ``WebhookSecret`` takes)."""
    kind = type(value).__name__
    said = f"webhook secret must be a string, not {kind}: {fix}"
    for parse in (parse_secret, parse_secrets):
        with pytest.raises(WebhookSecretError, match=f"^{re.escape(said)}$"):
            parse(value)  # type: ignore[arg-type]
    assert parse_secrets(WebhookSecret(bytes(range(32)))) == (parse_secret(SECRET),)


def test_repr_and_str_show_a_fingerprint_not_the_key() -> None:
    secret = parse_secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}"):
        assert SECRET.removeprefix("whsec_") not in text
        assert secret.fingerprint in text
    assert parse_secret(OLD_SECRET).fingerprint != secret.fingerprint


def test_secrets_compare_by_key() -> None:
    assert parse_secret(SECRET) == parse_secret(SECRET.rstrip("="))
    assert parse_secret(SECRET) != parse_secret(OLD_SECRET)
    assert len({parse_secret(SECRET), parse_secret(SECRET), parse_secret(OLD_SECRET)}) == 2


def test_key_length_is_checked_when_built_from_bytes() -> None:
    with pytest.raises(WebhookSecretError, match="10 bytes"):
        WebhookSecret(bytes(10))


def test_parse_secrets_takes_one_or_several() -> None:
    assert parse_secrets(SECRET) == (parse_secret(SECRET),)
    assert parse_secrets([SECRET, parse_secret(OLD_SECRET)]) == (
        parse_secret(SECRET),
        parse_secret(OLD_SECRET),
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "is empty"), (" " + SECRET, "has whitespace around it")],
    ids=["empty", "leading-space"],
)
def test_parse_secrets_names_the_one_of_several_that_is_malformed(value: str, problem: str) -> None:
    """A trailing comma's empty secret, or one split at ", ", was "must start with
    'whsec_'", naming none of the several given (and the second visibly does)."""
    with pytest.raises(WebhookSecretError, match=f"^secret 2 of 2: webhook secret {problem}$"):
        parse_secrets([OLD_SECRET, value])


def test_parse_secrets_rejects_none() -> None:
    with pytest.raises(WebhookSecretError, match="no webhook secret given"):
        parse_secrets([])


@pytest.mark.parametrize(
    "separator", [",", ", ", " ", ";"], ids=["comma", "comma-space", "space", "semicolon"]
)
def test_several_secrets_in_one_string_are_told_as_such(separator: str) -> None:
    """A rotation's variable ("whsec_…,whsec_…") passed unsplit was told "uses URL-safe
    base64", for the '_' of its second prefix, or "contains whitespace"."""
    said = "webhook secret is 2 secrets in one string ('whsec_' 2 times): pass several as a list"
    with pytest.raises(WebhookSecretError, match=f"^{re.escape(said)}, one secret each$"):
        parse_secrets(SECRET + separator + OLD_SECRET)


@pytest.mark.parametrize("quote", ['"', "'"], ids=["double", "single"])
def test_a_quoted_secret_is_told_as_one(quote: str) -> None:
    """Docker's --env-file keeps a value's quotes: "must start with 'whsec_'" was said of a
    secret that visibly does."""
    said = "webhook secret is in quotes: give it without them"
    with pytest.raises(WebhookSecretError, match=f"^{re.escape(said)}$"):
        parse_secrets(quote + SECRET + quote)


@pytest.mark.parametrize("value", [SECRET.removeprefix("whsec_"), SECRET[6:].rstrip("=")])
def test_a_key_in_base64_alone_is_told_to_take_the_prefix(value: str) -> None:
    """standardwebhooks takes a secret without its prefix: told only "must start with
    'whsec_'", its holder could not tell it from any other string (which still is)."""
    said = "webhook secret must start with 'whsec_'"
    fix = " (if this is the key's base64 alone, put 'whsec_' before it)"
    with pytest.raises(WebhookSecretError, match=f"^{re.escape(said + fix)}$"):
        parse_secrets(value)
    with pytest.raises(WebhookSecretError, match=f"^{re.escape(said)}$"):
        parse_secrets("not a secret")
