"""Every v2 page is an index seek (the contract's §11): the plans of the record lists'
keyset pages, on PostgreSQL and SQLite, over a store of realistic proportions and
planner statistics, read no record table whole and sort no more than a page's worth of
records, or what the request bounds itself (one NPN, the NPNs named by ``npns``, the
day's changes when they are few).

The store: 12,000 NPNs of which the account monitors 400 (3 %, as 10,000 of 320,000),
another account 3,000; two records of each kind per NPN, each as wide as the universe's
stored documents; a hundredth of the records changed on each of 100 days. Analysed as the
store is after every bulk write (``after_bulk_write``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.service.api.resources import RESOURCES, Resource
from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import outbox
from producersync.service.store.maintenance import after_bulk_write
from producersync.service.store.open import open_store
from producersync.service.store.population import Population
from producersync.service.store.records import (
    FEW_CHANGES,
    RecordFilter,
    Scope,
    list_after,
)
from producersync.service.store.tables import (
    RECORD_TABLES,
    entities,
    license_loas,
    metadata,
    regulatory_action_values,
    subscriptions,
)
from tests.conftest import BACKENDS
from tests.support.databases import migrated_store, plan_tree, query_plans

pytestmark = pytest.mark.slow(40)

NPNS = 12_000
PER_NPN = 2  # records of each kind per NPN: 24,000 of each, FEW_CHANGES or more
FIRST_NPN = 1_000_000
EVERY = 30  # the account monitors every 30th NPN: 400 of them
OTHERS = 3_000  # NPNs another account monitors
ACCOUNT, OTHER = 77, 78
DAYS = 100
FIRST_DAY = dt.date(2025, 1, 1)
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
# A page as small a part of the population's records (800 of each kind) as the default
# 250 is of a 10,000-NPN population's (29,000 licenses): the planner weighs the walk that
# stops after a page against reading them all.
PAGE = 25
# The width of each table's stored document (the mean of a generated universe's).
WIDTHS = {
    "licenses": 1900,
    "license_loas": 530,
    "appointments": 550,
    "addresses": 430,
    "contact_infos": 370,
    "other_names": 360,
    "regulatory_actions": 1700,
    "regulatory_action_values": 400,
}
_LARGE = {table.name for table in RECORD_TABLES} | {subscriptions.name}
_FIRST_COLUMNS = {
    str(index.name): next(iter(index.columns)).name
    for table in metadata.tables.values()
    for index in [*table.indexes, table.primary_key]
}


def _numbers(kind: str, n: int) -> str:
    if kind == "postgres":
        return f"generate_series(1, {n}) AS s(n)"
    return (
        f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n})"
        " SELECT n FROM s) AS s"
    )


def _day(kind: str, offset: str) -> str:
    if kind == "postgres":
        return f"(DATE '{FIRST_DAY}' + ({offset}))"
    return f"date('{FIRST_DAY}', '+' || ({offset}) || ' days')"


def _fill(conn: sa.Connection, kind: str, table: sa.Table) -> None:
    """The table's rows, made by the database: n = 1, 2, ... and each NPN's ``PER_NPN``
    in a row (the LOAs: two per license)."""
    rows = NPNS if table is entities else NPNS * PER_NPN
    of = 1 if table is entities else PER_NPN
    if table is license_loas:
        rows, of = rows * 2, of * 2
    values = {
        "id": "n",
        "npn": f"CAST({FIRST_NPN} + (n - 1) / {of} AS VARCHAR(10))",
        "created_at": _day(kind, "0"),
        "updated_at": _day(kind, f"n % {DAYS}"),
        "nipr_deleted": "(n % 50 = 0)",
    }
    if "document" in table.c:
        values["document"] = f"substr('{'x' * 2000}', 1, {WIDTHS[table.name]})"
    if "for_state" in table.c:
        values["for_state"] = "substr('MOCACOTXNY', (n % 5) * 2 + 1, 2)"
    extra = {
        "type": "'INDIVIDUAL'",
        "first_name": "'Firstname'",
        "last_name": "'Lastname-' || CAST(n AS VARCHAR(10))",
        "active": "(n % 3 <> 0)",
        "license_id": "(n + 1) / 2",
        "regulatory_action_id": "n",
        "loa_code": "CAST(n % 40 AS VARCHAR(16))",
        "loa_categories": "CASE WHEN n % 4 = 0 THEN 'life,health' ELSE 'property,casualty' END",
        "co_code": "CAST(10000 + n % 300 AS VARCHAR(5))",
        "status": "CASE WHEN n % 5 = 0 THEN 'Inactive' ELSE 'Active' END",
    }
    values |= {name: sql for name, sql in extra.items() if name in table.c}
    if table is regulatory_action_values:
        values["type"] = "'Fine'"
    conn.execute(
        sa.text(
            f"INSERT INTO {table.name} ({', '.join(values)})"
            f" SELECT {', '.join(values.values())} FROM {_numbers(kind, rows)}"
        )
    )


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    kind = request.param
    with migrated_store(kind, tmp_path_factory.mktemp(kind)) as url:
        engine = open_store(url)
        try:
            with engine.begin() as conn:
                for table in RECORD_TABLES:
                    conn.execute(table.delete())  # the sandbox's producers
                    _fill(conn, kind, table)
                for account, every, count in ((ACCOUNT, EVERY, NPNS // EVERY), (OTHER, 1, OTHERS)):
                    conn.execute(
                        sa.text(
                            "INSERT INTO accounts (id, name, sandbox, created_at)"
                            f" VALUES ({account}, 'plans {account}', false, CURRENT_TIMESTAMP)"
                        )
                    )
                    conn.execute(
                        sa.text(
                            "INSERT INTO subscriptions (account_id, npn, activated_at)"
                            f" SELECT {account}, CAST({FIRST_NPN} + n * {every} AS VARCHAR(10)),"
                            f" CURRENT_TIMESTAMP FROM {_numbers(kind, count)}"
                        )
                    )
                # The sandbox's two producers, with records of each kind.
                for table in RECORD_TABLES:
                    for n, npn in enumerate(SANDBOX_NPNS, start=10_000_000):
                        conn.execute(
                            sa.text(
                                f"INSERT INTO {table.name} ({', '.join(_SANDBOX_ROW[table.name])})"
                                f" VALUES ({', '.join(_SANDBOX_ROW[table.name].values())})"
                            ),
                            {"id": n, "npn": npn},
                        )
            after_bulk_write(engine, [*RECORD_TABLES, subscriptions])
            yield engine
        finally:
            engine.dispose()


def _sandbox_row(table: sa.Table) -> dict[str, str]:
    row = {"id": ":id", "npn": ":npn", "created_at": "'2021-04-04'", "updated_at": "'2021-04-04'"}
    needed = {"type": "'INDIVIDUAL'", "active": "true", "license_id": ":id"}
    needed["regulatory_action_id"] = ":id"
    return row | {name: sql for name, sql in needed.items() if name in table.c}


_SANDBOX_ROW = {table.name: _sandbox_row(table) for table in RECORD_TABLES}


@dataclass(frozen=True)
class Case:
    resource: Resource
    filters: str
    f: RecordFilter
    scope: str  # "population", "sandbox" (a sandbox account's), or "npn" (one NPN's list)
    page: str  # "first", or "later" (a continuation token's position)

    @property
    def bounded(self) -> bool:
        """Whether the request bounds the records it selects, whatever the store holds:
        one NPN's, or those of the NPNs it names."""
        return self.scope == "npn" or self.f.npns is not None

    def __str__(self) -> str:
        return f"{self.resource.key}-{self.filters}-{self.scope}-{self.page}"


_MONITORED = [str(FIRST_NPN + k * EVERY) for k in range(1, NPNS // EVERY + 1)]
_NAMED = tuple(_MONITORED[::20])  # 20 of them, as a sync's npn.activated batch
_MIDDLE = (_MONITORED[len(_MONITORED) // 2], 0)  # a later page starts here


def _filters(resource: Resource) -> dict[str, RecordFilter]:
    """The lists a client asks for: unfiltered, by NPNs, one day's changes (few), every
    change since long ago (FEW_CHANGES or more: the population's walk), both, without
    deleted records, by state."""
    found = {
        "none": RecordFilter(),
        "npns": RecordFilter(npns=_NAMED),
        "day": RecordFilter(updated_since=LAST_DAY),
        "npns+day": RecordFilter(npns=_NAMED, updated_since=LAST_DAY),
        "undeleted": RecordFilter(include_deleted=False),
    }
    if resource.table is not entities:
        # Entities are 12,000: every one changed since the first day is still few.
        found["since-first-day"] = RecordFilter(updated_since=FIRST_DAY)
    if "states" in resource.filters:
        found["states"] = RecordFilter(states=("MO", "CA"))
        found["states+day"] = RecordFilter(states=("MO",), updated_since=LAST_DAY)
    return found


def _cases() -> Iterator[Case]:
    for resource in RESOURCES:
        if not resource.v2_list:
            continue
        for name, f in _filters(resource).items():
            # A per-NPN list takes every filter but npns.
            per_npn = resource.per_npn and f.npns is None
            scopes = ["population", "npn"] if per_npn else ["population"]
            if name == "none":
                scopes.append("sandbox")
            for scope in scopes:
                for page in ("first", "later"):
                    yield Case(resource, name, f, scope, page)


CASES = list(_cases())


def _scope(case: Case) -> Scope:
    if case.scope == "npn":
        return _MONITORED[7]
    return Population(ACCOUNT, sandbox=case.scope == "sandbox")


def _faults(kind: str, case: Case, statement: str, plan: Any) -> list[str]:
    """What in the plan of one of the page's statements reads more than an index seek:
    a scan of a whole large table; a sort of every record selected. Sorts that stay: of
    what the request bounds (one NPN's records, those of the NPNs it names), of the day's
    changes when they are few (the page starts from them: records._scoped), of a page
    (the pages a sandbox account's is merged from: records._page)."""
    if "ORDER BY" not in statement and case.filters == "since-first-day":
        # The count of the changes since then, up to FEW_CHANGES: every record changed,
        # so read in the table's order until that many are found.
        return []
    faults: list[str] = []
    if kind == "sqlite":
        steps: list[str] = plan
        changes = any(step.startswith("SCAN changed") for step in steps)
        for before, step in zip(["", *steps], steps, strict=False):
            words = step.split()
            if words[:1] == ["SCAN"] and words[1] in _LARGE:  # through an index or not
                faults.append(step)
            a_page = before.startswith("SCAN anon_")  # a subquery's rows alone: its page
            if step.startswith("USE TEMP B-TREE FOR") and not (case.bounded or changes or a_page):
                faults.append(step)
        return faults
    merged = {
        id(below)
        for node in plan_tree(plan)
        if node["Node Type"] == "Merge Join"
        for below in node["Plans"]
    }
    for node in plan_tree(plan):
        relation = node.get("Relation Name")
        if relation in _LARGE and not _seeks(node, id(node) in merged):
            faults.append(f"{node['Node Type']} on {relation}, whole")
        if node["Node Type"] == "Sort" and not (case.bounded or _of_a_page(node)):
            below = list(plan_tree(node))
            if not any(n.get("CTE Name") == "changed" for n in below):
                read = sorted({n["Relation Name"] for n in below if "Relation Name" in n})
                faults.append(f"Sort of {node['Plan Rows']} rows from {read}")
    return faults


def _seeks(scan: dict[str, Any], merged: bool) -> bool:
    """Whether a PostgreSQL scan seeks its index: a condition on the index's first
    column. Or reads it in the page's order (by NPN) as one side of a merge join with
    the population, which the page's Limit stops at its last NPN."""
    index = scan.get("Index Name")
    if index is None:
        return False
    first = _FIRST_COLUMNS[index]
    condition = scan.get("Index Cond", "")
    return bool(re.search(rf"\b{first}\b", condition)) or (merged and first == "npn")


def _of_a_page(sort: dict[str, Any]) -> bool:
    """Whether a PostgreSQL Sort sorts the rows of a Limit (through the nodes that pass
    rows on as they come), and so a page at most."""
    node = sort
    while True:
        inputs = [n for n in node.get("Plans", []) if n.get("Parent Relationship") == "Outer"]
        if not inputs:
            return False
        node = inputs[0]
        if node["Node Type"] == "Limit":
            return True
        if node["Node Type"] not in ("Subquery Scan", "Result"):
            return False


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_keyset_page_is_an_index_seek(store: sa.Engine, case: Case) -> None:
    kind = "sqlite" if store.dialect.name == "sqlite" else "postgres"
    after = _MIDDLE if case.page == "later" else None
    if case.scope == "npn" and after is not None:
        after = (_MONITORED[7], 0)
    with query_plans(store) as planned, store.connect() as conn:
        rows = list_after(conn, case.resource.table, _scope(case), case.f, after, PAGE)
    faults = [fault for s, plan in planned for fault in _faults(kind, case, s, plan)]
    assert faults == []
    assert FEW_CHANGES <= NPNS * PER_NPN  # the since-first-day lists walk the population
    assert rows or case.filters != "none"  # the walk found records: the store is filled


ATTEMPTS = 20_000  # to each of two endpoints; one in 400 failed
FANOUT = 2_000  # endpoints the newest message went to, beside those two


@pytest.fixture(scope="module", params=BACKENDS)
def attempts_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """A store whose two endpoints were each sent ``ATTEMPTS`` messages, one attempt
    each, one in 400 failed, and whose newest message, ``msg_fanout``, went to
    ``FANOUT`` more (queued in an order their ids are not in); analysed."""
    kind = request.param
    with migrated_store(kind, tmp_path_factory.mktemp(kind)) as url:
        engine = open_store(url)
        if kind == "postgres":
            at = "(TIMESTAMPTZ '2025-01-01' + n * INTERVAL '1 second')"
        else:
            at = "strftime('%Y-%m-%d %H:%M:%f', '2025-01-01', '+' || n || ' seconds')"
        endpoint = "'ep_' || CAST(n % 2 AS VARCHAR(1))"
        rows = {
            "webhook_messages": "'msg_' || CAST(n AS VARCHAR(10)), 1, 'producersync.npn.activated',"
            f" '{{}}', {at}, n",
            "webhook_deliveries": f"n, 'msg_' || CAST(n AS VARCHAR(10)), {endpoint},"
            f" 'succeeded', 1, {at}, {at}",
            "webhook_attempts": f"n, n, 'msg_' || CAST(n AS VARCHAR(10)), {endpoint},"
            f" 'producersync.npn.activated', 1, 'scheduled', {at}, n % 400 <> 0, 200, 5",
        }
        columns = {
            "webhook_messages": "id, account_id, event_type, payload, created_at, seq",
            "webhook_deliveries": "id, message_id, endpoint_id, state, attempts, created_at,"
            " updated_at",
            "webhook_attempts": "id, delivery_id, message_id, endpoint_id, event_type,"
            " attempt_number, trigger, attempted_at, succeeded, status_code, duration_ms",
        }
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO accounts (id, name, sandbox, created_at)"
                        " VALUES (1, 'attempts', false, CURRENT_TIMESTAMP)"
                    )
                )
                for n in range(2):
                    conn.execute(
                        sa.text(
                            "INSERT INTO webhook_endpoints (id, account_id, url, description,"
                            " enabled, created_at, updated_at, seq) VALUES"
                            f" ('ep_{n}', 1, 'https://h', '', true, CURRENT_TIMESTAMP,"
                            f" CURRENT_TIMESTAMP, {100 + n})"
                        )
                    )
                for table, values in rows.items():
                    conn.execute(
                        sa.text(
                            f"INSERT INTO {table} ({columns[table]}) SELECT {values}"
                            f" FROM {_numbers(kind, 2 * ATTEMPTS)}"
                        )
                    )
                _fan_out(conn, kind, at, columns)
            after_bulk_write(engine, [metadata.tables[name] for name in rows])
            yield engine
        finally:
            engine.dispose()


def _fan_out(conn: sa.Connection, kind: str, at: str, columns: dict[str, str]) -> None:
    """``msg_fanout``, the newest message, and its ``FANOUT`` endpoints and deliveries:
    the delivery ids after the others', the endpoint ids' order the reverse of theirs."""
    last = 2 * ATTEMPTS + 1
    conn.execute(
        sa.text(
            "INSERT INTO webhook_endpoints (id, account_id, url, description, enabled,"
            " created_at, updated_at, seq) SELECT 'ep_f' || CAST(100000 - n AS VARCHAR(10)),"
            " 1, 'https://h', '', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 200 + n"
            f" FROM {_numbers(kind, FANOUT)}"
        )
    )
    conn.execute(
        sa.text(
            f"INSERT INTO webhook_messages ({columns['webhook_messages']}) SELECT 'msg_fanout',"
            f" 1, 'producersync.npn.activated', '{{}}', {at}, n FROM (SELECT {last} AS n) AS s"
        )
    )
    conn.execute(
        sa.text(
            f"INSERT INTO webhook_deliveries ({columns['webhook_deliveries']})"
            f" SELECT {2 * ATTEMPTS} + n, 'msg_fanout', 'ep_f' || CAST(100000 - n AS VARCHAR(10)),"
            f" 'pending', 0, {at}, {at} FROM {_numbers(kind, FANOUT)}"
        )
    )


@pytest.mark.parametrize("page", ["first", "later"])
def test_a_page_of_an_endpoint_s_failed_attempts_is_an_index_seek(
    attempts_store: sa.Engine, page: str
) -> None:
    """``outcome=failed``: the failed attempts are read from their own stretch of an
    index, where SQLite read the endpoint's attempts back until 50 had failed (all
    20,000 when fewer had) and PostgreSQL scanned every attempt and sorted the failed."""
    kind = "sqlite" if attempts_store.dialect.name == "sqlite" else "postgres"
    before = 2 * ATTEMPTS - 2 * 400 * 30 if page == "later" else None
    with query_plans(attempts_store) as planned, attempts_store.connect() as conn:
        found = outbox.list_attempts(
            conn, endpoint_id="ep_0", limit=20, before=before, succeeded=False
        )
    assert len(found) == 20 and not any(attempt.succeeded for attempt in found)
    (plan,) = [p for s, p in planned if "ORDER BY" in s]
    if kind == "sqlite":
        (step,) = plan  # no sort after it
        assert step.startswith(
            "SEARCH webhook_attempts USING INDEX"
            " ix_webhook_attempts_endpoint_id_succeeded_attempted_at_id"
            " (endpoint_id=? AND succeeded=?"
        )
        return
    scans = [node for node in plan_tree(plan) if node.get("Relation Name") == "webhook_attempts"]
    assert [node.get("Index Name") for node in scans] == [
        "ix_webhook_attempts_endpoint_id_succeeded_attempted_at_id"
    ]
    assert "succeeded = false" in scans[0]["Index Cond"]
    assert not [node for node in plan_tree(plan) if node["Node Type"] == "Sort"]


@pytest.mark.parametrize("page", ["first", "later"])
def test_a_page_of_a_message_s_deliveries_is_an_index_seek(
    attempts_store: sa.Engine, page: str
) -> None:
    """A message's deliveries, listed by endpoint a page at a time (its views carry them
    all): read in the order of the ``(message_id, endpoint_id)`` unique index, from the
    cursor on, with no sort."""
    kind = "sqlite" if attempts_store.dialect.name == "sqlite" else "postgres"
    before = "ep_1" if page == "later" else None
    with query_plans(attempts_store) as planned, attempts_store.connect() as conn:
        found = outbox.deliveries_by_endpoint(conn, "msg_2", limit=20, before=before)
    assert [row.endpoint_id for row in found] == ["ep_0"]
    (plan,) = [p for s, p in planned if "ORDER BY" in s]
    if kind == "sqlite":
        (step,) = plan  # no sort after it
        assert step.startswith("SEARCH webhook_deliveries USING INDEX"), step
        assert "(message_id=?" in step, step
        return
    scans = [node for node in plan_tree(plan) if node.get("Relation Name") == "webhook_deliveries"]
    assert len(scans) == 1 and "message_id" in scans[0].get("Index Cond", ""), plan
    assert not [node for node in plan_tree(plan) if node["Node Type"] == "Sort"]


@pytest.mark.parametrize("page", ["first", "later"])
@pytest.mark.parametrize("by_type", [False, True], ids=["all", "one-type"])
def test_a_page_of_an_account_s_messages_is_an_index_seek(
    attempts_store: sa.Engine, page: str, by_type: bool
) -> None:
    """``GET /v1/webhooks/messages``: newest first from the ``(account_id, created_at,
    seq)`` index, or its event type's, from the cursor on, with no sort."""
    kind = "sqlite" if attempts_store.dialect.name == "sqlite" else "postgres"
    narrowed = (
        outbox.LogFilter(event_types=frozenset({"producersync.npn.activated"}))
        if by_type
        else outbox.EVERYTHING
    )
    with attempts_store.connect() as conn:
        cursor = outbox.get_message(conn, 1, f"msg_{ATTEMPTS}") if page == "later" else None
        with query_plans(attempts_store) as planned:
            found = outbox.list_messages(conn, 1, limit=20, before=cursor, narrowed=narrowed)
    assert len(found) == 20
    (plan,) = [p for s, p in planned if "ORDER BY" in s]
    if kind == "sqlite":
        assert not [step for step in plan if "TEMP B-TREE" in step], plan
        (step,) = [step for step in plan if "webhook_messages" in step]
        assert step.startswith(
            "SEARCH webhook_messages USING INDEX ix_webhook_messages_account_id_"
        )
        return
    scans = [node for node in plan_tree(plan) if node.get("Relation Name") == "webhook_messages"]
    assert scans and all("account_id" in node.get("Index Cond", "") for node in scans), plan
    assert not [node for node in plan_tree(plan) if node["Node Type"] == "Sort"]


QUEUE_PAGES = {  # the portal's fetches of a page of a message's deliveries, and its links'
    "newest": {},
    "older": {"before": 2 * ATTEMPTS + FANOUT // 2},
    "newer": {"after": 2 * ATTEMPTS + FANOUT // 2},
    "oldest": {"oldest": True},
}


@pytest.mark.parametrize("page", list(QUEUE_PAGES))
def test_a_page_of_a_message_s_deliveries_in_queue_order_is_an_index_seek(
    attempts_store: sa.Engine, page: str
) -> None:
    """The portal's message page, its deliveries in the order queued: the page's ids read
    from the ``(message_id, id)`` index (migration 0025) from the cursor on, then their
    rows by id; nothing sorted but the page. Before, SQLite read every delivery of the
    message (2,000) by the ``(message_id, endpoint_id)`` index and sorted them for each
    page, and PostgreSQL walked the primary key back, testing each delivery's message."""
    kind = "sqlite" if attempts_store.dialect.name == "sqlite" else "postgres"
    with query_plans(attempts_store) as planned, attempts_store.connect() as conn:
        found = outbox.message_deliveries(conn, "msg_fanout", limit=20, **QUEUE_PAGES[page])
    first = {"newest": 2 * ATTEMPTS + FANOUT, "older": 2 * ATTEMPTS + FANOUT // 2 - 1}
    first |= {"newer": 2 * ATTEMPTS + FANOUT // 2 + 1, "oldest": 2 * ATTEMPTS + 1}
    step = -1 if page in ("newest", "older") else 1
    assert [d.id for d in found] == list(range(first[page], first[page] + 20 * step, step))
    (plan,) = [p for s, p in planned if "ORDER BY" in s]
    if kind == "sqlite":
        by_id, listed, seek = plan  # no sort
        assert by_id == "SEARCH webhook_deliveries USING INTEGER PRIMARY KEY (rowid=?)"
        assert listed == "LIST SUBQUERY 1"
        assert seek.startswith(
            "SEARCH webhook_deliveries USING COVERING INDEX ix_webhook_deliveries_message_id_id"
            " (message_id=?"
        ), plan
        return
    nodes = list(plan_tree(plan))
    scans = {
        node.get("Index Name"): node.get("Index Cond", "")
        for node in nodes
        if node.get("Relation Name") == "webhook_deliveries"
    }
    assert scans.keys() == {"ix_webhook_deliveries_message_id_id", "pk_webhook_deliveries"}
    assert "message_id = " in scans["ix_webhook_deliveries_message_id_id"], plan
    assert scans["pk_webhook_deliveries"].startswith("(id = "), plan
    assert all(node["Plan Rows"] <= 20 for node in nodes if node["Node Type"] == "Sort"), plan
