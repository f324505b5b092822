"""Pulling records from the API into the mirror, one page at a time.

A pull is a list of ``Stream``s (one resource, one set of filters); each stream is read
page by page, and each page is upserted in its own transaction and answers the path of
the next page. That path (it carries the continuation token) is all a caller has to keep
to resume a stream after a crash, so the workflows checkpoint it after every page.

Streams run side by side under one rate limit, and a stream's pages come one after
another: its next pages are read while a page is written (``read_ahead``). A pass over the whole
population first counts each stream's records, and the pacer serves the stream with the
most pages left first: the longest (LOAs, several a license) would otherwise get an
equal share of the requests and then run on alone, at one request per round trip, long
after the rest.

A pass starts from the subscriptions list, and covers the NPNs listed then. A storm sent
as several requests is several subscription jobs, committed seconds apart, so the list
is read on until it has held still for a while (its last page again every 2 s); its
pages are read meanwhile, in slots that would otherwise go unused, and as each counts
the whole list, those that came after it last grew count toward the wait. A job may
still commit after the list was read; while the pass is young, restarting it costs less
than fetching the newcomers apart. So every few seconds the pass counts the list again,
and stops with ``PopulationGrew`` while the pages it has read are fewer than the
newcomers' share of the pages it counted.

A license nests all its LOAs, deleted ones included, and a pull of whole NPNs (the
population, or an activation's ``npns=``) stores them from there: its own ``licenseLoas``
list (a third of the pages) is read only when the licenses did not bring as many LOAs
as that list holds (an API nesting fewer), which one count asks.

No DBOS here: the workflows wrap these calls in steps, and the CLI calls them directly.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from producersync.client import (
    BadRequestError,
    Cancellation,
    Client,
    ResponseValidationError,
)
from producersync.client.pagination import LoopGuard, Page, parse_raw_page
from producersync.client.resources.records import SPECS, Filters, RecordSpec
from producersync.model.records import nested_list
from producersync.model.subscriptions import Subscription
from producersync.sync import mirror
from producersync.sync.heartbeat import DEFAULT_INTERVAL, Heartbeat
from producersync.sync.hooks import Batch, Hooks
from producersync.sync.mirror.tables import CHILDREN
from producersync.sync.read_ahead import Parsed, ReadAhead

__all__ = [
    "NESTED_LISTS",
    "ContinuationRefused",
    "Finished",
    "OnListPage",
    "PageFn",
    "PageResult",
    "PopulationGrew",
    "Puller",
    "Stream",
    "batches_of",
    "pull",
    "pull_stream",
    "streams",
]

_BY_KEY: dict[str, RecordSpec[Any]] = {spec.key: spec for spec in SPECS.values()}
_POPULATION_READERS = 8  # enough that the pacer, not the round trip, sets the pace
_SUBSCRIPTIONS = "/v1/accounts/subscriptions"
# A list whose records come nested in another's: child list -> (parent list, the key
# the parent's records nest them under).
NESTED_LISTS = {"licenseLoas": ("licenses", "licenseLoas")}
_SETTLE_POLL = 2.0  # seconds between two counts of a list settling
_SETTLE_MOST = 60.0  # a list still growing after this long is read as it is
_SIGNAL_POLL = 0.5  # seconds the main thread sleeps at most while streams are read
_RESTARTS = 3  # times a stream starts over when its continuation is refused
_NESTED_KEYS = tuple(key for key, _, _ in CHILDREN.values())  # a license's "licenseLoas"

log = logging.getLogger(__name__)


class ContinuationRefused(Exception):
    """The API answered a stream's next page with a 400: its continuation token is one
    the API no longer takes (expired, or issued before the service changed how it
    binds them). The stream is read again from its first page (``pull_stream``)."""


class PopulationGrew(Exception):
    """NPNs were subscribed after a young pass over the population read the list: it
    stops, and the caller starts another from the list as it is now."""


@dataclass
class _Watch:
    """What a pull of whole NPNs knows of what came nested and, a pass over the
    population, of its own list and progress."""

    listed: int | None  # NPNs in the list it started from (None: growth not watched)
    planned: int = 0  # pages its streams counted ahead
    read: int = 0  # pages read so far
    checked: float = field(default_factory=time.monotonic)
    grown: str | None = None  # why it stopped
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The records each parent stream's pages brought nested, by child list and NPNs
    # (each page is read once, and a child stream has one parent: a count is a count of
    # distinct records, and each is written by the one stream's pages, in turn).
    nested: Counter[tuple[str, str | None]] = field(default_factory=Counter)


@dataclass(frozen=True)
class Finished:
    """A run closed: how long it took, and the runDate recorded as synced through (None
    when it recorded none: failed, or not a pull that completes a day)."""

    seconds: float
    synced_through: dt.date | None


@dataclass(frozen=True)
class _Read:
    """A page of the subscriptions list, and when it came."""

    page: Page[Subscription]
    at: float  # time.monotonic()


@dataclass(frozen=True)
class Stream:
    """One paged list: a resource (its wire name, as in ``mirror.RESOURCES``) and the
    query of its first page."""

    resource: str
    params: tuple[tuple[str, str], ...]

    @property
    def whole_population(self) -> bool:
        """Every record of every subscribed NPN: hundreds of pages, not a few."""
        return not {"npns", "updatedSince"} & {name for name, _ in self.params}

    @property
    def npns(self) -> str | None:
        """The ``npns=`` it asks for (None: the whole population)."""
        return dict(self.params).get("npns")

    @property
    def comes_nested(self) -> bool:
        """A list of whole NPNs whose records another list's pages of the same NPNs
        bring nested (it is read after that one, and only if they did not all come).
        Not one of changes: an LOA updated since a day may be a license's that was not."""
        return self.resource in NESTED_LISTS and self._whole_npns

    def nested_in(self, other: Stream) -> bool:
        """Whether ``other``'s pages bring this stream's records nested: it is the
        parent list, of the same whole NPNs."""
        parent = NESTED_LISTS[self.resource][0] if self.comes_nested else None
        return other.resource == parent and other._whole_npns and other.npns == self.npns

    @property
    def _whole_npns(self) -> bool:
        return "updatedSince" not in dict(self.params)


@dataclass(frozen=True)
class PageResult:
    next_path: str | None  # None: the stream is done
    upserted: int  # records inserted or changed


def streams(*, since: dt.date | None = None, npns: Sequence[str] | None = None) -> list[Stream]:
    """Every resource's streams: records updated on or after ``since`` (all if None), of
    ``npns`` (the whole population if None), deleted ones included, so that
    ``niprDeleted`` reaches the mirror. Many NPNs are split the way the SDK splits them,
    one stream per partition."""
    found = []
    for resource in mirror.RESOURCES:
        spec = _BY_KEY[resource]
        for chunk in Filters(npns=npns).npn_chunks():  # none for no NPNs
            filters = Filters(npns=chunk, updated_since=since, include_deleted=True)
            found.append(Stream(resource, tuple(sorted(filters.params(spec).items()))))
    return found


class Puller:
    """Pages from the API into the mirror; shared by the workflows and the CLI."""

    def __init__(
        self,
        client: Client,
        engine: sa.Engine,
        page_size: int,
        on_upsert: Callable[[str, int], None] | None = None,
        hooks: Hooks | None = None,
        *,
        settle_seconds: float = 0.0,
        growth_check_seconds: float = 30.0,
        heartbeat_seconds: float = DEFAULT_INTERVAL,
    ) -> None:
        self._client, self._engine, self._size = client, engine, page_size
        # The runs started here (and taken back after a restart) shown alive while they
        # go on, so that one whose process dies is shown interrupted.
        self._heartbeat = Heartbeat(engine, heartbeat_seconds)
        self._on_upsert, self._hooks = on_upsert, Hooks(engine) if hooks is None else hooks
        self._settle, self._growth_check = settle_seconds, growth_check_seconds
        # The passes over the population this process started, by run: a hint as well
        # (a pass resumed after a restart goes on without its watch).
        self._watches: dict[int, _Watch] = {}
        # Pages each whole-population stream has left, as counted when it started: its
        # requests' priority, so the pacer serves the longest first. A hint only: a
        # stream resumed after a restart goes on without it.
        self._pages_left: dict[Stream, int] = {}
        # Each stream's next pages, read while its last ones are written (``read_ahead``).
        self._ahead: dict[Stream, ReadAhead] = {}
        self._ahead_lock = threading.Lock()
        # The runs whose streams this process pulls side by side (``pull``), by run: the
        # stop of each, which ends their requests' waits for the rate limit when it ends
        # early. Not the workflows': each of their pages is a step, and a crash resumes it.
        self._stops: dict[int, Cancellation] = {}

    def batch(self) -> AbstractContextManager[Batch]:
        """Around a write transaction outside a page (a purge's): its changes, ``hold``
        last in it, go to the hooks once it commits (``Hooks.batch``)."""
        return self._hooks.batch()

    def page(self, stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        """Fetch the page at ``path`` (the stream's first if None) and upsert it."""
        spec = _BY_KEY[stream.resource]
        params = None if path else {**dict(stream.params), "size": str(self._size)}
        ahead = self._take_ahead(stream, path)
        stop = self._stop(run_id)
        watch = self._watches.get(run_id) if run_id else None
        if watch is not None and stream.whole_population:
            self._watch_growth(watch)
        if path is None and stream.whole_population:
            pages = math.ceil(self._count(stream, stop) / self._size)
            self._pages_left[stream] = pages
            if watch is not None:
                watch.planned += pages
        left = self._pages_left.get(stream, 0)
        try:
            # Its error, if reading it ahead failed, is this page's.
            read = ahead.take(path) if ahead is not None and path is not None else None
            if read is None:
                if ahead is not None:
                    ahead.close()
                ahead = None
                read = self._fetch(spec.key, path or f"/v2/{spec.key}", left, stop, params)
        except BadRequestError as exc:
            if path is None:
                raise
            raise ContinuationRefused(f"/v2/{spec.key}: {exc}") from exc
        records, next_path = read
        if watch is not None:
            _note_nested(watch, stream, records)
        if next_path is None:
            self._pages_left.pop(stream, None)
        else:
            if stream in self._pages_left:
                self._pages_left[stream] = left - 1
            if ahead is None:
                fetch = functools.partial(self._fetch, spec.key, stop=stop)
                ahead = ReadAhead(fetch, next_path, left - 1)
            with self._ahead_lock:
                self._ahead[stream] = ahead
        try:
            # The stream with most pages left writes first, as it asks first at the pacer.
            with (
                self._hooks.batch() as batch,
                mirror.write_transaction(self._engine, priority=left) as conn,
            ):
                counts = mirror.upsert_records(
                    conn, stream.resource, records, run_id=run_id, changes=batch.wanted
                )
                batch.hold(counts.changes)  # its appends were last: in commit order
        except BaseException:
            # This page will be read again, so the one asked ahead may never be: it is
            # dropped, not kept for a stream (an activation's NPNs) that may never come back.
            self._take_ahead(stream, None)
            raise
        for bad in counts.malformed:
            _report(bad)
        upserted = counts.inserted + counts.updated
        if self._on_upsert is not None:
            self._on_upsert(stream.resource, upserted)
        return PageResult(next_path, upserted)

    def _fetch(
        self,
        key: str,
        path: str,
        priority: float,
        stop: Cancellation | None,
        params: Mapping[str, str] | None = None,
    ) -> Parsed:
        """The page at ``path`` of the list ``key``, fetched and parsed."""
        body = self._client.request(
            "GET", path, params=params, raw=True, priority=priority, cancel=stop
        )
        return parse_raw_page(body, key, self._size, at=path)

    def _take_ahead(self, stream: Stream, path: str | None) -> ReadAhead | None:
        """The stream's reader, if it may read on from ``path``; any other is not wanted."""
        with self._ahead_lock:
            ahead = self._ahead.pop(stream, None)
        if ahead is not None and path is None:
            ahead.close()
            return None
        return ahead

    def _count(self, stream: Stream, stop: Cancellation | None) -> int:
        """The stream's records, ahead of every page: it is what orders the others."""
        return self._total(f"/v1/{_BY_KEY[stream.resource].key}", dict(stream.params), stop)

    def _stop(self, run_id: int | None) -> Cancellation | None:
        """The stop of the pull of ``run_id`` in this process (``pull``); None for a
        workflow's page."""
        return None if run_id is None else self._stops.get(run_id)

    def pull(
        self, todo: Sequence[Stream], run_id: int, *, concurrency: int, page: PageFn | None = None
    ) -> dict[str, int]:
        """Every stream of ``todo`` for the run ``run_id``, in this process (``sync now``,
        ``sync backfill``): a whole-population list whose records its parent's pages
        brought nested is not read (``page``: ``self.page``, wrapped)."""
        self._watches[run_id] = _Watch(None)  # counts what comes nested; not the list
        self._stops[run_id] = stop = Cancellation()
        try:
            whole = functools.partial(self.nested_whole, run_id)
            return pull(
                todo,
                page or self.page,
                run_id,
                concurrency=concurrency,
                nested_whole=whole,
                stop=stop,
            )
        finally:
            del self._watches[run_id], self._stops[run_id]

    def nested_whole(self, run_id: int, stream: Stream) -> bool:
        """Whether the pull ``run_id`` has every record of ``stream`` (a nested list)
        already: its parent's pages, of the same NPNs, brought as many as the list
        holds. False when this process did not see the whole parent list (a pull
        resumed after a restart)."""
        watch = self._watches.get(run_id)
        key = (stream.resource, stream.npns)
        if watch is None or key not in watch.nested:
            return False
        return watch.nested[key] >= self._count(stream, self._stop(run_id))

    def _total(self, path: str, params: Mapping[str, str], stop: Cancellation | None = None) -> int:
        """A v1 list's ``totalElements``, from a page of one."""
        query = {**params, "page": "0", "size": "1"}
        body = self._client.request("GET", path, params=query, priority=math.inf, cancel=stop)
        page = body.get("page") if isinstance(body, dict) else None
        total = page.get("totalElements") if isinstance(page, dict) else None
        if type(total) is not int:
            raise ResponseValidationError(f"{path} answered without page.totalElements")
        return total

    def _page(self, number: int, on_page: OnListPage | None) -> _Read:
        read = _Read(self._client.subscriptions.page(number), time.monotonic())
        if on_page is not None:
            on_page({s.npn: s.activated_at for s in read.page.items})
        return read

    def _read_on(self, reads: list[_Read], read: Callable[[int], _Read]) -> list[_Read]:
        """``reads`` and the list's pages after them, while the last says there is a
        next: as many at a time as the pages read count, side by side (a storm of
        100,000 NPNs is 100 pages, and a job committed meanwhile 50 more)."""
        with ThreadPoolExecutor(_POPULATION_READERS, thread_name_prefix="population") as pool:
            while reads[-1].page.has_next_page:
                counted = max(read.page.total_pages or 0 for read in reads)
                reads += pool.map(read, range(len(reads), max(counted, len(reads) + 1)))
        return reads

    def _settled(self, reads: list[_Read], read: Callable[[int], _Read]) -> list[_Read]:
        """The list's pages once it has held still ``settle_seconds`` (or after a minute
        of growing): its last page, read again every 2 s, shows a job committed since."""
        still = _still_since(reads)
        deadline = time.monotonic() + _SETTLE_MOST
        while time.monotonic() < min(still + self._settle, deadline):
            time.sleep(min(_SETTLE_POLL, self._settle))
            last = read(len(reads) - 1)
            if last.page.has_next_page or len(last.page.items) != len(reads[-1].page.items):
                reads = self._read_on([*reads[:-1], last], read)
                still = _still_since(reads)
        return reads

    def _watch_growth(self, watch: _Watch) -> None:
        """Count a page of a pass, and the list now and then; raise ``PopulationGrew``
        when starting over costs less than what the pass has read."""
        with watch.lock:
            watch.read += 1
            due = time.monotonic() - watch.checked >= self._growth_check
            # Past half way, only a list more than doubled would be worth a restart.
            young = watch.read < watch.planned / 2
            if watch.listed is not None and watch.grown is None and due and young:
                watch.checked = time.monotonic()
                subscribed = self._total(_SUBSCRIPTIONS, {})
                grown = subscribed - watch.listed
                if grown > 0 and watch.read < watch.planned * grown / subscribed:
                    watch.grown = f"{grown} NPNs subscribed since the pass read the list"
        if watch.grown is not None:
            raise PopulationGrew(watch.grown)

    def start(
        self,
        kind: str,
        *,
        run_date: dt.date | None,
        since: dt.date | None,
        started_by: str | None = None,
        alone_among: Sequence[str] = (),
    ) -> int:
        """A new run, kept shown alive by this process until it is finished
        (``started_by``, ``alone_among``: ``mirror.start_run``)."""
        lease = self._heartbeat.lease
        with mirror.write_transaction(self._engine) as conn:
            run_id = mirror.start_run(
                conn,
                kind,
                run_date=run_date,
                since=since,
                lease=lease,
                started_by=started_by,
                alone_among=alone_among,
            )
        self._heartbeat.attend(run_id, leased=True)
        return run_id

    def attend(self, run_id: int) -> None:
        """Keep run ``run_id``, started before, shown alive by this process: a workflow
        taken back after a restart gets its run's id from its recorded step, which
        does not run again. What its parent lists bring nested is counted from here
        (``nested_whole``)."""
        self._heartbeat.attend(run_id)
        self._watches.setdefault(run_id, _Watch(None))

    def interrupt(self, run_id: int) -> None:
        """Run ``run_id`` stops unfinished in this process (stopped by hand): shown
        interrupted at once."""
        self._heartbeat.release(run_id)
        with mirror.write_transaction(self._engine) as conn:
            mirror.interrupt_run(conn, run_id)

    def finish(
        self,
        run_id: int,
        counts: Mapping[str, int],
        *,
        synced_through: dt.date | None = None,
        error: str | None = None,
        restarted: bool = False,
    ) -> Finished:
        """Close the run; a complete one moves the last synced runDate (never back, and
        never past the day before the run started: ``mirror.record_synced_through``).
        ``restarted``: stopped with ``error`` to start over at once."""
        with mirror.write_transaction(self._engine) as conn:
            seconds = mirror.finish_run(conn, run_id, counts, error, restarted=restarted)
            recorded = None
            if synced_through is not None and error is None:
                recorded = mirror.record_synced_through(conn, run_id, synced_through)
        self._heartbeat.release(run_id)
        self._watches.pop(run_id, None)
        return Finished(seconds, recorded)

    def population(
        self, run_id: int | None = None, on_page: OnListPage | None = None
    ) -> dict[str, dt.datetime]:
        """The account's subscribed NPNs and when each was activated, from the API. The
        pages are numbered: after the first, which tells how many there are, the others
        are read side by side. The list grows at its end (oldest activation first), so a
        job committed meanwhile is read on, as long as the last page read says there is
        a next. With ``run_id``, the list is read on until it has settled (the pass's
        pages wait for it: a storm's jobs commit seconds apart, and the slots of that
        wait would go unused), and that run's pass is watched for NPNs subscribed after
        it. ``on_page`` is called with each page's NPNs as it comes (from the reading
        threads), so that what they are owed is written while the rest is read."""
        read = functools.partial(self._page, on_page=on_page)
        reads = self._read_on([read(0)], read)
        if run_id is not None:
            reads = self._settled(reads, read)
        listed = {s.npn: s.activated_at for read in reads for s in read.page.items}
        if run_id is not None:
            self._watches[run_id] = _Watch(len(listed))
        return listed

    def last_synced(self) -> dt.date | None:
        with self._engine.connect() as conn:
            return mirror.last_synced_run_date(conn)

    def sync_start(self) -> dt.date | None:
        """Where the next pull of changes starts (``mirror.sync_start``)."""
        with self._engine.connect() as conn:
            return mirror.sync_start(conn)


def _still_since(reads: Sequence[_Read]) -> float:
    """Since when the list has held still, as its pages tell: each counts the whole list
    as it was when it came, so the pages that came after the last one counting otherwise
    show it unchanged since the first of them (100 pages are 20 s at the rate limit, and
    a storm's second job commits while they are read). Pages that do not add up to the
    count are no such sign: now."""
    ordered = sorted(reads, key=lambda read: read.at)
    final = ordered[-1].page.total_elements
    if final is None or sum(len(read.page.items) for read in reads) != final:
        return time.monotonic()
    still = ordered[-1].at
    for read in reversed(ordered):
        if read.page.total_elements != final:
            break
        still = read.at
    return still


def _report(bad: mirror.Malformed) -> None:
    """One log line for a malformed field of a record written (once: written again
    unchanged, a record is not written), with its parts as fields of their own."""
    fields = {
        "resource": bad.resource,
        "record_id": bad.record_id,
        "npn": bad.npn,
        "field": bad.field,
        "value": bad.value,
    }
    what = f"{bad.resource} {bad.record_id} (NPN {bad.npn})"
    if bad.record_id is None:
        outcome = "not stored: a record needs an integer id"
    elif bad.field.startswith(_NESTED_KEYS):
        outcome = "that nested record is not stored in its own table (kept in this one)"
    else:
        outcome = (
            "stored, its typed column NULL and the value kept in its record (a NUL "
            "character, on PostgreSQL: as U+FFFD); listed by `producersync sync status` "
            "until the record changes"
        )
    log.warning("%s: %s is %s: %s", what, bad.field, bad.value, outcome, extra=fields)


def _note_nested(watch: _Watch, stream: Stream, records: Sequence[Any]) -> None:
    if not stream._whole_npns:
        return  # a page of changes: its children may be older than the day asked
    for child, (parent, key) in NESTED_LISTS.items():
        if parent == stream.resource:
            # Those a record's table can hold only: one not stored leaves the count
            # short, and the child list is read whole.
            count = sum(
                sum(type(c) is dict and type(c.get("id")) is int for c in nested)
                for record in records
                if type(record) is dict
                and type(nested := nested_list(record.get(key), key)) is list
            )
            watch.nested[child, stream.npns] += count


PageFn = Callable[[Stream, str | None, int | None], PageResult]
# Called with the NPNs of a page of the subscriptions list, and when each was activated.
OnListPage = Callable[[Mapping[str, dt.datetime]], None]


def pull_stream(stream: Stream, page: PageFn, run_id: int | None) -> int:
    """Read one stream to its end through ``page``; records upserted. Deterministic
    given ``page``'s answers, so a workflow may call it with a step. A continuation the
    API refuses starts the stream over, up to ``_RESTARTS`` times: the pages read again
    write only what changed since, where failing would leave the whole pull to the next
    day's catch-up."""
    upserted, path, restarts = 0, None, 0
    guard = LoopGuard(f"/v2/{stream.resource}")  # as the SDK's pagers: a loop never ends
    while True:
        try:
            result = page(stream, path, run_id)
        except ContinuationRefused as exc:
            restarts += 1
            if restarts > _RESTARTS:
                raise
            log.warning("%s; reading the list again from its first page", exc)
            path, guard = None, LoopGuard(f"/v2/{stream.resource}")
            continue
        upserted += result.upserted
        if result.next_path is None:
            return upserted
        guard.check(result.next_path)
        path = result.next_path


def pull(
    todo: Sequence[Stream],
    page: PageFn,
    run_id: int | None,
    *,
    concurrency: int = 1,
    nested_whole: Callable[[Stream], bool] | None = None,
    stop: Cancellation | None = None,
) -> dict[str, int]:
    """Read every stream to its end, ``concurrency`` streams at a time (threads: the
    client's pacer is shared, and the mirror serialises its writers); records upserted
    per resource. One stream at a time is one request at a time: the API's latency,
    not its rate limit, would set the pace. With ``nested_whole``, a whole-population
    list whose records come nested in another's is left for after the others, and read
    only if ``nested_whole`` says they did not all come. ``stop`` is cancelled when the
    pull ends early (Ctrl-C, a stream failed), so that the calls ``page`` makes under it
    give up their waits for the rate limit."""
    stop = Cancellation() if stop is None else stop
    deferred = [stream for stream in todo if nested_whole and stream.comes_nested]
    counts = _pull_all(
        [stream for stream in todo if stream not in deferred], page, run_id, concurrency, stop
    )
    if nested_whole is not None:
        rest = [stream for stream in deferred if not nested_whole(stream)]
        counts.update(_pull_all(rest, page, run_id, concurrency, stop))
    return dict(counts)


class _Stopped(Exception):
    """A stream stopped at a page boundary because the pull it belongs to is ending."""


def _pull_all(
    todo: Sequence[Stream],
    page: PageFn,
    run_id: int | None,
    concurrency: int,
    stop: Cancellation,
) -> Counter[str]:
    counts: Counter[str] = Counter({resource: 0 for resource in mirror.RESOURCES})

    def until_stopped(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        if stop.cancelled:
            raise _Stopped
        return page(stream, path, run_id)

    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="pull")
    try:
        pulls = {pool.submit(pull_stream, stream, until_stopped, run_id): stream for stream in todo}
        for done in _as_completed(pulls):
            counts[pulls[done].resource] += done.result()
    except BaseException:
        # Ctrl-C, or the first stream that failed: the others stop at their next page,
        # those not begun never begin, and those waiting for a slot leave the queue (a
        # request already sent is answered and its page written). Else the pool's exit
        # would wait for every stream to be read to its end, a `sync backfill` stopped by
        # hand going on for minutes before its run is recorded as stopped; and then for
        # the page each stream is on, its thread and the one asking its next page ahead
        # queued for slots a second apart at 60 a minute (8-16 s, past 30 s on a loaded
        # machine).
        stop.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return counts


def _as_completed(futures: Iterable[Future[int]]) -> Iterator[Future[int]]:
    """``as_completed``, waking the calling thread at least every ``_SIGNAL_POLL`` s.
    Python runs a signal's handler in the main thread, when it next runs: a Ctrl-C the
    kernel hands to another thread would go unseen while the main thread sleeps, without a
    timeout, until a stream ends (minutes at a slow rate limit; seen in CI)."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=_SIGNAL_POLL, return_when=FIRST_COMPLETED)
        yield from done


def batches_of(npns: Sequence[str], size: int) -> Iterator[list[str]]:
    """``npns`` without repeats, sorted, in batches of at most ``size``."""
    unique = sorted(set(npns))
    return (unique[i : i + size] for i in range(0, len(unique), size))
