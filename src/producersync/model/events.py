"""The ProducerSync webhook events: one envelope ``{id, type, timestamp, data}``, three types.

``Event`` is a union discriminated on ``type``; ``EVENT_ADAPTER`` validates one from parsed
JSON. Unknown fields are kept (``extra="allow"``), in the envelope and in ``data``, so an
event that gains a field still parses. Timestamps are UTC; JSON carries them as ISO 8601
with a ``Z`` (``2025-07-24T22:51:05.206Z``, as the documented examples do).

The ``create`` class methods build an event for the service side: a fresh ``evt_`` id and
the current time, unless given.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from producersync.model.dates import iso_date
from producersync.model.npn import NPN
from producersync.model.spaces import spaced

__all__ = [
    "ENDPOINT_TEST",
    "EVENT_ADAPTER",
    "EVENT_GROUP",
    "EVENT_ID_MAX_LENGTH",
    "EVENT_ID_PREFIX",
    "EVENT_TYPES",
    "KNOWN_TYPES",
    "NPN_ACTIVATED",
    "NPN_DEACTIVATED",
    "UPDATES_AVAILABLE",
    "EndpointTest",
    "EndpointTestData",
    "Event",
    "EventType",
    "IsoDatetime",
    "NpnActivated",
    "NpnActivatedData",
    "NpnDeactivated",
    "NpnDeactivatedData",
    "UpdatesAvailable",
    "UpdatesAvailableData",
    "UtcDatetime",
    "WireDate",
    "event_id_fault",
    "iso_z",
    "new_event_id",
    "to_millisecond",
    "utc_now",
]

EVENT_GROUP: Final = "producersync"
"""The event-type group: subscribing to it means every ``producersync.*`` type."""

UPDATES_AVAILABLE: Final = "producersync.updates_available"
NPN_ACTIVATED: Final = "producersync.npn.activated"
NPN_DEACTIVATED: Final = "producersync.npn.deactivated"
ENDPOINT_TEST: Final = "webhook.test"
EVENT_TYPES: Final[frozenset[str]] = frozenset({UPDATES_AVAILABLE, NPN_ACTIVATED, NPN_DEACTIVATED})
"""The types an endpoint can subscribe to."""
KNOWN_TYPES: Final[frozenset[str]] = EVENT_TYPES | {ENDPOINT_TEST}
"""Every type a delivery can carry: the subscribable ones and the endpoint test."""

EventType = Literal[
    "producersync.updates_available",
    "producersync.npn.activated",
    "producersync.npn.deactivated",
]

EVENT_ID_PREFIX: Final = "evt_"
# As the webhook-id header: visible ASCII, at most 256 (a NUL, or 20 KB in an index row,
# is more than a database will store, and a receipt must be stored).
EVENT_ID_MAX_LENGTH: Final = 256
_EVENT_ID_PATTERN: Final = r"^[!-~]+$"


def event_id_fault(value: str) -> str | None:
    """Why ``value`` cannot be an event id (so none was ever received under it), or None."""
    if not value:
        return "it is empty"
    if len(value) > EVENT_ID_MAX_LENGTH:
        return f"it is {len(value)} characters long, past the {EVENT_ID_MAX_LENGTH} of an event id"
    if bad := next((char for char in value if not "!" <= char <= "~"), None):
        return f"it holds {bad!r}: an event id is visible ASCII, without spaces"
    return None


def new_event_id() -> str:
    """A fresh event id: ``evt_`` and 24 random hex digits (96 bits)."""
    return EVENT_ID_PREFIX + secrets.token_hex(12)


def to_millisecond(value: dt.datetime) -> dt.datetime:
    """``value`` cut to the millisecond (what the JSON form carries)."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def utc_now() -> dt.datetime:
    """The current time in UTC, to the millisecond."""
    return to_millisecond(dt.datetime.now(dt.UTC))


def _as_utc(value: dt.datetime) -> dt.datetime:
    # A naive time is taken as UTC (the contract says every timestamp is UTC).
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("out of the range of a UTC time") from None


def iso_z(value: dt.datetime) -> str:
    """``value`` as the API writes a time: ISO 8601 in UTC with a Z (as the envelope's
    ``timestamp``), to the millisecond."""
    # Milliseconds as documented; microseconds only when there are some, so nothing is lost.
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return _as_utc(value).isoformat(timespec=spec).replace("+00:00", "Z")


_SECONDS = re.compile(spaced(r"[+-]?[0-9]+(\.[0-9]*)?"))


def _wire_time(value: object) -> object:
    # ISO 8601 only, as the wire writes it. pydantic's datetime also reads Unix seconds,
    # as a number or as text: an activation signed with "activatedAt": 0 would be of 1970.
    if isinstance(value, int | float) or (isinstance(value, str) and _SECONDS.fullmatch(value)):
        raise ValueError("not an ISO 8601 time")
    return value


IsoDatetime = Annotated[dt.datetime, BeforeValidator(_wire_time)]
"""A datetime given in ISO 8601 (a date alone is its midnight), never as Unix seconds;
its offset as given, none if it names none."""

UtcDatetime = Annotated[
    IsoDatetime,
    AfterValidator(_as_utc),
    PlainSerializer(iso_z, return_type=str, when_used="json"),
    # The serializer's ``str`` alone made the spec's output a bare string, and a client
    # generated from it had text where a datetime belonged.
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A datetime held in UTC and written as ISO 8601 with ``Z``."""


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        frozen=True,
    )


def _wire_date(value: object) -> object:
    # The wire's yyyy-MM-dd only. pydantic's date also reads Unix seconds and a time at
    # midnight: a signed runDate of 0 (or "0") would be 1970-01-01, and its sync pull every
    # record since then, the whole population's, hours of the rate limit.
    if isinstance(value, str):
        return iso_date(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("not a date as yyyy-MM-dd")


WireDate = Annotated[dt.date, BeforeValidator(_wire_date)]
"""A date written ``yyyy-MM-dd`` (in ASCII digits), or a ``datetime.date``."""


class UpdatesAvailableData(_Wire):
    run_date: WireDate
    """Use as ``updatedSince`` for the follow-up API calls."""


class NpnActivatedData(_Wire):
    npn: NPN
    activated_at: UtcDatetime


class NpnDeactivatedData(_Wire):
    npn: NPN
    deactivated_at: UtcDatetime


class _Envelope(_Wire):
    id: str = Field(min_length=1, max_length=EVENT_ID_MAX_LENGTH, pattern=_EVENT_ID_PATTERN)
    """Unique per event and repeated on every retry: the deduplication key."""
    type: str
    timestamp: UtcDatetime
    """When the event was generated (the attempt time is the ``webhook-timestamp`` header)."""

    def to_json(self) -> bytes:
        """The JSON body, as bytes: what the sender signs and sends."""
        return self.model_dump_json().encode()


class UpdatesAvailable(_Envelope):
    """``producersync.updates_available``: the daily NIPR run is processed."""

    type: Literal["producersync.updates_available"] = "producersync.updates_available"
    data: UpdatesAvailableData

    @classmethod
    def create(
        cls,
        run_date: dt.date,
        *,
        event_id: str | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Self:
        return cls(
            id=event_id or new_event_id(),
            timestamp=timestamp or utc_now(),
            data=UpdatesAvailableData(run_date=run_date),
        )


class NpnActivated(_Envelope):
    """``producersync.npn.activated``: an NPN joined the monitored population."""

    type: Literal["producersync.npn.activated"] = "producersync.npn.activated"
    data: NpnActivatedData

    @classmethod
    def create(
        cls,
        npn: str,
        activated_at: dt.datetime | None = None,
        *,
        event_id: str | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Self:
        now = utc_now()
        return cls(
            id=event_id or new_event_id(),
            timestamp=timestamp or now,
            data=NpnActivatedData(npn=npn, activated_at=activated_at or now),
        )


class NpnDeactivated(_Envelope):
    """``producersync.npn.deactivated``: an NPN left the monitored population."""

    type: Literal["producersync.npn.deactivated"] = "producersync.npn.deactivated"
    data: NpnDeactivatedData

    @classmethod
    def create(
        cls,
        npn: str,
        deactivated_at: dt.datetime | None = None,
        *,
        event_id: str | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Self:
        now = utc_now()
        return cls(
            id=event_id or new_event_id(),
            timestamp=timestamp or now,
            data=NpnDeactivatedData(npn=npn, deactivated_at=deactivated_at or now),
        )


class EndpointTestData(_Wire):
    endpoint_id: str
    message: str


class EndpointTest(_Envelope):
    """``webhook.test``: sent to an endpoint when it is saved, to prove it is reachable.
    Not subscribable (every endpoint gets it once); receivers acknowledge and ignore it."""

    type: Literal["webhook.test"] = "webhook.test"
    data: EndpointTestData

    @classmethod
    def create(
        cls, endpoint_id: str, *, event_id: str | None = None, timestamp: dt.datetime | None = None
    ) -> Self:
        return cls(
            id=event_id or new_event_id(),
            timestamp=timestamp or utc_now(),
            data=EndpointTestData(
                endpoint_id=endpoint_id, message="ProducerSync test event: the endpoint is saved"
            ),
        )


Event = Annotated[
    UpdatesAvailable | NpnActivated | NpnDeactivated | EndpointTest, Field(discriminator="type")
]
"""Any ProducerSync event, told apart by ``type``."""

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)
"""Validates an ``Event`` from parsed JSON (``validate_python``) or JSON (``validate_json``)."""
