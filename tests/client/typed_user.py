"""A type-checked codebase using the SDK: never run, only checked with ``mypy --strict``
(``test_strict_typing``). Each ``assert_type`` fails the check if what the SDK gives is
not that type, an ``Any`` included: one leaked from a call or a record would type-check
any misuse of it downstream."""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle
from typing import assert_type

from pydantic import JsonValue

from producersync.client import (
    APIError,
    APIStatusError,
    Appointments,
    AsyncAppointments,
    AsyncClient,
    AsyncEntities,
    AsyncLicenseLoas,
    AsyncLicenses,
    AsyncNpnRecords,
    AsyncPage,
    AsyncPager,
    AsyncRecordPages,
    AsyncRegulatoryActions,
    AsyncSubscriptions,
    AsyncWebhookEndpoints,
    AsyncWebhooks,
    Cancellation,
    Client,
    Entities,
    LicenseFilters,
    LicenseLoas,
    Licenses,
    NpnRecords,
    RateLimitError,
    RegulatoryActions,
    RequestOptions,
    Subscriptions,
    SyncPage,
    SyncPager,
    SyncRecordPages,
    WaitTimeoutError,
    WebhookMessages,
    Webhooks,
)
from producersync.model import (
    Address,
    ContactInfo,
    Entity,
    JobAccepted,
    JobDetail,
    JobStatus,
    License,
    LicenseLoa,
    OtherName,
    RegulatoryActionValue,
    Subscription,
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

URGENT: RequestOptions = {"deadline": 5.0, "priority": 10}


def in_a_thread_pool(client: Client, stop: Cancellation) -> None:
    licenses = client.licenses.list(npns=["15645555"], updated_since=dt.date(2024, 1, 1))
    assert_type(licenses, SyncRecordPages[License])
    for lic in licenses:
        assert_type(lic, License)
        assert_type(lic.npn, str | None)
        assert_type(lic.license_loas, list[LicenseLoa] | None)
        # The HAL links as the JSON they are: a relation is read once narrowed.
        assert_type(lic.links, dict[str, JsonValue] | None)
        own = (lic.links or {}).get("self")
        if isinstance(own, dict):
            assert_type(own.get("href"), JsonValue)
    page = next(licenses.pages())
    assert_type(page, SyncPage[License])
    assert_type(page.items, list[License])
    assert_type(page.next_continuation_token, str | None)
    assert_type(page.total_elements, int | None)
    if page.has_next_page:
        assert_type(page.get_next_page(), SyncPage[License])
    assert_type(client.licenses.for_npn("15645555", **URGENT), SyncPager[License])
    # The other pagination style: v1 page numbers, resumed from a saved number.
    numbered = client.licenses.list_by_page(active=True, page=2, page_size=100)
    assert_type(numbered, SyncPager[License])
    for by_number in numbered.pages():
        assert_type(by_number, SyncPage[License])
        assert_type(by_number.total_pages, int | None)
        assert_type(by_number.page_number, int | None)  # where a reader resumes: page=
        assert_type(by_number.page_size, int | None)
        assert_type(by_number.items, list[License])
    assert_type(client.license_loas.for_license(1), SyncPager[LicenseLoa])
    assert_type(client.regulatory_actions.values(1), SyncPager[RegulatoryActionValue])
    assert_type(client.entities.get("15645555", max_retries=0), Entity)
    assert_type(client.licenses.get(1), License)
    assert_type(client.subscriptions.list(), SyncPager[Subscription])
    job = client.subscriptions.add(["15645555"], idempotency_key="step-1")
    assert_type(job, JobAccepted)
    assert_type(client.subscriptions.wait(job, timeout=60), JobStatus)
    assert_type(client.subscriptions.job_details(job), SyncPager[JobDetail])
    # None where the API names no job: a caller checks before waiting on it.
    removal = client.subscriptions.remove(["15645555"])
    assert_type(removal, JobAccepted | None)
    if removal is not None:
        assert_type(client.subscriptions.wait(removal), JobStatus)
    # The date as text, checked as the API reads it.
    assert_type(client.licenses.list(updated_since="2024-01-01"), SyncRecordPages[License])
    # Filters kept apart, typed as the resource's lists take them.
    recent: LicenseFilters = {"updated_since": dt.date(2024, 1, 1), "active": True}
    assert_type(client.licenses.for_npn("15645555", **recent), SyncPager[License])
    assert_type(client.with_options(max_retries=0), Client)
    assert_type(client.with_options(cancel=stop), Client)  # its every call under stop
    assert_type(client.request("GET", "/v2/licenses", cancel=stop, raw=True), bytes)
    body = client.request("GET", "/v1/licenses", params={"page": 0}, **URGENT)
    assert_type(body, JsonValue)
    if isinstance(body, dict):
        assert_type(body.get("page"), JsonValue)


def managing_webhooks(client: Client) -> None:
    endpoints = client.webhooks.endpoints
    made = endpoints.create("https://hooks.example.com/ps", event_types=["producersync"])
    assert_type(made, WebhookEndpointCreated)
    assert_type(made.secret, str)
    assert_type(made.event_types, list[str] | None)
    assert_type(made.failing_since, dt.datetime | None)
    assert_type(endpoints.list(page_size=100), SyncPager[WebhookEndpoint])
    assert_type(endpoints.retrieve(made.id, **URGENT), WebhookEndpoint)
    # Left out: kept; None: every type, no limit.
    changed = endpoints.update(made.id, event_types=None, rate_limit_per_second=None)
    assert_type(changed, WebhookEndpoint)
    assert_type(endpoints.rotate_secret(made.id), WebhookEndpointSecret)
    sent = endpoints.send_example(made.id, "producersync.npn.activated")
    assert_type(sent, WebhookMessageAccepted)
    messages = client.webhooks.messages.list(
        event_types=["webhook.test"], since=dt.date(2026, 1, 1)
    )
    for message in messages:
        assert_type(message, WebhookMessage)
        assert_type(message.payload, dict[str, JsonValue])
        assert_type(message.deliveries, list[WebhookDelivery])
    for page in client.webhooks.messages.deliveries(sent.message_id, page_size=10).pages():
        assert_type(page, SyncPage[WebhookDelivery])
        assert_type(page.items, list[WebhookDelivery])
    assert_type(endpoints.replay(made.id, sent.message_id), WebhookDeliveryAccepted)
    assert_type(endpoints.recover(made.id, dt.datetime(2026, 1, 1)), WebhookRecoverAccepted)
    assert_type(endpoints.attempts(made.id, outcome="failed"), SyncPager[WebhookAttempt])
    assert_type(client.webhooks.event_types(), list[WebhookEventType])
    assert_type(endpoints.delete(made.id, idempotency_key="drop-1"), None)


def on_failure(client: Client) -> None:
    try:
        client.licenses.get(1)
    except RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
    except APIStatusError as exc:
        assert_type(exc.status_code, int)
        # The error body as JSON (its text when it is not, None when there is none).
        assert_type(exc.body, JsonValue)
        if isinstance(exc.body, dict):
            assert_type(exc.body.get("message"), JsonValue)
        assert_type(exc.error, str | None)
        assert_type(exc.path, str | None)
        assert_type(exc.request_id, str | None)
        assert_type(exc.message, str)
        again: APIStatusError = pickle.loads(pickle.dumps(exc))  # what a Celery worker reads
        assert_type(again.request_id, str | None)
    except APIError as exc:
        assert_type(exc.request_id, str | None)
        assert_type(exc.body, JsonValue)
    except WaitTimeoutError as exc:
        assert_type(exc.last_status, JobStatus | None)


async def in_a_worker(client: AsyncClient) -> None:
    licenses = client.licenses.list(npns=["15645555"], concurrency=4, **URGENT)
    assert_type(licenses, AsyncRecordPages[License])
    async for lic in licenses:
        assert_type(lic, License)
    async for page in licenses.pages():
        assert_type(page, AsyncPage[License])
        assert_type(page.next_continuation_token, str | None)
    async for numbered in client.entities.list_by_page(page=1).pages():
        assert_type(numbered, AsyncPage[Entity])
        assert_type(numbered.total_elements, int | None)
        if page.has_next_page:
            assert_type(await page.get_next_page(), AsyncPage[License])
    assert_type(await client.entities.get("15645555"), Entity)
    assert_type(client.license_loas.for_license(1), AsyncPager[LicenseLoa])
    assert_type(await client.subscriptions.page(0), AsyncPage[Subscription])
    assert_type(await client.request("GET", "/v2/licenses", raw=True), bytes)
    assert_type(await client.request("GET", "/v2/licenses", ends=1.0), JsonValue)
    status = await client.subscriptions.wait(await client.subscriptions.add(["1"]))
    assert_type(status, JobStatus)
    async for detail in client.subscriptions.job_details(status):
        assert_type(detail, JobDetail)
    created = await client.webhooks.endpoints.create("https://hooks.example.com/ps")
    assert_type(created, WebhookEndpointCreated)
    async for delivery in client.webhooks.messages.deliveries("evt_1"):
        assert_type(delivery, WebhookDelivery)


def the_resources_by_name(client: Client, aclient: AsyncClient) -> None:
    """Each resource's type, from ``producersync.client``, as a helper that takes one
    names it (they were in ``producersync.client.resources`` alone)."""
    assert_type(client.entities, Entities)
    assert_type(client.licenses, Licenses)
    assert_type(client.license_loas, LicenseLoas)
    assert_type(client.appointments, Appointments)
    assert_type(client.addresses, NpnRecords[Address])
    assert_type(client.contact_infos, NpnRecords[ContactInfo])
    assert_type(client.other_names, NpnRecords[OtherName])
    assert_type(client.regulatory_actions, RegulatoryActions)
    assert_type(client.subscriptions, Subscriptions)
    assert_type(client.webhooks, Webhooks)
    assert_type(client.webhooks.messages, WebhookMessages)
    assert_type(aclient.entities, AsyncEntities)
    assert_type(aclient.licenses, AsyncLicenses)
    assert_type(aclient.license_loas, AsyncLicenseLoas)
    assert_type(aclient.appointments, AsyncAppointments)
    assert_type(aclient.addresses, AsyncNpnRecords[Address])
    assert_type(aclient.regulatory_actions, AsyncRegulatoryActions)
    assert_type(aclient.subscriptions, AsyncSubscriptions)
    assert_type(aclient.webhooks, AsyncWebhooks)
    assert_type(aclient.webhooks.endpoints, AsyncWebhookEndpoints)


async def main() -> None:
    with Client(base_url="http://127.0.0.1:8000") as client:
        in_a_thread_pool(client, Cancellation())
        on_failure(client)
    async with AsyncClient(base_url="http://127.0.0.1:8000", timeout=10.0) as async_client:
        await in_a_worker(async_client)


if __name__ == "__main__":
    asyncio.run(main())
