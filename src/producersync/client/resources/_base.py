"""What sync and async resources share: the client they borrow, and parameter building.

Every resource method takes the call's ``RequestOptions`` as keywords (``deadline=``,
``priority=``) and hands them to the one request path, ``request()``: for a list, to the
fetch of each of its pages (``_fetch``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from pydantic import BaseModel, ValidationError

from producersync.client._base_client import RequestOptions, checked
from producersync.client._constants import MAX_PAGE_SIZE
from producersync.client._exceptions import ResponseValidationError
from producersync.client.pagination import AsyncFetch, Fetch
from producersync.model import is_npn

if TYPE_CHECKING:
    from producersync.client._base_client import AsyncAPIClient, SyncAPIClient

__all__ = [
    "AsyncResource",
    "SyncResource",
    "documented_as",
    "npn_list",
    "parse_model",
    "query_value",
    "valid_concurrency",
    "valid_id",
    "valid_job_id",
    "valid_npn",
    "valid_page",
    "valid_page_size",
]

T = TypeVar("T", bound=BaseModel)
C = TypeVar("C", bound=type)


def documented_as(sync: type) -> Callable[[C], C]:
    """A class decorator: each public method an async resource defines without a
    docstring gets its sync twin's. Written once, a method reads the same in ``help()``
    and an editor for both clients, where every async one read nothing."""

    def document(cls: C) -> C:
        for name, method in vars(cls).items():
            if not name.startswith("_") and callable(method) and method.__doc__ is None:
                method.__doc__ = getattr(sync, name).__doc__
        return cls

    return document


def query_value(value: Any) -> str:
    """A filter value as the API reads it: lists comma-separated, dates ISO, booleans
    lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in value)
    return str(value)


def valid_npn(value: str, name: str = "npn") -> str:
    """``value`` if it is an NPN (1 to 10 ASCII digits); else ``ValueError`` naming it,
    before any request. Sent as it came, a slash or ``..`` in it led a per-NPN call to
    another resource (``entities.get("../../v1/accounts/subscriptions")`` read the
    subscriptions), and a comma made two NPNs of one in an ``npns=`` list."""
    if not isinstance(value, str) or not is_npn(value):
        # An int is the likeliest slip (an NPN looks like a number): it is told what to pass.
        number = isinstance(value, int) and not isinstance(value, bool) and is_npn(str(value))
        hint = f", a string: {str(value)!r}" if number else ""
        raise ValueError(f"{name}: {value!r:.60} is not an NPN (1 to 10 ASCII digits{hint})")
    return value


def valid_id(value: int, name: str) -> int:
    """``value`` if it is a record id (an ``int``, not a ``bool``); else ``TypeError``,
    before any request. Put in the path as it came, a string led to another resource:
    ``licenses.get("1/../../../v1/accounts/subscriptions")`` read the subscriptions."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} takes an integer id, not {value!r:.60}")
    return value


def valid_page_size(value: int, most: int = MAX_PAGE_SIZE) -> int:
    """``value`` if the API takes it as a page's ``size`` (1 to ``most``: 1000 records, 250
    of the webhook lists); else ``ValueError`` naming it, when the call is made. Sent as it
    came, a lazy list failed only at its first page, as a 400 naming ``size``, and a string
    failed the v2 list's first page as a bare TypeError (``'<' not supported``), where the
    v1 list took it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(f"page_size must be an integer from 1 to {most}, not {value!r:.60}")
    return value


def valid_concurrency(value: int) -> int:
    """``value`` if it is a number of partitions to read at once (an integer, 1 or
    more); else ``ValueError`` naming it, when the list is made. ``"4"`` failed there as
    a bare TypeError, ``2.5`` at the list's first page in ``islice``, and 0 or -3 read
    one partition at a time, unremarked."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency must be an integer, 1 or more, not {value!r:.60}")
    return value


def valid_page(value: int) -> int:
    """``value`` if it is a v1 page number (an integer, 0 or more, 0 the first); else
    ``ValueError`` naming it, when the call is made, as ``valid_page_size``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"page must be an integer, 0 or more, not {value!r:.60}")
    return value


# The API's job ids are UUIDs (``jobId``: string(uuid)), written out with their hyphens.
_JOB_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def valid_job_id(value: str) -> str:
    """``value`` if it is a job id; else ``ValueError`` naming it, before any request
    (a ``?`` in it cut the path there, ``..`` climbed out of the job's)."""
    if not isinstance(value, str) or not _JOB_ID.fullmatch(value):
        raise ValueError(f"job: {value!r:.60} is not a job id (a UUID)")
    return value


def string_list(values: Iterable[str], name: str) -> list[str]:
    """``values`` as a list; one string is a ``TypeError`` naming ``name``: iterated, it
    would be its characters (an NPN split into digits), and sent as it is, a comma in it
    made several values of one."""
    if isinstance(values, str):
        raise TypeError(
            f"{name} takes a sequence of strings, not one string: pass [{values!r:.60}]"
        )
    return list(values)


def npn_list(values: Iterable[str]) -> list[str]:
    """``values`` as a list (``string_list``), each an NPN (``valid_npn``)."""
    npns = string_list(values, "npns")
    return [valid_npn(value, f"npns[{index}]") for index, value in enumerate(npns)]


def parse_model(model: type[T], body: Any, what: str) -> T:
    """A response body as ``model``; one that does not fit is the server's fault, so it
    is an SDK error naming the call, not pydantic's."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ResponseValidationError(
            f"{what} answered a malformed {model.__name__}: {exc}"
        ) from exc


class SyncResource:
    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def _get(
        self, path: str, params: dict[str, Any] | None = None, **options: Unpack[RequestOptions]
    ) -> Any:
        return self._client.request("GET", path, params=params, **checked(options))

    def _get_model(self, model: type[T], path: str, **options: Unpack[RequestOptions]) -> T:
        return parse_model(model, self._get(path, **options), f"GET {path}")

    def _get_raw(
        self, path: str, params: dict[str, Any] | None = None, **options: Unpack[RequestOptions]
    ) -> bytes:
        body: bytes = self._client.request("GET", path, params=params, raw=True, **options)
        return body

    def _fetch(self, options: RequestOptions) -> Fetch:
        """A list's page fetch, each page sent with the list's options."""
        return partial(self._get_raw, **checked(options))


class AsyncResource:
    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def _get(
        self, path: str, params: dict[str, Any] | None = None, **options: Unpack[RequestOptions]
    ) -> Any:
        return await self._client.request("GET", path, params=params, **checked(options))

    async def _get_model(self, model: type[T], path: str, **options: Unpack[RequestOptions]) -> T:
        return parse_model(model, await self._get(path, **options), f"GET {path}")

    async def _get_raw(
        self, path: str, params: dict[str, Any] | None = None, **options: Unpack[RequestOptions]
    ) -> bytes:
        body: bytes = await self._client.request("GET", path, params=params, raw=True, **options)
        return body

    def _fetch(self, options: RequestOptions) -> AsyncFetch:
        """``SyncResource._fetch``, awaited."""
        return partial(self._get_raw, **checked(options))
