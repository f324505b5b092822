"""Webhook management (``/v1/webhooks``): the account's endpoints and their secrets, the
messages sent to them, each message's deliveries and every attempt; Send Example, replay
and recover.

Each call is described once, as a ``_Call`` (its method, path, body and what its answer
is), by the functions below; the sync and async resources only send it. Ids are checked
before any request: put in the path as they came, ``..`` or ``?`` in one would reach another
resource. The lists page by cursor (``parse_cursor_page``), lazily, as the records' do.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, Generic, Literal, TypeVar, Unpack
from urllib.parse import urlencode

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from producersync.client._base_client import NOT_GIVEN, NotGiven, RequestOptions, checked
from producersync.client.pagination import (
    AsyncPager,
    Parse,
    SyncPager,
    parse_cursor_page,
)
from producersync.client.resources._base import (
    AsyncResource,
    SyncResource,
    documented_as,
    parse_model,
    query_value,
    string_list,
    valid_page_size,
)
from producersync.model.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryAccepted,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEndpointSecret,
    WebhookEventType,
    WebhookMessage,
    WebhookMessageAccepted,
    WebhookRecoverAccepted,
)

__all__ = [
    "AsyncWebhookEndpoints",
    "AsyncWebhookMessages",
    "AsyncWebhooks",
    "WebhookEndpoints",
    "WebhookMessages",
    "Webhooks",
]

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)

_ROOT = "/v1/webhooks"
_ENDPOINTS = f"{_ROOT}/endpoints"
_MESSAGES = f"{_ROOT}/messages"
# The API's ids (``ep_...``, ``evt_...``) and its page sizes.
_ID = re.compile(r"[A-Za-z0-9_]{1,40}")
MAX_WEBHOOK_PAGE = 250

Outcome = Literal["succeeded", "failed"]
Time = dt.datetime | dt.date


def valid_webhook_id(value: str, name: str) -> str:
    """``value`` if it is a webhook id (1 to 40 ASCII letters, digits or ``_``); else
    ``ValueError`` naming it, before any request."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(f"{name}: {value!r:.60} is not a webhook id (ep_..., evt_...)")
    return value


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One write or read of a single answer: sent as it is by either client."""

    method: str
    path: str
    model: type[T]
    body: Any = None

    def answer(self, body: Any) -> T:
        return parse_model(self.model, body, f"{self.method} {self.path}")


@dataclass(frozen=True, slots=True)
class _Listing(Generic[M]):
    """A cursor list: its first page's path and query, and its records' parse."""

    path: str
    parse: Parse[M]


def _listing(path: str, model: type[M], page_size: int | None, **given: Any) -> _Listing[M]:
    query = {name: query_value(value) for name, value in given.items() if value is not None}
    if page_size is not None:
        query["limit"] = str(valid_page_size(page_size, MAX_WEBHOOK_PAGE))
    first = f"{path}?{urlencode(query)}" if query else path
    return _Listing(first, partial(parse_cursor_page, model=model))


def _types(event_types: Iterable[str] | None) -> list[str] | None:
    return None if event_types is None else string_list(event_types, "event_types")


def _endpoint(endpoint_id: str) -> str:
    return f"{_ENDPOINTS}/{valid_webhook_id(endpoint_id, 'endpoint_id')}"


def _message(message_id: str) -> str:
    return f"{_MESSAGES}/{valid_webhook_id(message_id, 'message_id')}"


def _given(**fields: Any) -> dict[str, Any]:
    """A body of the fields given (``NOT_GIVEN`` left out), named as the API names them."""
    return {to_camel(k): v for k, v in fields.items() if v is not NOT_GIVEN}


def _event_types_call() -> _Call[_EventTypes]:
    return _Call("GET", f"{_ROOT}/event-types", _EventTypes)


class _EventTypes(BaseModel):
    data: list[WebhookEventType]


# Each endpoint call, for both clients.


def _create(
    url: str,
    description: str | NotGiven,
    event_types: Iterable[str] | None,
    rate_limit_per_second: int | None,
) -> _Call[WebhookEndpointCreated]:
    body = _given(
        url=url,
        description=description,
        event_types=_types(event_types),
        rate_limit_per_second=rate_limit_per_second,
    )
    return _Call("POST", _ENDPOINTS, WebhookEndpointCreated, body)


def _update(
    endpoint_id: str,
    url: str | NotGiven,
    description: str | NotGiven,
    event_types: Iterable[str] | NotGiven | None,
    rate_limit_per_second: int | NotGiven | None,
) -> _Call[WebhookEndpoint]:
    types = event_types if isinstance(event_types, NotGiven) else _types(event_types)
    body = _given(
        url=url,
        description=description,
        event_types=types,
        rate_limit_per_second=rate_limit_per_second,
    )
    return _Call("PATCH", _endpoint(endpoint_id), WebhookEndpoint, body)


def _endpoint_call(endpoint_id: str, action: str = "", body: Any = None) -> _Call[WebhookEndpoint]:
    method = "POST" if action else "GET"
    return _Call(method, _endpoint(endpoint_id) + action, WebhookEndpoint, body)


def _secret(endpoint_id: str, action: str = "") -> _Call[WebhookEndpointSecret]:
    method = "POST" if action else "GET"
    return _Call(method, f"{_endpoint(endpoint_id)}/secret{action}", WebhookEndpointSecret)


def _send_example(endpoint_id: str, event_type: str) -> _Call[WebhookMessageAccepted]:
    path = f"{_endpoint(endpoint_id)}/send-example"
    return _Call("POST", path, WebhookMessageAccepted, _given(event_type=event_type))


def _replay(endpoint_id: str, message_id: str) -> _Call[WebhookDeliveryAccepted]:
    path = f"{_endpoint(endpoint_id)}/messages/{valid_webhook_id(message_id, 'message_id')}/replay"
    return _Call("POST", path, WebhookDeliveryAccepted)


def _recover(endpoint_id: str, since: Time) -> _Call[WebhookRecoverAccepted]:
    path = f"{_endpoint(endpoint_id)}/recover"
    return _Call("POST", path, WebhookRecoverAccepted, {"since": query_value(since)})


def _attempts(
    path: str,
    page_size: int | None,
    since: Time | None,
    until: Time | None,
    outcome: Outcome | None,
    event_types: Iterable[str] | None = None,
) -> _Listing[WebhookAttempt]:
    return _listing(
        f"{path}/attempts",
        WebhookAttempt,
        page_size,
        eventType=_types(event_types),
        since=since,
        until=until,
        outcome=outcome,
    )


def _messages(
    event_types: Iterable[str] | None, since: Time | None, until: Time | None, size: int | None
) -> _Listing[WebhookMessage]:
    types = _types(event_types)
    return _listing(_MESSAGES, WebhookMessage, size, eventType=types, since=since, until=until)


def _deliveries(message_id: str, page_size: int | None) -> _Listing[WebhookDelivery]:
    return _listing(f"{_message(message_id)}/deliveries", WebhookDelivery, page_size)


class _Sender(SyncResource):
    def _send(self, call: _Call[T], options: RequestOptions) -> T:
        body = self._client.request(call.method, call.path, json=call.body, **checked(options))
        return call.answer(body)

    def _pager(self, listing: _Listing[M], options: RequestOptions) -> SyncPager[M]:
        return SyncPager(self._fetch(options), listing.path, None, listing.parse)


class _AsyncSender(AsyncResource):
    async def _send(self, call: _Call[T], options: RequestOptions) -> T:
        body = await self._client.request(
            call.method, call.path, json=call.body, **checked(options)
        )
        return call.answer(body)

    def _pager(self, listing: _Listing[M], options: RequestOptions) -> AsyncPager[M]:
        return AsyncPager(self._fetch(options), listing.path, None, listing.parse)


class WebhookEndpoints(_Sender):
    def list(
        self, *, page_size: int | None = None, **options: Unpack[RequestOptions]
    ) -> SyncPager[WebhookEndpoint]:
        """The account's endpoints, newest first, without their secrets; ``page_size``:
        1 to 250 a request (None: the API's default, 50)."""
        return self._pager(_listing(_ENDPOINTS, WebhookEndpoint, page_size), options)

    def create(
        self,
        url: str,
        *,
        description: str | NotGiven = NOT_GIVEN,
        event_types: Iterable[str] | None = None,
        rate_limit_per_second: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpointCreated:
        """Create an endpoint (it is sent a ``webhook.test`` event); its answer carries
        the signing secret (``secret``, never in its repr). ``event_types`` None: every
        type; ``rate_limit_per_second`` None: no limit."""
        return self._send(_create(url, description, event_types, rate_limit_per_second), options)

    def retrieve(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """The endpoint, without its secret; ``NotFoundError`` for none of the account's."""
        return self._send(_endpoint_call(endpoint_id), options)

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven = NOT_GIVEN,
        event_types: Iterable[str] | NotGiven | None = NOT_GIVEN,
        rate_limit_per_second: int | NotGiven | None = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        """Change the fields given, the others kept; ``event_types=None`` subscribes it to
        every type, ``rate_limit_per_second=None`` removes its limit."""
        call = _update(endpoint_id, url, description, event_types, rate_limit_per_second)
        return self._send(call, options)

    def delete(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> None:
        """Delete the endpoint, its secrets and its pending deliveries."""
        self._client.request("DELETE", _endpoint(endpoint_id), **checked(options))

    def enable(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        """Enable the endpoint: the deliveries that waited are sent."""
        return self._send(_endpoint_call(endpoint_id, "/enable"), options)

    def disable(
        self,
        endpoint_id: str,
        *,
        reason: str | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        """Disable the endpoint: nothing is sent to it until it is enabled again."""
        body = _given(reason=reason) or None
        return self._send(_endpoint_call(endpoint_id, "/disable", body), options)

    def secret(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpointSecret:
        """The endpoint's current signing secret (needs the write scope)."""
        return self._send(_secret(endpoint_id), options)

    def rotate_secret(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpointSecret:
        """A new signing secret; the old one keeps signing beside it for the service's
        grace period (24 h by default)."""
        return self._send(_secret(endpoint_id, "/rotate"), options)

    def send_example(
        self, endpoint_id: str, event_type: str, **options: Unpack[RequestOptions]
    ) -> WebhookMessageAccepted:
        """Queue an example event of ``event_type`` to this endpoint only."""
        return self._send(_send_example(endpoint_id, event_type), options)

    def replay(
        self, endpoint_id: str, message_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookDeliveryAccepted:
        """Queue one manual attempt of the message to the endpoint, due now;
        ``APIStatusError`` 410 once the message's payload expired."""
        return self._send(_replay(endpoint_id, message_id), options)

    def recover(
        self, endpoint_id: str, since: Time, **options: Unpack[RequestOptions]
    ) -> WebhookRecoverAccepted:
        """Queue one more attempt of each delivery to the endpoint that failed for good,
        of the messages created since ``since`` (at most 14 days back)."""
        return self._send(_recover(endpoint_id, since), options)

    def attempts(
        self,
        endpoint_id: str,
        *,
        event_types: Iterable[str] | None = None,
        since: Time | None = None,
        until: Time | None = None,
        outcome: Outcome | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPager[WebhookAttempt]:
        """The attempts made to the endpoint, newest first, filtered as given."""
        listing = _attempts(_endpoint(endpoint_id), page_size, since, until, outcome, event_types)
        return self._pager(listing, options)


class WebhookMessages(_Sender):
    def list(
        self,
        *,
        event_types: Iterable[str] | None = None,
        since: Time | None = None,
        until: Time | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPager[WebhookMessage]:
        """The account's messages, newest first, each with its deliveries, filtered by
        event type and creation time as given; ``page_size``: 1 to 250 a request (None:
        the API's default, 50)."""
        return self._pager(_messages(event_types, since, until, page_size), options)

    def retrieve(self, message_id: str, **options: Unpack[RequestOptions]) -> WebhookMessage:
        """The message as sent, and its delivery state at each endpoint."""
        return self._send(_Call("GET", _message(message_id), WebhookMessage), options)

    def deliveries(
        self, message_id: str, *, page_size: int | None = None, **options: Unpack[RequestOptions]
    ) -> SyncPager[WebhookDelivery]:
        """The message's delivery to each endpoint, a page at a time (a message sent to
        thousands of endpoints carries them all in ``retrieve``)."""
        return self._pager(_deliveries(message_id, page_size), options)

    def attempts(
        self,
        message_id: str,
        *,
        since: Time | None = None,
        until: Time | None = None,
        outcome: Outcome | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPager[WebhookAttempt]:
        """The attempts to send the message, newest first, filtered as given."""
        listing = _attempts(_message(message_id), page_size, since, until, outcome)
        return self._pager(listing, options)


class Webhooks(_Sender):
    @cached_property
    def endpoints(self) -> WebhookEndpoints:
        return WebhookEndpoints(self._client)

    @cached_property
    def messages(self) -> WebhookMessages:
        return WebhookMessages(self._client)

    def event_types(self, **options: Unpack[RequestOptions]) -> list[WebhookEventType]:
        """The event types an endpoint can subscribe to, each with what fires it."""
        return self._send(_event_types_call(), options).data


@documented_as(WebhookEndpoints)
class AsyncWebhookEndpoints(_AsyncSender):
    def list(
        self, *, page_size: int | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncPager[WebhookEndpoint]:
        return self._pager(_listing(_ENDPOINTS, WebhookEndpoint, page_size), options)

    async def create(
        self,
        url: str,
        *,
        description: str | NotGiven = NOT_GIVEN,
        event_types: Iterable[str] | None = None,
        rate_limit_per_second: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpointCreated:
        call = _create(url, description, event_types, rate_limit_per_second)
        return await self._send(call, options)

    async def retrieve(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpoint:
        return await self._send(_endpoint_call(endpoint_id), options)

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven = NOT_GIVEN,
        event_types: Iterable[str] | NotGiven | None = NOT_GIVEN,
        rate_limit_per_second: int | NotGiven | None = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        call = _update(endpoint_id, url, description, event_types, rate_limit_per_second)
        return await self._send(call, options)

    async def delete(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> None:
        await self._client.request("DELETE", _endpoint(endpoint_id), **checked(options))

    async def enable(self, endpoint_id: str, **options: Unpack[RequestOptions]) -> WebhookEndpoint:
        return await self._send(_endpoint_call(endpoint_id, "/enable"), options)

    async def disable(
        self,
        endpoint_id: str,
        *,
        reason: str | NotGiven = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> WebhookEndpoint:
        body = _given(reason=reason) or None
        return await self._send(_endpoint_call(endpoint_id, "/disable", body), options)

    async def secret(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpointSecret:
        return await self._send(_secret(endpoint_id), options)

    async def rotate_secret(
        self, endpoint_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookEndpointSecret:
        return await self._send(_secret(endpoint_id, "/rotate"), options)

    async def send_example(
        self, endpoint_id: str, event_type: str, **options: Unpack[RequestOptions]
    ) -> WebhookMessageAccepted:
        return await self._send(_send_example(endpoint_id, event_type), options)

    async def replay(
        self, endpoint_id: str, message_id: str, **options: Unpack[RequestOptions]
    ) -> WebhookDeliveryAccepted:
        return await self._send(_replay(endpoint_id, message_id), options)

    async def recover(
        self, endpoint_id: str, since: Time, **options: Unpack[RequestOptions]
    ) -> WebhookRecoverAccepted:
        return await self._send(_recover(endpoint_id, since), options)

    def attempts(
        self,
        endpoint_id: str,
        *,
        event_types: Iterable[str] | None = None,
        since: Time | None = None,
        until: Time | None = None,
        outcome: Outcome | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPager[WebhookAttempt]:
        listing = _attempts(_endpoint(endpoint_id), page_size, since, until, outcome, event_types)
        return self._pager(listing, options)


@documented_as(WebhookMessages)
class AsyncWebhookMessages(_AsyncSender):
    def list(
        self,
        *,
        event_types: Iterable[str] | None = None,
        since: Time | None = None,
        until: Time | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPager[WebhookMessage]:
        return self._pager(_messages(event_types, since, until, page_size), options)

    async def retrieve(self, message_id: str, **options: Unpack[RequestOptions]) -> WebhookMessage:
        return await self._send(_Call("GET", _message(message_id), WebhookMessage), options)

    def deliveries(
        self, message_id: str, *, page_size: int | None = None, **options: Unpack[RequestOptions]
    ) -> AsyncPager[WebhookDelivery]:
        return self._pager(_deliveries(message_id, page_size), options)

    def attempts(
        self,
        message_id: str,
        *,
        since: Time | None = None,
        until: Time | None = None,
        outcome: Outcome | None = None,
        page_size: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPager[WebhookAttempt]:
        listing = _attempts(_message(message_id), page_size, since, until, outcome)
        return self._pager(listing, options)


@documented_as(Webhooks)
class AsyncWebhooks(_AsyncSender):
    @cached_property
    def endpoints(self) -> AsyncWebhookEndpoints:
        return AsyncWebhookEndpoints(self._client)

    @cached_property
    def messages(self) -> AsyncWebhookMessages:
        return AsyncWebhookMessages(self._client)

    async def event_types(self, **options: Unpack[RequestOptions]) -> list[WebhookEventType]:
        return (await self._send(_event_types_call(), options)).data
