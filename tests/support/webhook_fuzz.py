"""Generated webhook deliveries for fuzzing a receiver, each labelled with what the receiver
may answer and which event (if any) it may act on.

A seeded generator, not hypothesis: the fuzz sends 100,000 requests, and hypothesis spends
more per example than the receiver does. Every delivery starts from a fresh event signed
with the receiver's secret and is then mutated one way. The label comes from the mutation:

- kept valid (header names, svix-* names, extra or rotated signatures, content type,
  encoding claims, chunking, clock skew, redelivery, a body at the size limit): 200, and
  the event may be acted on;
- authentic but unreadable (signed garbage, non-UTF-8, gzip, deep JSON, a wrong shape):
  400, or 200 for an unknown event type; nothing acted on;
- not authentic (a changed body, id, timestamp or signature; a missing header; a wrong
  secret; stale or malformed timestamps): 401 and nothing acted on;
- over the size limit: 413.

Each mutated delivery carries a fresh event id, so the only event a delivery may start is
its own: a receiver that acted on a forged delivery cannot pass for one that acted on an
earlier genuine one.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import random
import socket
import string
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import orjson

from producersync.model.events import (
    EndpointTest,
    Event,
    NpnActivated,
    NpnDeactivated,
    UpdatesAvailable,
)
from producersync.webhooks import generate_secret
from tests.webhooks.support import independent_signature

__all__ = ["ASGI_ONLY", "Delivery", "DeliveryFuzzer", "EventFactory", "all_events", "send_raw"]

EventFactory = Callable[[random.Random, str], Event]
"""A new event with the given id."""

_TOLERANCE = 300
_OK, _BAD_REQUEST, _UNAUTHORIZED, _TOO_LARGE = (
    frozenset({200}),
    frozenset({400}),
    frozenset({401}),
    frozenset({413}),
)

ASGI_ONLY = frozenset({"declared_length_lies", "over_the_limit"})
"""Mutations for in-process callers only: over HTTP the server frames the body (no lying
about its length), and a body over the limit is left unread, so the server closes the
connection under the sender, who may see a reset instead of the 413."""


@dataclass(frozen=True)
class Delivery:
    kind: str
    headers: tuple[tuple[str, bytes], ...]
    chunks: tuple[bytes, ...]
    expect: frozenset[int]
    event: Event | None = None
    """The event the receiver may act on: set only when the delivery is validly signed,
    fresh and readable."""

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header_list(self) -> list[tuple[bytes, bytes]]:
        """ASGI headers, framed as a server would: names lowercased, the body's length
        declared unless it comes in several chunks (chunked transfer)."""
        found = [(name.lower().encode("latin-1"), value) for name, value in self.headers]
        if len(self.chunks) <= 1 and not any(n == b"content-length" for n, _ in found):
            found.append((b"content-length", str(len(self.body)).encode()))
        return found


def _npn(rng: random.Random) -> str:
    return str(rng.randrange(1, 10**9))


def all_events(rng: random.Random, event_id: str) -> Event:
    """Any event type, the endpoint test included."""
    choice = rng.randrange(4)
    if choice == 0:
        return NpnActivated.create(_npn(rng), event_id=event_id)
    if choice == 1:
        return NpnDeactivated.create(_npn(rng), event_id=event_id)
    if choice == 2:
        day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
        return UpdatesAvailable.create(day, event_id=event_id)
    return EndpointTest.create("ep_fuzz", event_id=event_id)


@dataclass(frozen=True)
class _Signed:
    event: Event
    body: bytes
    msg_id: str
    timestamp: str
    signature: str

    def headers(self, prefix: str = "webhook") -> list[tuple[str, bytes]]:
        return [
            (f"{prefix}-id", self.msg_id.encode()),
            (f"{prefix}-timestamp", self.timestamp.encode()),
            (f"{prefix}-signature", self.signature.encode()),
        ]


_Mutation = Callable[["DeliveryFuzzer", _Signed], Delivery]


class DeliveryFuzzer:
    """Deliveries for a receiver holding ``secret`` whose body limit is ``limit`` bytes."""

    def __init__(
        self,
        secret: str,
        *,
        seed: int,
        limit: int,
        events: EventFactory = all_events,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret, self.limit = secret, limit
        self._rng = random.Random(seed)
        self._events, self._clock = events, clock
        self._count = 0
        self._wrong = [generate_secret() for _ in range(3)]
        self._recent: deque[Delivery] = deque(maxlen=32)

    def deliveries(self, count: int, *, skip: frozenset[str] = frozenset()) -> Iterator[Delivery]:
        """``count`` deliveries: each mutation once (the rare ones too), then drawn by
        weight."""
        mutations = [(m, w) for name, m, w in _MUTATIONS if name not in skip]
        first = [m for m, _ in mutations]
        self._rng.shuffle(first)
        for index in range(count):
            if index < len(first):
                mutation = first[index]
            else:
                (mutation,) = self._rng.choices(
                    [m for m, _ in mutations], [w for _, w in mutations]
                )
            delivery = mutation(self, self._signed())
            if delivery.expect == _OK and delivery.kind != "redelivery":
                self._recent.append(delivery)
            yield delivery

    # --- building blocks -----------------------------------------------------------------

    def _signed(self) -> _Signed:
        self._count += 1
        event = self._events(self._rng, f"evt_fuzz{self._count:08d}_{self._rng.getrandbits(32):x}")
        body = event.to_json()
        timestamp = str(int(self._clock()))
        msg_id = f"msg_fuzz{self._count:08d}"
        signature = independent_signature(self.secret, msg_id, timestamp, body)
        return _Signed(event, body, msg_id, timestamp, signature)

    def _resign(self, base: _Signed, **changes: str | bytes) -> _Signed:
        """``base`` with its parts changed and signed again with the real secret."""
        signed = replace(base, **changes)  # type: ignore[arg-type]
        return replace(
            signed,
            signature=independent_signature(
                self.secret, signed.msg_id, signed.timestamp, signed.body
            ),
        )

    def _random_bytes(self, low: int, high: int) -> bytes:
        return self._rng.randbytes(self._rng.randint(low, high))

    def _chunks(self, body: bytes) -> tuple[bytes, ...]:
        cuts = sorted(self._rng.sample(range(len(body) + 1), k=min(len(body) + 1, 4)))
        return tuple(body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True))

    def _wrong_signature(self, base: _Signed) -> str:
        return independent_signature(
            self._rng.choice(self._wrong), base.msg_id, base.timestamp, base.body
        )


def _delivery(
    kind: str,
    headers: Sequence[tuple[str, bytes]],
    body: bytes | tuple[bytes, ...],
    expect: frozenset[int],
    event: Event | None = None,
) -> Delivery:
    chunks = body if isinstance(body, tuple) else (body,)
    return Delivery(kind, tuple(headers), chunks, expect, event)


# --- kept valid: 200, and the event may be acted on --------------------------------------


def _intact(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _delivery("intact", s.headers(), s.body, _OK, s.event)


def _svix_headers(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _delivery("svix_headers", s.headers("svix"), s.body, _OK, s.event)


def _header_case(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    headers = [
        ("".join(c.upper() if f._rng.random() < 0.5 else c for c in n), v) for n, v in s.headers()
    ]
    return _delivery("header_case", headers, s.body, _OK, s.event)


def _extra_signatures(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    others = [
        "v1," + base64.b64encode(f._rng.randbytes(32)).decode(),
        "v1a," + base64.b64encode(f._rng.randbytes(64)).decode(),
        "v2,notchecked",
        f._wrong_signature(s),
    ]
    entries = [s.signature, *f._rng.sample(others, f._rng.randint(1, len(others)))]
    f._rng.shuffle(entries)
    signed = replace(s, signature=" ".join(entries))
    return _delivery("extra_signatures", signed.headers(), s.body, _OK, s.event)


def _content_type(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    kinds = [
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=zzz",
        b"application/json; charset=latin-1",
        b"\xff\xfe/\x00",
        b"",
    ]
    headers = [*s.headers(), ("content-type", f._rng.choice(kinds))]
    return _delivery("content_type", headers, s.body, _OK, s.event)


def _encoding_claim(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    claim = f._rng.choice([b"gzip", b"deflate", b"br", b"identity", b"x-unknown"])
    headers = [*s.headers(), ("content-encoding", claim)]
    return _delivery("encoding_claim", headers, s.body, _OK, s.event)


def _chunked(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _delivery("chunked", s.headers(), f._chunks(s.body), _OK, s.event)


def _padded_values(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    pad = [b" ", b"\t", b"  "]
    headers = [(n, f._rng.choice(pad) + v + f._rng.choice(pad)) for n, v in s.headers()]
    return _delivery("padded_values", headers, s.body, _OK, s.event)


def _extra_headers(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    extra = [
        ("authorization", b"Bearer " + f._random_bytes(8, 40).hex().encode()),
        ("cookie", b"session=" + f._random_bytes(8, 24).hex().encode()),
        ("x-fuzz", f._random_bytes(0, 64).replace(b"\r", b"").replace(b"\n", b"")),
        ("user-agent", b"Svix-Webhooks/1.0 \xe9\xff"),
        ("svix-signature", b"v1,garbage"),  # webhook-* present: svix-* is not read
    ]
    headers = [*s.headers(), *f._rng.sample(extra, f._rng.randint(1, len(extra)))]
    f._rng.shuffle(headers)
    return _delivery("extra_headers", headers, s.body, _OK, s.event)


def _skew(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    moved = f._resign(s, timestamp=str(int(s.timestamp) + f._rng.randint(-250, 250)))
    return _delivery("skew", moved.headers(), s.body, _OK, s.event)


def _redelivery(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    if not f._recent:
        return _intact(f, s)
    again = f._rng.choice(f._recent)
    return replace(again, kind="redelivery")


def _at_the_limit(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    # JSON allows trailing whitespace: the padded body is still the event.
    size = f.limit - f._rng.choice([0, 1, 100])
    padded = f._resign(s, body=s.body + b" " * (size - len(s.body)))
    body = f._chunks(padded.body) if f._rng.random() < 0.5 else padded.body
    return _delivery("at_the_limit", padded.headers(), body, _OK, s.event)


# --- authentic but unreadable: 400 (200 for an unknown type), nothing acted on -----------


def _signed_body(f: DeliveryFuzzer, s: _Signed, kind: str, body: bytes) -> Delivery:
    resigned = f._resign(s, body=body)
    return _delivery(kind, resigned.headers(), body, _BAD_REQUEST)


def _signed_garbage(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _signed_body(f, s, "signed_garbage", b"\x00" + f._random_bytes(0, 512))


def _signed_non_utf8(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    at = f._rng.randrange(len(s.body))
    bad = f._rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9"])
    return _signed_body(f, s, "signed_non_utf8", s.body[:at] + bad + s.body[at:])


def _signed_gzip(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _signed_body(f, s, "signed_gzip", gzip.compress(s.body))


def _signed_empty(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    return _signed_body(f, s, "signed_empty", b"")


def _signed_deep(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    depth = f._rng.choice([100, 10_000, 100_000])
    opener = f._rng.choice([b"[", b'{"a":'])
    return _signed_body(f, s, "signed_deep", opener * depth)


_NOT_A = {  # per field, values that are never of its shape
    "id": [None, 12, "", [], {}],
    "timestamp": [None, "yesterday", [], {}, "2025-13-40T00:00:00Z"],
    "data": [None, [], "x", {"npn": "not an npn", "runDate": "2025-13-40"}],
    "type": [None, 7, []],
}


def _signed_wrong_shape(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    document: object = orjson.loads(s.body)
    assert isinstance(document, dict)
    key = f._rng.choice(sorted(_NOT_A))
    choice = f._rng.randrange(3)
    if choice == 0:
        del document[key]
    elif choice == 1:
        document[key] = f._rng.choice(_NOT_A[key])
    else:
        document = f._rng.choice([[document], "event", 42, None])
    return _signed_body(f, s, "signed_wrong_shape", orjson.dumps(document))


def _signed_unknown_type(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    document = orjson.loads(s.body)
    document["type"] = f._rng.choice(["producersync.new_thing", "", "x" * 300, "\u0000", "ü"])
    body = orjson.dumps(document)
    resigned = f._resign(s, body=body)
    return _delivery("signed_unknown_type", resigned.headers(), body, _OK)


# --- not authentic: 401, nothing acted on ------------------------------------------------


def _body_changed(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    body = bytearray(s.body)
    how = f._rng.randrange(5)
    at = f._rng.randrange(len(body))
    if how == 0:
        body[at] ^= 1 << f._rng.randrange(8)
    elif how == 1:
        body[at:at] = f._random_bytes(1, 8)
    elif how == 2:
        del body[at : at + f._rng.randint(1, 8)]
    elif how == 3:
        del body[at:]
    else:
        body += f._rng.choice([b" ", b"\n", b"{}", b"\x00"])
    return _delivery("body_changed", s.headers(), bytes(body), _UNAUTHORIZED)


def _body_swapped(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    """Another genuine event's body under this delivery's signature."""
    other = f._signed()
    return _delivery("body_swapped", s.headers(), other.body, _UNAUTHORIZED)


def _id_changed(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    choices = [
        s.msg_id + "x",
        s.msg_id[:-1],
        s.event.id,
        "msg_" + "".join(f._rng.choices(string.ascii_letters, k=12)),
        "a.b",
        "x" * 300,
        "\u00e9t\u00e9",
    ]
    headers = [
        (n, f._rng.choice(choices).encode("utf-8")) if n == "webhook-id" else (n, v)
        for n, v in s.headers()
    ]
    return _delivery("id_changed", headers, s.body, _UNAUTHORIZED)


def _stale(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    """Signed with the real secret, but outside the tolerance: a replay."""
    offset = f._rng.choice([-1, 1]) * f._rng.randint(_TOLERANCE + 2, 10**7)
    stale = f._resign(s, timestamp=str(max(0, int(s.timestamp) + offset)))
    return _delivery("stale", stale.headers(), s.body, _UNAUTHORIZED)


def _timestamp_malformed(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    ts = s.timestamp
    text = f._rng.choice(
        [
            "",
            "abc",
            f"{ts}.0",
            f"{ts}.5",
            f"{int(ts)}e0",
            "1.7e9",
            hex(int(ts)),
            f"-{ts}",
            f"+{ts}",
            f"0{ts}",
            "9" * 30,
            "\u0661\u0662\u0663",  # Arabic-Indic digits: str.isdigit() says yes
            f"{ts} {ts}",
            f"{ts},{ts}",
            "NaN",
            "inf",
            f"{ts}\x00",
        ]
    )
    # Half are signed over the malformed text: authentic, and still refused.
    signed = f._resign(s, timestamp=text) if f._rng.random() < 0.5 else replace(s, timestamp=text)
    return _delivery("timestamp_malformed", signed.headers(), s.body, _UNAUTHORIZED)


def _signature_broken(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    encoded = s.signature.removeprefix("v1,")
    # Not the padding, nor the last digit before it: two of its bits are unused, so some
    # changes to it decode to the same MAC (the real one: no forgery, and not counted).
    at = f._rng.randrange(len(encoded) - 2)
    swapped = "A" if encoded[at] != "A" else "B"
    value = f._rng.choice(
        [
            "v1," + encoded[:at] + swapped + encoded[at + 1 :],
            "v1,!!!not base64!!!",
            "v1," + encoded.rstrip("="),
            "v1,",
            ",",
            "v1",
            encoded,
            "v1a," + encoded,
            "V1," + encoded,
            "v1,v1," + encoded,
            f._wrong_signature(s),
            " ".join("v1," + base64.b64encode(f._rng.randbytes(32)).decode() for _ in range(50)),
            "v1," + base64.b64encode(f._rng.randbytes(f._rng.randint(0, 100))).decode(),
            "v1," + base64.urlsafe_b64encode(f._rng.randbytes(32)).decode(),
        ]
    )
    signed = replace(s, signature=value)
    return _delivery("signature_broken", signed.headers(), s.body, _UNAUTHORIZED)


def _wrong_secret(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    forged = replace(s, signature=f._wrong_signature(s))
    return _delivery("wrong_secret", forged.headers(), s.body, _UNAUTHORIZED)


def _header_missing(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    headers = s.headers()
    drop = f._rng.sample(range(3), f._rng.randint(1, 3))
    kept = [h for i, h in enumerate(headers) if i not in drop]
    if len(drop) < 3 and f._rng.random() < 0.3:  # one prefix for all three: no mixing
        kept += [
            (n.replace("webhook-", "svix-"), v) for i, (n, v) in enumerate(headers) if i in drop
        ]
    return _delivery("header_missing", kept, s.body, _UNAUTHORIZED)


def _header_empty(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    at = f._rng.randrange(3)
    blank = f._rng.choice([b"", b" ", b"\t"])
    headers = [(n, blank if i == at else v) for i, (n, v) in enumerate(s.headers())]
    return _delivery("header_empty", headers, s.body, _UNAUTHORIZED)


def _raw_header_bytes(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    """Bytes no text header holds (non-UTF-8, controls) in one of the three."""
    at = f._rng.randrange(3)
    junk = f._rng.choice([b"\xff\xfe", b"\x00", b"\x7f", b"\xc3\x28", b"\x1b[31m"])
    headers = [(n, v + junk if i == at else v) for i, (n, v) in enumerate(s.headers())]
    return _delivery("raw_header_bytes", headers, s.body, _UNAUTHORIZED)


def _random_request(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    names = ["webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "x-any"]
    headers = [
        (f._rng.choice(names), f._random_bytes(0, 40).replace(b"\r", b"").replace(b"\n", b""))
        for _ in range(f._rng.randint(0, 6))
    ]
    return _delivery("random_request", headers, f._random_bytes(0, 2048), _UNAUTHORIZED)


def _declared_length_lies(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    # A declared length over the limit is refused before a byte is read.
    declared = f._rng.choice([str(f.limit + 1), str(10**15), "9" * 40])
    headers = [*s.headers(), ("content-length", declared.encode())]
    return _delivery("declared_length_lies", headers, s.body, _TOO_LARGE)


def _over_the_limit(f: DeliveryFuzzer, s: _Signed) -> Delivery:
    big = f._resign(s, body=s.body + b" " * (f.limit + 1 - len(s.body)))
    body = f._chunks(big.body) if f._rng.random() < 0.5 else big.body
    return _delivery("over_the_limit", big.headers(), body, _TOO_LARGE)


# Weights per 1,000: big bodies are rare (each is a MiB to build, send and store).
_MUTATIONS: list[tuple[str, _Mutation, float]] = [
    ("intact", _intact, 60),
    ("svix_headers", _svix_headers, 25),
    ("header_case", _header_case, 25),
    ("extra_signatures", _extra_signatures, 30),
    ("content_type", _content_type, 20),
    ("encoding_claim", _encoding_claim, 20),
    ("chunked", _chunked, 30),
    ("padded_values", _padded_values, 20),
    ("extra_headers", _extra_headers, 25),
    ("skew", _skew, 25),
    ("redelivery", _redelivery, 25),
    ("at_the_limit", _at_the_limit, 0.3),
    ("signed_garbage", _signed_garbage, 25),
    ("signed_non_utf8", _signed_non_utf8, 20),
    ("signed_gzip", _signed_gzip, 15),
    ("signed_empty", _signed_empty, 10),
    ("signed_deep", _signed_deep, 10),
    ("signed_wrong_shape", _signed_wrong_shape, 30),
    ("signed_unknown_type", _signed_unknown_type, 15),
    ("body_changed", _body_changed, 120),
    ("body_swapped", _body_swapped, 40),
    ("id_changed", _id_changed, 50),
    ("stale", _stale, 50),
    ("timestamp_malformed", _timestamp_malformed, 60),
    ("signature_broken", _signature_broken, 80),
    ("wrong_secret", _wrong_secret, 50),
    ("header_missing", _header_missing, 40),
    ("header_empty", _header_empty, 20),
    ("raw_header_bytes", _raw_header_bytes, 25),
    ("random_request", _random_request, 60),
    ("declared_length_lies", _declared_length_lies, 10),
    ("over_the_limit", _over_the_limit, 0.3),
]


def send_raw(
    host: str, port: int, path: str, delivery: Delivery, timeout: float = 10
) -> tuple[int, bytes]:
    """POST ``delivery`` over a fresh HTTP/1.1 connection, byte for byte (header names as
    given, chunked transfer for a body in several chunks); the response's status and
    body."""
    lines = [f"POST {path} HTTP/1.1".encode(), f"host: {host}:{port}".encode()]
    lines += [name.encode("latin-1") + b": " + value for name, value in delivery.headers]
    if len(delivery.chunks) > 1:
        lines.append(b"transfer-encoding: chunked")
        body = (
            b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in delivery.chunks if c)
            + b"0\r\n\r\n"
        )
    else:
        lines.append(f"content-length: {len(delivery.body)}".encode())
        body = delivery.body
    lines.append(b"connection: close")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        reply = bytearray()
        while part := sock.recv(65536):
            reply += part
    head, _, body = bytes(reply).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
