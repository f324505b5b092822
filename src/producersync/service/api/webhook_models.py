"""The webhook management API on the wire: request and response bodies, camelCase.

Shared by the API routes and the ``admin endpoint`` CLI (whose ``--json`` prints the same
shapes). Limits that the rules check (``delivery/management.py``) are only documented
here, so that a refusal names the field in the rules' words; limits of the columns
(lengths, no NUL, which Postgres refuses) are enforced here, before any SQL.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from producersync.model.dates import DATETIME_PATTERN
from producersync.model.events import (
    KNOWN_TYPES,
    UPDATES_AVAILABLE,
    EventType,
    IsoDatetime,
    UtcDatetime,
    iso_z,
)
from producersync.model.spaces import spaced, trim
from producersync.service.api.numbers import MAX_LIST_ITEMS, RowId, WholeNumber
from producersync.service.api.paging import DEFAULT_PAGE, MAX_PAGE
from producersync.service.delivery.management import SUBSCRIBABLE
from producersync.service.delivery.urls import URL_SYNTAX
from producersync.service.store.endpoints import Endpoint
from producersync.service.store.outbox import Attempt, AttemptKey, DeliveryRow, LogFilter, Message

__all__ = [
    "DEFAULT_PAGE",
    "ID_PATTERN",
    "MAX_PAGE",
    "AttemptPage",
    "AttemptQuery",
    "DeliveryAccepted",
    "DeliveryPage",
    "DeliveryQuery",
    "DeliveryState",
    "EndpointAttemptQuery",
    "EndpointCreate",
    "EndpointDisable",
    "EndpointPage",
    "EndpointPatch",
    "EndpointQuery",
    "EndpointSecret",
    "EventTypeInfo",
    "EventTypeList",
    "ExampleRequest",
    "MessageAccepted",
    "MessagePage",
    "MessageQuery",
    "RecoverAccepted",
    "RecoverRequest",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEndpointCreated",
    "WebhookMessage",
    "WindowQuery",
    "delivery_page_json",
    "message_json",
    "message_page_json",
]

ID_PATTERN = r"^[A-Za-z0-9_]{1,40}$"
_NO_NUL = r"^[^\x00]*$"


class _In(BaseModel):
    # Only the documented camelCase names: a misspelt field is a 400, not silently ignored.
    model_config = ConfigDict(alias_generator=to_camel, validate_by_alias=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


def _any_spaced(names: Iterable[str]) -> str:
    """A pattern of any of ``names``, with spaces around it: what the rules take, which
    trim each value before they look it up."""
    return spaced("|".join(map(re.escape, names)))


_SubscribableType = Annotated[str, Field(json_schema_extra={"enum": list(SUBSCRIBABLE)})]
# Given, a pattern, not the enum of what is stored: the rules trim each type, so
# ' producersync' is taken (as 'producersync'), where the enum would refuse it.
_GivenSubscribableType = Annotated[
    str, Field(json_schema_extra={"pattern": _any_spaced(SUBSCRIBABLE)})
]
_EventTypeFilter = Annotated[
    list[_GivenSubscribableType],
    Field(
        description="Event types and groups the endpoint receives, spaces around each "
        f"ignored: {', '.join(SUBSCRIBABLE)} ('producersync' is every producersync.* type); "
        "null: every type",
        json_schema_extra={"minItems": 1},
    ),
]


def _a_number(value: object) -> object:
    # JSON's true or "10" is no number of attempts (lax ints take them); 10.0 is one.
    if isinstance(value, bool | str):
        raise ValueError("expected a whole number")
    return value


_RateLimit = Annotated[
    int,
    BeforeValidator(_a_number),
    Field(
        description="Most attempts per second to this endpoint (1 to 10000); null: no limit",
        json_schema_extra={"minimum": 1, "maximum": 10_000},
    ),
]


def _printable(url: str) -> str:
    # Spaces and control characters are no part of a URL (they are percent-encoded), and
    # Postgres cannot store a NUL. Outer spaces are trimmed, as the rules trim them.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in trim(url)):
        raise ValueError("a URL has no spaces or control characters (percent-encode them)")
    return url


# The length before the validator, as for descriptions below: after it, pydantic worded a
# URL too long as a list ("at most 2048 items after validation").
_Url = Annotated[
    str,
    Field(
        max_length=2048,
        description="https URL on a public address, unless the service allows private ones "
        "(http, private addresses)",
        examples=["https://hooks.example.com/producersync"],
        json_schema_extra={"pattern": URL_SYNTAX},
    ),
    AfterValidator(_printable),
]


def _no_nul(text: str) -> str:
    # Checked here rather than by the pattern, whose refusal quoted the regex at the user.
    if "\x00" in text:
        raise ValueError("a NUL character cannot be stored; remove it")
    return text


# The length first: after a validator, pydantic words it for a list ("at most 500 items").
_NUL_FREE: dict[str, Any] = {"pattern": _NO_NUL}
_Description = Annotated[
    str, Field(max_length=500, json_schema_extra=_NUL_FREE), AfterValidator(_no_nul)
]


class EndpointCreate(_In):
    url: _Url
    description: _Description = ""
    event_types: _EventTypeFilter | None = None
    rate_limit_per_second: _RateLimit | None = None


def _without_null(schema: dict[str, Any]) -> None:
    """A nullable field's schema as its value's alone."""
    choices = schema.pop("anyOf")
    schema.update(next(choice for choice in choices if choice.get("type") != "null"))


class EndpointPatch(_In):
    """Only the fields given change."""

    # Absent: unchanged. Null is refused (below), so the spec shows strings only. Plain
    # `| None` (SkipJsonSchema[None] made a union whose refusals named each branch).
    url: _Url | None = Field(None, json_schema_extra=_without_null)
    description: _Description | None = Field(None, json_schema_extra=_without_null)
    event_types: _EventTypeFilter | None = None
    rate_limit_per_second: _RateLimit | None = None

    @field_validator("url", "description", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Unlike eventTypes and rateLimitPerSecond, null means nothing for these two.
        if value is None:
            raise ValueError("may not be null; leave it out to keep the current value")
        return value


class EndpointDisable(_In):
    reason: Annotated[
        str, Field(max_length=200, json_schema_extra=_NUL_FREE), AfterValidator(_no_nul)
    ] = "disabled by the account"


class ExampleRequest(_In):
    event_type: EventType


_TIME_SYNTAX = re.compile(DATETIME_PATTERN)


def _time_text(value: object) -> object:
    # The grammar the spec publishes, not pydantic's, which is wider ('_' for the 'T', any
    # number of decimals) and may widen again; spaces around it are read as around every
    # query value. format: date-time refused the date alone, the time without an offset
    # and the space for the 'T', all taken and documented.
    if isinstance(value, str):
        value = trim(value)
        if not _TIME_SYNTAX.fullmatch(value):
            raise ValueError(
                "not an ISO 8601 time of years 1 to 9999 in UTC: yyyy-MM-dd, or "
                "yyyy-MM-ddTHH:mm[:ss[.f]] with Z, an offset as +HH:mm, or neither for UTC"
            )
    return value


_AS_TEXT = BeforeValidator(_time_text)
_TIME_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": spaced(DATETIME_PATTERN)}, mode="validation"
)
_GivenTime = Annotated[IsoDatetime, _AS_TEXT, _TIME_SCHEMA]
_GivenUtcTime = Annotated[UtcDatetime, _AS_TEXT, _TIME_SCHEMA]


class RecoverRequest(_In):
    # ISO 8601 as the lists' since and until (pydantic's datetime read Unix seconds too),
    # its offset kept: the rules judge the window on the time as given (management).
    since: _GivenTime = Field(
        description="Retry deliveries that failed for good, of messages created since then "
        "(at most 14 days ago; ISO 8601 date or date-time, UTC unless it names its offset)"
    )


def _event_type_array(schema: dict[str, Any]) -> None:
    # Read as text and split here, as the API's other lists are (params.py), so that a
    # refusal names the one unknown type; described as what a client sends, an array.
    # Its items a pattern, not an enum: _known takes a type with spaces around it, as
    # the record lists take their items (' webhook.test' is taken, the enum would refuse it).
    types = sorted(KNOWN_TYPES)
    schema.clear()
    schema.update(
        type="array",
        items={"type": "string", "pattern": _any_spaced(types)},
        minItems=1,
        maxItems=MAX_LIST_ITEMS,
        description=f"Only these event types (any of them), comma-separated: {', '.join(types)}",
        examples=[[UPDATES_AVAILABLE]],
    )


class _TypesQuery(BaseModel):
    eventType: str | None = Field(None, json_schema_extra=_event_type_array)

    @field_validator("eventType")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        items = [trim(item) for item in value.split(",")]
        if len(items) > MAX_LIST_ITEMS:
            raise ValueError(f"at most {MAX_LIST_ITEMS} values per request, got {len(items)}")
        for item in items:
            if item not in KNOWN_TYPES:
                shown = f"'{item[:60]}' is no event type" if item else "an empty event type"
                raise ValueError(f"{shown}; known types: {', '.join(sorted(KNOWN_TYPES))}")
        return value

    @property
    def event_types(self) -> frozenset[str] | None:
        if self.eventType is None:
            return None
        return frozenset(trim(item) for item in self.eventType.split(","))


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class WindowQuery(BaseModel):
    since: _GivenUtcTime | None = Field(
        None,
        description="From this time on (ISO 8601 date or date-time; UTC unless it names "
        "its offset)",
        examples=["2026-06-01T00:00:00Z"],
    )
    until: _GivenUtcTime | None = Field(
        None,
        description="Up to this time, not included, and later than `since` (ISO 8601 date or "
        "date-time; UTC unless it names its offset)",
        examples=["2026-06-02T00:00:00Z"],
    )

    def until_refused(self, since: str = "'since'") -> tuple[str, str] | None:
        """``until`` (in UTC) and why it is refused, for a window that ends where it
        starts, or before; None for one that does not. ``since``: how the caller names
        that bound (the CLI's ``--since``)."""
        if self.since is not None and self.until is not None and self.until <= self.since:
            return _iso(self.until), f"must be later than {since} ({_iso(self.since)})"
        return None

    def narrowed(self, event_types: frozenset[str] | None = None) -> LogFilter:
        """The store's filter, for a window ``until_refused`` let through."""
        return LogFilter(event_types, self.since, self.until)


# A page's end, as the list's sort key (not the id of its last row, which may be deleted
# before the next page is asked: an endpoint, and with it its attempts) written as text a
# client keeps whole: ``pos_`` and whole numbers, each under a BIGINT's largest.
_POSITION = "pos_"
_NUMBER = "([1-9][0-9]{0,17})"
_LAST_MICROSECOND = dt.datetime.max.replace(tzinfo=dt.UTC)
_FIRST_MICROSECOND = dt.datetime.min.replace(tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _position_text(parts: int) -> str:
    return _POSITION + "_".join([_NUMBER] * parts)


def _written(*numbers: int) -> str:
    return _POSITION + "_".join(map(str, numbers))


@dataclass(frozen=True, slots=True)
class _Position:
    """The ``before`` of a list whose key is ``parts`` numbers (in an ``Annotated``): its
    ``nextBefore``, read by ``place``; any other text is ``other``'s to read (the list's
    cursor before this one) or to refuse (a ``ValueError``)."""

    parts: int
    place: Callable[..., object]
    other: Callable[[str], object]

    def read(self, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = trim(value)
        found = re.fullmatch(_position_text(self.parts), text)
        return self.place(*map(int, found.groups())) if found else self.other(text)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.read, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode != "validation":
            return handler(schema)
        return {"type": "string", "pattern": spaced(_position_text(self.parts))}


def _next_before(parts: int) -> Any:
    """A page's ``nextBefore``, as ``_written`` writes it for a key of ``parts`` numbers."""
    return Field(
        pattern=f"^{_position_text(parts)}$",
        description="'before' of the next page, opaque; null: no more",
    )


def _attempt_place(microseconds: int, attempt_id: int) -> AttemptKey:
    # Counted from year 1 (not 1970): no time has a sign. The spec's pattern admits more
    # digits than any time has: those are a place after every attempt, as a place after
    # the newest is, not a 400 for a value the spec allows.
    last = (_LAST_MICROSECOND - _FIRST_MICROSECOND) // _MICROSECOND
    return AttemptKey(_FIRST_MICROSECOND + min(microseconds, last) * _MICROSECOND, attempt_id)


def _attempt_position(attempt: Attempt) -> str:
    return _written((attempt.attempted_at - _FIRST_MICROSECOND) // _MICROSECOND, attempt.id)


_ATTEMPT_ID: TypeAdapter[int] = TypeAdapter(RowId)


def _attempt_id(text: str) -> int:
    # The cursor before (an attempt's id, nextBefore until this one): it still reads on
    # from its attempt while that is in the list, so a client paging across the upgrade
    # goes on; the store answers for one that is not.
    try:
        return _ATTEMPT_ID.validate_python(text)
    except ValidationError:
        raise ValueError("not a nextBefore of the attempts' list") from None


_AttemptPosition = Annotated[AttemptKey | int, _Position(2, _attempt_place, _attempt_id)]


class AttemptQuery(WindowQuery):
    """``since`` and ``until`` are of the attempt's start."""

    limit: WholeNumber = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Attempts per page")
    before: _AttemptPosition | None = Field(
        None,
        description="The nextBefore of the page above: the attempts older than its last one, "
        "which may have been deleted since (with its endpoint). An attempt's id, the cursor "
        "before, is still read while that attempt is in the list (a 404 once it is not)",
    )
    outcome: Literal["succeeded", "failed"] | None = Field(
        None, description="Only the attempts that succeeded (2xx), or only those that failed"
    )

    @property
    def succeeded(self) -> bool | None:
        return None if self.outcome is None else self.outcome == "succeeded"


class EndpointAttemptQuery(AttemptQuery, _TypesQuery):
    """``eventType`` is the type of the attempt's message."""


_ENDPOINT_ID = re.compile(r"ep_[0-9a-f]{24}")


def _endpoint_id(text: str) -> object:
    if _ENDPOINT_ID.fullmatch(text):
        # This list's cursor while it paged by id: a place by id cannot be turned into
        # one by creation order once its endpoint is gone, so it is refused, not guessed.
        raise ValueError(
            "an endpoint id, which no longer marks a page: endpoints are paged in the "
            "order they were made; pass the nextBefore of the page above (pos_...)"
        )
    raise ValueError("not a nextBefore of the endpoints' list")


# The ``seq`` of a page's last endpoint: ids, which begin with a host's millisecond, sort
# those of one millisecond at random.
_EndpointPosition = Annotated[int, _Position(1, int, _endpoint_id)]


class EndpointQuery(BaseModel):
    """Newest first, a page at a time, as the messages (and Svix's endpoints) are."""

    limit: WholeNumber = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Endpoints per page")
    before: _EndpointPosition | None = Field(
        None,
        description="The nextBefore of the page above: the endpoints made before its last "
        "one, which may have been deleted since",
    )


class DeliveryQuery(BaseModel):
    """A message's deliveries by endpoint id, the latest made first."""

    limit: WholeNumber = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Deliveries per page")
    before: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="The nextBefore of the page above: the deliveries to endpoints made "
        "before that one (ep_...), which may have been deleted since",
    )


class MessageQuery(WindowQuery, _TypesQuery):
    """``since`` and ``until`` are of the message's creation."""

    limit: WholeNumber = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Messages per page")
    before: str | None = Field(
        None, pattern=ID_PATTERN, description="Messages older than this message id (nextBefore)"
    )


class WebhookEndpoint(_Out):
    id: str
    url: str
    description: str
    event_types: list[_SubscribableType] | None = Field(description="null: every event type")
    enabled: bool
    disabled_reason: str | None
    rate_limit_per_second: int | None = Field(description="null: no limit")
    failing_since: UtcDatetime | None = Field(
        description="Start of the current run of failed attempts; null after any success"
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> Self:
        return cls.model_validate(endpoint)


# Each secret kept out of its model's repr (a debugger's, a traceback's locals), as
# SecretStr would keep it, while the response still carries it.
class WebhookEndpointCreated(WebhookEndpoint):
    secret: str = Field(
        repr=False, description="The signing secret (whsec_...); shown only in this response"
    )


class EndpointPage(_Out):
    data: list[WebhookEndpoint]
    next_before: str | None = _next_before(1)

    @classmethod
    def of(cls, rows: list[Endpoint], limit: int) -> Self:
        """The page of ``rows``, read with ``limit``: a full one has a next."""
        position = _written(rows[-1].seq) if len(rows) == limit else None
        return cls(data=[WebhookEndpoint.of(e) for e in rows], next_before=position)


class EndpointSecret(_Out):
    secret: str = Field(repr=False, description="The current signing secret (whsec_...)")


class EventTypeInfo(_Out):
    name: str
    description: str


class EventTypeList(_Out):
    data: list[EventTypeInfo]


class DeliveryState(_Out):
    endpoint_id: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: UtcDatetime | None
    updated_at: UtcDatetime


# The envelope every event is sent in (``model.events``); a free-form object told a
# generated client nothing of it.
_ENVELOPE: dict[str, Any] = {
    "properties": {
        "id": {"type": "string", "description": "The event id, as webhook-id"},
        "type": {"type": "string", "enum": [*sorted(KNOWN_TYPES)]},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "additionalProperties": True},
    },
    "required": ["id", "type", "timestamp", "data"],
}


# An expired payload, as Svix answers it.
_EXPIRED: dict[str, Any] = {
    "properties": {"expired": {"type": "boolean", "enum": [True]}},
    "required": ["expired"],
}


class WebhookMessage(_Out):
    id: str = Field(description="The event id, sent as webhook-id")
    event_type: str = Field(json_schema_extra={"enum": [*sorted(KNOWN_TYPES)]})
    payload: dict[str, Any] = Field(
        description='The event exactly as sent; {"expired": true} once the payload expired '
        "(PRODUCERSYNC_PAYLOAD_RETENTION_DAYS after the message was created)",
        json_schema_extra={"anyOf": [_ENVELOPE, _EXPIRED]},
    )
    created_at: UtcDatetime
    deliveries: list[DeliveryState]


class MessagePage(_Out):
    data: list[WebhookMessage]
    next_before: str | None = Field(description="'before' of the next page; null: no more")


class DeliveryPage(_Out):
    data: list[DeliveryState]
    next_before: str | None = Field(description="'before' of the next page; null: no more")


class _Times(dict[dt.datetime, str]):
    """Times as the API writes them (``iso_z``), each written once: a message's deliveries
    are queued at one time, and those not attempted since share it."""

    def __missing__(self, value: dt.datetime) -> str:
        text = self[value] = iso_z(value)
        return text


def message_json(message: Message, deliveries: Iterable[DeliveryRow]) -> dict[str, Any]:
    """A ``WebhookMessage`` as JSON values, its deliveries' built straight from the store's
    rows as their model writes them (a test holds the two together): a message sent to
    1,000 endpoints has 1,000, and a model made of each (and validated again by FastAPI)
    cost more than the query that read them."""
    view = WebhookMessage(
        id=message.id,
        event_type=message.event_type,
        payload={"expired": True} if message.expired else orjson.loads(message.payload),
        created_at=message.created_at,
        deliveries=[],
    ).model_dump(mode="json")
    view["deliveries"] = _deliveries_json(deliveries)
    return view


def _deliveries_json(deliveries: Iterable[DeliveryRow]) -> list[dict[str, Any]]:
    """``DeliveryState`` views of the store's rows, as their model writes them."""
    times = _Times()
    return [
        {
            "endpointId": endpoint_id,
            "state": state,
            "attempts": attempts,
            "nextAttemptAt": None if next_at is None else times[next_at],
            "updatedAt": times[updated_at],
        }
        # Unpacked: a Row's attributes by name cost more than the rest of the loop.
        for _, endpoint_id, state, attempts, next_at, updated_at in deliveries
    ]


def delivery_page_json(rows: list[DeliveryRow], limit: int) -> dict[str, Any]:
    """A ``DeliveryPage`` of ``rows`` (read with ``limit``: a full one has a next)."""
    return {
        "data": _deliveries_json(rows),
        "nextBefore": rows[-1].endpoint_id if len(rows) == limit else None,
    }


def message_page_json(
    rows: list[Message], deliveries: dict[str, list[DeliveryRow]], limit: int
) -> dict[str, Any]:
    """A ``MessagePage`` of ``rows`` (read with ``limit``: a full one has a next) as JSON
    values, each message's deliveries found in ``deliveries``."""
    return {
        "data": [message_json(m, deliveries.get(m.id, [])) for m in rows],
        "nextBefore": rows[-1].id if len(rows) == limit else None,
    }


class WebhookAttempt(_Out):
    id: int
    message_id: str
    endpoint_id: str
    url: str | None = Field(
        description="The URL the attempt was sent to (one not made: the endpoint's URL "
        "then), kept as it was when the endpoint's URL is changed since; null: made before "
        "attempts kept it, where it is not known"
    )
    attempt_number: int
    trigger: Literal["scheduled", "manual"]
    attempted_at: UtcDatetime
    succeeded: bool
    status_code: int = Field(description="0: no HTTP response")
    duration_ms: int
    response: str | None = Field(description="The first bytes of the response body")
    error: str | None
    next_attempt_at: UtcDatetime | None = Field(description="null: no more automatic attempts")
    sent: bool = Field(
        description="false: the attempt was not made ('error' says why); it is no failure "
        "of the receiver's and no success rate counts it"
    )

    @classmethod
    def of(cls, attempt: Attempt) -> Self:
        return cls.model_validate(attempt)


class AttemptPage(_Out):
    data: list[WebhookAttempt]
    next_before: str | None = _next_before(2)

    @classmethod
    def of(cls, rows: list[Attempt], limit: int) -> Self:
        """The page of ``rows``, read with ``limit``: a full one has a next."""
        position = _attempt_position(rows[-1]) if len(rows) == limit else None
        return cls(data=[WebhookAttempt.of(a) for a in rows], next_before=position)


class _Queued(_Out):
    """What queues deliveries to one endpoint, which may be disabled: they wait then."""

    waits_until_enabled: bool = Field(
        description="true: the endpoint is disabled, and what this queued waits until it "
        "is enabled again (POST …/enable), then is sent at once; false: it is sent now"
    )


class MessageAccepted(_Queued):
    message_id: str


class DeliveryAccepted(_Queued):
    delivery_id: int


class RecoverAccepted(_Queued):
    queued: int = Field(description="Deliveries queued for one more attempt")
