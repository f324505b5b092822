"""The v2 lists (continuation tokens), per-NPN lists, v1 reads, against the store's truth."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.model.events import utc_now
from producersync.service.api import listing, subscriptions
from producersync.service.api.numbers import MAX_ROW_ID
from producersync.service.api.resources import BY_KEY, RESOURCES
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import documents, records
from producersync.service.store.engine import write_transaction
from producersync.service.store.population import Population, subscribe_one
from producersync.service.store.records import RecordFilter, count_records, list_after, list_offset
from tests.support.service import Credentials, RunningService

LIST_KEYS = [r.key for r in RESOURCES if r.v2_list]


def follow(http: httpx2.Client, url: str) -> tuple[list[dict[str, Any]], int]:
    """Every record of a v2 list by following links.next; and the number of requests."""
    records: list[dict[str, Any]] = []
    requests = 0
    key = url.split("?")[0].rstrip("/").split("/")[-1]
    while True:
        response = http.get(url)
        requests += 1
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/hal+json")
        body = response.json()
        nxt = body["links"]["next"]["href"]
        if "embedded" not in body:
            assert nxt.endswith("continuationToken=0") or "continuationToken=0&" in nxt
            return records, requests
        records.extend(body["embedded"][key])
        url = nxt


def store_rows(
    service: RunningService,
    key: str,
    npns: list[str],
    where: Callable[[sa.Table], Any] | None = None,
) -> list[sa.RowMapping]:
    table = BY_KEY[key].table
    query = sa.select(table).where(table.c.npn.in_(npns))
    if where is not None:
        query = query.where(where(table))
    with service.engine.connect() as conn:
        return list(conn.execute(query).mappings())


@pytest.fixture(scope="module")
def subscribed(service: RunningService, universe_npns: list[str]) -> tuple[Credentials, list[str]]:
    creds = service.account()
    npns = universe_npns[:60]
    status = service.subscribe(creds, npns)
    assert status["status"] == "COMPLETED"
    return creds, npns


@pytest.mark.parametrize("key", LIST_KEYS)
def test_list_pages_through_exactly_the_population(
    service: RunningService, subscribed: tuple[Credentials, list[str]], key: str
) -> None:
    creds, npns = subscribed
    with service.client(creds) as http:
        records, requests = follow(http, f"/v2/{key}?size=7")
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "a record was served twice"
    expected = {row["id"] for row in store_rows(service, key, npns)}
    assert set(ids) == expected
    assert requests == -(-len(ids) // 7) + 1  # full pages, then the empty end page
    assert all(r["npn"] in npns for r in records)


def test_first_page_links_carry_its_filters_and_size(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, _ = subscribed
    with service.client(creds) as http:
        body = http.get("/v2/licenses?states=CA,TX&size=5").json()
    links = body["links"]
    assert links["self"]["href"].endswith("continuationToken=0")
    assert "states=CA%2CTX" in links["next"]["href"] or "states=CA,TX" in links["next"]["href"]
    assert "size=5" in links["next"]["href"]


def test_a_page_without_size_holds_250_records(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    """The contract's default page size, on the first page and the pages its links give."""
    creds, npns = subscribed
    total = len(store_rows(service, "licenseLoas", npns))
    assert total > 250, "the population should hold more LOAs than a page"
    with service.client(creds) as http:
        first = http.get("/v2/licenseLoas").json()
        second = http.get(first["links"]["next"]["href"]).json()
    assert len(first["embedded"]["licenseLoas"]) == 250
    assert len(second["embedded"]["licenseLoas"]) == min(total - 250, 250)


def test_empty_result_has_only_links_at_token_zero(service: RunningService) -> None:
    creds = service.account()
    with service.client(creds) as http:
        response = http.get("/v2/licenses")
    body = response.json()
    assert set(body) == {"links"}
    assert body["links"]["self"]["href"].endswith("continuationToken=0")
    assert body["links"]["next"]["href"].endswith("continuationToken=0")


def test_licenses_nest_their_loas_and_renewal_periods(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, npns = subscribed
    with service.client(creds) as http:
        licenses, _ = follow(http, "/v2/licenses?size=1000")
    loas = {row["id"]: row for row in store_rows(service, "licenseLoas", npns)}
    nested = [loa for lic in licenses for loa in lic["licenseLoas"]]
    for lic in licenses:  # nested in id order, on every backend
        ids = [loa["id"] for loa in lic["licenseLoas"]]
        assert ids == sorted(ids)
    assert {loa["id"] for loa in nested} == set(loas)
    sample = nested[0]
    assert set(sample["loaMapping"]) == {"categories"}
    assert {"ceCompliance", "ceCreditsNeeded", "status", "loaCode"} <= set(sample)
    assert all("renewalPeriods" in lic and "agentTypes" in lic for lic in licenses)
    assert sample["links"]["self"]["href"].endswith(f"/v1/licenseLoas/{sample['id']}")


FILTERS: list[tuple[str, str, Callable[[sa.Table], Any]]] = [
    ("licenses", "states=CA,NY,TX", lambda t: t.c.for_state.in_(["CA", "NY", "TX"])),
    ("licenses", "active=false", lambda t: t.c.active.is_(False)),
    ("licenses", "includeDeleted=false", lambda t: t.c.nipr_deleted.is_(False)),
    ("addresses", "updatedSince=2024-01-01", lambda t: t.c.updated_at >= dt.date(2024, 1, 1)),
    ("appointments", "status=TERMINATED", lambda t: t.c.status == "TERMINATED"),
    ("licenseLoas", "status=Active", lambda t: t.c.status == "Active"),
    (
        "licenseLoas",
        "loaCategories=life",
        lambda t: (sa.literal(",") + t.c.loa_categories + sa.literal(",")).like("%,life,%"),
    ),
    ("appointments", "loaCodes=12,16", lambda t: t.c.loa_code.in_(["12", "16"])),
]


@pytest.mark.parametrize(("key", "query", "where"), FILTERS, ids=[f[1] for f in FILTERS])
def test_filters_match_the_store(
    service: RunningService,
    subscribed: tuple[Credentials, list[str]],
    key: str,
    query: str,
    where: Callable[[sa.Table], Any],
) -> None:
    creds, npns = subscribed
    with service.client(creds) as http:
        records, _ = follow(http, f"/v2/{key}?{query}&size=50")
    expected = {row["id"] for row in store_rows(service, key, npns, where)}
    assert {r["id"] for r in records} == expected


PER_NPN_FILTERS = [f for f in FILTERS if BY_KEY[f[0]].per_npn]


@pytest.mark.parametrize(
    ("key", "query", "where"), PER_NPN_FILTERS, ids=[f"{f[0]}?{f[1]}" for f in PER_NPN_FILTERS]
)
def test_per_npn_filters_match_the_store(
    service: RunningService,
    universe_npns: list[str],
    key: str,
    query: str,
    where: Callable[[sa.Table], Any],
) -> None:
    """A per-NPN list takes the filters of its list but npns: each narrows the NPN's
    records as the store says, on an NPN that has records on both sides of it."""
    held = Counter(row["npn"] for row in store_rows(service, key, universe_npns))
    kept = Counter(row["npn"] for row in store_rows(service, key, universe_npns, where))
    narrowed = [npn for npn in kept if kept[npn] < held[npn]]
    assert narrowed, f"no NPN of the universe has {key} on both sides of {query}"
    npn = max(narrowed, key=lambda n: (kept[n], n))
    with service.client(service.account()) as http:
        records, _ = follow(http, f"/v2/entities/{npn}/{key}?{query}&size=2")
    expected = {row["id"] for row in store_rows(service, key, [npn], where)}
    assert {r["id"] for r in records} == expected


def test_co_codes_filter(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, npns = subscribed
    codes = sorted({row["co_code"] for row in store_rows(service, "appointments", npns)})[:3]
    with service.client(creds) as http:
        records, _ = follow(http, f"/v2/appointments?coCodes={','.join(codes)}")
    assert records and {r["coCode"] for r in records} <= set(codes)
    expected = store_rows(service, "appointments", npns, lambda t: t.c.co_code.in_(codes))
    assert len(records) == len(expected)


def test_license_loa_filters_select_licenses_with_a_matching_loa(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, _ = subscribed
    with service.client(creds) as http:
        everything, _ = follow(http, "/v2/licenses?size=1000")
        by_code, _ = follow(http, "/v2/licenses?loaCodes=16")
        by_category, _ = follow(http, "/v2/licenses?loaCategories=casualty")
    assert {r["id"] for r in by_code} == {
        lic["id"] for lic in everything if any(loa["loaCode"] == "16" for loa in lic["licenseLoas"])
    }
    assert {r["id"] for r in by_category} == {
        lic["id"]
        for lic in everything
        if any("casualty" in loa["loaMapping"]["categories"] for loa in lic["licenseLoas"])
    }


def test_license_loa_filters_without_deleted_records_match_only_the_loas_served(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    """Under includeDeleted=false a license is served without its deleted LOAs: one
    whose only LOA of a code was deleted was still selected by that code, and showed
    no LOA of it."""
    creds, npns = subscribed
    loas = store_rows(service, "licenseLoas", npns)
    live = {(row["license_id"], row["loa_code"]) for row in loas if not row["nipr_deleted"]}
    gone = [r for r in loas if r["nipr_deleted"] and (r["license_id"], r["loa_code"]) not in live]
    assert gone, "the universe has no license whose LOAs of a code are all deleted"
    code, category = gone[0]["loa_code"], gone[0]["loa_categories"].split(",")[0]
    with service.client(creds) as http:
        served, _ = follow(http, "/v2/licenses?includeDeleted=false&size=1000")
        by_code, _ = follow(http, f"/v2/licenses?includeDeleted=false&loaCodes={code}")
        by_category, _ = follow(http, f"/v2/licenses?includeDeleted=false&loaCategories={category}")
    assert {r["id"] for r in by_code} == {
        lic["id"] for lic in served if any(loa["loaCode"] == code for loa in lic["licenseLoas"])
    }
    assert {r["id"] for r in by_category} == {
        lic["id"]
        for lic in served
        if any(category in loa["loaMapping"]["categories"] for loa in lic["licenseLoas"])
    }


@pytest.mark.parametrize("key", ["licenseLoas", "licenses"])
def test_loa_categories_match_whatever_case_the_store_holds(
    service: RunningService, universe_npns: list[str], key: str
) -> None:
    """A feed may write a category capitalised ("Title"); the filter lowers its values,
    and LIKE is case-blind on SQLite only: PostgreSQL never matched such a record."""
    creds = service.account()
    npn = universe_npns[390]
    service.subscribe(creds, [npn])
    table = BY_KEY["licenseLoas"].table
    loa = store_rows(service, "licenseLoas", [npn])[0]
    category = loa["loa_categories"].split(",")[0]

    def write(categories: str) -> None:
        with write_transaction(service.engine) as conn:
            conn.execute(
                table.update().where(table.c.id == loa["id"]).values(loa_categories=categories)
            )
            # The served documents follow, as every write of the store has them.
            documents.refresh(conn, table, [loa["id"]])
            documents.refresh(conn, BY_KEY["licenses"].table, [loa["license_id"]])

    write(category.capitalize())
    try:
        with service.client(creds) as http:
            for given in (category, category.upper()):
                found, _ = follow(http, f"/v2/{key}?loaCategories={given}")
                wanted = loa["id"] if key == "licenseLoas" else loa["license_id"]
                assert wanted in {r["id"] for r in found}, given
    finally:
        write(loa["loa_categories"])


def test_npns_filter_narrows_within_the_population(
    service: RunningService, subscribed: tuple[Credentials, list[str]], universe_npns: list[str]
) -> None:
    creds, npns = subscribed
    outsider = universe_npns[-1]
    with service.client(creds) as http:
        records, _ = follow(http, f"/v2/addresses?npns={npns[0]},{npns[1]},{outsider}")
    assert {r["npn"] for r in records} <= {npns[0], npns[1]}
    assert len(records) == len(store_rows(service, "addresses", npns[:2]))


def test_a_list_parameter_given_twice_takes_both_values(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, npns = subscribed
    licensed = store_rows(service, "licenses", npns)
    states = sorted({row["for_state"] for row in licensed})[:2]
    with service.client(creds) as http:
        repeated, _ = follow(http, f"/v2/entities?npns={npns[0]}&npns={npns[1]}")
        joined, _ = follow(http, f"/v2/entities?npns={npns[0]},{npns[1]}")
        by_state, _ = follow(http, f"/v2/licenses?states={states[0]}&states={states[1]}")
    assert sorted(r["npn"] for r in repeated) == sorted(npns[:2])
    assert repeated == joined
    assert {r["forState"] for r in by_state} == set(states)
    assert len(by_state) == sum(row["for_state"] in states for row in licensed)


def test_per_npn_list_auto_subscribes(service: RunningService, universe_npns: list[str]) -> None:
    creds = service.account()
    npn = universe_npns[100]
    with service.client(creds) as http:
        records, _ = follow(http, f"/v2/entities/{npn}/licenses")
        subs = http.get("/v1/accounts/subscriptions").json()
        entity = http.get(f"/v2/entities/{npn}").json()
    assert {r["npn"] for r in records} <= {npn}
    assert [s["npn"] for s in subs["embedded"]["subscriptions"]] == [npn]
    assert entity["npn"] == npn
    assert entity["links"]["licenses"]["href"].endswith(f"/v2/entities/{npn}/licenses")


def test_per_npn_list_of_an_unknown_npn_is_404_and_subscribes_nothing(
    service: RunningService,
) -> None:
    creds = service.account()
    with service.client(creds) as http:
        response = http.get("/v2/entities/9999999999/licenses")
        subs = http.get("/v1/accounts/subscriptions").json()
    assert response.status_code == 404
    assert subs["page"]["totalElements"] == 0


def test_sandbox_npns_readable_by_sandbox_accounts_without_subscribing(
    service: RunningService,
) -> None:
    sandbox, regular = service.account(sandbox=True), service.account()
    with service.client(sandbox) as http:
        entity = http.get("/v2/entities/15645555").json()
        licenses, _ = follow(http, "/v2/licenses")
        subs = http.get("/v1/accounts/subscriptions").json()
    assert {
        k: entity[k]
        for k in (
            "id",
            "npn",
            "type",
            "firstName",
            "middleName",
            "lastName",
            "updatedAt",
            "noLicenses",
            "niprDeleted",
        )
    } == {
        "id": 158583,
        "npn": "15645555",
        "type": "INDIVIDUAL",
        "firstName": "Joe",
        "middleName": "A",
        "lastName": "Producer",
        "updatedAt": "2025-06-13",
        "noLicenses": False,
        "niprDeleted": False,
    }
    assert licenses and {r["npn"] for r in licenses} == set(SANDBOX_NPNS)
    assert subs["page"]["totalElements"] == 0
    with service.client(regular) as http:
        assert "embedded" not in http.get("/v2/licenses").json()


def test_v1_record_by_id_and_its_links(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, npns = subscribed
    row = store_rows(service, "licenses", npns)[0]
    with service.client(creds) as http:
        record = http.get(f"/v1/licenses/{row['id']}").json()
        loas = http.get(record["links"]["licenseLoas"]["href"]).json()
    assert record["id"] == row["id"] and record["licenseNum"] == row["license_num"]
    assert {loa["id"] for loa in loas["embedded"]["licenseLoas"]} == {
        loa["id"] for loa in record["licenseLoas"]
    }


def test_children_lists_page_with_continuation_tokens(
    service: RunningService, subscribed: tuple[Credentials, list[str]]
) -> None:
    creds, npns = subscribed
    loas = store_rows(service, "licenseLoas", npns)
    per_license: dict[int, list[int]] = {}
    for row in loas:
        per_license.setdefault(row["license_id"], []).append(row["id"])
    license_id, expected = max(per_license.items(), key=lambda item: len(item[1]))
    with service.client(creds) as http:
        records, requests = follow(http, f"/v2/licenses/{license_id}/licenseLoas?size=1")
    assert [r["id"] for r in records] == sorted(expected)
    assert requests == len(expected) + 1


def test_per_npn_list_with_a_bad_token_subscribes_nothing(
    service: RunningService, universe_npns: list[str]
) -> None:
    creds = service.account()
    with service.client(creds) as http:
        response = http.get(f"/v2/entities/{universe_npns[5]}/licenses?continuationToken=x")
        subs = http.get("/v1/accounts/subscriptions").json()
    assert response.status_code == 400
    assert subs["page"]["totalElements"] == 0


def test_regulatory_action_values_of_an_action(
    service: RunningService, universe_npns: list[str]
) -> None:
    with service.engine.connect() as conn:
        table = BY_KEY["regulatoryActions"].table
        action = conn.execute(sa.select(table).limit(1)).mappings().first()
    assert action is not None, "the test universe should hold a regulatory action"
    creds = service.account()
    service.subscribe(creds, [action["npn"]])
    with service.client(creds) as http:
        body = http.get(f"/v2/regulatoryActions/{action['id']}/regulatoryActionValues").json()
        single = http.get(f"/v1/regulatoryActions/{action['id']}").json()
    values = body["embedded"]["regulatoryActionValues"]
    assert sorted(v["type"] for v in values) == ["DISPOSITION", "ORIGIN", "REASON"]
    assert {v["id"] for v in single["regulatoryActionValues"]} == {v["id"] for v in values}
    one = values[0]
    with service.client(creds) as http:
        assert http.get(f"/v1/regulatoryActionValues/{one['id']}").json()["value"] == one["value"]


def test_v1_page_list(service: RunningService, subscribed: tuple[Credentials, list[str]]) -> None:
    creds, npns = subscribed
    total = len(store_rows(service, "addresses", npns))
    with service.client(creds) as http:
        first = http.get("/v1/addresses?page=0&size=10").json()
        last_page = first["page"]["totalPages"] - 1
        last = http.get(f"/v1/addresses?page={last_page}&size=10").json()
        beyond = http.get(f"/v1/addresses?page={last_page + 1}&size=10").json()
    assert first["page"] == {
        "size": 10,
        "totalElements": total,
        "totalPages": -(-total // 10),
        "number": 0,
    }
    assert "next" in first["links"] and "prev" not in first["links"]
    assert "next" not in last["links"] and "prev" in last["links"]
    for body, number in ((first, 0), (last, last_page), (beyond, last_page + 1)):
        links = {name: link["href"] for name, link in body["links"].items()}
        assert links["self"].endswith(f"/v1/addresses?page={number}&size=10"), links
        assert links["first"].endswith("/v1/addresses?page=0&size=10"), links
        assert links["last"].endswith(f"/v1/addresses?page={last_page}&size=10"), links
    assert first["links"]["next"]["href"].endswith("/v1/addresses?page=1&size=10")
    assert last["links"]["prev"]["href"].endswith(f"/v1/addresses?page={last_page - 1}&size=10")
    assert len(last["embedded"]["addresses"]) == total - 10 * last_page
    assert "embedded" not in beyond


def test_records_of_the_largest_ids_page_on(
    service: RunningService, universe_npns: list[str]
) -> None:
    """Ids are BIGINTs, which a feed file may fill to 2**63 - 1: a token carried at most
    18 digits, so a list that reached a record of 19 refused its own links.next."""
    creds = service.account()
    npn = universe_npns[391]
    service.subscribe(creds, [npn])
    table = BY_KEY["addresses"].table
    row = dict(store_rows(service, "addresses", [npn])[0])
    big = [MAX_ROW_ID - 1, MAX_ROW_ID]
    with write_transaction(service.engine) as conn:
        conn.execute(table.insert(), [{**row, "id": i} for i in big])
        documents.refresh(conn, table, big)
    try:
        with service.client(creds) as http:
            for url in (f"/v2/addresses?npns={npn}&size=1", f"/v2/entities/{npn}/addresses?size=1"):
                found, _ = follow(http, url)
                assert [r["id"] for r in found][-2:] == big, url
            total = http.get(f"/v1/addresses?npns={npn}&size=1").json()["page"]["totalPages"]
            pages = [http.get(f"/v1/addresses?npns={npn}&size=1&page={n}") for n in range(total)]
            served = [page.json()["embedded"]["addresses"][0]["id"] for page in pages]
            assert served[-2:] == big
            assert http.get(f"/v1/addresses/{MAX_ROW_ID}").json()["id"] == MAX_ROW_ID
    finally:
        with write_transaction(service.engine) as conn:
            conn.execute(table.delete().where(table.c.id.in_(big)))


@pytest.mark.parametrize(
    ("path", "module", "counter"),
    [
        ("/v1/addresses", listing, "count_records"),
        ("/v1/accounts/subscriptions", subscriptions, "count_subscriptions"),
    ],
    ids=["records", "subscriptions"],
)
def test_a_v1_page_counts_the_rows_it_holds_though_a_writer_commits_between(
    service: RunningService,
    universe_npns: list[str],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    module: Any,
    counter: str,
) -> None:
    """A v1 page counts and reads in one snapshot: on PostgreSQL (READ COMMITTED) a
    daily run committing between the two gave a page of 129 licenses and a
    totalElements of 128."""
    creds = service.account()
    service.subscribe(creds, universe_npns[100:102])
    count = getattr(module, counter)

    def count_then_subscribe_one_more(conn: sa.Connection, *args: Any) -> int:
        total = int(count(conn, *args))
        with write_transaction(service.engine) as writer:  # another connection: it commits
            population = Population(creds.account_id, sandbox=False)
            assert subscribe_one(writer, population, universe_npns[102], utc_now())
        return total

    monkeypatch.setattr(module, counter, count_then_subscribe_one_more)
    with service.client(creds) as http:
        body = http.get(f"{path}?size=1000").json()
    items = next(iter(body["embedded"].values()))
    assert len(items) == body["page"]["totalElements"]


@pytest.mark.parametrize("sandbox", [False, True], ids=["subscribed", "with-sandbox"])
@pytest.mark.parametrize("key", ["licenses", "addresses"])
def test_changes_first_and_population_first_pages_agree(
    service: RunningService,
    subscribed: tuple[Credentials, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    sandbox: bool,
) -> None:
    """An ``updatedSince`` list starts from the changed records when they are few, and
    walks the population otherwise: both give the same records, pages, counts."""
    creds, npns = subscribed
    table = BY_KEY[key].table
    scope = Population(creds.account_id, sandbox)
    with service.engine.connect() as conn:
        dates = sorted(r.updated_at for r in conn.execute(sa.select(table.c.updated_at)))
    f = RecordFilter(updated_since=dates[len(dates) // 2], include_deleted=False)

    def pages() -> tuple[list[tuple[str, int]], int, list[tuple[str, int]]]:
        seen: list[tuple[str, int]] = []
        with service.engine.connect() as conn:
            after: tuple[str, int] | None = None
            while rows := list_after(conn, table, scope, f, after, 7):
                seen += [(row.npn, row.id) for row in rows]
                after = (rows[-1].npn, rows[-1].id)
            total = count_records(conn, table, scope, f)
            second = list_offset(conn, table, scope, f, 1, 5)
        return seen, total, [(row.npn, row.id) for row in second]

    from_changes = pages()
    monkeypatch.setattr(records, "FEW_CHANGES", 0)  # never "few": walk the population
    by_population = pages()
    assert from_changes == by_population
    seen, total, _ = from_changes
    assert seen and len(seen) == total and seen == sorted(seen)
    expected = store_rows(service, key, npns, lambda t: t.c.updated_at >= f.updated_since)
    if not sandbox:
        assert {i for _, i in seen} == {r["id"] for r in expected if not r["nipr_deleted"]}


def test_a_count_of_changes_stands_for_a_while(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a day's changes are few is counted once in ``COUNT_SECONDS`` per list and
    date, then again: the 8 lists of a sync do not each pay for a count twice over."""
    from producersync.service.store.tables import licenses

    counted: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower():
            counted.append(statement)

    now = [1_000.0]
    monkeypatch.setattr(records, "monotonic", lambda: now[0])
    monkeypatch.setattr(records, "FEW_CHANGES", 1)  # the store has more: not few
    since = dt.date(2001, 2, 3)  # a date no other test asks about
    sa.event.listen(service.engine, "before_cursor_execute", note)
    try:
        with service.engine.connect() as conn:
            assert records._few_changes(conn, licenses, since) is False
            assert records._few_changes(conn, licenses, since) is False
            assert len(counted) == 1
            now[0] += records.COUNT_SECONDS + 1
            records._few_changes(conn, licenses, since)
            assert len(counted) == 2
            monkeypatch.setattr(records, "FEW_CHANGES", 10**9)  # the threshold is read anew
            assert records._few_changes(conn, licenses, since) is True
            assert len(counted) == 2
    finally:
        sa.event.remove(service.engine, "before_cursor_execute", note)


def test_the_counts_kept_are_bounded(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client walking dates, one request each, left a count per date for good: the
    service grew without limit. The counts kept are bounded in number and in age, and a
    count still stands for its date while fresh."""
    from producersync.service.store.tables import licenses

    now = [2_000_000.0]  # after any count other tests left
    monkeypatch.setattr(records, "monotonic", lambda: now[0])
    monkeypatch.setattr(records, "FEW_CHANGES", 1)
    monkeypatch.setattr(records, "COUNTS_KEPT", 8)
    dates = [dt.date(1900, 1, 1) + dt.timedelta(days=i) for i in range(20)]
    counted: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(" in statement.lower():
            counted.append(statement)

    with service.engine.connect() as conn:
        for day in dates:
            records._few_changes(conn, licenses, day)
            now[0] += 0.01
        assert len(records._COUNTS[service.engine]) == 8
        sa.event.listen(service.engine, "before_cursor_execute", note)
        try:
            records._few_changes(conn, licenses, dates[-1])  # fresh: not counted again
            assert counted == []
            now[0] += records.COUNT_SECONDS + 1
            records._few_changes(conn, licenses, dates[0])
            assert len(counted) == 1
        finally:
            sa.event.remove(service.engine, "before_cursor_execute", note)
        assert len(records._COUNTS[service.engine]) == 1  # the stale ones dropped
