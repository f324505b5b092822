"""``verify``: one test per failure mode, then what passes (rotation, header spellings)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import pickle
import re
from pathlib import Path

import pytest

from producersync.model import NpnActivated, UpdatesAvailable
from producersync.webhooks import (
    DEFAULT_TOLERANCE,
    VerificationCheck,
    WebhookSecretError,
    WebhookVerificationError,
    parse_event,
    parse_secret,
    sign,
    verify,
    verify_signature,
)
from tests.client.test_strict_typing import strict
from tests.webhooks.support import (
    BODY,
    EVENT,
    MSG_ID,
    NOW,
    OLD_SECRET,
    SECRET,
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
    WRONG_SECRET,
    generate_headers,
)


def _raises(
    check: VerificationCheck,
    match: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = BODY,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Verify with SECRET at NOW; assert the failure, and that no secret leaks into it."""
    with pytest.raises(WebhookVerificationError, match=match) as info:
        verify(body, headers or generate_headers(), SECRET, now=NOW, tolerance=tolerance)
    assert info.value.check is check
    for secret in (SECRET, OLD_SECRET, WRONG_SECRET):
        assert secret.removeprefix("whsec_") not in str(info.value)
        assert secret.removeprefix("whsec_") not in repr(info.value)


# --- success -------------------------------------------------------------------------


def test_verify_returns_the_event() -> None:
    assert verify(BODY, generate_headers(), SECRET, now=NOW) == EVENT


def test_verify_accepts_the_published_test_vector() -> None:
    headers = generate_headers(
        body=VECTOR_BODY, msg_id=VECTOR_ID, timestamp=VECTOR_TIMESTAMP, signature=VECTOR_SIGNATURE
    )
    verify_signature(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TIMESTAMP)


def test_verify_signature_returns_none_and_does_not_parse() -> None:
    body = b"not json at all \xff"
    assert verify_signature(body, generate_headers(body=body), SECRET, now=NOW) is None


@pytest.mark.parametrize("name", [str.lower, str.upper, str.title], ids=["lower", "upper", "title"])
def test_header_names_are_case_insensitive(name: object) -> None:
    headers = {name(k): v for k, v in generate_headers().items()}  # type: ignore[operator]
    assert verify(BODY, headers, SECRET, now=NOW) == EVENT


def test_svix_header_names_are_accepted() -> None:
    assert verify(BODY, generate_headers(prefix="svix"), SECRET, now=NOW) == EVENT


def test_header_values_with_surrounding_whitespace_are_accepted() -> None:
    headers = {k: f"  {v} " for k, v in generate_headers().items()}
    assert verify(BODY, headers, SECRET, now=NOW) == EVENT


def test_header_names_and_values_as_bytes_are_read() -> None:
    """As raw HTTP has them (an ASGI scope's, Twisted's ``getAllHeaders()``): a dict of
    bytes was told "missing webhook-id header", and bytes values "not text"."""
    sent = generate_headers()
    raw = {k.encode(): v.encode() for k, v in sent.items()}
    assert verify(BODY, raw, SECRET, now=NOW) == EVENT
    assert verify(BODY, {k: v.encode() for k, v in sent.items()}, SECRET, now=NOW) == EVENT


def test_a_wsgi_environ_is_told_apart_from_missing_headers() -> None:
    """Django's ``request.META`` names each header ``HTTP_…``: told only "missing", the
    receiver looked at a header its environ plainly held."""
    environ = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in generate_headers().items()} | {
        "REQUEST_METHOD": "POST"
    }
    _raises(
        VerificationCheck.MISSING_HEADER,
        re.escape(
            "missing webhook-id header (these are a WSGI environ's names, as HTTP_WEBHOOK_ID:"
            " pass the request's headers, request.headers, not request.META or its environ)"
        ),
        headers=environ,
    )


def test_verify_accepts_a_parsed_secret() -> None:
    assert verify(BODY, generate_headers(), parse_secret(SECRET), now=NOW) == EVENT


def test_every_event_type_parses() -> None:
    for event in (
        UpdatesAvailable.create(EVENT.data.run_date),
        NpnActivated.create("15645555"),
    ):
        body = event.to_json()
        assert verify(body, generate_headers(body=body), SECRET, now=NOW) == event


# --- rotation --------------------------------------------------------------------------


@pytest.mark.parametrize("receiver_secret", [SECRET, OLD_SECRET], ids=["new", "old"])
def test_rotation_either_secret_matches_a_two_signature_header(receiver_secret: str) -> None:
    headers = generate_headers(secret=[SECRET, OLD_SECRET])
    assert verify(BODY, headers, receiver_secret, now=NOW) == EVENT


def test_rotation_receiver_with_two_secrets_accepts_either_signature() -> None:
    for sender_secret in (SECRET, OLD_SECRET):
        headers = generate_headers(secret=sender_secret)
        assert verify(BODY, headers, [WRONG_SECRET, SECRET, OLD_SECRET], now=NOW) == EVENT


def test_rotation_old_secret_signature_among_several() -> None:
    good = sign(MSG_ID, NOW, BODY, OLD_SECRET)
    other = sign(MSG_ID, NOW, BODY, WRONG_SECRET)
    junk = "v1," + base64.b64encode(b"\0" * 32).decode()
    headers = generate_headers(signature=f"{other} v1a,c29tZWtleQ== {junk} {good}")
    assert verify(BODY, headers, OLD_SECRET, now=NOW) == EVENT


def test_unknown_signature_versions_are_skipped() -> None:
    good = sign(MSG_ID, NOW, BODY, SECRET)
    headers = generate_headers(signature=f"v2,abc v1a,Zm9v {good}")
    assert verify(BODY, headers, SECRET, now=NOW) == EVENT


@pytest.mark.parametrize(
    "malformed",
    ["garbage", "v1,a,b", ",abc", "v1,", "v1,not base64!", "v1,abc", "v2,a,b", "v1a,"],
    ids=[
        "no-comma",
        "two-commas",
        "no-version",
        "no-value",
        "bad-chars",
        "bad-padding",
        "future-version-with-commas",
        "future-version-empty",
    ],
)
def test_a_malformed_entry_does_not_spoil_a_matching_one(malformed: str) -> None:
    """Any one signature that matches passes: an entry this verifier cannot read (a
    sender's bug, a later scheme) was a 401 for a delivery it could prove genuine."""
    good = sign(MSG_ID, NOW, BODY, SECRET)
    for value in (f"{malformed} {good}", f"{good} {malformed}"):
        assert verify(BODY, generate_headers(signature=value), SECRET, now=NOW) == EVENT


def test_a_malformed_entry_beside_no_match_is_reported_malformed() -> None:
    wrong = sign(MSG_ID, NOW, BODY, WRONG_SECRET)
    _raises(
        VerificationCheck.MALFORMED_SIGNATURE,
        "malformed webhook-signature header: v1 value is not base64",
        headers=generate_headers(signature=f"{wrong} v1,abc"),
    )


# --- one test per failure ---------------------------------------------------------------


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_raise_on_missing_header(header: str) -> None:
    headers = generate_headers()
    del headers[header]
    _raises(VerificationCheck.MISSING_HEADER, f"missing {header} header", headers=headers)


def test_raise_on_empty_header() -> None:
    headers = generate_headers(signature="   ")
    _raises(VerificationCheck.MISSING_HEADER, "missing webhook-signature", headers=headers)


def test_raise_on_no_headers() -> None:
    _raises(VerificationCheck.MISSING_HEADER, "missing webhook-id", headers={"x": "y"})


def test_raise_on_mixed_header_families() -> None:
    headers = generate_headers()
    headers["svix-signature"] = headers.pop("webhook-signature")
    _raises(VerificationCheck.MISSING_HEADER, "missing webhook-signature", headers=headers)


@pytest.mark.parametrize("msg_id", ["msg.1", "msg 1", "msg_é", "x" * 257])
def test_raise_on_malformed_id(msg_id: str) -> None:
    _raises(
        VerificationCheck.MALFORMED_ID,
        "malformed webhook-id",
        headers=generate_headers(msg_id=msg_id),
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "1700000000.9",
        "-1700000000",
        "01700000000",
        "1e9",
        "\u0661\u0667" + "\u0660" * 8,
        "9" * 13,
    ],
    ids=["text", "float", "negative", "leading-zero", "exponent", "arabic-digits", "huge"],
)
def test_raise_on_malformed_timestamp(timestamp: str) -> None:
    _raises(
        VerificationCheck.MALFORMED_TIMESTAMP,
        "malformed webhook-timestamp",
        headers=generate_headers(timestamp=timestamp),
    )


def test_raise_on_timestamp_outside_tolerance() -> None:
    headers = generate_headers(timestamp=NOW - DEFAULT_TOLERANCE - 1)
    _raises(VerificationCheck.TIMESTAMP_TOO_OLD, "timestamp too old", headers=headers)


def test_raise_on_timestamp_in_the_future_beyond_tolerance() -> None:
    headers = generate_headers(timestamp=NOW + DEFAULT_TOLERANCE + 1)
    _raises(VerificationCheck.TIMESTAMP_IN_FUTURE, "timestamp in the future", headers=headers)


@pytest.mark.parametrize("offset", [-DEFAULT_TOLERANCE, 0, DEFAULT_TOLERANCE])
def test_timestamp_at_the_edge_of_tolerance_passes(offset: int) -> None:
    headers = generate_headers(timestamp=NOW + offset)
    assert verify(BODY, headers, SECRET, now=NOW) == EVENT


@pytest.mark.parametrize("offset", [-DEFAULT_TOLERANCE, DEFAULT_TOLERANCE])
def test_the_edge_of_tolerance_passes_within_the_second(offset: int) -> None:
    # The header has whole seconds and the clock a fraction: at 0.5 s past the second,
    # exactly 300 s ago was refused ("300 s ago, tolerance 300 s"), 300 s ahead not.
    headers = generate_headers(timestamp=NOW + offset)
    assert verify(BODY, headers, SECRET, now=NOW + 0.5) == EVENT


@pytest.mark.parametrize(
    ("offset", "check", "told"),
    [
        (-DEFAULT_TOLERANCE - 1, VerificationCheck.TIMESTAMP_TOO_OLD, "301 s ago"),
        (DEFAULT_TOLERANCE + 1, VerificationCheck.TIMESTAMP_IN_FUTURE, "301 s ahead"),
    ],
)
def test_a_timestamp_past_the_edge_says_by_how_much(
    offset: int, check: VerificationCheck, told: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=told) as info:
        verify(BODY, generate_headers(timestamp=NOW + offset), SECRET, now=NOW + 0.9)
    assert info.value.check is check


def test_custom_tolerance_applies() -> None:
    headers = generate_headers(timestamp=NOW - 11)
    _raises(VerificationCheck.TIMESTAMP_TOO_OLD, "tolerance 10 s", headers=headers, tolerance=10)
    _raises(
        VerificationCheck.TIMESTAMP_TOO_OLD, "tolerance 10.5 s", headers=headers, tolerance=10.5
    )
    assert verify(BODY, headers, SECRET, now=NOW, tolerance=11) == EVENT


@pytest.mark.parametrize("tolerance", [-1, float("nan")])
def test_a_tolerance_that_is_not_one_is_refused(tolerance: float) -> None:
    # A NaN tolerance let every timestamp through: a replay from years ago passed.
    headers = generate_headers(timestamp=NOW - 10**8)
    with pytest.raises(ValueError, match="tolerance must be 0 or more seconds"):
        verify(BODY, headers, SECRET, now=NOW, tolerance=tolerance)  # type: ignore[arg-type]


@pytest.mark.parametrize("tolerance", ["300", True])
def test_a_tolerance_of_another_type_is_refused_naming_it(tolerance: object) -> None:
    """A string (a setting read from the environment) failed the comparison as a bare
    TypeError naming no option, and True was taken as a tolerance of 1 s."""
    headers = generate_headers(timestamp=NOW - 10)
    message = f"^tolerance must be 0 or more seconds, not {tolerance!r}$"
    with pytest.raises(ValueError, match=message):
        verify(BODY, headers, SECRET, now=NOW, tolerance=tolerance)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "now",
    [dt.datetime.fromtimestamp(NOW, dt.UTC), str(NOW), float("nan"), True],
    ids=["datetime", "text", "nan", "bool"],
)
def test_a_now_that_is_not_unix_seconds_is_refused_naming_it(now: object) -> None:
    """A datetime failed in the clock's floor as a bare TypeError naming no option
    ("must be real number"), and NaN as "cannot convert float NaN to integer"."""
    with pytest.raises(ValueError, match=r"^now must be Unix seconds, as time\.time\(\) gives"):
        verify(BODY, generate_headers(), SECRET, now=now)  # type: ignore[arg-type]


def test_tolerance_is_checked_after_the_signature() -> None:
    headers = generate_headers(timestamp=NOW - 10_000, secret=WRONG_SECRET)
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", headers=headers)


def test_default_now_is_the_clock() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(BODY, generate_headers(), SECRET)


@pytest.mark.parametrize(
    "signature",
    ["garbage", "v1,a,b", ",abc", "v1,", "v1,not base64!", "v1,abc"],
    ids=["no-comma", "two-commas", "no-version", "no-value", "bad-chars", "bad-padding"],
)
def test_raise_on_malformed_signature_header(signature: str) -> None:
    _raises(
        VerificationCheck.MALFORMED_SIGNATURE,
        "malformed webhook-signature",
        headers=generate_headers(signature=signature),
    )


def test_raise_on_no_v1_signature() -> None:
    headers = generate_headers(signature="v1a,Zm9vYmFy v2,Zm9v")
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no v1 signature", headers=headers)


def test_raise_on_no_matching_signature() -> None:
    headers = generate_headers(secret=WRONG_SECRET)
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", headers=headers)


def test_raise_on_signature_for_another_id() -> None:
    headers = generate_headers()
    headers["webhook-id"] = "msg_other"
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", headers=headers)


def test_raise_on_signature_for_another_timestamp() -> None:
    headers = generate_headers()
    headers["webhook-timestamp"] = str(NOW + 1)
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", headers=headers)


def test_raise_on_tampered_body() -> None:
    tampered = BODY.replace(b"2025-07-24", b"2025-07-25")
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", body=tampered)


def test_raise_on_reserialised_body() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()  # spaces after ':' and ','
    assert reserialised != BODY
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", body=reserialised)


def test_raise_on_signature_made_with_the_text_of_the_secret() -> None:
    # Polar's bug: HMAC keyed with the UTF-8 of "whsec_..." instead of the decoded bytes.
    mac = hmac.new(SECRET.encode(), f"{MSG_ID}.{NOW}.".encode() + BODY, hashlib.sha256)
    headers = generate_headers(signature="v1," + base64.b64encode(mac.digest()).decode())
    _raises(VerificationCheck.NO_MATCHING_SIGNATURE, "no signature matches", headers=headers)


def test_raise_on_body_not_utf8() -> None:
    body = b'{"id": "\xff"}'
    err = _raises_for(body)
    assert err.check is VerificationCheck.BODY_NOT_UTF8
    assert "not valid UTF-8" in str(err)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[" * 100_000, b"\xef\xbb\xbf{}"],
    ids=["empty", "truncated", "deep", "bom"],
)
def test_raise_on_body_not_json(body: bytes) -> None:
    err = _raises_for(body)
    assert err.check is VerificationCheck.BODY_NOT_JSON
    assert "not valid JSON" in str(err)


def test_raise_on_unknown_event_type() -> None:
    document = json.loads(BODY) | {"type": "id.producer.created"}
    err = _raises_for(json.dumps(document).encode())
    assert err.check is VerificationCheck.UNKNOWN_EVENT_TYPE
    assert "unknown event type 'id.producer.created'" in str(err)


def _endpoint_test(event_id: str) -> dict[str, object]:
    data = {"endpointId": "ep_1", "message": "m"}
    return {
        "type": "webhook.test",
        "id": event_id,
        "timestamp": "2025-07-24T00:00:00Z",
        "data": data,
    }


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ([], "(root)"),
        ({"id": "e", "timestamp": "2025-07-24T00:00:00Z", "data": {}}, "(root)"),
        ({"type": "producersync.updates_available", "id": "e", "data": {}}, "timestamp"),
        (
            {
                "type": "producersync.updates_available",
                "id": "e",
                "timestamp": "2025-07-24T00:00:00Z",
                "data": {"runDate": "yesterday"},
            },
            "data.runDate",
        ),
        (
            {
                "type": "producersync.npn.activated",
                "id": "e",
                "timestamp": "2025-07-24T00:00:00Z",
                "data": {"npn": "12a", "activatedAt": "2025-07-24T00:00:00Z"},
            },
            "data.npn",
        ),
        (
            {
                "type": "producersync.npn.activated",
                "id": "e",
                "timestamp": "2025-07-24T00:00:00Z",
                "data": {"npn": "12", "activatedAt": "0001-01-01T00:00:00+01:00"},
            },
            "data.activatedAt",
        ),
        (_endpoint_test("e\u0000"), "id: String should match pattern"),
        (_endpoint_test("e" * 257), "id: String should have at most 256 characters"),
    ],
    ids=[
        "array",
        "no-type",
        "no-timestamp",
        "bad-run-date",
        "bad-npn",
        "time-before-year-1-in-utc",
        "nul-in-id",
        "id-over-256",
    ],
)
def test_raise_on_invalid_event_shape(document: object, where: str) -> None:
    err = _raises_for(json.dumps(document).encode())
    assert err.check is VerificationCheck.INVALID_EVENT
    assert str(err).startswith("invalid event: ")
    assert where in str(err)


def _updates_available(run_date: object) -> bytes:
    document = {
        "type": "producersync.updates_available",
        "id": "e",
        "timestamp": "2025-07-24T00:00:00Z",
        "data": {"runDate": run_date},
    }
    return json.dumps(document).encode()


def test_an_invalid_value_is_named_with_the_value() -> None:
    run_date = "yester" + "day" * 30
    err = _raises_for(_updates_available(run_date))
    assert "data.runDate: " in str(err)
    shown = json.dumps(run_date)  # cut short: a value can be long
    assert f"(given {shown[:60]}…)" in str(err)


@pytest.mark.parametrize(
    ("run_date", "said"),
    [
        (0, "not a date as yyyy-MM-dd (given 0)"),  # was 1970-01-01: a pull of everything
        ("0", 'not a date as yyyy-MM-dd (given "0")'),
        (86400, "not a date as yyyy-MM-dd (given 86400)"),
        ("2025-07-24T00:00:00Z", 'not a date as yyyy-MM-dd (given "2025-07-24T00:00:00Z")'),
        ("2025-02-30", 'not a date: day is out of range for month (given "2025-02-30")'),
    ],
)
def test_a_run_date_is_read_only_as_the_wire_writes_it(run_date: object, said: str) -> None:
    err = _raises_for(_updates_available(run_date))
    assert err.check is VerificationCheck.INVALID_EVENT
    assert str(err) == f"invalid event: producersync.updates_available.data.runDate: {said}"


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("timestamp", 0, "0"),  # pydantic read Unix seconds: 1970-01-01
        ("timestamp", "1700000000", '"1700000000"'),
        ("activatedAt", 86400.5, "86400.5"),
    ],
)
def test_a_time_is_read_only_as_iso_8601(field: str, value: object, shown: str) -> None:
    document = {
        "type": "producersync.npn.activated",
        "id": "e",
        "timestamp": "2025-07-24T00:00:00Z",
        "data": {"npn": "15645555", "activatedAt": "2025-07-24T00:00:00Z"},
    }
    (document if field == "timestamp" else document["data"])[field] = value
    err = _raises_for(json.dumps(document).encode())
    assert err.check is VerificationCheck.INVALID_EVENT
    assert f"{field}: not an ISO 8601 time (given {shown})" in str(err), str(err)


def _raises_for(body: bytes) -> WebhookVerificationError:
    """Verify a correctly signed ``body``; return the error it must raise."""
    with pytest.raises(WebhookVerificationError) as info:
        verify(body, generate_headers(body=body), SECRET, now=NOW)
    return info.value


# --- the error itself ------------------------------------------------------------------


def test_error_is_a_value_error_and_only_content_failures_are_authentic() -> None:
    assert issubclass(WebhookVerificationError, ValueError)
    forged = WebhookVerificationError(VerificationCheck.NO_MATCHING_SIGNATURE, "x")
    unreadable = _raises_for(b"\xff")
    assert not forged.authentic
    assert unreadable.authentic


def test_error_pickles_with_its_check() -> None:
    err = _raises_for(b"{")
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.check, str(copy)) == (type(err), err.check, str(err))


def test_a_malformed_secret_is_a_secret_error_not_a_verification_error() -> None:
    with pytest.raises(WebhookSecretError) as info:
        verify(BODY, generate_headers(), "whsec_short", now=NOW)
    assert not isinstance(info.value, WebhookVerificationError)
    assert "short" not in str(info.value)


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        (None, "no webhook secret given (None: is its setting unset?)"),
        (300, "webhook secret must be a string or a list of them, not int"),
    ],
)
def test_no_secret_at_all_is_a_secret_error_naming_what_was_given(
    secret: object, said: str
) -> None:
    """``os.environ.get`` of a variable the deployment lacks gave verify ``None``: a bare
    TypeError ("'NoneType' object is not iterable") named no secret."""
    with pytest.raises(WebhookSecretError, match=f"^{re.escape(said)}$"):
        verify(BODY, generate_headers(), secret, now=NOW)  # type: ignore[arg-type]


def test_a_str_body_is_verified_and_parsed_as_its_utf8_bytes() -> None:
    """A str (Flask's ``get_data(as_text=True)``, a serverless event's ``body``) was a
    TypeError, where stripe's ``construct_event`` takes one."""
    assert verify(BODY.decode(), generate_headers(), SECRET, now=NOW) == EVENT
    assert parse_event(BODY.decode()) == EVENT
    text = "café ☕ \u2028 not json"
    body = text.encode()
    assert verify_signature(text, generate_headers(body=body), SECRET, now=NOW) is None


def test_a_str_body_decoded_with_surrogate_escapes_is_its_bytes_again() -> None:
    body = b"not utf-8 \xff\xfe"
    text = body.decode("utf-8", "surrogateescape")  # as a WSGI server decodes
    assert verify_signature(text, generate_headers(body=body), SECRET, now=NOW) is None
    with pytest.raises(WebhookVerificationError) as caught:
        parse_event(text)
    assert caught.value.check is VerificationCheck.BODY_NOT_UTF8


def test_a_str_body_of_other_text_does_not_match() -> None:
    """Encoded as UTF-8, not Latin-1: the text of other bytes than those signed fails."""
    body = "café".encode()
    text = body.decode("latin-1")
    with pytest.raises(WebhookVerificationError) as caught:
        verify_signature(text, generate_headers(body=body), SECRET, now=NOW)
    assert caught.value.check is VerificationCheck.NO_MATCHING_SIGNATURE


def test_a_str_no_bytes_decode_to_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="lone surrogate") as caught:
        verify("\ud800", generate_headers(), SECRET, now=NOW)
    assert not isinstance(caught.value, WebhookVerificationError)


@pytest.mark.parametrize("body", [json.loads(BODY), None], ids=["parsed", "none"])
def test_body_must_be_bytes_or_str(body: object) -> None:
    with pytest.raises(TypeError, match="body must be bytes or str"):
        verify(body, generate_headers(), SECRET, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers", [list(generate_headers().items()), None], ids=["list-of-pairs", "none"]
)
def test_headers_must_have_items_naming_what_was_given(headers: object) -> None:
    """A list of pairs (an ASGI scope's) or None was an AttributeError naming no argument."""
    said = "headers must be a mapping of the request's header names to values, or anything"
    with pytest.raises(TypeError, match=f"^{re.escape(said)} with items\\(\\), not "):
        verify(BODY, headers, SECRET, now=NOW)  # type: ignore[arg-type]


def test_parse_event_alone() -> None:
    assert parse_event(BODY) == EVENT


@pytest.mark.slow(20)
def test_a_strict_codebase_verifies_the_headers_of_flask_starlette_and_a_dict(
    tmp_path: Path,
) -> None:
    """Typed ``Mapping[str, str]``, werkzeug's ``Headers`` (Flask's ``request.headers``),
    no ``Mapping`` though verify read it, failed ``mypy --strict`` in a Flask receiver;
    typed with ``str`` items, so did Twisted's ``dict[bytes, bytes]``, and typed ``int``, a
    tolerance of seconds read as a ``float``, which verify takes."""
    (tmp_path / "receivers.py").write_text(
        "from starlette.datastructures import Headers as StarletteHeaders\n"
        "from werkzeug.datastructures import EnvironHeaders, Headers\n"
        "\n"
        "from producersync.model import Event\n"
        "from producersync.webhooks import verify, verify_signature\n"
        "\n"
        "def flask(body: bytes, headers: EnvironHeaders | Headers, secret: str) -> Event:\n"
        "    return verify(body, headers, secret)\n"
        "\n"
        "def starlette(body: bytes, headers: StarletteHeaders, secret: str) -> Event:\n"
        "    return verify(body, headers, secret)\n"
        "\n"
        "def plain(body: bytes, headers: dict[str, str], secret: str) -> None:\n"
        "    verify_signature(body, headers, secret)\n"
        "\n"
        "def set_tolerance(body: bytes, headers: dict[str, str], secret: str, s: str) -> None:\n"
        "    verify_signature(body, headers, secret, tolerance=float(s), now=None)\n"
        "\n"
        "def twisted(body: bytes, headers: dict[bytes, bytes], secret: str) -> None:\n"
        "    verify_signature(body, headers, secret)\n"
    )
    said = strict(tmp_path, ["receivers.py"])
    assert "Success: no issues found" in said, said
