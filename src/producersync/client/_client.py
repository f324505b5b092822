"""``Client`` and ``AsyncClient``: the SDK's entry points."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import Any, Self

import httpx2

from producersync.client._base_client import DEFAULTS, AsyncAPIClient, SyncAPIClient
from producersync.client._closed import refuse_closed
from producersync.client._constants import DEFAULT_TIMEOUT
from producersync.client._environment import Environment, EnvironmentName
from producersync.client.resources.records import (
    SPECS,
    Appointments,
    AsyncAppointments,
    AsyncEntities,
    AsyncLicenseLoas,
    AsyncLicenses,
    AsyncNpnRecords,
    AsyncRegulatoryActions,
    Entities,
    LicenseLoas,
    Licenses,
    NpnRecords,
    RegulatoryActions,
)
from producersync.client.resources.subscriptions import AsyncSubscriptions, Subscriptions
from producersync.client.resources.webhooks import AsyncWebhooks, Webhooks
from producersync.model import Address, ContactInfo, OtherName

__all__ = ["AsyncClient", "Client"]


def _options(
    client_id: str | None,
    client_secret: str | None,
    environment: Environment | EnvironmentName | None,
    base_url: str | None,
    token_url: str | None,
    allow_plain_http: bool | None,
    scope: str | None,
    max_retries: int | None,
    rate_limit: float | None,
    refresh_margin: float | None,
    timeout: httpx2.Timeout | float | None,
    deadline: float | None,
) -> dict[str, Any]:
    given = {"max_retries": max_retries, "rate_limit": rate_limit, "refresh_margin": refresh_margin}
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "environment": environment,
        "base_url": base_url,
        "token_url": token_url,
        "allow_plain_http": allow_plain_http,
        "scope": scope,
        # None: no wait has a timeout, as in httpx; the default is DEFAULT_TIMEOUT.
        "timeout": timeout,
        "deadline": deadline,  # None: derived from the timeout (``_deadline``)
        **{k: DEFAULTS[k] if v is None else v for k, v in given.items()},
    }


class Client(SyncAPIClient):
    """ProducerSync, synchronously. Thread-safe: threads share the connection pool, the
    token and the rate-limit pacing.

    ``Client(client_id=..., client_secret=..., environment=Environment.SANDBOX)`` for
    AgentSync's API, or ``base_url=`` (and ``token_url=``) for any other, such as a local
    ``producersync service``. Credentials default to $PRODUCERSYNC_CLIENT_ID and
    $PRODUCERSYNC_CLIENT_SECRET; given neither ``environment`` nor ``base_url``, the API
    is the sync service's: $PRODUCERSYNC_API_URL (and $PRODUCERSYNC_TOKEN_URL), else
    $PRODUCERSYNC_ENVIRONMENT, else the sandbox. Either URL plain http:// to another host
    than this one (loopback is this one) is a ``ValueError``, the client secret and the
    tokens sent unencrypted, unless ``allow_plain_http=True`` (None:
    $PRODUCERSYNC_ALLOW_PLAIN_HTTP_API, as the sync service reads it), for a network no
    one else reads."""

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        environment: Environment | EnvironmentName | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        allow_plain_http: bool | None = None,
        scope: str | None = None,
        max_retries: int | None = None,
        rate_limit: float | None = None,
        refresh_margin: float | None = None,
        timeout: httpx2.Timeout | float | None = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            transport=transport,
            **_options(
                client_id,
                client_secret,
                environment,
                base_url,
                token_url,
                allow_plain_http,
                scope,
                max_retries,
                rate_limit,
                refresh_margin,
                timeout,
                deadline,
            ),
        )

    def __enter__(self) -> Self:
        refuse_closed(self._http)  # a with block on a closed client, as httpx2 refuses it
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @cached_property
    def entities(self) -> Entities:
        return Entities(self, SPECS["entities"])

    @cached_property
    def licenses(self) -> Licenses:
        return Licenses(self, SPECS["licenses"])

    @cached_property
    def license_loas(self) -> LicenseLoas:
        return LicenseLoas(self, SPECS["license_loas"])

    @cached_property
    def appointments(self) -> Appointments:
        return Appointments(self, SPECS["appointments"])

    @cached_property
    def addresses(self) -> NpnRecords[Address]:
        return NpnRecords(self, SPECS["addresses"])

    @cached_property
    def contact_infos(self) -> NpnRecords[ContactInfo]:
        return NpnRecords(self, SPECS["contact_infos"])

    @cached_property
    def other_names(self) -> NpnRecords[OtherName]:
        return NpnRecords(self, SPECS["other_names"])

    @cached_property
    def regulatory_actions(self) -> RegulatoryActions:
        return RegulatoryActions(self, SPECS["regulatory_actions"])

    @cached_property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        return Webhooks(self)


class AsyncClient(AsyncAPIClient):
    """ProducerSync for asyncio/trio: the same resources as ``Client``, awaited. Tasks
    share the connection pool, the token and the pacing."""

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        environment: Environment | EnvironmentName | None = None,
        base_url: str | None = None,
        token_url: str | None = None,
        allow_plain_http: bool | None = None,
        scope: str | None = None,
        max_retries: int | None = None,
        rate_limit: float | None = None,
        refresh_margin: float | None = None,
        timeout: httpx2.Timeout | float | None = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            transport=transport,
            **_options(
                client_id,
                client_secret,
                environment,
                base_url,
                token_url,
                allow_plain_http,
                scope,
                max_retries,
                rate_limit,
                refresh_margin,
                timeout,
                deadline,
            ),
        )

    async def __aenter__(self) -> Self:
        refuse_closed(self._http)
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.close()

    @cached_property
    def entities(self) -> AsyncEntities:
        return AsyncEntities(self, SPECS["entities"])

    @cached_property
    def licenses(self) -> AsyncLicenses:
        return AsyncLicenses(self, SPECS["licenses"])

    @cached_property
    def license_loas(self) -> AsyncLicenseLoas:
        return AsyncLicenseLoas(self, SPECS["license_loas"])

    @cached_property
    def appointments(self) -> AsyncAppointments:
        return AsyncAppointments(self, SPECS["appointments"])

    @cached_property
    def addresses(self) -> AsyncNpnRecords[Address]:
        return AsyncNpnRecords(self, SPECS["addresses"])

    @cached_property
    def contact_infos(self) -> AsyncNpnRecords[ContactInfo]:
        return AsyncNpnRecords(self, SPECS["contact_infos"])

    @cached_property
    def other_names(self) -> AsyncNpnRecords[OtherName]:
        return AsyncNpnRecords(self, SPECS["other_names"])

    @cached_property
    def regulatory_actions(self) -> AsyncRegulatoryActions:
        return AsyncRegulatoryActions(self, SPECS["regulatory_actions"])

    @cached_property
    def subscriptions(self) -> AsyncSubscriptions:
        return AsyncSubscriptions(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        return AsyncWebhooks(self)
