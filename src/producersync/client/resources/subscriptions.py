"""NPN management: the monitored population and the jobs that change it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial

import anyio

from producersync.client._exceptions import WaitTimeoutError
from producersync.client.pagination import AsyncPager, Page, SyncPager, parse_page
from producersync.client.resources._base import AsyncResource, SyncResource, parse_model
from producersync.model.subscriptions import JobAccepted, JobDetail, JobStatus, Subscription

__all__ = ["AsyncSubscriptions", "Subscriptions"]

_PATH = "/v1/accounts/subscriptions"
_PAGE = 1000


def _job_id(job: JobAccepted | JobStatus | str) -> str:
    if isinstance(job, JobAccepted):
        return job.job_id
    return job.id if isinstance(job, JobStatus) else job


def _npns(npns: Iterable[str]) -> list[str]:
    if isinstance(npns, str):
        raise TypeError("npns takes an iterable of NPN strings, not one string")
    return list(npns)


_subscriptions = partial(parse_page, key="subscriptions", model=Subscription, size=None)
_details = partial(parse_page, key="details", model=JobDetail, size=None)


class Subscriptions(SyncResource):
    def list(self) -> SyncPager[Subscription]:
        """Every subscribed NPN (v1 pages)."""
        return SyncPager(self._get_raw, _PATH, {"page": 0, "size": _PAGE}, _subscriptions)

    def page(self, number: int) -> Page[Subscription]:
        """One numbered page of the population; its ``total_pages`` says how many there
        are, so a caller may read the others side by side."""
        return _subscriptions(self._get_raw(_PATH, {"page": number, "size": _PAGE}))

    def _submit(self, method: str, npns: Iterable[str]) -> JobAccepted:
        body = self._client.request(method, _PATH, json=_npns(npns))
        return parse_model(JobAccepted, body, f"{method} {_PATH}")

    def add(self, npns: Iterable[str]) -> JobAccepted:
        """Append NPNs to the population (asynchronous: a job)."""
        return self._submit("PUT", npns)

    def replace(self, npns: Iterable[str]) -> JobAccepted:
        """Make the population exactly these NPNs (asynchronous: a job)."""
        return self._submit("POST", npns)

    def remove(self, npns: Iterable[str]) -> JobAccepted:
        """Remove NPNs from the population (asynchronous: a job)."""
        return self._submit("DELETE", npns)

    def job(self, job: JobAccepted | JobStatus | str) -> JobStatus:
        return self._get_model(JobStatus, f"{_PATH}/status/{_job_id(job)}")

    def job_details(self, job: JobAccepted | JobStatus | str) -> SyncPager[JobDetail]:
        """One row per NPN and action of a job."""
        return SyncPager(
            self._get_raw,
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
    ) -> JobStatus:
        """Poll the job until COMPLETED or FAILED (each poll is one rate-limited call)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.job(job)
            if status.final:
                return status
            if time.monotonic() + poll_interval > deadline:
                raise WaitTimeoutError(
                    f"job {_job_id(job)} still {status.status} after {timeout:.0f} s"
                )
            time.sleep(poll_interval)


class AsyncSubscriptions(AsyncResource):
    def list(self) -> AsyncPager[Subscription]:
        return AsyncPager(self._get_raw, _PATH, {"page": 0, "size": _PAGE}, _subscriptions)

    async def page(self, number: int) -> Page[Subscription]:
        return _subscriptions(await self._get_raw(_PATH, {"page": number, "size": _PAGE}))

    async def _submit(self, method: str, npns: Iterable[str]) -> JobAccepted:
        body = await self._client.request(method, _PATH, json=_npns(npns))
        return parse_model(JobAccepted, body, f"{method} {_PATH}")

    async def add(self, npns: Iterable[str]) -> JobAccepted:
        return await self._submit("PUT", npns)

    async def replace(self, npns: Iterable[str]) -> JobAccepted:
        return await self._submit("POST", npns)

    async def remove(self, npns: Iterable[str]) -> JobAccepted:
        return await self._submit("DELETE", npns)

    async def job(self, job: JobAccepted | JobStatus | str) -> JobStatus:
        return await self._get_model(JobStatus, f"{_PATH}/status/{_job_id(job)}")

    def job_details(self, job: JobAccepted | JobStatus | str) -> AsyncPager[JobDetail]:
        return AsyncPager(
            self._get_raw,
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
    ) -> JobStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.job(job)
            if status.final:
                return status
            if time.monotonic() + poll_interval > deadline:
                raise WaitTimeoutError(
                    f"job {_job_id(job)} still {status.status} after {timeout:.0f} s"
                )
            await anyio.sleep(poll_interval)
