"""The SDK against the real service: every resource and filter, sync over loopback and
async in-process (ASGI), compared with the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
import sqlalchemy as sa

from producersync.client import (
    APIStatusError,
    AsyncClient,
    BadRequestError,
    Client,
    NotFoundError,
)
from producersync.client.resources.records import SPECS
from producersync.service.api.resources import BY_KEY
from producersync.service.app import create_app
from producersync.service.settings import ServiceSettings
from tests.support import snippets
from tests.support.service import Credentials, RunningService, removed

pytestmark = pytest.mark.slow(15)

RESOURCE_ATTRS = list(SPECS)


@pytest.fixture(scope="module")
def population(service: RunningService, universe_npns: list[str]) -> tuple[Credentials, list[str]]:
    creds = service.account()
    with service.engine.connect() as conn:  # make sure rare records are in the population
        rare = [
            conn.execute(sa.select(BY_KEY[k].table.c.npn).limit(1)).scalar_one()
            for k in ("regulatoryActions", "otherNames")
        ]
    npns = sorted(set(universe_npns[:80] + rare))
    service.subscribe(creds, npns)
    return creds, npns


def connect(service: RunningService, creds: Credentials) -> Client:
    """A client of ``service`` with ``creds``, at its pace (the SDK's pacing is
    test_pacing's)."""
    return Client(creds.client_id, creds.client_secret, base_url=service.base_url, **service.pace())


@pytest.fixture
def client(service: RunningService, population: tuple[Credentials, list[str]]) -> Iterator[Client]:
    creds, _ = population
    with connect(service, creds) as client:
        yield client


def store_ids(service: RunningService, key: str, npns: list[str], *where: Any) -> set[int]:
    table = BY_KEY[key].table
    with service.engine.connect() as conn:
        return set(
            conn.execute(sa.select(table.c.id).where(table.c.npn.in_(npns), *where)).scalars()
        )


@pytest.mark.parametrize("attr", RESOURCE_ATTRS)
def test_every_resource_lists_its_population(
    service: RunningService, population: tuple[Credentials, list[str]], client: Client, attr: str
) -> None:
    _, npns = population
    spec = SPECS[attr]
    resource = getattr(client, attr)
    records = list(resource.list(page_size=37))
    assert all(isinstance(r, spec.model) for r in records)
    assert {r.id for r in records} == store_ids(service, spec.key, npns)
    by_page = list(resource.list_by_page(page_size=41))
    assert [r.id for r in by_page] == [r.id for r in records]


def test_a_v1_page_names_its_number_and_resumes_there(
    service: RunningService, population: tuple[Credentials, list[str]], client: Client
) -> None:
    _, npns = population
    count = len(store_ids(service, "addresses", npns))
    pages = list(client.addresses.list_by_page(page_size=7).pages())
    last = -(-count // 7) - 1
    assert [p.page_number for p in pages] == list(range(last + 1))
    assert {(p.page_size, p.total_pages, p.total_elements) for p in pages} == {(7, last + 1, count)}
    resumed = client.addresses.list_by_page(page_size=7, page=pages[-1].page_number or 0)
    assert [r.id for r in resumed] == [r.id for r in pages[-1].items]


@pytest.mark.parametrize(
    ("attr", "filters", "where"),
    [
        (
            "licenses",
            {"states": ["CA", "TX", "NY"]},
            lambda t: t.c.for_state.in_(["CA", "TX", "NY"]),
        ),
        ("licenses", {"active": False}, lambda t: t.c.active.is_(False)),
        ("licenses", {"include_deleted": False}, lambda t: t.c.nipr_deleted.is_(False)),
        (
            "addresses",
            {"updated_since": dt.date(2024, 6, 1)},
            lambda t: t.c.updated_at >= dt.date(2024, 6, 1),
        ),
        ("appointments", {"status": "APPOINTED"}, lambda t: t.c.status == "APPOINTED"),
        ("appointments", {"loa_codes": ["16"]}, lambda t: t.c.loa_code == "16"),
        ("license_loas", {"status": "Active"}, lambda t: t.c.status == "Active"),
        (
            "license_loas",
            {"loa_categories": ["life"]},
            lambda t: (sa.literal(",") + t.c.loa_categories + sa.literal(",")).like("%,life,%"),
        ),
    ],
)
def test_filters(
    service: RunningService,
    population: tuple[Credentials, list[str]],
    client: Client,
    attr: str,
    filters: dict[str, Any],
    where: Any,
) -> None:
    _, npns = population
    spec = SPECS[attr]
    records = list(getattr(client, attr).list(**filters))
    assert {r.id for r in records} == store_ids(
        service, spec.key, npns, where(BY_KEY[spec.key].table)
    )


def test_co_codes_and_npns_filters(
    service: RunningService, population: tuple[Credentials, list[str]], client: Client
) -> None:
    _, npns = population
    table = BY_KEY["appointments"].table
    with service.engine.connect() as conn:
        codes = sorted(
            set(conn.execute(sa.select(table.c.co_code).where(table.c.npn.in_(npns))).scalars())
        )[:4]
    got = {r.id for r in client.appointments.list(co_codes=codes, npns=npns[:40])}
    assert got == store_ids(service, "appointments", npns[:40], table.c.co_code.in_(codes))


def test_many_npns_are_fetched_in_concurrent_partitions(
    service: RunningService,
    population: tuple[Credentials, list[str]],
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, npns = population
    import producersync.client.resources.records as records

    monkeypatch.setattr(records, "NPN_CHUNK", 7)
    got = [r.id for r in client.licenses.list(npns=npns, concurrency=4, page_size=5)]
    assert len(got) == len(set(got))
    assert set(got) == store_ids(service, "licenses", npns)


def test_per_npn_get_and_children(
    service: RunningService, population: tuple[Credentials, list[str]], client: Client
) -> None:
    _, npns = population
    entity = client.entities.get(npns[0])
    assert entity.npn == npns[0]
    licenses = list(client.licenses.for_npn(npns[0]))
    assert {r.id for r in licenses} == store_ids(service, "licenses", npns[:1])
    lic = client.licenses.get(licenses[0].id)
    assert lic.license_num == licenses[0].license_num
    loas = list(client.license_loas.for_license(lic.id, page_size=1))
    assert [loa.id for loa in loas] == sorted(loa.id for loa in lic.license_loas or [])
    action = next(iter(client.regulatory_actions.list()))
    values = list(client.regulatory_actions.values(action.id))
    assert sorted(v.type for v in values) == ["DISPOSITION", "ORIGIN", "REASON"]
    assert client.regulatory_actions.get_value(values[0].id).value == values[0].value


def test_a_per_npn_list_filters_as_the_api_does(
    service: RunningService, population: tuple[Credentials, list[str]], client: Client
) -> None:
    _, npns = population
    licenses, appointments = BY_KEY["licenses"].table, BY_KEY["appointments"].table
    with service.engine.connect() as conn:
        # An NPN with licenses of both kinds, so that the filter leaves some out.
        npn = conn.execute(
            sa.select(licenses.c.npn)
            .where(licenses.c.npn.in_(npns))
            .group_by(licenses.c.npn)
            .having(sa.func.count(sa.distinct(licenses.c.active)) == 2)
            .limit(1)
        ).scalar_one()
    inactive = {r.id for r in client.licenses.for_npn(npn, active=False)}
    assert inactive == store_ids(service, "licenses", [npn], licenses.c.active.is_(False))
    assert inactive != store_ids(service, "licenses", [npn])
    terminated = {r.id for r in client.appointments.for_npn(npn, status="TERMINATED")}
    where = appointments.c.status == "TERMINATED"
    assert terminated == store_ids(service, "appointments", [npn], where)


@pytest.fixture(scope="module")
def v2_reads(
    service: RunningService, population: tuple[Credentials, list[str]]
) -> dict[str, Callable[..., Any]]:
    """Every v2 paged read, each over a stream of at least two records."""
    _, npns = population
    licenses, loas = BY_KEY["licenses"].table, BY_KEY["licenseLoas"].table
    with service.engine.connect() as conn:

        def most(column: Any, *where: Any) -> Any:
            query = sa.select(column).where(*where).group_by(column)
            return conn.execute(query.order_by(sa.func.count().desc()).limit(1)).scalar_one()

        npn = most(licenses.c.npn, licenses.c.npn.in_(npns))
        license_id = most(loas.c.license_id, loas.c.npn.in_(npns))
        action_id = conn.execute(
            sa.select(BY_KEY["regulatoryActions"].table.c.id)
            .where(BY_KEY["regulatoryActions"].table.c.npn.in_(npns))
            .limit(1)
        ).scalar_one()
    return {
        "list": lambda c, **kw: c.licenses.list(npns=[npn], **kw),
        "for_npn": lambda c, **kw: c.licenses.for_npn(npn, **kw),
        "for_license": lambda c, **kw: c.license_loas.for_license(license_id, **kw),
        "values": lambda c, **kw: c.regulatory_actions.values(action_id, **kw),
    }


@pytest.mark.parametrize("read", ["list", "for_npn", "for_license", "values"])
def test_every_v2_read_names_its_next_token_and_resumes_from_it(
    service: RunningService,
    population: tuple[Credentials, list[str]],
    client: Client,
    v2_reads: dict[str, Callable[..., Any]],
    read: str,
) -> None:
    creds, _ = population
    open_ = v2_reads[read]
    pages = list(open_(client, page_size=1).pages())
    ids = [[r.id for r in p.items] for p in pages]
    tokens = [p.next_continuation_token for p in pages]
    assert sum(map(len, ids)) >= 2
    assert None not in tokens[:-1] and tokens[-1] is None
    assert [r.id for r in pages[0].get_next_page().items] == ids[1]
    # A new client (a new process, after a crash) resumes at the saved token.
    with connect(service, creds) as again:
        resumed = [r.id for r in open_(again, page_size=1, continuation_token=tokens[0])]
    assert resumed == [i for page_ids in ids[1:] for i in page_ids]


def test_errors_are_typed(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.licenses.get(1)
    with pytest.raises(BadRequestError) as caught:
        list(client.licenses.list(states=["ZZ"]))
    assert "'ZZ'" in caught.value.message
    with pytest.raises(TypeError):
        client.licenses.list(co_codes=["12345"])


def test_subscriptions_round_trip(service: RunningService, universe_npns: list[str]) -> None:
    creds = service.account()
    with connect(service, creds) as client:
        job = client.subscriptions.add([*universe_npns[:5], "9999999999"])
        status = client.subscriptions.wait(job, poll_interval=0.05)
        assert status.final and status.details.activated == 5 and status.details.failed == 1
        details = {d.npn: d.result for d in client.subscriptions.job_details(job)}
        assert details["9999999999"] == "FAILED"
        client.subscriptions.wait(
            client.subscriptions.replace(universe_npns[3:8]), poll_interval=0.05
        )
        removed(client.subscriptions, universe_npns[7:8], poll_interval=0.05)
        assert sorted(s.npn for s in client.subscriptions.list()) == universe_npns[3:7]


@asynccontextmanager
async def in_process(
    service: RunningService, creds: Credentials, **settings: Any
) -> AsyncIterator[AsyncClient]:
    """The service app in this process, with ``settings`` changed, reached through
    httpx2's ASGI transport."""
    app = create_app(service.settings.model_copy(update=settings))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(
            creds.client_id,
            creds.client_secret,
            base_url="https://asgi",
            transport=httpx2.ASGITransport(app),
            **service.pace(),
        ) as client,
    ):
        yield client


def test_async_client_in_process(
    service: RunningService, population: tuple[Credentials, list[str]]
) -> None:
    creds, npns = population

    async def main() -> None:
        async with in_process(service, creds) as client:
            records = [r async for r in client.addresses.list(page_size=13)]
            assert {r.id for r in records} == store_ids(service, "addresses", npns)
            many = [r async for r in client.licenses.list(npns=npns, concurrency=3)]
            assert {r.id for r in many} == store_ids(service, "licenses", npns)
            subs = [s.npn async for s in client.subscriptions.list()]
            assert sorted(subs) == npns
            assert (await client.entities.get(npns[0])).npn == npns[0]
            pages = client.licenses.for_npn(npns[0], page_size=1).pages()
            first = await anext(aiter(pages))
            await pages.aclose()  # type: ignore[attr-defined]
            assert first.next_continuation_token is not None
            following = await first.get_next_page()
            resumed = client.licenses.for_npn(
                npns[0], page_size=1, continuation_token=first.next_continuation_token
            )
            assert [r.id async for r in resumed][:1] == [r.id for r in following.items]

    anyio.run(main)


def test_a_subscription_call_past_the_service_s_limit_is_the_413_the_guide_tells_of(
    service: RunningService, universe_npns: list[str]
) -> None:
    """The guide said nothing of the limit: an ``add`` of a whole population of more
    than 50,000 NPNs met a 413 it had not been told of, nor how to split the call."""
    guide = (snippets.ROOT / "docs/integration.md").read_text()
    section = " ".join(guide.split("\n## 3. Subscriptions", 1)[1].split("\n## ", 1)[0].split())
    limit = ServiceSettings.model_fields["max_subscription_npns"].default
    assert f"takes up to {limit:,} of" in section
    assert f"at most {limit} per request" in section

    async def main() -> None:
        async with in_process(service, service.account(), max_subscription_npns=3) as client:
            with pytest.raises(APIStatusError) as refused:
                await client.subscriptions.add(universe_npns[:4])
            assert refused.value.status_code == 413
            assert "The body holds 4 NPNs; at most 3 per request" in str(refused.value)

    anyio.run(main)
