"""OpenAPI links: which field of which response feeds which operation's parameter.

They tell a reader how the operations chain (the job id of a 202 to the job's status, a
new endpoint's id to everything done with it, a record to its children), and they give
a stateful fuzzer its transitions. Only links that hold are here: each names a field the
response carries whenever it has that status.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["LINKS", "add_links"]

_Links = dict[str, dict[str, Any]]


def _to(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


_JOB: Final = {"jobId": "$response.body#/job_id"}
_JOB_LINKS: Final[_Links] = {
    "JobStatus": _to("getNpnManagementJobStatus", **_JOB),
    "JobDetails": _to("getNpnManagementJobStatusDetails", **_JOB),
}

_ENDPOINT: Final = {"endpointId": "$response.body#/id"}
_ENDPOINT_LINKS: Final[_Links] = {
    name: _to(operation, **_ENDPOINT)
    for name, operation in (
        ("GetEndpoint", "getWebhookEndpoint"),
        ("UpdateEndpoint", "updateWebhookEndpoint"),
        ("DeleteEndpoint", "deleteWebhookEndpoint"),
        ("EnableEndpoint", "enableWebhookEndpoint"),
        ("DisableEndpoint", "disableWebhookEndpoint"),
        ("GetEndpointSecret", "getWebhookEndpointSecret"),
        ("RotateEndpointSecret", "rotateWebhookEndpointSecret"),
        ("SendExample", "sendWebhookExample"),
        ("EndpointAttempts", "listWebhookEndpointAttempts"),
        ("RecoverEndpoint", "recoverWebhookEndpoint"),
    )
}

_PER_NPN: Final[_Links] = {
    name: _to(f"get{name}ByNPN", npn="$response.body#/npn")
    for name in (
        "Licenses",
        "Appointments",
        "Addresses",
        "ContactInfos",
        "OtherNames",
        "RegulatoryActions",
    )
}

LINKS: Final[dict[tuple[str, str], _Links]] = {
    ("replaceActiveNpns", "202"): _JOB_LINKS,
    ("appendActiveNpns", "202"): _JOB_LINKS,
    ("deleteActiveNpns", "202"): _JOB_LINKS,
    ("getNpnManagementJobStatus", "200"): {
        "JobDetails": _to("getNpnManagementJobStatusDetails", jobId="$request.path.jobId")
    },
    ("createWebhookEndpoint", "201"): _ENDPOINT_LINKS,
    ("sendWebhookExample", "202"): {
        "GetMessage": _to("getWebhookMessage", messageId="$response.body#/messageId"),
        "MessageAttempts": _to("listWebhookMessageAttempts", messageId="$response.body#/messageId"),
        "ReplayMessage": _to(
            "replayWebhookMessage",
            endpointId="$request.path.endpointId",
            messageId="$response.body#/messageId",
        ),
    },
    ("replayWebhookMessage", "202"): {
        "MessageAttempts": _to("listWebhookMessageAttempts", messageId="$request.path.messageId")
    },
    ("getWebhookMessage", "200"): {
        "MessageAttempts": _to("listWebhookMessageAttempts", messageId="$response.body#/id")
    },
    ("getEntityByNPN", "200"): _PER_NPN,
    ("getLicenseById", "200"): {
        "LicenseLoas": _to("getLicenseLoasOfLicense", licenseId="$response.body#/id")
    },
    ("getLicenseLoaById", "200"): {
        "License": _to("getLicenseById", id="$response.body#/licenseId")
    },
    ("getRegulatoryActionsById", "200"): {
        "Values": _to("getRegulatoryActionValuesOfRegulatoryAction", id="$response.body#/id")
    },
    ("getRegulatoryActionValueById", "200"): {
        "RegulatoryAction": _to("getRegulatoryActionsById", id="$response.body#/regulatoryActionId")
    },
}


def add_links(spec: dict[str, Any]) -> None:
    """Put ``LINKS`` on the spec's responses; raise if one names a response or an
    operation the spec lacks (a renamed operation must not silently lose its links)."""
    responses = {
        (operation["operationId"], status): response
        for path in spec.get("paths", {}).values()
        for operation in path.values()
        for status, response in operation.get("responses", {}).items()
    }
    targets = {link["operationId"] for links in LINKS.values() for link in links.values()}
    missing = (set(LINKS) - set(responses)) | (targets - {op for op, _ in responses})
    if missing:
        raise ValueError(f"links name what the spec does not have: {sorted(map(str, missing))}")
    for key, links in LINKS.items():
        responses[key]["links"] = links
