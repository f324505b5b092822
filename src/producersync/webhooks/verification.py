"""Verifying a delivery, stripe's ``construct_event`` shape: decode, verify, parse.

``verify_signature`` is pure (returns or raises); ``parse_event`` turns verified bytes into
an ``Event``; ``verify`` does both. Every failure is one ``WebhookVerificationError`` whose
message and ``check`` name the failed check. Checks, in order:

1. headers: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (names in any case;
   the ``svix-*`` names are accepted too), each present and well-formed;
2. signature: HMAC-SHA256 of ``{id}.{timestamp}.{body}`` over the body's exact bytes (a
   ``str`` body is taken as those bytes decoded, and encoded back as UTF-8, as stripe's
   ``construct_event`` takes one),
   compared with ``hmac.compare_digest`` against every ``v1`` entry for every secret (any
   match passes, so rotation works; other versions, e.g. ``v1a``, are skipped, and a
   malformed entry is reported only when no other entry matches);
3. timestamp within ``tolerance`` seconds of now, both ways (after the signature, as stripe
   does: a stale but authentic delivery is told apart from a forged one);
4. body: UTF-8, JSON, then a known event of the right shape.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import time
from collections.abc import Iterable
from typing import Any, Final, Protocol

from pydantic import ValidationError

from producersync.model.events import EVENT_ADAPTER, KNOWN_TYPES, Event
from producersync.model.numbers import real
from producersync.model.validation import reason
from producersync.webhooks._exceptions import VerificationCheck, WebhookVerificationError
from producersync.webhooks._hmac import MSG_ID_RE, TIMESTAMP_RE, digest
from producersync.webhooks.secret import SecretsLike, parse_secrets

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER_PREFIXES",
    "HeadersLike",
    "parse_event",
    "verify",
    "verify_signature",
]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a delivery's timestamp may be from now, either way (every library uses 5 min)."""

HEADER_PREFIXES: Final = ("webhook", "svix")
"""Standard Webhooks names first, then Svix's (same values, older names)."""

_V1: Final = "v1"
_MAX_ERRORS_SHOWN: Final = 3
_MAX_SHOWN: Final = 60  # characters of a refused value

_Check = VerificationCheck


_NAMES: Final = ("id", "timestamp", "signature")
_MALFORMED: Final = {
    "id": _Check.MALFORMED_ID,
    "timestamp": _Check.MALFORMED_TIMESTAMP,
    "signature": _Check.MALFORMED_SIGNATURE,
}


class HeadersLike(Protocol):
    """What ``verify`` reads a delivery's headers from: anything whose ``items()`` are
    their names and values, a ``Mapping[str, str]`` (Starlette's, Django's, aiohttp's
    ``request.headers``) or werkzeug's ``Headers``, Flask's, which is no ``Mapping``:
    typed as one, a Flask receiver that ran verified failed ``mypy --strict``. Names and
    values may be bytes, as raw HTTP has them (an ASGI scope's, Twisted's
    ``getAllHeaders()``), read as Latin-1."""

    def items(self) -> Iterable[tuple[str | bytes, str | bytes]]: ...


def _fail(check: VerificationCheck, message: str) -> WebhookVerificationError:
    return WebhookVerificationError(check, message)


def _text(value: object) -> object:
    # HTTP (and ASGI) define header bytes as Latin-1. Skipped as not text, a dict of bytes
    # was told "missing webhook-id header", and its values "not text", with both there.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _missing(header: str, lowered: dict[str, object]) -> WebhookVerificationError:
    environ = f"HTTP_{header.upper().replace('-', '_')}"
    if any(key.startswith(("http_webhook_", "http_svix_")) for key in lowered):
        # A WSGI environ (Django's request.META, where its webhook examples read a
        # signature) names each header HTTP_…: told only "missing", the receiver looked
        # at a header its environ plainly held.
        return _fail(
            _Check.MISSING_HEADER,
            f"missing {header} header (these are a WSGI environ's names, as {environ}:"
            " pass the request's headers, request.headers, not request.META or its environ)",
        )
    return _fail(_Check.MISSING_HEADER, f"missing {header} header")


def _pick_headers(headers: HeadersLike) -> tuple[str, str, str, str]:
    """(prefix, id, timestamp, signature), raw; one prefix for all three."""
    if not callable(getattr(headers, "items", None)):
        # A list of pairs (an ASGI scope's, http.client's getheaders()) or None was an
        # AttributeError ("'list' object has no attribute 'items'") naming no argument.
        raise TypeError(
            "headers must be a mapping of the request's header names to values, or anything"
            f" with items(), not {type(headers).__name__}"
        )
    lowered: dict[str, object] = {}
    for key, value in headers.items():
        name = _text(key)
        if isinstance(name, str):
            lowered.setdefault(name.strip().lower(), _text(value))
    prefix = next(
        (p for p in HEADER_PREFIXES if any(f"{p}-{n}" in lowered for n in _NAMES)),
        HEADER_PREFIXES[0],
    )
    values: list[str] = []
    for name in _NAMES:
        header = f"{prefix}-{name}"
        raw = lowered.get(header)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise _missing(header, lowered)
        if not isinstance(raw, str):
            raise _fail(_MALFORMED[name], f"malformed {header} header: not text")
        values.append(raw.strip())
    return prefix, values[0], values[1], values[2]


def _v1_signatures(header: str, value: str) -> tuple[list[bytes], str | None]:
    """The decoded ``v1`` signatures of a signature header, and what is wrong with the
    entries that are not (None if nothing). Such an entry does not spoil the others: any
    one signature that matches passes (rotation), as in the Go and JS libraries; an
    entry of another version is skipped whatever its form (a future scheme's own)."""
    found: list[bytes] = []
    malformed = None
    for entry in value.split():
        version, comma, encoded = entry.partition(",")
        if comma and version and version != _V1:
            continue
        if not comma or not version or not encoded or "," in encoded:
            malformed = (
                f"malformed {header} header: expected space-separated 'version,signature' pairs"
            )
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            malformed = f"malformed {header} header: v1 value is not base64"
    return found, malformed


def _raw(body: bytes | str) -> bytes:
    """The bytes that were signed: ``body``, or a ``str`` body encoded as UTF-8 (a
    framework's text of the body: Flask's ``get_data(as_text=True)``, a serverless
    event's ``body``), where a ``str`` was a TypeError. Surrogate escapes go back to the
    bytes they stand for, so a body decoded with ``errors="surrogateescape"`` (as WSGI
    servers decode) is its bytes again; a ``str`` no decoding of bytes gives (a lone
    surrogate) is a ``ValueError``: no body sent is one, so it is the caller's mistake,
    not a delivery to refuse."""
    if isinstance(body, bytes):
        return body
    if not isinstance(body, str):
        raise TypeError(
            f"body must be bytes or str (the raw request body), not {type(body).__name__}"
        )
    try:
        return body.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(
            "body is a str no bytes decode to (it holds a lone surrogate): pass the raw "
            "request body's bytes"
        ) from None


def verify_signature(
    body: bytes | str,
    headers: HeadersLike,
    secret: SecretsLike,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Return if ``headers`` carry a valid signature of ``body`` under one of the secrets and
    a timestamp within ``tolerance`` seconds of ``now`` (default: the clock); else raise
    ``WebhookVerificationError``. A malformed secret raises ``WebhookSecretError``. A
    ``str`` body is encoded as UTF-8 (``_raw``): the raw bytes are what was signed."""
    body = _raw(body)
    if not (real(tolerance) and tolerance >= 0):
        # NaN too: no timestamp compares as outside a NaN tolerance, so a replay of a
        # delivery from years ago would pass, as if the check were not there. A string (a
        # setting read from the environment) failed the comparison as a bare TypeError
        # naming no option, and True was a tolerance of 1 s.
        raise ValueError(f"tolerance must be 0 or more seconds, not {tolerance!r:.60}")
    if now is not None and not (real(now) and math.isfinite(now)):
        # A datetime failed in the clock's floor as a bare TypeError naming no option
        # ("must be real number"), NaN as "cannot convert float NaN to integer".
        raise ValueError(f"now must be Unix seconds, as time.time() gives, not {now!r:.60}")
    keys = [s.key for s in parse_secrets(secret)]

    prefix, msg_id, timestamp, signature = _pick_headers(headers)
    if not MSG_ID_RE.fullmatch(msg_id):
        raise _fail(
            _Check.MALFORMED_ID,
            f"malformed {prefix}-id header: expected 1 to 256 visible ASCII characters without '.'",
        )
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise _fail(
            _Check.MALFORMED_TIMESTAMP,
            f"malformed {prefix}-timestamp header: expected whole Unix seconds",
        )
    signatures, malformed = _v1_signatures(f"{prefix}-signature", signature)
    matched = False
    for key in keys:
        expected = digest(key, msg_id, timestamp, body)
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        if malformed is not None:
            raise _fail(_Check.MALFORMED_SIGNATURE, malformed)
        if not signatures:
            raise _fail(
                _Check.NO_MATCHING_SIGNATURE, f"no v1 signature in {prefix}-signature header"
            )
        raise _fail(_Check.NO_MATCHING_SIGNATURE, "no signature matches the webhook secret")

    sent = int(timestamp)
    # Whole seconds, as the header's (and every Standard Webhooks library's): against the
    # clock's fraction a delivery signed exactly `tolerance` s ago would be refused ("300 s
    # ago, tolerance 300 s") while one `tolerance` s ahead passes.
    clock = math.floor(time.time() if now is None else now)
    if sent < clock - tolerance:
        raise _fail(
            _Check.TIMESTAMP_TOO_OLD,
            f"{prefix}-timestamp too old: {clock - sent} s ago, tolerance {tolerance} s",
        )
    if sent > clock + tolerance:
        raise _fail(
            _Check.TIMESTAMP_IN_FUTURE,
            f"{prefix}-timestamp in the future: {sent - clock} s ahead, tolerance {tolerance} s",
        )


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_context=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {reason(err)}{_given(err)}"
        for err in errors[:_MAX_ERRORS_SHOWN]
    ]
    more = len(errors) - _MAX_ERRORS_SHOWN
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _given(error: Any) -> str:
    """The value refused, as the body wrote it, when it is one (a whole object is not
    shown: the field names it, and it may be large)."""
    value = error.get("input")
    if error["type"] == "missing" or isinstance(value, dict | list):
        return ""
    shown = json.dumps(value)
    return f" (given {shown[:_MAX_SHOWN] + '…' if len(shown) > _MAX_SHOWN else shown})"


def parse_event(body: bytes | str) -> Event:
    """The ``Event`` in a (verified) body; raise ``WebhookVerificationError`` if the body is
    not UTF-8, not JSON, of an unknown type or not the shape of its type."""
    try:
        text = _raw(body).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(_Check.BODY_NOT_UTF8, "body is not valid UTF-8") from None
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise _fail(_Check.BODY_NOT_JSON, "body is not valid JSON") from None
    if isinstance(document, dict):
        kind = document.get("type")
        if isinstance(kind, str) and kind not in KNOWN_TYPES:
            raise _fail(_Check.UNKNOWN_EVENT_TYPE, f"unknown event type {kind[:100]!r}")
    try:
        return EVENT_ADAPTER.validate_python(document)
    except ValidationError as exc:
        raise _fail(_Check.INVALID_EVENT, f"invalid event: {_describe(exc)}") from None


def verify(
    body: bytes | str,
    headers: HeadersLike,
    secret: SecretsLike,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Event:
    """Verify a delivery (``verify_signature``) and return its ``Event`` (``parse_event``).

    ``body`` is the raw request body, exactly as received: its bytes, or their text (a
    ``str`` is encoded as UTF-8, which gives back the bytes signed only if it is them
    decoded, never JSON parsed and written again); ``headers`` any mapping (header
    names in any case); ``secret`` one secret or several. Every failure raises
    ``WebhookVerificationError``; a malformed secret raises ``WebhookSecretError``."""
    raw = _raw(body)
    verify_signature(raw, headers, secret, tolerance=tolerance, now=now)
    return parse_event(raw)
