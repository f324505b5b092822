"""The webhook management API (``/v1/webhooks``): an account's endpoints and their secrets,
the messages sent to them and every attempt; Send Example, replay and recover.

The rules (URL guard, known event types, the test event on creation, the recover window)
are in ``delivery/management.py``; this module maps them to HTTP. Every lookup is by the
caller's account, so another account's endpoint or message is a 404.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations live.

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from producersync.model.events import (
    EVENT_GROUP,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
)
from producersync.service.api.hal import ERROR_RESPONSES
from producersync.service.api.json_body import JsonBodyRoute
from producersync.service.api.json_response import JsonResponse
from producersync.service.api.listing import Call, request_call
from producersync.service.api.stray_params import refuse_strays
from producersync.service.api.webhook_models import (
    ID_PATTERN,
    AttemptPage,
    AttemptQuery,
    DeliveryAccepted,
    DeliveryPage,
    DeliveryQuery,
    EndpointAttemptQuery,
    EndpointCreate,
    EndpointDisable,
    EndpointPage,
    EndpointPatch,
    EndpointQuery,
    EndpointSecret,
    EventTypeInfo,
    EventTypeList,
    ExampleRequest,
    MessageAccepted,
    MessagePage,
    MessageQuery,
    RecoverAccepted,
    RecoverRequest,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookMessage,
    WindowQuery,
    delivery_page_json,
    message_json,
    message_page_json,
)
from producersync.service.auth.bearer import writer_principal
from producersync.service.auth.principal import Principal
from producersync.service.delivery import management
from producersync.service.errors import ApiError, ErrorBody
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction

__all__ = ["EVENT_TYPE_DESCRIPTIONS", "router"]

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["Webhooks"],
    dependencies=[Depends(refuse_strays)],
    responses=ERROR_RESPONSES,
    route_class=JsonBodyRoute,
)

EVENT_TYPE_DESCRIPTIONS: dict[str, str] = {
    EVENT_GROUP: "Every producersync.* event type, those added later included",
    UPDATES_AVAILABLE: "The daily NIPR run is processed: fetch what changed since "
    "data.runDate (updatedSince)",
    NPN_ACTIVATED: "An NPN joined the account's monitored population",
    NPN_DEACTIVATED: "An NPN left the account's monitored population",
}

_ENDPOINT = "/endpoints/{endpointId}"
# Accepted all the same (202), as the portal queues them: a disabled endpoint's deliveries
# wait, and are sent once it is enabled. The answer says which.
_WAITS = (
    "To a disabled endpoint, it is queued all the same and waits until the endpoint is "
    "enabled again: `waitsUntilEnabled` says so."
)
_MESSAGE = "/messages/{messageId}"

EndpointId = Annotated[
    str, Path(pattern=ID_PATTERN, description="ID of the webhook endpoint (ep_...)")
]
MessageId = Annotated[
    str, Path(pattern=ID_PATTERN, description="ID of the message: its event id (evt_...)")
]


async def _writer_call(request: Request, principal: Principal = Depends(writer_principal)) -> Call:
    # A coroutine, though it never waits: no thread hop (``request_call``).
    return Call(request, principal)


Reader = Annotated[Call, Depends(request_call)]
Writer = Annotated[Call, Depends(_writer_call)]


def _owned(
    conn: sa.Connection, call: Call, endpoint_id: str, *, lock: bool = False
) -> endpoints.Endpoint:
    """The caller's endpoint, or a 404. ``lock``, for a change that adds rows naming it or
    changes its deliveries: its row locked to the end of the transaction. On PostgreSQL, a
    DELETE of the endpoint committed between the lookup and the insert failed the insert's
    foreign key, and a replay, a rotation or Send Example answered 500, and recover found
    the failed deliveries it had read gone and answered 'queued: 0'; locked, the lookup
    waits for the DELETE and finds no endpoint. The changes of the endpoint's own row
    (update, enable, disable, delete) need none: their UPDATE or DELETE waits for the
    DELETE, and finds no row."""
    endpoint = endpoints.get_endpoint(conn, call.principal.account_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise ApiError(404, f"No webhook endpoint {endpoint_id}")
    return endpoint


def _owned_message(conn: sa.Connection, call: Call, message_id: str) -> outbox.Message:
    message = outbox.get_message(conn, call.principal.account_id, message_id)
    if message is None:
        raise ApiError(404, f"No webhook message {message_id}")
    return message


@contextmanager
def _rules(body: BaseModel) -> Iterator[None]:
    """A rule's refusal as a 400 naming the field and the value the body gave it."""
    try:
        yield
    except management.EndpointRuleError as exc:
        value = body.model_dump(mode="json", by_alias=True).get(exc.field)
        # A URL refused for carrying credentials is shown without them (errors.shown). A
        # field of the body, as pydantic's refusals of it say: not a parameter.
        raise ApiError.bad_parameter(exc.field, value, str(exc), noun="field") from None


@router.get(
    "/event-types",
    summary="List the event types an endpoint can subscribe to",
    description="The types, each with what fires it, and the group `producersync` (every type).",
    operation_id="listWebhookEventTypes",
    response_model=EventTypeList,
)
def list_event_types(call: Reader) -> EventTypeList:
    return EventTypeList(
        data=[
            EventTypeInfo(name=name, description=EVENT_TYPE_DESCRIPTIONS[name])
            for name in management.SUBSCRIBABLE
        ]
    )


@router.get(
    "/endpoints",
    summary="List the account's webhook endpoints, newest first",
    description="The account's endpoints, without their secrets, newest first in the order "
    "they were made; `before` (a page's `nextBefore`) pages through them.",
    operation_id="listWebhookEndpoints",
    response_model=EndpointPage,
)
def list_endpoints(query: Annotated[EndpointQuery, Query()], call: Reader) -> EndpointPage:
    with call.ctx.engine.connect() as conn:
        rows = endpoints.list_endpoints(
            conn, call.principal.account_id, limit=query.limit, before=query.before
        )
    return EndpointPage.of(rows, query.limit)


def _not_kept(response: Response) -> None:
    """Cache-Control: no-store on an answer that carries a signing secret, as the token
    endpoint's carry tokens (RFC 6749 §5.1) and the portal's pages do: no cache, a
    browser's or a client library's, is to keep it."""
    response.headers["cache-control"] = "no-store"


_SECRET_SHOWN = [Depends(_not_kept)]


@router.post(
    "/endpoints",
    summary="Create a webhook endpoint",
    description="Saves the endpoint and queues a `webhook.test` event to it. The response "
    "carries the signing secret; no other response shows it but `GET .../secret`.",
    operation_id="createWebhookEndpoint",
    status_code=201,
    response_model=WebhookEndpointCreated,
    dependencies=_SECRET_SHOWN,
)
def create_endpoint(body: EndpointCreate, call: Writer) -> WebhookEndpointCreated:
    with write_transaction(call.ctx.engine) as conn, _rules(body):
        endpoint, secret = management.create_endpoint(
            conn,
            call.ctx.settings,
            call.principal.account_id,
            body.url,
            description=body.description,
            event_types=body.event_types,
            rate_limit_per_second=body.rate_limit_per_second,
        )
    call.ctx.published()
    return WebhookEndpointCreated(**WebhookEndpoint.of(endpoint).model_dump(), secret=secret)


@router.get(
    _ENDPOINT,
    summary="Get a webhook endpoint",
    description="The endpoint, without its secret; 404 for another account's.",
    operation_id="getWebhookEndpoint",
    response_model=WebhookEndpoint,
)
def get_endpoint(endpointId: EndpointId, call: Reader) -> WebhookEndpoint:
    with call.ctx.engine.connect() as conn:
        return WebhookEndpoint.of(_owned(conn, call, endpointId))


@router.patch(
    _ENDPOINT,
    summary="Update a webhook endpoint",
    description="Only the fields given change. `eventTypes: null` subscribes to every type; "
    "`rateLimitPerSecond: null` removes the limit.",
    operation_id="updateWebhookEndpoint",
    response_model=WebhookEndpoint,
)
def update_endpoint(endpointId: EndpointId, body: EndpointPatch, call: Writer) -> WebhookEndpoint:
    given = body.model_fields_set
    changes = endpoints.EndpointChanges(
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        all_event_types="event_types" in given and body.event_types is None,
        rate_limit_per_second=body.rate_limit_per_second,
        no_rate_limit="rate_limit_per_second" in given and body.rate_limit_per_second is None,
    )
    with write_transaction(call.ctx.engine) as conn, _rules(body):
        endpoint = management.update_endpoint(
            conn, call.ctx.settings, call.principal.account_id, endpointId, changes
        )
    if endpoint is None:
        raise ApiError(404, f"No webhook endpoint {endpointId}")
    return WebhookEndpoint.of(endpoint)


@router.delete(
    _ENDPOINT,
    summary="Delete a webhook endpoint",
    description="Its secrets and pending deliveries go with it.",
    operation_id="deleteWebhookEndpoint",
    status_code=204,
    response_class=Response,
)
def delete_endpoint(endpointId: EndpointId, call: Writer) -> Response:
    with write_transaction(call.ctx.engine) as conn:
        if not endpoints.delete_endpoint(conn, call.principal.account_id, endpointId):
            raise ApiError(404, f"No webhook endpoint {endpointId}")
    return Response(status_code=204)


def _set_state(
    call: Call,
    endpoint_id: str,
    change: Callable[[sa.Connection, int, str], endpoints.Endpoint | None],
) -> WebhookEndpoint:
    with write_transaction(call.ctx.engine) as conn:
        endpoint = change(conn, call.principal.account_id, endpoint_id)
    if endpoint is None:
        raise ApiError(404, f"No webhook endpoint {endpoint_id}")
    return WebhookEndpoint.of(endpoint)


@router.post(
    f"{_ENDPOINT}/enable",
    summary="Enable a webhook endpoint",
    description="Its pending deliveries fall due again, and its failure clock restarts.",
    operation_id="enableWebhookEndpoint",
    response_model=WebhookEndpoint,
)
def enable_endpoint(endpointId: EndpointId, call: Writer) -> WebhookEndpoint:
    endpoint = _set_state(call, endpointId, endpoints.enable_endpoint)
    call.ctx.published()  # deliveries held while it was disabled are due now
    return endpoint


@router.post(
    f"{_ENDPOINT}/disable",
    summary="Disable a webhook endpoint",
    description="Nothing is sent to it while disabled; its deliveries wait, and new events "
    "are not queued for it.",
    operation_id="disableWebhookEndpoint",
    response_model=WebhookEndpoint,
)
def disable_endpoint(
    endpointId: EndpointId, call: Writer, body: EndpointDisable | None = None
) -> WebhookEndpoint:
    reason = (body or EndpointDisable()).reason

    def disable(conn: sa.Connection, account: int, endpoint_id: str) -> endpoints.Endpoint | None:
        return endpoints.disable_endpoint(conn, account, endpoint_id, reason)

    return _set_state(call, endpointId, disable)


@router.get(
    f"{_ENDPOINT}/secret",
    summary="Reveal a webhook endpoint's signing secret",
    description="The endpoint's current signing secret (whsec_...). Needs the write scope: "
    "its holder can forge events.",
    operation_id="getWebhookEndpointSecret",
    response_model=EndpointSecret,
    dependencies=_SECRET_SHOWN,
)
def get_secret(endpointId: EndpointId, call: Writer) -> EndpointSecret:
    with call.ctx.engine.connect() as conn:
        endpoint = _owned(conn, call, endpointId)
        secret = endpoints.current_secret(conn, endpoint.id)
    if secret is None:
        # Every endpoint has one (rotation replaces it), until it is deleted: on PostgreSQL
        # a DELETE may commit between the two reads, and an assert here would be a 500.
        raise ApiError(404, f"No webhook endpoint {endpointId}")
    return EndpointSecret(secret=secret)


@router.post(
    f"{_ENDPOINT}/secret/rotate",
    summary="Rotate a webhook endpoint's signing secret",
    description="Returns the new secret. The old one keeps signing beside it for the grace "
    "period (PRODUCERSYNC_WEBHOOK_SECRET_GRACE_SECONDS, default 24 h): each message carries "
    "both signatures until then, so the receiver can switch without dropping any.",
    operation_id="rotateWebhookEndpointSecret",
    response_model=EndpointSecret,
    dependencies=_SECRET_SHOWN,
)
def rotate_secret(endpointId: EndpointId, call: Writer) -> EndpointSecret:
    with write_transaction(call.ctx.engine) as conn:
        endpoint = _owned(conn, call, endpointId, lock=True)
        secret = management.rotate_secret(conn, call.ctx.settings, endpoint.id)
    return EndpointSecret(secret=secret)


@router.post(
    f"{_ENDPOINT}/send-example",
    summary="Send an example event to a webhook endpoint",
    description="Queues a realistic event of the type (the sandbox NPN 15645555 for NPN "
    f"events) to this endpoint only, whatever its filter. {_WAITS}",
    operation_id="sendWebhookExample",
    status_code=202,
    response_model=MessageAccepted,
)
def send_example(endpointId: EndpointId, body: ExampleRequest, call: Writer) -> MessageAccepted:
    with write_transaction(call.ctx.engine) as conn, _rules(body):
        endpoint = _owned(conn, call, endpointId, lock=True)
        message_id = management.send_example(conn, endpoint, body.event_type)
    call.ctx.published()
    return MessageAccepted(message_id=message_id, waits_until_enabled=not endpoint.enabled)


def _narrowed(query: WindowQuery, event_types: frozenset[str] | None = None) -> outbox.LogFilter:
    """``query``'s filter for the store; a 400 for a window that ends where it starts, or
    before."""
    refused = query.until_refused()
    if refused is not None:
        raise ApiError.bad_parameter("until", *refused)
    return query.narrowed(event_types)


def _attempt_page(
    conn: sa.Connection,
    query: AttemptQuery,
    narrowed: outbox.LogFilter,
    *,
    endpoint_id: str | None = None,
    message_id: str | None = None,
) -> AttemptPage:
    """The page of the attempts to an endpoint or of a message that ``query`` asks for; a
    404 for an attempt id as cursor (the cursor before ``nextBefore`` was a place) that is
    no attempt of them, as the messages' list does."""
    try:
        rows = outbox.list_attempts(
            conn,
            endpoint_id=endpoint_id,
            message_id=message_id,
            limit=query.limit,
            before=query.before,
            succeeded=query.succeeded,
            narrowed=narrowed,
        )
    except outbox.UnknownCursor as exc:
        raise ApiError(404, f"No webhook attempt {exc.attempt_id} (parameter 'before')") from None
    return AttemptPage.of(rows, query.limit)


@router.get(
    f"{_ENDPOINT}/attempts",
    summary="List the attempts made to a webhook endpoint, newest first",
    description="Newest first by the attempt's start. Filtered by the message's event type, "
    "the attempt's time (`since`, `until`) and its outcome, as given; `before` pages through "
    "what the filters keep.",
    operation_id="listWebhookEndpointAttempts",
    response_model=AttemptPage,
)
def endpoint_attempts(
    endpointId: EndpointId, query: Annotated[EndpointAttemptQuery, Query()], call: Reader
) -> AttemptPage:
    narrowed = _narrowed(query, query.event_types)
    with call.ctx.engine.connect() as conn:
        endpoint = _owned(conn, call, endpointId)
        return _attempt_page(conn, query, narrowed, endpoint_id=endpoint.id)


@router.post(
    f"{_ENDPOINT}{_MESSAGE}/replay",
    summary="Replay a message to a webhook endpoint",
    description="Queues one manual attempt of the message to the endpoint, due now (not "
    "retried if it fails), whether or not the endpoint received it before. A delivery still "
    f"on its retry schedule is brought forward to now instead, and keeps its retries. {_WAITS}",
    operation_id="replayWebhookMessage",
    status_code=202,
    response_model=DeliveryAccepted,
    responses={410: {"model": ErrorBody, "description": "The message's payload expired"}},
)
def replay(endpointId: EndpointId, messageId: MessageId, call: Writer) -> DeliveryAccepted:
    try:
        with write_transaction(call.ctx.engine) as conn:
            endpoint = _owned(conn, call, endpointId, lock=True)
            delivery_id = management.replay(conn, endpoint, messageId)
    except management.PayloadExpired:
        days = call.ctx.settings.payload_retention_days
        raise ApiError(
            410,
            f"The payload of webhook message {messageId} expired (payloads are kept {days} "
            "days): it cannot be sent again",
        ) from None
    if delivery_id is None:
        raise ApiError(404, f"No webhook message {messageId}")
    call.ctx.published()
    return DeliveryAccepted(delivery_id=delivery_id, waits_until_enabled=not endpoint.enabled)


@router.post(
    f"{_ENDPOINT}/recover",
    summary="Retry a webhook endpoint's failed deliveries",
    description="Queues one manual attempt of every delivery to the endpoint that failed for "
    "good, of a message created since `since` (at most 14 days back, at most 10,000 "
    f"messages). {_WAITS}",
    operation_id="recoverWebhookEndpoint",
    status_code=202,
    response_model=RecoverAccepted,
)
def recover(endpointId: EndpointId, body: RecoverRequest, call: Writer) -> RecoverAccepted:
    with write_transaction(call.ctx.engine) as conn, _rules(body):
        endpoint = _owned(conn, call, endpointId, lock=True)
        queued = management.recover(conn, endpoint, body.since)
    if queued:
        call.ctx.published()
    return RecoverAccepted(queued=queued, waits_until_enabled=not endpoint.enabled)


@router.get(
    "/messages",
    summary="List the account's webhook messages, newest first",
    description="Each with its payload and its delivery state per endpoint; filtered by "
    "event type and creation time (`since`, `until`) as given.",
    operation_id="listWebhookMessages",
    response_model=MessagePage,
)
def list_messages(query: Annotated[MessageQuery, Query()], call: Reader) -> JsonResponse:
    account = call.principal.account_id
    narrowed = _narrowed(query, query.event_types)
    with call.ctx.engine.connect() as conn:
        before = None
        if query.before is not None:
            before = outbox.get_message(conn, account, query.before)
            if before is None:
                # Not "no more messages": a cursor mistyped, or another account's message,
                # is a 404 like the message itself (the id is well-formed; the 400s are
                # for ids that are not).
                message = f"No webhook message {query.before} (parameter 'before')"
                raise ApiError(404, message)
        rows = outbox.list_messages(
            conn, account, limit=query.limit, before=before, narrowed=narrowed
        )
        deliveries = outbox.deliveries_of(conn, [m.id for m in rows])
    return JsonResponse(message_page_json(rows, deliveries, query.limit))


@router.get(
    _MESSAGE,
    summary="Get a webhook message",
    description="The event as sent, and its delivery state at each endpoint.",
    operation_id="getWebhookMessage",
    response_model=WebhookMessage,
)
def get_message(messageId: MessageId, call: Reader) -> JsonResponse:
    with call.ctx.engine.connect() as conn:
        message = _owned_message(conn, call, messageId)
        deliveries = outbox.deliveries_of(conn, [message.id]).get(message.id, [])
    return JsonResponse(message_json(message, deliveries))


@router.get(
    f"{_MESSAGE}/deliveries",
    summary="List a webhook message's deliveries, a page at a time",
    description="Its delivery to each endpoint it went to, by endpoint, the latest made "
    "first; `before` (a page's `nextBefore`) pages through them. The message's own views "
    "carry every delivery: a message sent to thousands of endpoints is read here a page "
    "at a time.",
    operation_id="listWebhookMessageDeliveries",
    response_model=DeliveryPage,
)
def message_deliveries(
    messageId: MessageId, query: Annotated[DeliveryQuery, Query()], call: Reader
) -> JsonResponse:
    with call.ctx.engine.connect() as conn:
        message = _owned_message(conn, call, messageId)
        rows = outbox.deliveries_by_endpoint(
            conn, message.id, limit=query.limit, before=query.before
        )
    return JsonResponse(delivery_page_json(rows, query.limit))


@router.get(
    f"{_MESSAGE}/attempts",
    summary="List the attempts to send a webhook message, newest first",
    description="Newest first by the attempt's start. Filtered by the attempt's time "
    "(`since`, `until`) and its outcome, as given; `before` pages through what the filters "
    "keep.",
    operation_id="listWebhookMessageAttempts",
    response_model=AttemptPage,
)
def message_attempts(
    messageId: MessageId, query: Annotated[AttemptQuery, Query()], call: Reader
) -> AttemptPage:
    narrowed = _narrowed(query)
    with call.ctx.engine.connect() as conn:
        message = _owned_message(conn, call, messageId)
        return _attempt_page(conn, query, narrowed, message_id=message.id)
