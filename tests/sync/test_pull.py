"""A pass over the whole population (real service): the subscriptions list read side by
side, then the longest stream served first."""

from __future__ import annotations

import datetime as dt
import functools
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
import sqlalchemy as sa

from producersync.client import Client, ResponseValidationError
from producersync.client._pacing import Pacer
from producersync.client.pagination import parse_raw_page
from producersync.service.nipr.loader import load
from producersync.service.nipr.universe import generate
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities
from producersync.sync import mirror
from producersync.sync.mirror.tables import CHILDREN
from producersync.sync.pull import (
    ContinuationRefused,
    PageResult,
    PopulationGrew,
    Puller,
    Stream,
    pull,
    pull_stream,
    streams,
)
from tests.support.service import Credentials, RunningService, running_service
from tests.support.waiting import eventually
from tests.sync.mirror_data import stored_rows

pytestmark = pytest.mark.slow(35)

PAGE = 40
NPNS: list[str] = []  # every NPN of the service's universe


class Recording(httpx2.HTTPTransport):
    """The real transport, noting each API path it sends, and its ``npns=``."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.npns: list[str | None] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        self.npns.append(request.url.params.get("npns"))
        return super().handle_request(request)


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[RunningService, Credentials]]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'store.db'}"
        engine = open_store(url)
        load(engine, generate(2_100, seed=5))
        with engine.connect() as conn:
            NPNS[:] = sorted(conn.execute(sa.select(entities.c.npn)).scalars())
        engine.dispose()
        with running_service(url, api_rate_limit_per_minute=1_000_000) as running:
            creds = running.account()
            running.subscribe(creds, NPNS[:60])
            yield running, creds


class Gated(Pacer):
    """The client's pacer, which lets a slot go only while every stream with requests
    still to come has one waiting, so the order is the pacer's choice whatever the round
    trips take: slots of 0.5 s, longer than a round trip on most days, let the other
    stream take a slot whenever one was not (a loaded machine). Notes the API paths in
    the order their slots went."""

    def __init__(self, resources: set[str]) -> None:
        super().__init__(60_000)  # slots 1 ms apart: the gate sets the pace
        self.granted: list[str] = []
        self._live = set(resources)
        self._of: dict[tuple[float, int], str] = {}
        self._asking = threading.local()

    def request(self, sent: Callable[..., Any], method: str, path: str, **kw: Any) -> Any:
        """``Client.request``, its path known to the pacer; a stream's last page, once
        answered, leaves it nothing to wait for."""
        self._asking.path = asked = httpx2.URL(path).path  # a next page's is a whole URL
        body = sent(method, path, **kw)
        if asked.startswith("/v2/"):
            _, after = parse_raw_page(body, _resource(asked), PAGE, at=path)
            if after is None:
                with self._turns:
                    self._live.discard(_resource(asked))
                    self._turns.notify_all()
        return body

    def _join(self, priority: float) -> tuple[float, int]:
        ticket = super()._join(priority)
        self._of[ticket] = _resource(self._asking.path)
        self._turns.notify_all()  # the gate may open
        return ticket

    def _leave(self, ticket: tuple[float, int]) -> None:
        del self._of[ticket]
        super()._leave(ticket)

    def _wait(self, ticket: tuple[float, int]) -> float | None:
        if not self._live <= set(self._of.values()):
            return None
        return super()._wait(ticket)

    def _claim(self) -> float:
        self.granted.append(self._asking.path)
        return super()._claim()


def _resource(path: str) -> str:
    return path.split("/")[2]


def test_the_stream_with_most_pages_left_is_served_first(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, creds = service
    with Client(creds.client_id, creds.client_secret, base_url=running.base_url) as client:
        gate = Gated({"entities", "licenseLoas"})
        client.pacer = gate
        client.request = functools.partial(gate.request, client.request)  # type: ignore[method-assign]
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        todo = [s for s in streams() if s.resource in ("entities", "licenseLoas")]
        counts = pull(todo, Puller(client, engine, PAGE).page, None, concurrency=2)
        with engine.connect() as conn:
            held = mirror.record_counts(conn)
        engine.dispose()
    assert counts["entities"] == held["entities"] > 0
    assert counts["licenseLoas"] == held["licenseLoas"] > 4 * PAGE
    pages = [path for path in gate.granted if path.startswith("/v2/")]
    # Each stream counts its records first (a v1 page of one record) ...
    assert gate.granted.index(pages[0]) > max(
        i for i, path in enumerate(gate.granted) if path.startswith("/v1/")
    )
    # ... then the LOAs, several pages longer, go ahead until the two are level.
    loa_pages = -(-held["licenseLoas"] // PAGE)
    entity_pages = -(-held["entities"] // PAGE)
    first_entity_page = pages.index("/v2/entities")
    assert first_entity_page >= loa_pages - entity_pages - 1


class Growing(httpx2.HTTPTransport):
    """The real transport; once the ``after``-th answer to a path starting with
    ``prefix`` is in, a job adds NPNs (a storm's second request, committed meanwhile).
    Requests sent while the job runs go out once it has committed: the job takes
    seconds on a loaded machine, and the reader's other threads, reading on, would
    otherwise get much further than ``after`` answers before it."""

    def __init__(self, grow: Callable[[], None], prefix: str, after: int = 1) -> None:
        super().__init__()
        self._grow: Callable[[], None] | None = grow
        self._prefix, self._left = prefix, after
        self._growing = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with self._growing:
            pass  # not while the job runs
        response = super().handle_request(request)
        if request.url.path.startswith(self._prefix):
            with self._growing:
                self._left -= 1
                if not self._left and self._grow is not None:
                    self._grow()
                    self._grow = None
        return response


def test_the_population_is_read_whole_over_numbered_pages(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, _ = service
    creds = running.account()
    running.subscribe(creds, NPNS[:2_000])  # two pages of 1,000, as the first page says
    transport = Growing(lambda: running.subscribe(creds, NPNS[2_000:]), "/v1/accounts/")
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        population = Puller(client, engine, PAGE).population()
        engine.dispose()
        first = client.subscriptions.page(0)
        listed = {s.npn: s.activated_at for s in client.subscriptions.list()}
    assert first.total_pages == 3 and len(first.items) == 1_000
    # The third page, there only after the first was read, was read too.
    assert population == listed and sorted(population) == NPNS


def _pass_while_growing(
    running: RunningService, tmp_path: Path, joining: list[str], after: int
) -> Callable[[], dict[str, int]]:
    """A pass over 60 NPNs, ``joining`` subscribed after its ``after``-th page."""
    creds = running.account()
    running.subscribe(creds, NPNS[:60])
    transport = Growing(lambda: running.subscribe(creds, joining), "/v2/", after)
    client = Client(
        creds.client_id,
        creds.client_secret,
        base_url=running.base_url,
        transport=transport,
        **running.pace(),
    )
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    puller = Puller(client, engine, PAGE, growth_check_seconds=0)
    puller.population(run_id=1)

    def run() -> dict[str, int]:
        try:
            return pull(streams(), puller.page, 1, concurrency=2)
        finally:
            client.close()
            engine.dispose()

    return run


def test_a_young_pass_stops_when_the_list_grows(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, _ = service
    # 60 more NPNs after the first page: half the population is new, and one page of
    # several dozen is read.
    run = _pass_while_growing(running, tmp_path, NPNS[60:120], after=1)
    with pytest.raises(PopulationGrew, match="60 NPNs subscribed since"):
        run()


def test_a_pass_far_along_goes_on_when_the_list_grows_a_little(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, _ = service
    # One more NPN once a dozen pages are read: fetching it apart costs less. (Its
    # entity may come too, if the entities' cursor had not passed its id.)
    run = _pass_while_growing(running, tmp_path, NPNS[60:61], after=12)
    assert run()["entities"] in (60, 61)


@pytest.mark.parametrize("settle", [0.0, 1.5])
def test_the_list_is_read_once_it_has_settled(
    service: tuple[RunningService, Credentials], tmp_path: Path, settle: float
) -> None:
    running, _ = service
    creds = running.account()
    running.subscribe(creds, NPNS[:60])
    # A second job commits once the pass has first counted the list.
    joining = NPNS[60:120]
    transport = Growing(lambda: running.subscribe(creds, joining), "/v1/accounts/")
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        listed = Puller(client, engine, PAGE, settle_seconds=settle).population(run_id=1)
        engine.dispose()
    # Without a wait the list is read before the job; with one, after it.
    assert sorted(listed) == (NPNS[:120] if settle else NPNS[:60])


class SlowPages(Recording):
    """The real transport, recording paths, with every subscriptions page but the first
    answered ``delay`` seconds late; ``grow`` (a job adding NPNs) runs once the first is
    answered."""

    def __init__(self, delay: float, grow: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._delay, self._grow = delay, grow

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        first = request.url.params.get("page") == "0"
        if request.url.path == "/v1/accounts/subscriptions" and not first:
            time.sleep(self._delay)
        response = super().handle_request(request)
        if first and self._grow is not None:
            grow, self._grow = self._grow, None
            grow()
        return response


@pytest.mark.parametrize("grows", [False, True])
def test_the_time_spent_reading_a_still_list_counts_toward_its_settling(
    service: tuple[RunningService, Credentials], tmp_path: Path, grows: bool
) -> None:
    running, _ = service
    creds = running.account()
    # Every NPN (three pages) at once; or 1,500 (two pages, as the first page says) and
    # the rest by a job that commits once the first page is in, so that the second page
    # counts them all and says there is a third.
    first = 1_500 if grows else len(NPNS)
    running.subscribe(creds, NPNS[:first])
    rest = NPNS[first:]
    transport = SlowPages(
        delay=0.6, grow=(lambda: running.subscribe(creds, rest)) if rest else None
    )
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        listed = Puller(client, engine, PAGE, settle_seconds=0.5).population(run_id=1)
        engine.dispose()
    assert sorted(listed) == NPNS
    # The pages that counted them all came 0.6 s apart, longer than the settling asks:
    # the list held still since the first of them, and the last page is not read again.
    pages = [path for path in transport.paths if path == "/v1/accounts/subscriptions"]
    assert len(pages) == 3


class Unnesting(Recording):
    """The real transport, with the LOAs of the first license of each page left out (an
    API that nests fewer than its own list holds)."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        if request.url.path != "/v2/licenses":
            return response
        body = orjson.loads(response.read())
        for license in body.get("embedded", {}).get("licenses", [])[:1]:
            license["licenseLoas"] = []
        return _answered(response, body)


def _answered(response: httpx2.Response, body: Any) -> httpx2.Response:
    """``response`` with ``body`` (JSON) in place of its own."""
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return httpx2.Response(response.status_code, content=orjson.dumps(body), headers=headers)


@pytest.mark.parametrize("transport", [httpx2.HTTPTransport, Unnesting])
def test_the_loas_list_is_skipped_when_the_licenses_brought_them_all(
    service: tuple[RunningService, Credentials],
    tmp_path: Path,
    transport: type[httpx2.HTTPTransport],
) -> None:
    running, creds = service
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport()
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        puller = Puller(client, engine, PAGE)
        puller.population(run_id=1)
        todo = {s.resource: s for s in streams()}
        pull([todo["licenses"]], puller.page, 1)
        whole = puller.nested_whole(1, todo["licenseLoas"])
        with engine.connect() as conn:
            held = mirror.record_counts(conn)["licenseLoas"]
        loas = client.license_loas.list(include_deleted=True)
        served = sum(1 for _ in loas)
        engine.dispose()
    # Every LOA came inside its license (deleted ones too) ... unless some did not.
    assert whole is (transport is httpx2.HTTPTransport)
    assert (held == served) is whole


class Containing(Recording):
    """The real transport, each license's LOAs and each regulatory action's values sent
    in the object the public reference types them as (``{"licenseLoas": [...]}``)."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        resource = _resource(request.url.path)
        if resource not in CHILDREN:
            return response
        key = CHILDREN[resource][0]
        body = orjson.loads(response.read())
        for record in body.get("embedded", {}).get(resource, []):
            record[key] = {key: record[key]}
        return _answered(response, body)


def test_a_backfill_from_an_api_sending_the_reference_s_containers_stores_what_lists_do(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    """The mirror set each such object aside as a malformed child: no regulatory action
    value was stored, and the LOAs only from their own list, read whole for want of them."""
    running, creds = service
    stored, asked = {}, {}
    for transport in (Recording, Containing):
        sent = transport()
        with Client(
            creds.client_id,
            creds.client_secret,
            base_url=running.base_url,
            transport=sent,
            **running.pace(),
        ) as client:
            engine = mirror.open_mirror(f"sqlite:///{tmp_path / transport.__name__}.db")
            puller = Puller(client, engine, PAGE)
            run_id = puller.start("backfill", run_date=None, since=None)
            puller.pull(streams(), run_id, concurrency=4)
            stored[transport], asked[transport] = stored_rows(engine), sent.paths
            with engine.connect() as conn:
                assert mirror.malformed_fields(conn) == []
            engine.dispose()
    assert stored[Containing] == stored[Recording]
    assert stored[Recording]["licenseLoas"] and stored[Recording]["regulatoryActionValues"]
    assert "/v2/licenseLoas" not in asked[Containing]


class UnnestingOne(Unnesting):
    """``Unnesting``, for the first licenses page of the NPNs ``npns`` only."""

    def __init__(self, npns: str) -> None:
        super().__init__()
        self._npns = npns

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.params.get("npns") != self._npns:
            return Recording.handle_request(self, request)
        return super().handle_request(request)


def test_a_loas_list_of_npns_waits_for_the_licenses_of_the_same_npns() -> None:
    first, second = streams(npns=NPNS[:3]), streams(npns=NPNS[3:6])
    for todo in (first, second, streams()):
        loas = next(s for s in todo if s.resource == "licenseLoas")
        assert loas.comes_nested
        parents = [s for s in first + second + streams() if loas.nested_in(s)]
        assert parents == [next(s for s in todo if s.resource == "licenses")]
    # An LOA updated since a day may be a license's that was not: its own list is read.
    assert not any(s.comes_nested for s in streams(since=dt.date(2026, 1, 1), npns=NPNS[:3]))


@pytest.mark.parametrize("unnested", [False, True])
def test_an_activation_reads_the_loas_of_npns_only_if_their_licenses_did_not_bring_them_all(
    service: tuple[RunningService, Credentials], tmp_path: Path, unnested: bool
) -> None:
    """An activation's batch, in two partitions: the licenses of each bring its LOAs
    nested, and its own ``licenseLoas`` list (a third of a batch's pages) was read as
    well, every time. Now it is read only for a partition whose licenses did not bring
    as many as it holds, which one count per partition asks."""
    running, creds = service
    partitions = [NPNS[:30], NPNS[30:60]]
    first = ",".join(partitions[0])
    sent = UnnestingOne(first) if unnested else Recording()
    with Client(
        creds.client_id,
        creds.client_secret,
        base_url=running.base_url,
        transport=sent,
        **running.pace(),
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        puller = Puller(client, engine, PAGE)
        run_id = puller.start("activation", run_date=None, since=None)
        todo = [stream for npns in partitions for stream in streams(npns=npns)]
        counts = puller.pull(todo, run_id, concurrency=4)
        asked = zip(sent.paths, sent.npns, strict=True)
        read = [npns for path, npns in asked if path == "/v2/licenseLoas"]
        with engine.connect() as conn:
            held = mirror.record_counts(conn)
        loas = client.license_loas.list(npns=NPNS[:60], include_deleted=True)
        served = sum(1 for _ in loas)
        engine.dispose()
    # The partition left short only, from its first page (the next ones follow links).
    assert read[:1] == ([first] if unnested else [])
    assert ",".join(partitions[1]) not in read
    assert held["licenseLoas"] == served > 2 * PAGE
    assert counts["licenses"] == held["licenses"] > 0


@pytest.mark.parametrize("transport", [Recording, Unnesting])
def test_a_backfill_reads_the_loas_list_only_if_the_licenses_did_not_bring_them_all(
    service: tuple[RunningService, Credentials], tmp_path: Path, transport: type[Recording]
) -> None:
    running, creds = service
    sent = transport()
    with Client(
        creds.client_id,
        creds.client_secret,
        base_url=running.base_url,
        transport=sent,
        **running.pace(),
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        puller = Puller(client, engine, PAGE)
        run_id = puller.start("backfill", run_date=None, since=None)
        counts = puller.pull(streams(), run_id, concurrency=4)
        read = list(sent.paths)
        with engine.connect() as conn:
            held = mirror.record_counts(conn)
        served = sum(1 for _ in client.license_loas.list(include_deleted=True))
        engine.dispose()
    assert ("/v2/licenseLoas" in read) is (transport is Unnesting)
    assert held["licenseLoas"] == served > 0
    assert counts["licenses"] == held["licenses"] > 0


def test_a_streams_next_page_is_asked_for_while_its_page_is_written(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, creds = service
    transport = Recording()
    full_pages = 0

    def written(resource: str, upserted: int) -> None:
        # Called once a page is committed; a full page has a next one, which should be
        # on its way already. Without the asking ahead it would not be until this
        # returns: the wait runs out, and the page fails.
        nonlocal full_pages
        if upserted < PAGE:
            return
        full_pages += 1
        asked = full_pages + 1
        eventually(lambda: _v2_requests(transport) >= asked, what=lambda: transport.paths)

    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        stream = next(s for s in streams() if s.resource == "licenseLoas")
        count = pull([stream], Puller(client, engine, PAGE, on_upsert=written).page, None)
        with engine.connect() as conn:
            held = mirror.record_counts(conn)["licenseLoas"]
        engine.dispose()
    assert count["licenseLoas"] == held > 4 * PAGE
    assert full_pages >= 4
    # Each page was asked for once: the one asked ahead is the one read.
    assert _v2_requests(transport) == -(-held // PAGE) + (held % PAGE == 0)


def test_a_streams_pages_are_read_on_while_its_writes_wait(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    """The mirror takes one writer at a time: a stream whose write waits its turn reads
    on, two pages ahead, rather than leave the API idle until the write is done."""
    running, creds = service
    transport = Recording()
    release = threading.Event()

    def written(resource: str, upserted: int) -> None:
        release.wait(30)  # the stream's first write not done until the pages ahead came

    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=transport
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        stream = next(s for s in streams() if s.resource == "licenseLoas")
        puller = Puller(client, engine, PAGE, on_upsert=written)
        first = threading.Thread(target=puller.page, args=(stream, None, None))
        first.start()
        try:
            eventually(lambda: _v2_requests(transport) == 3, what=lambda: transport.paths)
        finally:
            release.set()
            first.join()
        engine.dispose()


def _v2_requests(transport: Recording) -> int:
    return sum(1 for path in transport.paths if path.startswith("/v2/"))


def test_a_page_that_fails_to_be_written_keeps_no_page_asked_ahead(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, creds = service
    with Client(creds.client_id, creds.client_secret, base_url=running.base_url) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        with engine.begin() as conn:  # the mirror refuses the page's records
            conn.exec_driver_sql(
                "CREATE TRIGGER full BEFORE INSERT ON license_loas "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        puller = Puller(client, engine, PAGE)
        stream = next(s for s in streams() if s.resource == "licenseLoas")
        with pytest.raises(sa.exc.IntegrityError, match="refused"):
            puller.page(stream, None, None)
        engine.dispose()
    # The page is read again from its own path: the next one, asked ahead, is dropped
    # rather than held (with its body) for a stream that may never be read again.
    assert not puller._ahead


class Refusing(httpx2.HTTPTransport):
    """The real transport, but the first ``times`` continuations of the LOAs list go
    out with a token the service never issued (as one issued before it changed how it
    binds them, or expired)."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if self.times and url.path == "/v2/licenseLoas" and "continuationToken" in url.params:
            self.times -= 1
            request.url = url.copy_set_param("continuationToken", "0.forged")
        return super().handle_request(request)


@pytest.mark.parametrize("refusals", [1, 3])
def test_a_stream_whose_continuation_is_refused_is_read_again_from_its_first_page(
    service: tuple[RunningService, Credentials],
    tmp_path: Path,
    refusals: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, creds = service
    sent = Refusing(refusals)
    with Client(
        creds.client_id,
        creds.client_secret,
        base_url=running.base_url,
        transport=sent,
        **running.pace(),
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        stream = next(s for s in streams() if s.resource == "licenseLoas")
        count = pull([stream], Puller(client, engine, PAGE).page, None)
        with engine.connect() as conn:
            held = mirror.record_counts(conn)["licenseLoas"]
        served = sum(1 for _ in client.license_loas.list(include_deleted=True))
        engine.dispose()
    assert count["licenseLoas"] == held == served > 2 * PAGE
    restarts = [r for r in caplog.records if "from its first page" in r.getMessage()]
    assert len(restarts) == refusals
    assert "continuationToken" in restarts[0].getMessage()


def test_a_stream_whose_continuation_is_always_refused_fails_after_three_restarts(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    running, creds = service
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, transport=Refusing(99)
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        stream = next(s for s in streams() if s.resource == "licenseLoas")
        with pytest.raises(ContinuationRefused, match="continuationToken"):
            pull([stream], Puller(client, engine, PAGE).page, None)
        engine.dispose()


def test_a_stream_whose_next_link_goes_back_is_refused_not_followed_forever() -> None:
    """As the SDK's pagers: a server that links back to a page already read (the same
    continuationToken, or a cycle) kept the stream's workflow paging forever."""
    links = ["/v2/licenses?continuationToken=a", "/v2/licenses?continuationToken=b"]
    asked: list[str | None] = []

    def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        asked.append(path)
        if len(asked) > 10:
            raise RuntimeError("followed the loop")
        return PageResult(links[len(asked) % 2], 1)  # b, a, b, ...

    with pytest.raises(ResponseValidationError, match="linked back to a page already read"):
        pull_stream(streams()[1], page, None)
    assert len(asked) == 3


def test_a_complete_run_dated_2099_records_the_day_before_it_started(tmp_path: Path) -> None:
    """A signed updates_available dated 2099 (a sender's mistake, a replay tool dated
    ahead) ran a complete sync: recorded as synced through 2099, every later sync pulled
    from its own day and catch-up saw nothing missed."""
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    nothing = httpx2.MockTransport(lambda request: httpx2.Response(500))  # never asked
    today = dt.datetime.now(dt.UTC).date()
    try:
        with Client("id", "secret", base_url="https://api.invalid", transport=nothing) as client:
            puller = Puller(client, engine, PAGE)
            run_id = puller.start("updates", run_date=dt.date(2099, 1, 1), since=today)
            finished = puller.finish(run_id, {"licenses": 0}, synced_through=dt.date(2099, 1, 1))
            assert puller.last_synced() == today - dt.timedelta(days=1)
            assert finished.synced_through == today - dt.timedelta(days=1)
            # A failed one records nothing; today's own runDate is taken as it is.
            failed = puller.start("updates", run_date=today, since=today)
            assert puller.finish(failed, {}, synced_through=today, error="x").synced_through is None
            assert puller.last_synced() == today - dt.timedelta(days=1)
            run_id = puller.start("updates", run_date=today, since=today)
            assert puller.finish(run_id, {}, synced_through=today).synced_through == today
            assert puller.last_synced() == today
    finally:
        engine.dispose()


def test_a_stream_that_fails_stops_the_others_at_their_next_page() -> None:
    """`sync now` and `sync backfill` (and Ctrl-C there): the pool waited for every other
    stream to be read to its end before the failure reached the command."""
    failing, long = streams()[0], streams()[1]
    asked: list[str | None] = []

    def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        if stream == failing:
            time.sleep(0.2)  # the long one is well under way
            raise RuntimeError("the API is gone")
        asked.append(path)
        time.sleep(0.01)
        return PageResult(None if len(asked) == 500 else f"/v2/x?page={len(asked)}", 1)

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the API is gone"):
        pull([long, failing], page, None, concurrency=2)
    assert time.monotonic() - started < 2  # 500 pages would have been 5 s at least
    assert 0 < len(asked) < 100


class _CtrlC(Exception):
    pass


def test_a_ctrl_c_the_kernel_hands_to_a_stream_thread_stops_the_pull() -> None:
    """A process-wide signal goes to any thread; Python runs its handler in the main
    thread when that runs next. The main thread slept in ``as_completed`` until a stream
    ended, so a Ctrl-C handed to a stream's thread went unseen for minutes at a slow
    rate limit (a CI run: the backfill's main thread still waiting 30 s after SIGINT)."""
    handled = threading.Event()
    seen_while_the_page_waited: list[bool] = []

    def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
        time.sleep(0.5)  # the main thread asleep, waiting for the streams
        # As the kernel may: the signal lands on this thread, not the main one.
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        seen_while_the_page_waited.append(handled.wait(10))
        return PageResult(None, 0)

    def ctrl_c(signum: int, frame: object) -> None:
        handled.set()
        raise _CtrlC

    previous = signal.signal(signal.SIGINT, ctrl_c)
    try:
        with pytest.raises(_CtrlC):
            pull(streams()[:1], page, None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen_while_the_page_waited == [True]


def test_a_stopped_pull_leaves_no_thread_waiting_for_a_slot(
    service: tuple[RunningService, Credentials], tmp_path: Path
) -> None:
    """Ctrl-C or SIGTERM on `sync backfill` (or a stream failing) at a slow rate limit:
    each stream's thread, and the one asking its next page ahead, waited in the pacer's
    queue for a slot, an interval apart, before the pull could end (14 s at 60 a minute,
    and past 30 s on a loaded machine)."""
    running, creds = service
    # Lists of a few records and more under these NPNs; with NPNs named, a stream does
    # not count its records first: its first request is its first page. (Not the LOAs:
    # they wait for their licenses, which may bring them all.)
    long = ("entities", "licenses", "appointments", "addresses", "contactInfos")
    todo = [stream for stream in streams(npns=NPNS[:60]) if stream.resource in long]
    failing = threading.Event()
    outcome: list[BaseException] = []

    # A slot a minute: the first page goes, every other request waits a minute or more.
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, rate_limit=1
    ) as client:
        engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
        puller = Puller(client, engine, 1)  # a page of one: every stream has a next page

        def page(stream: Stream, path: str | None, run_id: int | None) -> PageResult:
            result = puller.page(stream, path, run_id)
            # This page had the minute's slot. Queued for the next: every other stream's
            # thread, and the one asking this stream's next page ahead.
            queued = len(todo) - 1 + (result.next_path is not None)
            eventually(lambda: len(client.pacer._waiting) == queued, what=_queue(client))
            failing.set()
            raise RuntimeError("the API is gone")

        def backfill() -> None:
            try:
                puller.pull(todo, run_id, concurrency=len(todo), page=page)
            except BaseException as exc:
                outcome.append(exc)

        run_id = puller.start("backfill", run_date=None, since=None)
        pulling = threading.Thread(target=backfill, daemon=True)
        pulling.start()
        try:
            assert failing.wait(timeout=60), "no page came"
            pulling.join(timeout=10)  # well under the next slot, a minute away
            assert not pulling.is_alive(), f"the pull waited for slots: {_queue(client)()}"
            assert [str(exc) for exc in outcome] == ["the API is gone"]
            # The threads asking pages ahead, which the pull does not wait for, left too.
            eventually(lambda: not client.pacer._waiting, timeout=10, what=_queue(client))
        finally:
            puller.interrupt(run_id)
            engine.dispose()


def _queue(client: Client) -> Callable[[], object]:
    return lambda: f"{len(client.pacer._waiting)} waiting for a slot"


class Corrupting(Recording):
    """The real transport, with the first licenses page's first records spoiled as an
    upstream API might: a blank date, a list for a string, no id, LOAs not in a list."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        if request.url.path != "/v2/licenses" or "continuationToken" in request.url.params:
            return response
        body = orjson.loads(response.read())
        first, second, third, fourth = body["embedded"]["licenses"][:4]
        first["expirationDate"] = ""
        second["licenseClass"] = ["Insurance Producer"]
        del third["id"]
        fourth["licenseLoas"] = {"unexpected": True}
        return _answered(response, body)


def test_malformed_records_neither_stop_the_run_nor_are_lost_from_sight(
    service: tuple[RunningService, Credentials],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A blank expirationDate failed the whole page, so the run, and every run after it
    (the page came again each time): the mirror stopped being current for everyone."""
    running, creds = service
    with Client(
        creds.client_id, creds.client_secret, base_url=running.base_url, **running.pace()
    ) as client:
        served = sum(1 for _ in client.licenses.list(include_deleted=True))
    engine = mirror.open_mirror(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        with Client(
            creds.client_id,
            creds.client_secret,
            base_url=running.base_url,
            transport=Corrupting(),
            **running.pace(),
        ) as client:
            puller = Puller(client, engine, PAGE)
            for attempt in range(2):
                caplog.clear()
                run_id = puller.start("catch-up", run_date=None, since=None)
                counts = puller.pull(streams(), run_id, concurrency=2)
                puller.finish(run_id, counts)
                with engine.connect() as conn:
                    status = mirror.sync_status(conn)
                assert status["lastRun"]["error"] is None and status["failedRuns"] == 0
                assert status["counts"]["licenses"] == served - 1  # the one without an id
                assert status["malformed"]["fields"] == 3
                warned = {(r.resource, r.field) for r in caplog.records if hasattr(r, "field")}
                # Each once, when its record is written; the one never stored, each time.
                assert warned == {("licenses", "id")} | (
                    {("licenses", "expirationDate"), ("licenses", "licenseClass")}
                    | {("licenses", "licenseLoas")}
                    if attempt == 0
                    else set()
                )
    finally:
        engine.dispose()
