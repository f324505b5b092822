"""NPN management on the wire: subscriptions, jobs and their per-NPN details.

Shared by the service (its OpenAPI schemas) and the SDK (what it parses). Unknown fields
are kept, as for records.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from producersync.model.records import Href, null_as_absent

__all__ = [
    "JobAccepted",
    "JobAcceptedLinks",
    "JobAction",
    "JobCounts",
    "JobDetail",
    "JobLinks",
    "JobOperation",
    "JobResult",
    "JobState",
    "JobStatus",
    "Subscription",
]


class JobState(StrEnum):
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self not in _PENDING


# The only states the contract gives a job that is still running.
_PENDING = frozenset({JobState.QUEUED, JobState.IN_PROGRESS})


class JobOperation(StrEnum):
    REPLACE = "REPLACE"
    APPEND = "APPEND"
    REMOVE = "REMOVE"


class JobAction(StrEnum):
    ACTIVATE = "ACTIVATE"
    DEACTIVATE = "DEACTIVATE"


class JobResult(StrEnum):
    SUCCESS = "SUCCESS"
    UNCHANGED = "UNCHANGED"
    FAILED = "FAILED"


# Each enum is widened by ``| str``, as the records' are: a value a newer service adds
# must not refuse the whole job to an older client. The spec still lists the values.


# Declared, not checked: a job id the client only hands back needs no parsing.
_UUID: Final[dict[str, JsonValue]] = {"format": "uuid"}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class JobAcceptedLinks(_Wire):
    status: Href


class JobAccepted(_Wire):
    """The 202 body of POST/PUT/DELETE /v1/accounts/subscriptions (``Subscription200``)."""

    success: bool
    message: str
    job_id: str = Field(json_schema_extra=_UUID)
    links: JobAcceptedLinks | None = None


class Subscription(_Wire):
    npn: str
    activated_at: dt.datetime = Field(alias="activatedAt")


_Count = Annotated[int, null_as_absent(int)]  # a count the job has not given: none


class JobCounts(_Wire):
    operation: JobOperation | str | None = None
    status: JobState | str | None = None
    requested: _Count = 0
    activated: _Count = 0
    deactivated: _Count = 0
    unchanged: _Count = 0
    failed: _Count = 0
    error: str | None = None


class JobLinks(_Wire):
    self: Href
    details: Href


class JobStatus(_Wire):
    id: str = Field(json_schema_extra=_UUID)
    status: JobState | str = Field(description="QUEUED, IN_PROGRESS, COMPLETED or FAILED")
    created_at: dt.date = Field(alias="createdAt")
    updated_at: dt.date = Field(alias="updatedAt")
    details: JobCounts
    links: JobLinks | None = None

    @model_validator(mode="before")
    @classmethod
    def _status_from_details(cls, data: Any) -> Any:
        """The status from ``details`` when the body has none of its own: the public
        reference gives a job's status body as its id, dates, ``details`` and ``links``
        alone (ours carries the status in both places). Its absence at the top refused
        the job, and every wait on it."""
        if isinstance(data, dict) and "status" not in data:
            details = data.get("details")
            if isinstance(details, dict) and "status" in details:
                return {**data, "status": details["status"]}
        return data

    @property
    def final(self) -> bool:
        """Whether the job has stopped: any status but QUEUED and IN_PROGRESS, one this
        model does not know (a newer service's CANCELLED, say) included. Only those two
        say a job is still running: an unknown one taken for running polled a wait
        until its timeout, ending in a WaitTimeoutError for a job long over."""
        return self.status not in _PENDING


class JobDetail(_Wire):
    npn: str
    action: JobAction | str = Field(description="ACTIVATE or DEACTIVATE")
    result: JobResult | str = Field(description="SUCCESS, UNCHANGED or FAILED")
    reason: str | None = None
