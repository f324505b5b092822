"""NPN management: the monitored population and the jobs that change it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from functools import partial
from typing import Unpack

from pydantic import JsonValue

from producersync.client._base_client import RequestOptions, checked
from producersync.client._cancel import pause
from producersync.client._exceptions import APITimeoutError, WaitTimeoutError
from producersync.client.pagination import AsyncPage, AsyncPager, SyncPage, SyncPager, parse_page
from producersync.client.resources._base import (
    AsyncResource,
    SyncResource,
    documented_as,
    npn_list,
    parse_model,
    valid_job_id,
    valid_page,
)
from producersync.model.numbers import real
from producersync.model.subscriptions import (
    JobAccepted,
    JobDetail,
    JobState,
    JobStatus,
    Subscription,
)

__all__ = ["AsyncSubscriptions", "Subscriptions"]

log = logging.getLogger("producersync.client")
# A status comes as a str even when it is one of these (pydantic's smart union).
_KNOWN = frozenset(JobState)

_PATH = "/v1/accounts/subscriptions"
_PAGE = 1000


def _job_id(job: JobAccepted | JobStatus | str) -> str:
    if isinstance(job, JobAccepted):
        return valid_job_id(job.job_id)
    return valid_job_id(job.id if isinstance(job, JobStatus) else job)


def _wait_ends(timeout: float, poll_interval: float) -> float:
    """When a wait of ``timeout`` seconds ends, on ``time.monotonic``; ``ValueError``,
    before any poll, for a ``timeout`` or ``poll_interval`` that is not one. A NaN
    timeout was never reached (the job polled for ever), and a NaN or negative interval
    failed in the sleep after the first poll, with a message naming neither."""
    if not (real(timeout) and timeout >= 0):  # NaN too
        raise ValueError(f"timeout must be 0 or more seconds, not {timeout!r}")
    if not (real(poll_interval) and math.isfinite(poll_interval) and poll_interval >= 0):
        raise ValueError(f"poll_interval must be 0 or more seconds, not {poll_interval!r}")
    return time.monotonic() + timeout


def _ended(
    job_id: str, status: JobStatus, ends: float, poll_interval: float, timeout: float
) -> bool:
    """Whether a wait ends with ``status``; ``WaitTimeoutError`` when it is not final and
    the next poll would come after the wait ``ends``."""
    if status.final:
        if status.status not in _KNOWN:
            log.warning(  # both the server's: a status of megabytes is not logged whole
                "job %.60s: status %.60r is not one this SDK knows; taken as final",
                status.id,
                status.status,
            )
        return True
    if time.monotonic() + poll_interval > ends:
        raise WaitTimeoutError(job_id, status, timeout)
    return False


def _given_up(
    exc: APITimeoutError, job_id: str, last: JobStatus | None, ends: float, timeout: float
) -> None:
    """``WaitTimeoutError``, from ``exc``, when a poll failed so because the wait's end
    had come (its request gives up there); else nothing, for ``exc`` to go on as it is (a
    poll's retries spent before the end)."""
    if time.monotonic() >= ends:
        raise WaitTimeoutError(job_id, last, timeout) from exc


def _accepted(method: str, body: JsonValue) -> JobAccepted:
    return parse_model(JobAccepted, body, f"{method} {_PATH}")


def _removal(body: JsonValue) -> JobAccepted | None:
    """A removal's answer: its job, or None when the API names none. The public API
    documents DELETE's 202 ("Accepted") with no body, and read as a malformed job, the
    NPNs it had removed raised ``ResponseValidationError``."""
    return None if body is None else _accepted("DELETE", body)


# Each write by its method, and what to do instead of sending it no NPNs: the API refuses
# an empty list (a 400). For ``replace`` it would unsubscribe every NPN, most often a list
# gone empty by mistake (a query that failed); the way to mean it is a removal.
_NONE_GIVEN = {
    "PUT": (
        "add",
        "the API refuses an empty list (a job that would do nothing): list the NPNs to subscribe",
    ),
    "POST": (
        "replace",
        "the API refuses an empty list, which would unsubscribe every NPN (most often a "
        "list gone empty by mistake). To unsubscribe every NPN, remove those subscribed: "
        "client.subscriptions.remove([s.npn for s in client.subscriptions.list()])",
    ),
    "DELETE": (
        "remove",
        "the API refuses an empty list (a job that would do nothing): list the NPNs to unsubscribe",
    ),
}


def _submitted(method: str, npns: Iterable[str]) -> list[str]:
    """The NPNs a write sends (``npn_list``), or ``ValueError`` before any request when
    there are none, saying what to do instead: sent, the 400 spent a pacing slot (and a
    token request) to say so in the HTTP's words ("DELETE the NPNs subscribed")."""
    listed = npn_list(npns)
    if not listed:
        name, instead = _NONE_GIVEN[method]
        raise ValueError(f"subscriptions.{name}() was given no NPNs: {instead}")
    return listed


_subscriptions = partial(parse_page, key="subscriptions", model=Subscription, size=None)
_details = partial(parse_page, key="details", model=JobDetail, size=None)


class Subscriptions(SyncResource):
    def list(self, **options: Unpack[RequestOptions]) -> SyncPager[Subscription]:
        """Every subscribed NPN (v1 pages)."""
        return SyncPager(self._fetch(options), _PATH, {"page": 0, "size": _PAGE}, _subscriptions)

    def page(self, number: int, **options: Unpack[RequestOptions]) -> SyncPage[Subscription]:
        """One numbered page of the population; its ``total_pages`` says how many there
        are, so a caller may read the others side by side."""
        pager = SyncPager(self._fetch(options), _PATH, None, _subscriptions)
        return pager._read(_PATH, {"page": valid_page(number), "size": _PAGE})

    def _submit(
        self, method: str, npns: Iterable[str], **options: Unpack[RequestOptions]
    ) -> JsonValue:
        return self._client.request(
            method, _PATH, json=_submitted(method, npns), **checked(options)
        )

    def add(self, npns: Iterable[str], **options: Unpack[RequestOptions]) -> JobAccepted:
        """Append NPNs to the population (asynchronous: a job)."""
        return _accepted("PUT", self._submit("PUT", npns, **options))

    def replace(self, npns: Iterable[str], **options: Unpack[RequestOptions]) -> JobAccepted:
        """Make the population exactly these NPNs (asynchronous: a job)."""
        return _accepted("POST", self._submit("POST", npns, **options))

    def remove(self, npns: Iterable[str], **options: Unpack[RequestOptions]) -> JobAccepted | None:
        """Remove NPNs from the population (asynchronous: a job); None when the API
        accepts the removal without naming a job, as the public API documents it."""
        return _removal(self._submit("DELETE", npns, **options))

    def job(
        self, job: JobAccepted | JobStatus | str, **options: Unpack[RequestOptions]
    ) -> JobStatus:
        """The job's status now: one call."""
        return self._status(_job_id(job), None, options)

    def _status(self, job_id: str, ends: float | None, options: RequestOptions) -> JobStatus:
        """The job's status, read by a call that gives up at ``ends`` (``request``)."""
        path = f"{_PATH}/status/{job_id}"
        body = self._client.request("GET", path, ends=ends, **checked(options))
        return parse_model(JobStatus, body, f"GET {path}")

    def job_details(
        self, job: JobAccepted | JobStatus | str, **options: Unpack[RequestOptions]
    ) -> SyncPager[JobDetail]:
        """One row per NPN and action of a job."""
        return SyncPager(
            self._fetch(options),
            f"{_PATH}/status/{_job_id(job)}/details",
            {"page": 0, "size": _PAGE},
            _details,
        )

    def wait(
        self,
        job: JobAccepted | JobStatus | str,
        *,
        timeout: float = 300,
        poll_interval: float = 1.0,
        **options: Unpack[RequestOptions],
    ) -> JobStatus:
        """Poll the job until it is final (``JobStatus.final``: any status but QUEUED and
        IN_PROGRESS), each poll one rate-limited call, and return that status. The wait
        ends at its ``timeout``, a poll under way included (its slot, its attempts and
        their retries): ``WaitTimeoutError``, with the job's last status."""
        job_id, ends = _job_id(job), _wait_ends(timeout, poll_interval)
        status: JobStatus | None = None
        while True:
            try:
                status = self._status(job_id, ends, options)
            except APITimeoutError as exc:
                _given_up(exc, job_id, status, ends, timeout)
                raise
            if _ended(job_id, status, ends, poll_interval, timeout):
                return status
            pause(poll_interval, self._client._cancel, self._client._closing)  # or a close


@documented_as(Subscriptions)
class AsyncSubscriptions(AsyncResource):
    def list(self, **options: Unpack[RequestOptions]) -> AsyncPager[Subscription]:
        return AsyncPager(self._fetch(options), _PATH, {"page": 0, "size": _PAGE}, _subscriptions)

    async def page(self, number: int, **options: Unpack[RequestOptions]) -> AsyncPage[Subscription]:
        pager = AsyncPager(self._fetch(options), _PATH, None, _subscriptions)
        return await pager._read(_PATH, {"page": valid_page(number), "size": _PAGE})

    async def _submit(
        self, method: str, npns: Iterable[str], **options: Unpack[RequestOptions]
    ) -> JsonValue:
        return await self._client.request(
            method, _PATH, json=_submitted(method, npns), **checked(options)
        )

    async def add(self, npns: Iterable[str], **options: Unpack[RequestOptions]) -> JobAccepted:
        return _accepted("PUT", await self._submit("PUT", npns, **options))

    async def replace(self, npns: Iterable[str], **options: Unpack[RequestOptions]) -> JobAccepted:
        return _accepted("POST", await self._submit("POST", npns, **options))

    async def remove(
        self, npns: Iterable[str], **options: Unpack[RequestOptions]
    ) -> JobAccepted | None:
        return _removal(await self._submit("DELETE", npns, **options))

    async def job(
        self, job: JobAccepted | JobStatus | str, **options: Unpack[RequestOptions]
    ) -> JobStatus:
        return await self._status(_job_id(job), None, options)

    async def _status(self, job_id: str, ends: float | None, options: RequestOptions) -> JobStatus:
        path = f"{_PATH}/status/{job_id}"
        body = await self._client.request("GET", path, ends=ends, **checked(options))
        return parse_model(JobStatus, body, f"GET {path}")

    def job_details(
        self, job: JobAccepted | JobStatus | str, **options: Unpack[RequestOptions]
    ) -> AsyncPager[JobDetail]:
        return AsyncPager(
            self._fetch(options),
            f"{_PATH}/status/{_job_id(job)}/details",
            {"page": 0, "size": _PAGE},
            _details,
        )

    async def wait(
        self,
        job: JobAccepted | JobStatus | str,
        *,
        timeout: float = 300,
        poll_interval: float = 1.0,
        **options: Unpack[RequestOptions],
    ) -> JobStatus:
        job_id, ends = _job_id(job), _wait_ends(timeout, poll_interval)
        status: JobStatus | None = None
        while True:
            try:
                status = await self._status(job_id, ends, options)
            except APITimeoutError as exc:
                _given_up(exc, job_id, status, ends, timeout)
                raise
            if _ended(job_id, status, ends, poll_interval, timeout):
                return status
            await self._client._closing.pause(poll_interval)
