"""Webhook receipts (every delivery, as it arrived) and the accepted events they dedupe to."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from producersync.sync.mirror.engine import dialect_insert
from producersync.sync.mirror.tables import REJECTED, events, receipts
from producersync.webhooks import HEADER_PREFIXES

__all__ = [
    "ACCEPTED",
    "HEADERS_CUT",
    "IGNORED",
    "REJECTED",
    "UNVERIFIED_BODY_KEPT",
    "UNVERIFIED_HEADERS_KEPT",
    "Receipt",
    "first_body_sha256",
    "mark_all_processed",
    "mark_processed",
    "oldest_unprocessed",
    "prune_receipts",
    "receipt_body",
    "record_receipt",
    "record_receipts",
    "unprocessed_events",
    "unverified",
]

ACCEPTED = "accepted"
# An accepted receipt that holds its body: every one but a duplicate that came with its
# first receipt's body (``record_receipts``).
_WHOLE: Final = receipts.c.body_length.is_(None)
IGNORED = "ignored: "  # and why: an authentic delivery of an event type we do not know
_IN_CHUNK = 900  # ids per `IN (...)`: under SQLite's variable limit


UNVERIFIED_BODY_KEPT: Final = 4096
"""Bytes kept of the body of a delivery whose signature did not verify. Every real event
is a few hundred bytes, so a genuine one refused (a stale secret, a clock off) is kept
whole; a forged body of the 1 MiB limit costs the mirror 4 KiB, not 1 MiB."""

UNVERIFIED_HEADERS_KEPT: Final = 4096
"""Bytes (names and values, as received) kept of the headers of a delivery whose
signature did not verify. The server reading them bounds neither their size nor their
number (10 MiB of headers were stored whole); a real delivery's are under 1 KiB."""

HEADERS_CUT: Final = "(cut)"
"""The key under which a receipt whose headers were cut tells what came: no header can
bear that name (it is not an HTTP token)."""

# Kept before any other: what tells whose delivery it was, and why it did not verify.
_HEADERS_FIRST: Final = (
    *(
        f"{prefix}-{name}"
        for name in ("id", "timestamp", "signature")
        for prefix in HEADER_PREFIXES
    ),
    "content-type",
    "content-length",
    "user-agent",
)


@dataclass(frozen=True)
class Receipt:
    event_id: str | None
    event_type: str | None
    received_at: dt.datetime
    headers: dict[str, str]  # without secrets: the receiver strips them
    body: bytes
    verdict: str  # "accepted", "ignored: <reason>" or "rejected: <reason>"
    # The whole body's length and SHA-256 (hex) when ``body`` is only its beginning.
    body_length: int | None = None
    body_sha256: str | None = None


def unverified(receipt: Receipt) -> Receipt:
    """``receipt`` of a delivery whose signature did not verify, as it is kept: its body's
    first ``UNVERIFIED_BODY_KEPT`` bytes, with the whole one's length and digest when it
    was longer, and its headers cut to ``UNVERIFIED_HEADERS_KEPT`` bytes
    (``_cut_headers``). Anyone who knows the receiver's URL can send one, as fast as the
    network takes them: kept whole, each was up to the body limit in the mirror, and its
    headers without any."""
    headers = _cut_headers(receipt.headers)
    body = receipt.body
    if len(body) <= UNVERIFIED_BODY_KEPT:
        return dataclasses.replace(receipt, headers=headers)
    return dataclasses.replace(
        receipt,
        headers=headers,
        body=body[:UNVERIFIED_BODY_KEPT],
        body_length=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
    )


def _cut_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` within ``UNVERIFIED_HEADERS_KEPT`` bytes: the webhook's own and the
    few that describe the body first, then the others in the order they came, each whole
    while it fits; the first that does not is cut to the room left, and the rest dropped.
    ``HEADERS_CUT`` then tells how many came and their bytes."""
    total = sum(len(name) + len(value) for name, value in headers.items())
    if total <= UNVERIFIED_HEADERS_KEPT:
        return headers
    first = [name for name in _HEADERS_FIRST if name in headers]
    kept: dict[str, str] = {}
    room = UNVERIFIED_HEADERS_KEPT
    for name in [*first, *(name for name in headers if name not in first)]:
        value = headers[name]
        if len(name) + len(value) > room:
            if len(name) < room:
                kept[name] = value[: room - len(name)]
            break
        kept[name] = value
        room -= len(name) + len(value)
    size = sum(len(name) + len(value) for name, value in kept.items())
    kept[HEADERS_CUT] = f"kept {len(kept)} of {len(headers)} headers, {size} of {total} bytes"
    return kept


def _text(value: str) -> str:
    # PostgreSQL's text and JSONB cannot hold NUL, and a rejected delivery's headers may
    # (they are whatever the sender put there): it is kept, shown as U+FFFD.
    return value.replace("\x00", "\ufffd")


def record_receipt(conn: sa.Connection, receipt: Receipt) -> bool:
    """Store the receipt; False when an accepted receipt with its event id came before
    (a redelivery). A rejected receipt never marks its id as seen."""
    return record_receipts(conn, [receipt])[0]


def record_receipts(conn: sa.Connection, batch: Sequence[Receipt]) -> list[bool]:
    """Store the receipts in one go (a group commit); for each, what ``record_receipt``
    answers, in order: within the batch too, only an id's first accepted receipt is
    first. A duplicate (an accepted receipt of an id accepted before) whose body is its
    first receipt's, by SHA-256, keeps none (``body_length`` and ``body_sha256`` tell what
    came): a replayed delivery, or a sender's retry storm, stored its whole body at each
    receipt. One with another body is kept whole."""
    if not batch:
        return []
    accepted: dict[str, Receipt] = {}
    for r in batch:
        if r.event_id is not None and r.verdict == ACCEPTED:
            accepted.setdefault(_text(r.event_id), r)
    new: set[str] = set()
    firsts: dict[str, str | None] = {}  # each accepted id's first body's digest
    if accepted:
        digests = {i: _sha256(r.body) for i, r in accepted.items()}
        # The primary key decides between two deliveries racing on two workers: the
        # loser waits for the winner's commit, then reads its digest. In the ids' order,
        # so that two batches of the same ids never wait for each other in a ring.
        inserted = conn.execute(
            dialect_insert(conn, events)
            .values(
                [
                    {
                        "event_id": i,
                        "event_type": r.event_type,
                        "received_at": r.received_at,
                        "body_sha256": digests[i],
                    }
                    for i, r in sorted(accepted.items())
                ]
            )
            .on_conflict_do_nothing(index_elements=[events.c.event_id])
            .returning(events.c.event_id)
        )
        new = set(inserted.scalars())
        firsts = {i: digests[i] for i in new}
        # An id accepted before: its first receipt's digest, not this batch's first's.
        firsts.update(_first_digests(conn, sorted(accepted.keys() - new)))
    conn.execute(
        sa.insert(receipts),
        [
            {
                "event_id": _optional(r.event_id),
                "event_type": _optional(r.event_type),
                "received_at": r.received_at,
                "headers": {_text(k): _text(v) for k, v in r.headers.items()},
                "verdict": _text(r.verdict),
                **_body(r, firsts, new, accepted),
            }
            for r in batch
        ],
    )
    others = {_text(r.event_id) for r in batch if r.event_id is not None} - accepted.keys()
    seen = set()
    if others:
        known = sa.select(events.c.event_id).where(events.c.event_id.in_(sorted(others)))
        seen = set(conn.execute(known).scalars())
    answers = []
    for r in batch:
        event_id = _optional(r.event_id)
        if event_id is None:
            answers.append(True)
        elif r.verdict != ACCEPTED:
            answers.append(event_id not in seen and event_id not in accepted)
        else:
            answers.append(event_id in new and accepted[event_id] is r)
    return answers


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _body(
    r: Receipt,
    firsts: Mapping[str, str | None],
    new: set[str],
    accepted: dict[str, Receipt],
) -> dict[str, object]:
    """The body columns of ``r``'s row: none of its body when it is a duplicate of its
    event's first receipt's body."""
    whole: dict[str, object] = {
        "body": r.body,
        "body_length": r.body_length,
        "body_sha256": r.body_sha256,
    }
    if r.event_id is None or r.verdict != ACCEPTED:
        return whole
    event_id = _text(r.event_id)
    if event_id in new and accepted[event_id] is r:
        return whole  # the first: the body every duplicate is told against
    digest = _sha256(r.body)
    if firsts.get(event_id) != digest:
        return whole  # another body under the same id: evidence, kept
    return {"body": b"", "body_length": len(r.body), "body_sha256": digest}


def _first_digests(conn: sa.Connection, event_ids: Sequence[str]) -> dict[str, str | None]:
    """The first body's digest of each of ``event_ids``, accepted before. An event
    accepted before migration 0017 has none: it is taken from its first receipt and kept
    (None if that was pruned: its duplicates are kept whole)."""
    found: dict[str, str | None] = {}
    for start in range(0, len(event_ids), _IN_CHUNK):
        chunk = list(event_ids[start : start + _IN_CHUNK])
        query = sa.select(events.c.event_id, events.c.body_sha256)
        rows = conn.execute(query.where(events.c.event_id.in_(chunk)))
        found.update((row.event_id, row.body_sha256) for row in rows)
    for event_id in [i for i, digest in found.items() if digest is None]:
        body = receipt_body(conn, event_id)
        if body is not None:
            found[event_id] = _sha256(body)
            conn.execute(
                sa.update(events)
                .where(events.c.event_id == event_id)
                .values(body_sha256=found[event_id])
            )
    return found


def first_body_sha256(conn: sa.Connection, event_id: str) -> str | None:
    """The SHA-256 (hex) of the body of the event's first accepted receipt, if known."""
    query = sa.select(events.c.body_sha256).where(events.c.event_id == event_id)
    digest: str | None = conn.execute(query).scalar()
    return digest


def _optional(value: str | None) -> str | None:
    return None if value is None else _text(value)


def mark_processed(
    conn: sa.Connection, event_id: str, at: dt.datetime, error: str | None = None
) -> None:
    mark_all_processed(conn, [event_id], at, error)


def mark_all_processed(
    conn: sa.Connection,
    event_ids: Sequence[str],
    at: dt.datetime | None,
    error: str | None = None,
) -> None:
    """``at`` as the events' processing time; ``None`` makes them unprocessed again (a
    replay: the work is owed once more)."""
    for start in range(0, len(event_ids), _IN_CHUNK):
        chunk = list(event_ids[start : start + _IN_CHUNK])
        conn.execute(
            sa.update(events)
            .where(events.c.event_id.in_(chunk))
            .values(processed_at=at, error=error)
        )


def receipt_body(conn: sa.Connection, event_id: str) -> bytes | None:
    """The raw body of the event's first accepted receipt, for a replay."""
    query = (
        sa.select(receipts.c.body)
        .where(receipts.c.event_id == event_id, receipts.c.verdict == ACCEPTED, _WHOLE)
        .order_by(receipts.c.id)
        .limit(1)
    )
    body: bytes | None = conn.execute(query).scalar()
    return body


def latest_verdict(conn: sa.Connection, event_id: str) -> tuple[str, dt.datetime] | None:
    """The verdict of the latest receipt claiming ``event_id`` and when it came, whatever
    it was (a replay refused tells why there is no accepted one); None if none did."""
    query = (
        sa.select(receipts.c.verdict, receipts.c.received_at)
        .where(receipts.c.event_id == event_id)
        .order_by(receipts.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else (row.verdict, row.received_at)


def unprocessed_events(
    conn: sa.Connection, event_types: Sequence[str] | None = None, *, limit: int | None = None
) -> list[tuple[str, bytes]]:
    """Accepted events (of ``event_types`` if given) whose work is not done, oldest
    first, with the body of their first accepted receipt."""
    owed = (
        sa.select(events.c.event_id)
        .where(events.c.processed_at.is_(None))
        .order_by(events.c.received_at, events.c.event_id)
        .limit(limit)
    )
    if event_types is not None:
        owed = owed.where(events.c.event_type.in_(list(event_types)))
    ids = list(conn.execute(owed).scalars())
    bodies: dict[str, bytes] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        first = (
            sa.select(receipts.c.event_id, receipts.c.body)
            .where(
                receipts.c.event_id.in_(ids[start : start + _IN_CHUNK]),
                receipts.c.verdict == ACCEPTED,
                _WHOLE,
            )
            .order_by(receipts.c.id.desc())  # the first receipt written last: it stays
        )
        bodies.update((row.event_id, row.body) for row in conn.execute(first))
    return [(event_id, bodies[event_id]) for event_id in ids if event_id in bodies]


def oldest_unprocessed(conn: sa.Connection) -> dt.datetime | None:
    """When the oldest accepted event whose work is not done was received; None when
    every one is done. Read on the unprocessed events' partial index, first row only:
    the events done, however many, are not read."""
    oldest = (
        sa.select(events.c.received_at)
        .where(events.c.processed_at.is_(None))
        .order_by(events.c.received_at)
        .limit(1)
    )
    received: dt.datetime | None = conn.execute(oldest).scalar()
    return received


def prune_receipts(conn: sa.Connection, older_than: dt.datetime, *, most: int | None = None) -> int:
    """Delete receipts, and processed events, received before ``older_than``, at most
    ``most`` rows in all (receipts first) when given; how many rows. An unprocessed event
    keeps its body, for a replay. A caller pruning many (a flood of forged deliveries)
    passes ``most`` and calls again, a transaction each, until fewer come back
    (``delete_in_batches``)."""
    unprocessed = sa.select(events.c.event_id).where(events.c.processed_at.is_(None))
    later = receipts.alias("later")
    # A duplicate that kept no body is read with its first receipt's: that stays while
    # one does.
    bodiless_kept = sa.exists().where(
        later.c.event_id == receipts.c.event_id,
        later.c.verdict == ACCEPTED,
        later.c.body_length.is_not(None),
        later.c.received_at >= older_than,
    )
    old_receipts = (
        sa.select(receipts.c.id)
        .where(
            receipts.c.received_at < older_than,
            sa.or_(
                receipts.c.verdict != ACCEPTED,
                receipts.c.event_id.is_(None),
                sa.and_(
                    receipts.c.event_id.not_in(unprocessed),
                    sa.or_(receipts.c.body_length.is_not(None), ~bodiless_kept),
                ),
            ),
        )
        .limit(most)
    )
    deleted = conn.execute(sa.delete(receipts).where(receipts.c.id.in_(old_receipts))).rowcount
    if most is not None and deleted >= most:
        return deleted
    old_events = (
        sa.select(events.c.event_id)
        .where(events.c.received_at < older_than, events.c.processed_at.is_not(None))
        .limit(None if most is None else most - deleted)
    )
    gone = conn.execute(sa.delete(events).where(events.c.event_id.in_(old_events))).rowcount
    return deleted + gone
