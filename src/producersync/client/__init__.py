"""The ProducerSync SDK: ``Client`` and ``AsyncClient`` for AgentSync's API or ours.

    from datetime import date
    from producersync.client import Client

    with Client(client_id, client_secret, base_url="http://127.0.0.1:8000") as client:
        for lic in client.licenses.list(updated_since=date(2025, 7, 24)):
            print(lic.npn, lic.for_state, lic.active)

Imports nothing of ours but ``producersync.model``.
"""

from producersync.client._base_client import RequestOptions
from producersync.client._cancel import Cancellation
from producersync.client._client import AsyncClient, Client
from producersync.client._environment import Environment
from producersync.client._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CallCancelledError,
    ClientClosedError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ProducerSyncError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    WaitTimeoutError,
)
from producersync.client.pagination import AsyncPage, AsyncPager, Page, SyncPage, SyncPager
from producersync.client.resources.records import (
    AppointmentFilters,
    Appointments,
    AsyncAppointments,
    AsyncEntities,
    AsyncLicenseLoas,
    AsyncLicenses,
    AsyncNpnRecords,
    AsyncRecordPages,
    AsyncRegulatoryActions,
    Entities,
    LicenseFilters,
    LicenseLoaFilters,
    LicenseLoas,
    Licenses,
    NpnRecords,
    RecordFilters,
    RegulatoryActions,
    StateFilters,
    SyncRecordPages,
)
from producersync.client.resources.subscriptions import AsyncSubscriptions, Subscriptions
from producersync.client.resources.webhooks import (
    AsyncWebhookEndpoints,
    AsyncWebhookMessages,
    AsyncWebhooks,
    WebhookEndpoints,
    WebhookMessages,
    Webhooks,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AppointmentFilters",
    "Appointments",
    "AsyncAppointments",
    "AsyncClient",
    "AsyncEntities",
    "AsyncLicenseLoas",
    "AsyncLicenses",
    "AsyncNpnRecords",
    "AsyncPage",
    "AsyncPager",
    "AsyncRecordPages",
    "AsyncRegulatoryActions",
    "AsyncSubscriptions",
    "AsyncWebhookEndpoints",
    "AsyncWebhookMessages",
    "AsyncWebhooks",
    "AuthenticationError",
    "BadRequestError",
    "CallCancelledError",
    "Cancellation",
    "Client",
    "ClientClosedError",
    "ConflictError",
    "Entities",
    "Environment",
    "LicenseFilters",
    "LicenseLoaFilters",
    "LicenseLoas",
    "Licenses",
    "NotFoundError",
    "NpnRecords",
    "Page",
    "PermissionDeniedError",
    "ProducerSyncError",
    "RateLimitError",
    "RecordFilters",
    "RegulatoryActions",
    "RequestOptions",
    "ResponseValidationError",
    "ServerError",
    "StateFilters",
    "Subscriptions",
    "SyncPage",
    "SyncPager",
    "SyncRecordPages",
    "WaitTimeoutError",
    "WebhookEndpoints",
    "WebhookMessages",
    "Webhooks",
]
