"""The record resources: entities, licenses, LOAs, appointments, addresses, contact infos,
other names, regulatory actions (and their values), as sync/async twins."""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any, Generic, TypeVar, Unpack, cast, get_args

import anyio

from producersync.client._base_client import RequestOptions
from producersync.client._constants import DEFAULT_PAGE_SIZE, NPN_CHUNK
from producersync.client.pagination import AsyncPage, AsyncPager, SyncPage, SyncPager, parse_page
from producersync.client.resources._base import (
    AsyncResource,
    SyncResource,
    documented_as,
    npn_list,
    query_value,
    string_list,
    valid_concurrency,
    valid_id,
    valid_npn,
    valid_page,
    valid_page_size,
)
from producersync.model import (
    Address,
    Appointment,
    ContactInfo,
    Entity,
    License,
    LicenseLoa,
    OtherName,
    Record,
    RegulatoryAction,
    RegulatoryActionValue,
)
from producersync.model.dates import iso_date
from producersync.model.spaces import trim

__all__ = [
    "SPECS",
    "AppointmentFilters",
    "Appointments",
    "AsyncAppointments",
    "AsyncEntities",
    "AsyncLicenseLoas",
    "AsyncLicenses",
    "AsyncNpnRecords",
    "AsyncRecordPages",
    "AsyncRecords",
    "AsyncRegulatoryActions",
    "Entities",
    "Filters",
    "LicenseFilters",
    "LicenseLoaFilters",
    "LicenseLoas",
    "Licenses",
    "NpnRecords",
    "RecordFilters",
    "RecordSpec",
    "Records",
    "RegulatoryActions",
    "StateFilters",
    "SyncRecordPages",
]

M = TypeVar("M", bound=Record)

_WIRE = {
    "npns": "npns",
    "states": "states",
    "updated_since": "updatedSince",
    "include_deleted": "includeDeleted",
    "active": "active",
    "loa_codes": "loaCodes",
    "loa_categories": "loaCategories",
    "co_codes": "coCodes",
    "status": "status",
}

# The filters that take several values, each sent comma-separated.
_LISTS = ("npns", "states", "loa_codes", "loa_categories", "co_codes")

# The filters of one value: (name, the types it takes, as its TypeError says so). Sent as
# it came, another value went out as its text (``updated_since=20240101``, a list of
# statuses comma-joined), the API's 400 naming the wire's parameter once the list was
# read, or was read as the API happens to read it (``active="no"``: false).
_SCALARS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("updated_since", (dt.date, str), "a datetime.date, or its text as yyyy-MM-dd"),
    ("include_deleted", bool, "a bool"),
    ("active", bool, "a bool"),
    ("status", str, "one status, a string"),
)

# Each resource's filters, as typed keywords. A list method's one ``**`` parameter holds
# them and the call's ``RequestOptions`` (PEP 692 allows one), so a type checker, and an
# editor, offers a resource the filters it takes and refuses the others. ``npns`` is a
# keyword of its own: every list takes it, no per-NPN one does.


class RecordFilters(RequestOptions, total=False):
    """What every record list takes (entities take nothing more), and the call's
    ``RequestOptions``."""

    updated_since: dt.date | str | None
    include_deleted: bool | None


class StateFilters(RecordFilters, total=False):
    """Addresses', contact infos', other names' and regulatory actions' filters."""

    states: Sequence[str] | None


class LicenseFilters(StateFilters, total=False):
    active: bool | None
    loa_codes: Sequence[str] | None
    loa_categories: Sequence[str] | None


class LicenseLoaFilters(StateFilters, total=False):
    loa_codes: Sequence[str] | None
    loa_categories: Sequence[str] | None
    status: str | None


class AppointmentFilters(StateFilters, total=False):
    co_codes: Sequence[str] | None
    status: str | None
    loa_codes: Sequence[str] | None
    loa_categories: Sequence[str] | None


def _taken(filters: type[RecordFilters]) -> frozenset[str]:
    """The filters a resource's lists take, read from its typed keywords, so that the
    run-time check (for an untyped caller) and the type checker refuse the same ones."""
    return frozenset(filters.__annotations__) - RequestOptions.__annotations__.keys() | {"npns"}


@dataclass(frozen=True)
class RecordSpec(Generic[M]):
    key: str  # path segment and `embedded` key
    model: type[M]
    filters: frozenset[str]


SPECS: dict[str, RecordSpec[Any]] = {
    "entities": RecordSpec("entities", Entity, _taken(RecordFilters)),
    "licenses": RecordSpec("licenses", License, _taken(LicenseFilters)),
    "license_loas": RecordSpec("licenseLoas", LicenseLoa, _taken(LicenseLoaFilters)),
    "appointments": RecordSpec("appointments", Appointment, _taken(AppointmentFilters)),
    "addresses": RecordSpec("addresses", Address, _taken(StateFilters)),
    "contact_infos": RecordSpec("contactInfos", ContactInfo, _taken(StateFilters)),
    "other_names": RecordSpec("otherNames", OtherName, _taken(StateFilters)),
    "regulatory_actions": RecordSpec("regulatoryActions", RegulatoryAction, _taken(StateFilters)),
}


@dataclass(frozen=True)
class Filters:
    """A list call's filters, checked against what the resource accepts."""

    npns: Sequence[str] | None = None
    states: Sequence[str] | None = None
    updated_since: dt.date | str | None = None
    include_deleted: bool | None = None
    active: bool | None = None
    loa_codes: Sequence[str] | None = None
    loa_categories: Sequence[str] | None = None
    co_codes: Sequence[str] | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        # Checked when the list is made, before any request.
        for name in _LISTS:
            value = getattr(self, name)
            if value is not None:
                checked = npn_list(value) if name == "npns" else string_list(value, name)
                object.__setattr__(self, name, checked)
        for name, kinds, what in _SCALARS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, kinds):
                raise TypeError(f"{name} takes {what}, not {value!r:.60}")
        if isinstance(self.updated_since, str):
            object.__setattr__(self, "updated_since", _since(self.updated_since))

    def params(self, spec: RecordSpec[Any], *, per_npn: bool = False) -> dict[str, str]:
        params: dict[str, str] = {}
        for name, wire in _WIRE.items():
            value = getattr(self, name)
            if value is None:
                continue
            if name not in spec.filters or (per_npn and name == "npns"):
                raise TypeError(f"{spec.key} lists do not take the {name!r} filter")
            if isinstance(value, dt.datetime):
                # A datetime is a date, and would go out as 2024-01-01T10:00:00: a 400 from
                # the API, once the list is read.
                raise TypeError(f"{name} takes a date, not a datetime: pass {value!r:.60}.date()")
            params[wire] = query_value(value)
        return params

    def selects_nothing(self) -> bool:
        """Whether a list filter is given empty (``npns=[]``, ``states=[]``): no record is
        in none of them, so the read sends nothing and has no pages. Sent, an empty list
        went out as ``states=``, the API's 400 when the list was read (``npns=[]`` alone
        read nothing, and ``list_by_page(npns=[])`` that 400)."""
        return any(getattr(self, name) == [] for name in _LISTS)

    def npn_chunks(self) -> list[Sequence[str] | None]:
        """The NPN partitions one list is fetched in (each is one ``npns=`` stream); none
        for an empty ``npns``."""
        if self.npns is None:
            return [None]
        npns = list(dict.fromkeys(self.npns))
        return [npns[i : i + NPN_CHUNK] for i in range(0, len(npns), NPN_CHUNK)]


def _since(value: str) -> dt.date:
    """``updated_since`` given as text, read as the API reads ``updatedSince``: a date as
    yyyy-MM-dd, spaces around it aside (sent as the date alone); else ``ValueError``
    naming it. Sent as it came, a bad one (``"2024-13-01"``, ``"yesterday"``, a date and
    a time) would fail the list only when it is read, at its first page, with the API's
    400."""
    try:
        return iso_date(trim(value))
    except ValueError as exc:
        raise ValueError(f"updated_since: {value!r:.60} is {exc}") from None


# path (None: the filters select nothing, and no page is read), params, page parser
PageRequest = tuple[str | None, dict[str, Any], Any]


def _resumable(token: str, partitions: int) -> None:
    """Refuse, before any request, a continuation token that cannot resume the list: one
    that is not a token, or one for a list read in several NPN partitions (each has its
    own tokens: one would resume them all at the same place)."""
    if not isinstance(token, str) or not token:
        raise ValueError(f"continuation_token: {token!r:.60} is not a continuation token")
    if partitions > 1:
        raise ValueError(
            f"continuation_token resumes one partition of {NPN_CHUNK} NPNs: this list has "
            f"{partitions}"
        )


def _resume(params: dict[str, Any], token: str | None) -> dict[str, Any]:
    """The ``params`` of a read in one stream (an NPN's, a record's children), started at
    ``token`` if given."""
    if token is not None:
        _resumable(token, 1)
        params["continuationToken"] = token
    return params


def _unless_nothing(filters: Filters, path: str) -> str | None:
    """``path``, or None when ``filters`` select nothing (no page read)."""
    return None if filters.selects_nothing() else path


def _spelled_out(method: Callable[..., Any]) -> inspect.Signature:
    """A list method's signature with its ``**filters`` spelled out, each a keyword of
    its own, and its ``RequestOptions`` left as ``**options``: what it takes, in
    ``help()``, which shows ``Unpack[LicenseFilters]`` by that name alone (and
    ``help(LicenseFilters)`` a dict's methods). A type checker reads the annotations."""
    signature = inspect.signature(method)
    *fixed, keywords = signature.parameters.values()
    filters = get_args(inspect.get_annotations(method, eval_str=True)[keywords.name])[0]
    spelled = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint.__forward_arg__
        )
        for name, hint in filters.__annotations__.items()
        if name not in RequestOptions.__annotations__
    ]
    options = keywords.replace(name="options", annotation="Unpack[RequestOptions]")
    return signature.replace(parameters=[*fixed, *spelled, options])


class _RecordsMixin(Generic[M]):
    spec: RecordSpec[M]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The list methods a class declares (for its filters' type), as help() shows them.
        super().__init_subclass__(**kwargs)
        for name in ("list", "list_by_page", "for_npn"):
            method = vars(cls).get(name)
            if method is not None:
                method.__signature__ = _spelled_out(method)

    @staticmethod
    def _split(
        npns: Sequence[str] | None, keywords: Mapping[str, Any]
    ) -> tuple[Filters, RequestOptions]:
        """A list call's filters (checked as ``Filters`` checks them) and its options,
        from the one ``**`` parameter that holds both; a keyword that is neither is
        ``checked``'s ``TypeError`` when the list is made."""
        filters = {name: value for name, value in keywords.items() if name in _WIRE}
        options = {name: value for name, value in keywords.items() if name not in _WIRE}
        return Filters(**{"npns": npns, **filters}), cast(RequestOptions, options)

    def _parser(self, size: int | None, key: str | None = None, model: Any = None) -> Any:
        return partial(
            parse_page, key=key or self.spec.key, model=model or self.spec.model, size=size
        )

    def _list_requests(
        self, filters: Filters, page_size: int, continuation_token: str | None
    ) -> list[PageRequest]:
        """One v2 page stream per NPN partition, the one resumed at ``continuation_token``
        if given."""
        parse = self._parser(valid_page_size(page_size))
        partitions = self._chunk_params(filters, page_size)
        if continuation_token is not None:
            _resumable(continuation_token, len(partitions))
            for params in partitions:
                params["continuationToken"] = continuation_token
        return [(f"/v2/{self.spec.key}", params, parse) for params in partitions]

    def _by_page_request(self, filters: Filters, page: int, page_size: int) -> PageRequest:
        params: dict[str, Any] = filters.params(self.spec)
        params.update(page=valid_page(page), size=valid_page_size(page_size))
        return _unless_nothing(filters, f"/v1/{self.spec.key}"), params, self._parser(None)

    def _for_npn_request(
        self, npn: str, filters: Filters, page_size: int, continuation_token: str | None
    ) -> PageRequest:
        params: dict[str, Any] = filters.params(self.spec, per_npn=True)
        params["size"] = str(valid_page_size(page_size))
        path = _unless_nothing(filters, f"/v2/entities/{valid_npn(npn)}/{self.spec.key}")
        return path, _resume(params, continuation_token), self._parser(page_size)

    def _children_request(
        self,
        path: str,
        page_size: int,
        continuation_token: str | None,
        key: str | None = None,
        model: Any = None,
    ) -> PageRequest:
        """One record's children (a license's LOAs, an action's values), a v2 stream."""
        params = _resume({"size": valid_page_size(page_size)}, continuation_token)
        return path, params, self._parser(page_size, key, model)

    def _chunk_params(self, filters: Filters, page_size: int) -> list[dict[str, str]]:
        base = Filters(**{**filters.__dict__, "npns": None}).params(self.spec)
        base["size"] = str(page_size)
        if filters.selects_nothing():
            return []
        out = []
        for chunk in filters.npn_chunks():
            params = dict(base)
            if chunk is not None:
                params["npns"] = query_value(chunk)
            out.append(params)
        return out


def _pages_shown(pages: SyncRecordPages[Any] | AsyncRecordPages[Any]) -> str:
    """A list's ``repr``: its first request, how many NPN partitions it reads, and at what
    concurrency; not its records, which it has not read."""
    pagers = pages._pagers
    if not pagers:
        return f"{type(pages).__name__}(nothing: a filter list is empty; lazy)"
    more = f", and {len(pagers) - 1} NPN partitions more" if len(pagers) > 1 else ""
    concurrency = f", concurrency={pages._concurrency}" if len(pagers) > 1 else ""
    return f"{type(pages).__name__}({pagers[0]._shown()}{more}{concurrency}; lazy)"


# --- sync ---------------------------------------------------------------------------


def _all_pages(pager: SyncPager[M], left: threading.Event) -> list[SyncPage[M]]:
    """A partition's pages, to its end or until the list is ``left``: a page more would
    be read, and a slot of the rate limit spent, for no one."""
    pages = []
    for page in pager.pages():
        pages.append(page)
        if left.is_set():
            break
    return pages


class SyncRecordPages(Generic[M]):
    """A list of records over one or many NPN partitions; iterate records, or pages()."""

    def __init__(self, pagers: list[SyncPager[M]], concurrency: int) -> None:
        self._pagers, self._concurrency = pagers, valid_concurrency(concurrency)

    def __repr__(self) -> str:
        return _pages_shown(self)

    def pages(self) -> Iterator[SyncPage[M]]:
        if self._concurrency == 1 or len(self._pagers) == 1:
            for pager in self._pagers:
                yield from pager.pages()
            return
        # Partitions fetched in parallel threads (the client's pacer is shared and
        # thread-safe), yielded in order; a sliding window of 2x concurrency keeps every
        # thread busy while bounding what is held in memory.
        pagers = iter(self._pagers)
        left = threading.Event()
        with ThreadPoolExecutor(self._concurrency) as pool:
            pending = deque(
                pool.submit(_all_pages, p, left) for p in islice(pagers, 2 * self._concurrency)
            )
            try:
                while pending:
                    pages = pending.popleft().result()
                    following = next(pagers, None)
                    if following is not None:
                        pending.append(pool.submit(_all_pages, following, left))
                    yield from pages
            finally:
                # Left before the end (a break, a partition's error): the partitions being
                # read stop after their current page and the others never start. The
                # pool's exit waits for its threads, and it waited for every partition
                # of the window to be read to its end, the rate limit spent on it.
                left.set()
                for future in pending:
                    future.cancel()

    def __iter__(self) -> Iterator[M]:
        for page in self.pages():
            yield from page.items


class Records(SyncResource, _RecordsMixin[M]):
    """A resource's lists and records; each subclass types its lists' filters."""

    def __init__(self, client: Any, spec: RecordSpec[M]) -> None:
        super().__init__(client)
        self.spec = spec

    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[RecordFilters],
    ) -> SyncRecordPages[M]:
        """Records of the subscribed population (v2, continuation tokens), lazily.

        Each resource takes its own filters (typed as ``RecordFilters``,
        ``LicenseFilters``...). Many ``npns`` are fetched in partitions of 500;
        ``concurrency`` fetches that many partitions at once, all within the client's
        rate limit. ``continuation_token`` (a page's ``next_continuation_token``, saved)
        resumes the list there, given the filters it was read with. ``deadline=`` and
        ``priority=`` (``RequestOptions``) go with the request of every page."""
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[RecordFilters],
    ) -> SyncPager[M]:
        """The same records through the v1 page-numbered list, from ``page`` on, with
        the same filters as ``list``."""
        return self._list_by_page(npns, page, page_size, filters)

    def get(self, record_id: int, **options: Unpack[RequestOptions]) -> M:
        """One record by its id (v1)."""
        return self._get_model(
            self.spec.model, f"/v1/{self.spec.key}/{valid_id(record_id, 'record_id')}", **options
        )

    def _list(
        self,
        npns: Sequence[str] | None,
        page_size: int,
        concurrency: int,
        continuation_token: str | None,
        keywords: Mapping[str, Any],
    ) -> SyncRecordPages[M]:
        filters, options = self._split(npns, keywords)
        requests = self._list_requests(filters, page_size, continuation_token)
        fetch = self._fetch(options)
        return SyncRecordPages([SyncPager(fetch, *r) for r in requests], concurrency)

    def _list_by_page(
        self,
        npns: Sequence[str] | None,
        page: int,
        page_size: int,
        keywords: Mapping[str, Any],
    ) -> SyncPager[M]:
        filters, options = self._split(npns, keywords)
        return SyncPager(self._fetch(options), *self._by_page_request(filters, page, page_size))


class NpnRecords(Records[M]):
    """The records the API also lists by NPN (``/v2/entities/{npn}/<resource>``): every
    list but entities' and LOAs'. Those two have no ``for_npn``, so that a type checker
    refuses the call the API has no route for. These lists take ``StateFilters``;
    licenses' and appointments' take more."""

    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[StateFilters],
    ) -> SyncRecordPages[M]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[StateFilters],
    ) -> SyncPager[M]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[StateFilters],
    ) -> SyncPager[M]:
        """One NPN's records, with the filters of ``list`` but ``npns``, as the API's
        per-NPN lists take them. The API subscribes the NPN if it is not yet: never poll
        NPNs one by one (the developer policy forbids it); list with ``npns=``.
        ``continuation_token`` resumes the read as ``list``'s does."""
        return self._for_npn(npn, page_size, continuation_token, filters)

    def _for_npn(
        self,
        npn: str,
        page_size: int,
        continuation_token: str | None,
        keywords: Mapping[str, Any],
    ) -> SyncPager[M]:
        filters, options = self._split(None, keywords)
        request = self._for_npn_request(npn, filters, page_size, continuation_token)
        return SyncPager(self._fetch(options), *request)


class Licenses(NpnRecords[License]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseFilters],
    ) -> SyncRecordPages[License]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[LicenseFilters],
    ) -> SyncPager[License]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseFilters],
    ) -> SyncPager[License]:
        return self._for_npn(npn, page_size, continuation_token, filters)


class Appointments(NpnRecords[Appointment]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[AppointmentFilters],
    ) -> SyncRecordPages[Appointment]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[AppointmentFilters],
    ) -> SyncPager[Appointment]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[AppointmentFilters],
    ) -> SyncPager[Appointment]:
        return self._for_npn(npn, page_size, continuation_token, filters)


class Entities(Records[Entity]):
    def get(self, npn: str, **options: Unpack[RequestOptions]) -> Entity:  # type: ignore[override]
        """The entity of one NPN (the API subscribes it if needed)."""
        return self._get_model(Entity, f"/v2/entities/{valid_npn(npn)}", **options)


class LicenseLoas(Records[LicenseLoa]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseLoaFilters],
    ) -> SyncRecordPages[LicenseLoa]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[LicenseLoaFilters],
    ) -> SyncPager[LicenseLoa]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_license(
        self,
        license_id: int,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPager[LicenseLoa]:
        """One license's LOAs (v2), lazily; ``continuation_token`` resumes the read as
        ``list``'s does."""
        path = f"/v2/licenses/{valid_id(license_id, 'license_id')}/licenseLoas"
        request = self._children_request(path, page_size, continuation_token)
        return SyncPager(self._fetch(options), *request)


class RegulatoryActions(NpnRecords[RegulatoryAction]):
    def values(
        self,
        action_id: int,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncPager[RegulatoryActionValue]:
        """One regulatory action's values (v2), lazily; ``continuation_token`` resumes
        the read as ``list``'s does."""
        path = f"/v2/regulatoryActions/{valid_id(action_id, 'action_id')}/regulatoryActionValues"
        request = self._children_request(
            path, page_size, continuation_token, "regulatoryActionValues", RegulatoryActionValue
        )
        return SyncPager(self._fetch(options), *request)

    def get_value(self, value_id: int, **options: Unpack[RequestOptions]) -> RegulatoryActionValue:
        """One regulatory action value by its id (v1)."""
        return self._get_model(
            RegulatoryActionValue,
            f"/v1/regulatoryActionValues/{valid_id(value_id, 'value_id')}",
            **options,
        )


# --- async --------------------------------------------------------------------------


async def _drain(results: list[list[AsyncPage[M]]], index: int, pager: AsyncPager[M]) -> None:
    results[index] = [page async for page in pager.pages()]


class AsyncRecordPages(Generic[M]):
    def __init__(self, pagers: list[AsyncPager[M]], concurrency: int) -> None:
        self._pagers, self._concurrency = pagers, valid_concurrency(concurrency)

    def __repr__(self) -> str:
        return _pages_shown(self)

    async def pages(self) -> AsyncIterator[AsyncPage[M]]:
        if self._concurrency == 1 or len(self._pagers) == 1:
            for pager in self._pagers:
                async for page in pager.pages():
                    yield page
            return
        for start in range(0, len(self._pagers), self._concurrency):
            window = self._pagers[start : start + self._concurrency]
            results: list[list[AsyncPage[M]]] = [[] for _ in window]

            failed: BaseException | None = None
            try:
                async with anyio.create_task_group() as group:
                    for index, pager in enumerate(window):
                        group.start_soon(_drain, results, index, pager)
            except BaseExceptionGroup as group_error:
                # The task group wraps what a partition raised, where callers catch the
                # SDK's errors (and Client's threads raise them bare). The first to fail
                # cancelled the others, so there is seldom a second.
                failed = group_error.exceptions[0]
            if failed is not None:
                raise failed  # out here, its own cause and context stay as they were
            for pages in results:
                for page in pages:
                    yield page

    async def __aiter__(self) -> AsyncIterator[M]:
        async for page in self.pages():
            for item in page.items:
                yield item


@documented_as(Records)
class AsyncRecords(AsyncResource, _RecordsMixin[M]):
    def __init__(self, client: Any, spec: RecordSpec[M]) -> None:
        super().__init__(client)
        self.spec = spec

    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[RecordFilters],
    ) -> AsyncRecordPages[M]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[RecordFilters],
    ) -> AsyncPager[M]:
        return self._list_by_page(npns, page, page_size, filters)

    async def get(self, record_id: int, **options: Unpack[RequestOptions]) -> M:
        return await self._get_model(
            self.spec.model, f"/v1/{self.spec.key}/{valid_id(record_id, 'record_id')}", **options
        )

    def _list(
        self,
        npns: Sequence[str] | None,
        page_size: int,
        concurrency: int,
        continuation_token: str | None,
        keywords: Mapping[str, Any],
    ) -> AsyncRecordPages[M]:
        filters, options = self._split(npns, keywords)
        requests = self._list_requests(filters, page_size, continuation_token)
        fetch = self._fetch(options)
        return AsyncRecordPages([AsyncPager(fetch, *r) for r in requests], concurrency)

    def _list_by_page(
        self,
        npns: Sequence[str] | None,
        page: int,
        page_size: int,
        keywords: Mapping[str, Any],
    ) -> AsyncPager[M]:
        filters, options = self._split(npns, keywords)
        return AsyncPager(self._fetch(options), *self._by_page_request(filters, page, page_size))


@documented_as(NpnRecords)
class AsyncNpnRecords(AsyncRecords[M]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[StateFilters],
    ) -> AsyncRecordPages[M]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[StateFilters],
    ) -> AsyncPager[M]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[StateFilters],
    ) -> AsyncPager[M]:
        return self._for_npn(npn, page_size, continuation_token, filters)

    def _for_npn(
        self,
        npn: str,
        page_size: int,
        continuation_token: str | None,
        keywords: Mapping[str, Any],
    ) -> AsyncPager[M]:
        filters, options = self._split(None, keywords)
        request = self._for_npn_request(npn, filters, page_size, continuation_token)
        return AsyncPager(self._fetch(options), *request)


@documented_as(Licenses)
class AsyncLicenses(AsyncNpnRecords[License]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseFilters],
    ) -> AsyncRecordPages[License]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[LicenseFilters],
    ) -> AsyncPager[License]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseFilters],
    ) -> AsyncPager[License]:
        return self._for_npn(npn, page_size, continuation_token, filters)


@documented_as(Appointments)
class AsyncAppointments(AsyncNpnRecords[Appointment]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[AppointmentFilters],
    ) -> AsyncRecordPages[Appointment]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[AppointmentFilters],
    ) -> AsyncPager[Appointment]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_npn(
        self,
        npn: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **filters: Unpack[AppointmentFilters],
    ) -> AsyncPager[Appointment]:
        return self._for_npn(npn, page_size, continuation_token, filters)


@documented_as(Entities)
class AsyncEntities(AsyncRecords[Entity]):
    async def get(  # type: ignore[override]
        self, npn: str, **options: Unpack[RequestOptions]
    ) -> Entity:
        return await self._get_model(Entity, f"/v2/entities/{valid_npn(npn)}", **options)


@documented_as(LicenseLoas)
class AsyncLicenseLoas(AsyncRecords[LicenseLoa]):
    def list(
        self,
        *,
        npns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = 1,
        continuation_token: str | None = None,
        **filters: Unpack[LicenseLoaFilters],
    ) -> AsyncRecordPages[LicenseLoa]:
        return self._list(npns, page_size, concurrency, continuation_token, filters)

    def list_by_page(
        self,
        *,
        npns: Sequence[str] | None = None,
        page: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[LicenseLoaFilters],
    ) -> AsyncPager[LicenseLoa]:
        return self._list_by_page(npns, page, page_size, filters)

    def for_license(
        self,
        license_id: int,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPager[LicenseLoa]:
        path = f"/v2/licenses/{valid_id(license_id, 'license_id')}/licenseLoas"
        request = self._children_request(path, page_size, continuation_token)
        return AsyncPager(self._fetch(options), *request)


@documented_as(RegulatoryActions)
class AsyncRegulatoryActions(AsyncNpnRecords[RegulatoryAction]):
    def values(
        self,
        action_id: int,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncPager[RegulatoryActionValue]:
        path = f"/v2/regulatoryActions/{valid_id(action_id, 'action_id')}/regulatoryActionValues"
        request = self._children_request(
            path, page_size, continuation_token, "regulatoryActionValues", RegulatoryActionValue
        )
        return AsyncPager(self._fetch(options), *request)

    async def get_value(
        self, value_id: int, **options: Unpack[RequestOptions]
    ) -> RegulatoryActionValue:
        return await self._get_model(
            RegulatoryActionValue,
            f"/v1/regulatoryActionValues/{valid_id(value_id, 'value_id')}",
            **options,
        )
