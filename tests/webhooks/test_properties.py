"""Property tests: sign then verify round-trips for any input; any change to the body fails;
no input makes verification raise anything but ``WebhookVerificationError``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from producersync.model import EVENT_ADAPTER, NpnActivated, NpnDeactivated, UpdatesAvailable
from producersync.webhooks import (
    MAX_SECRET_BYTES,
    MIN_SECRET_BYTES,
    VerificationCheck,
    WebhookSecret,
    WebhookVerificationError,
    headers,
    parse_event,
    parse_secret,
    verify,
    verify_signature,
)
from producersync.webhooks._hmac import MSG_ID_RE
from tests.webhooks.support import BODY, NOW, OLD_SECRET, PROPERTY, SECRET, generate_headers

msg_ids = st.from_regex(MSG_ID_RE, fullmatch=True)
timestamps = st.integers(min_value=0, max_value=10**12 - 1)
secrets = st.binary(min_size=MIN_SECRET_BYTES, max_size=MAX_SECRET_BYTES).map(
    lambda key: WebhookSecret(key).get_secret_value()
)
bodies = st.binary(max_size=4096)


@PROPERTY
@given(body=bodies, msg_id=msg_ids, timestamp=timestamps, secret=secrets)
def test_sign_then_verify_round_trips(
    body: bytes, msg_id: str, timestamp: int, secret: str
) -> None:
    verify_signature(body, headers(msg_id, timestamp, body, secret), secret, now=timestamp)


@PROPERTY
@given(body=bodies, msg_id=msg_ids, timestamp=timestamps, rotation=st.lists(secrets, min_size=1))
def test_any_one_of_several_secrets_verifies(
    body: bytes, msg_id: str, timestamp: int, rotation: list[str]
) -> None:
    sent = headers(msg_id, timestamp, body, rotation)
    for secret in rotation:
        verify_signature(body, sent, secret, now=timestamp)


@PROPERTY
@given(body=st.binary(min_size=1, max_size=4096), data=st.data())
def test_any_single_byte_change_to_the_body_fails(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
    changed = body[:index] + bytes([byte]) + body[index + 1 :]
    _assert_no_match(changed, generate_headers(body=body))


@PROPERTY
@given(body=bodies, extra=st.binary(min_size=1, max_size=8), at_end=st.booleans())
def test_adding_or_removing_bytes_fails(body: bytes, extra: bytes, at_end: bool) -> None:
    sent = generate_headers(body=body + extra if at_end else extra + body)
    _assert_no_match(body, sent)


def _assert_no_match(body: bytes, sent: dict[str, str]) -> None:
    try:
        verify_signature(body, sent, SECRET, now=NOW)
    except WebhookVerificationError as err:
        assert err.check is VerificationCheck.NO_MATCHING_SIGNATURE
    else:
        raise AssertionError("a changed body verified")


@PROPERTY
@given(key=st.binary(min_size=MIN_SECRET_BYTES, max_size=MAX_SECRET_BYTES))
def test_secret_text_round_trips(key: bytes) -> None:
    secret = WebhookSecret(key)
    text = secret.get_secret_value()
    assert parse_secret(text) == secret
    assert parse_secret(text.rstrip("=")).key == key


# --- garbage ---------------------------------------------------------------------------

_names = st.sampled_from(
    [f"{p}-{n}" for p in ("webhook", "svix") for n in ("id", "timestamp", "signature")]
).flatmap(lambda name: st.sampled_from([name, name.upper(), name.title(), f" {name}"]))
_v1 = st.binary(max_size=40).map(lambda b: "v1," + base64.b64encode(b).decode())
_values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=64),
    st.from_regex(r"[0-9 .,+/=a-z-]{0,40}", fullmatch=True),
    st.integers(-(10**13), 10**13).map(str),
    st.lists(st.one_of(_v1, st.text(max_size=10)), max_size=4).map(" ".join),
    st.binary(max_size=8),
    st.none(),
)
_headers = st.dictionaries(st.one_of(_names, st.text(max_size=20)), _values, max_size=8)


@PROPERTY
@given(
    body=st.one_of(bodies, st.just(BODY)),
    garbage=_headers,
    keep=st.just({0, 1, 2}) | st.sets(st.integers(0, 2)),
)
def test_header_garbage_raises_only_verification_errors(
    body: bytes, garbage: dict[str, Any], keep: set[int]
) -> None:
    # Start from a valid delivery, keep some of its headers, let garbage add or replace.
    valid = list(generate_headers(body=body).items())
    sent = dict(valid[i] for i in keep) | garbage
    try:
        verify(body, sent, [SECRET, OLD_SECRET], now=NOW)
    except WebhookVerificationError as err:
        event(err.check.value)  # shown by --hypothesis-show-statistics
    else:
        event("verified")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=10), _json),
        "type": st.one_of(
            st.sampled_from(
                ["producersync.updates_available", "producersync.npn.activated", "x.y"]
            ),
            _json,
        ),
        "timestamp": st.one_of(st.just("2025-07-24T22:51:05Z"), _json),
        "data": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "runDate": st.one_of(st.just("2025-07-24"), _json),
                    "npn": st.one_of(st.from_regex(r"[0-9]{1,10}", fullmatch=True), _json),
                    "activatedAt": st.one_of(st.just("2025-07-24T22:51:05Z"), _json),
                },
            ),
            _json,
        ),
    },
)


@PROPERTY
@given(document=st.one_of(_json, _event_like), raw=bodies)
def test_any_body_parses_or_raises_only_verification_errors(document: Any, raw: bytes) -> None:
    for body in (json.dumps(document).encode(), raw):
        try:
            parse_event(body)
        except WebhookVerificationError as err:
            assert err.authentic


# --- events ----------------------------------------------------------------------------

_npns = st.from_regex(r"[0-9]{1,10}", fullmatch=True)
_times = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.just(dt.UTC),
)
_events = st.one_of(
    st.builds(UpdatesAvailable.create, run_date=st.dates(), timestamp=_times),
    st.builds(NpnActivated.create, npn=_npns, activated_at=_times, timestamp=_times),
    st.builds(NpnDeactivated.create, npn=_npns, deactivated_at=_times, timestamp=_times),
)


@PROPERTY
@given(event=_events, msg_id=msg_ids, timestamp=timestamps)
def test_any_event_signed_then_verified_is_the_same_event(
    event: UpdatesAvailable | NpnActivated | NpnDeactivated, msg_id: str, timestamp: int
) -> None:
    body = event.to_json()
    assert EVENT_ADAPTER.validate_json(body) == event
    assert verify(body, headers(msg_id, timestamp, body, SECRET), SECRET, now=timestamp) == event
