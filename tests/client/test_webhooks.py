"""``client.webhooks``: the webhook management API through the SDK, against the real
service on each backend, as an integrator uses it: endpoints made, listed, changed and
deleted, Send Example, a message and its deliveries paged, replay, attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import pytest

from producersync.client import (
    AsyncClient,
    BadRequestError,
    Client,
    NotFoundError,
    ResponseValidationError,
)
from producersync.model import (
    ENDPOINT_TEST,
    NPN_ACTIVATED,
    NpnActivated,
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
from producersync.service.api import webhook_models as served
from producersync.service.delivery.publish import publish_events
from producersync.service.store.engine import write_transaction
from tests.client.fake import FakeAPI, json_response
from tests.support.delivery import log_attempts
from tests.support.service import Credentials, RunningService

pytestmark = pytest.mark.slow(10)

URL = "http://127.0.0.1:9/hook"


def connect(service: RunningService, creds: Credentials) -> Client:
    return Client(creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace())


def test_an_integrator_manages_endpoints_messages_and_replays(service: RunningService) -> None:
    creds = service.account()
    with connect(service, creds) as client:
        hooks = client.webhooks
        made = [hooks.endpoints.create(f"{URL}/{n}", description=f"n{n}") for n in range(3)]
        ids = [e.id for e in made]
        listed = hooks.endpoints.list(page_size=2)
        assert [len(page.items) for page in listed.pages()] == [2, 1]
        assert [e.id for e in listed] == ids[::-1]  # newest first

        changed = hooks.endpoints.update(
            ids[0], description="billing", event_types=[NPN_ACTIVATED], rate_limit_per_second=5
        )
        assert (changed.description, changed.event_types) == ("billing", [NPN_ACTIVATED])
        assert changed.rate_limit_per_second == 5 and changed.url == f"{URL}/0"
        cleared = hooks.endpoints.update(ids[0], event_types=None, rate_limit_per_second=None)
        assert (cleared.event_types, cleared.rate_limit_per_second) == (None, None)
        assert cleared.description == "billing"  # not given: kept
        assert hooks.endpoints.retrieve(ids[0]) == cleared

        sent = hooks.endpoints.send_example(ids[1], NPN_ACTIVATED)
        assert sent.waits_until_enabled is False
        example = hooks.messages.retrieve(sent.message_id)
        assert example.event_type == NPN_ACTIVATED
        assert [d.endpoint_id for d in example.deliveries] == [ids[1]]
        [only] = hooks.messages.list(event_types=[NPN_ACTIVATED])
        assert only.id == sent.message_id

        with write_transaction(service.engine) as conn:  # one event, to every endpoint
            publish_events(conn, creds.account_id, [NpnActivated.create("15645555")])
        messages = hooks.messages.list(page_size=2)
        assert [len(page.items) for page in messages.pages()] == [2, 2, 1]  # 3 tests, 2 more
        every = list(messages)
        assert every == sorted(every, key=lambda m: m.created_at, reverse=True)
        published = every[0]
        deliveries = hooks.messages.deliveries(published.id, page_size=2)
        assert [len(page.items) for page in deliveries.pages()] == [2, 1]
        assert [d.endpoint_id for d in deliveries] == sorted(ids, reverse=True)
        assert {d.state for d in deliveries} == {"pending"}

        first_test = next(
            m
            for m in every
            if m.event_type == ENDPOINT_TEST
            and m.id != sent.message_id
            and [d.endpoint_id for d in m.deliveries] == [ids[0]]
        )
        replayed = hooks.endpoints.replay(ids[2], first_test.id)
        assert isinstance(replayed.delivery_id, int)
        after = hooks.messages.retrieve(first_test.id)
        assert sorted(d.endpoint_id for d in after.deliveries) == sorted([ids[0], ids[2]])

        hooks.endpoints.delete(ids[1])
        with pytest.raises(NotFoundError):
            hooks.endpoints.retrieve(ids[1])
        assert [e.id for e in hooks.endpoints.list()] == [ids[2], ids[0]]


def test_a_secret_is_typed_shown_on_creation_and_rotation_never_in_a_repr(
    service: RunningService,
) -> None:
    with connect(service, service.account()) as client:
        endpoints = client.webhooks.endpoints
        created = endpoints.create(URL)
        revealed = endpoints.secret(created.id)
        rotated = endpoints.rotate_secret(created.id)
        current = endpoints.secret(created.id)
    assert created.secret.startswith("whsec_") and revealed.secret == created.secret
    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret
    assert current.secret == rotated.secret
    for shown in (created, revealed, rotated):
        assert "whsec_" not in repr(shown) and "whsec_" not in str(shown)
    assert isinstance(created, WebhookEndpointCreated) and isinstance(
        rotated, WebhookEndpointSecret
    )


def test_a_create_retried_with_its_key_makes_one_endpoint(service: RunningService) -> None:
    with connect(service, service.account()) as client:
        endpoints = client.webhooks.endpoints
        first = endpoints.create(URL, idempotency_key="make-billing-hook")
        again = endpoints.create(URL, idempotency_key="make-billing-hook")
        assert again.id == first.id
        assert [e.id for e in endpoints.list()] == [first.id]


def test_attempts_disable_enable_recover_and_event_types(service: RunningService) -> None:
    with connect(service, service.account()) as client:
        hooks = client.webhooks
        endpoint = hooks.endpoints.create(URL)
        log_attempts(service.engine, endpoint.id, [False, True])
        attempts = hooks.endpoints.attempts(endpoint.id, page_size=1)
        assert [a.succeeded for a in attempts] == [True, False]  # newest first
        assert [len(p.items) for p in attempts.pages()] == [1, 1, 0]  # the second page full
        [test_message] = hooks.messages.list()
        failed = hooks.messages.attempts(test_message.id, outcome="failed")
        assert [a.attempt_number for a in failed] == [1]
        now = dt.datetime.now(dt.UTC)  # the attempts were an hour back
        since = hooks.endpoints.attempts(endpoint.id, since=now - dt.timedelta(hours=2))
        assert [a.id for a in since] == [a.id for a in attempts]
        assert (
            list(hooks.endpoints.attempts(endpoint.id, since=now - dt.timedelta(minutes=30))) == []
        )
        disabled = hooks.endpoints.disable(endpoint.id, reason="maintenance")
        assert (disabled.enabled, disabled.disabled_reason) == (False, "maintenance")
        waiting = hooks.endpoints.send_example(endpoint.id, NPN_ACTIVATED)
        assert waiting.waits_until_enabled is True
        assert hooks.endpoints.enable(endpoint.id).enabled is True
        recovered = hooks.endpoints.recover(endpoint.id, now - dt.timedelta(days=1))
        assert recovered.waits_until_enabled is False and recovered.queued >= 0
        assert NPN_ACTIVATED in {t.name for t in hooks.event_types()}


def test_the_async_client_manages_webhooks_as_the_sync_one(service: RunningService) -> None:
    creds = service.account()

    async def main() -> None:
        async with AsyncClient(
            creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace()
        ) as client:
            hooks = client.webhooks
            made = [await hooks.endpoints.create(f"{URL}/{n}") for n in range(2)]
            assert [e.id async for e in hooks.endpoints.list(page_size=1)] == [
                made[1].id,
                made[0].id,
            ]
            sent = await hooks.endpoints.send_example(made[0].id, NPN_ACTIVATED)
            delivered = [d async for d in hooks.messages.deliveries(sent.message_id)]
            assert [d.endpoint_id for d in delivered] == [made[0].id]
            replayed = await hooks.endpoints.replay(made[1].id, sent.message_id)
            assert replayed.waits_until_enabled is False
            message = await hooks.messages.retrieve(sent.message_id)
            assert {d.endpoint_id for d in message.deliveries} == {e.id for e in made}
            rotated = await hooks.endpoints.rotate_secret(made[0].id)
            assert "whsec_" not in repr(rotated)
            await hooks.endpoints.delete(made[0].id)
            with pytest.raises(NotFoundError):
                await hooks.endpoints.retrieve(made[0].id)

    anyio.run(main)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.webhooks.endpoints.retrieve("../../v1/accounts/subscriptions"),
        lambda c: c.webhooks.endpoints.replay("ep_1", "evt_1?x=1"),
        lambda c: c.webhooks.messages.deliveries(""),
        lambda c: c.webhooks.endpoints.list(page_size=251),
    ],
)
def test_an_id_or_page_size_the_api_would_refuse_is_refused_before_any_request(
    call: Any,
) -> None:
    client = Client("id", "secret", base_url="http://127.0.0.1:9")
    with client, pytest.raises(ValueError, match=r"endpoint_id|message_id|page_size"):
        call(client)


_MESSAGE = {
    "id": "evt_1",
    "eventType": "webhook.test",
    "payload": {"expired": True},
    "createdAt": "2026-12-01T00:00:00.000Z",
    "deliveries": [
        {
            "endpointId": "ep_1",
            "state": "parked",  # a state a newer service adds
            "attempts": 1,
            "nextAttemptAt": None,
            "updatedAt": "2026-12-01T00:00:00.000Z",
            "addedLater": 1,
        }
    ],
}


def test_a_cursor_page_keeps_the_filters_and_one_the_api_repeats_is_refused() -> None:
    """Each page after the first is the same request with ``before`` set; a server that
    hands back the same cursor would be followed for ever."""
    fake = FakeAPI(lambda request: json_response(200, {"data": [_MESSAGE], "nextBefore": "evt_1"}))
    with fake.client() as client:
        messages = client.webhooks.messages.list(event_types=["webhook.test"], page_size=1)
        with pytest.raises(ResponseValidationError, match="linked back to a page already read"):
            list(messages)
    first, second = (dict(r.url.params) for r in fake.api_requests)
    assert first == {"eventType": "webhook.test", "limit": "1"}
    assert second == {**first, "before": "evt_1"}


def test_what_a_newer_service_adds_is_read_and_a_page_without_data_refused() -> None:
    bodies = iter([{"data": [_MESSAGE], "nextBefore": None}, {"items": []}])
    fake = FakeAPI(lambda request: json_response(200, next(bodies)))
    with fake.client() as client:
        [message] = client.webhooks.messages.list()
        assert message.deliveries[0].state == "parked"
        assert message.deliveries[0].model_extra == {"addedLater": 1}
        with pytest.raises(ResponseValidationError, match="malformed WebhookEndpoint page"):
            list(client.webhooks.endpoints.list())


def test_a_refusal_is_the_sdk_s_error_naming_the_field(service: RunningService) -> None:
    with connect(service, service.account()) as client:
        endpoint = client.webhooks.endpoints.create(URL)
        with pytest.raises(BadRequestError, match="eventType") as refused:
            client.webhooks.endpoints.send_example(endpoint.id, "producersync.nope")
        assert refused.value.status_code == 400


# The SDK's models of the answers, and the service's: the same fields by the same names.
_SERVED = [
    (WebhookEndpoint, served.WebhookEndpoint),
    (WebhookEndpointCreated, served.WebhookEndpointCreated),
    (WebhookEndpointSecret, served.EndpointSecret),
    (WebhookEventType, served.EventTypeInfo),
    (WebhookDelivery, served.DeliveryState),
    (WebhookMessage, served.WebhookMessage),
    (WebhookAttempt, served.WebhookAttempt),
    (WebhookMessageAccepted, served.MessageAccepted),
    (WebhookDeliveryAccepted, served.DeliveryAccepted),
    (WebhookRecoverAccepted, served.RecoverAccepted),
]


@pytest.mark.parametrize(("ours", "theirs"), _SERVED, ids=[o.__name__ for o, _ in _SERVED])
def test_the_sdk_reads_every_field_the_service_writes(ours: type, theirs: type) -> None:
    def names(model: Any) -> dict[str, bool]:
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        return {name: name in schema.get("required", []) for name in schema["properties"]}

    assert names(ours) == names(theirs)
