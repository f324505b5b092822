"""An account sees only its own population, jobs and records, by every endpoint."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from producersync.service.api.resources import BY_KEY, RESOURCES
from tests.support.service import Credentials, RunningService


@pytest.fixture(scope="module")
def pair(
    service: RunningService, universe_npns: list[str]
) -> tuple[Credentials, Credentials, list[str], str]:
    a, b = service.account(), service.account()
    # A's population holds at least one record of every kind, rare ones included.
    with service.engine.connect() as conn:
        rare = [
            conn.execute(sa.select(BY_KEY[key].table.c.npn).limit(1)).scalar_one()
            for key in ("regulatoryActions", "otherNames")
        ]
    a_npns = sorted(set(universe_npns[200:230] + rare))
    b_npns = [n for n in universe_npns[300:305] if n not in a_npns]
    with service.client(a) as http:
        job_id = http.put("/v1/accounts/subscriptions", json=a_npns).json()["job_id"]
    service.subscribe(a, [])  # waits behind A's job: jobs of one account apply in order
    service.subscribe(b, b_npns)
    return a, b, a_npns, job_id


@pytest.mark.parametrize("key", [r.key for r in RESOURCES if r.v2_list])
def test_lists_of_b_hold_none_of_a_npns(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str], key: str
) -> None:
    _, b, a_npns, _ = pair
    with service.client(b) as http:
        v2 = http.get(f"/v2/{key}?size=1000&npns={','.join(a_npns)}").json()
        v2_all = http.get(f"/v2/{key}?size=1000").json()
        v1 = http.get(f"/v1/{key}?size=1000").json()
    assert "embedded" not in v2
    for body in (v2_all, v1):
        assert not {r["npn"] for r in body.get("embedded", {}).get(key, [])} & set(a_npns)


@pytest.mark.parametrize("key", [r.key for r in RESOURCES if r.key != "entities"])
def test_b_cannot_read_a_record_by_id(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str], key: str
) -> None:
    a, b, a_npns, _ = pair
    table = BY_KEY[key].table
    with service.engine.connect() as conn:
        record_id = conn.execute(
            sa.select(table.c.id).where(table.c.npn.in_(a_npns)).limit(1)
        ).scalar()
    assert record_id is not None
    with service.client(a) as http:
        assert http.get(f"/v1/{key}/{record_id}").status_code == 200
    with service.client(b) as http:
        response = http.get(f"/v1/{key}/{record_id}")
    assert response.status_code == 404


def test_b_cannot_read_a_children_lists(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    _, b, a_npns, _ = pair
    licenses = BY_KEY["licenses"].table
    with service.engine.connect() as conn:
        license_id = conn.execute(
            sa.select(licenses.c.id).where(licenses.c.npn.in_(a_npns)).limit(1)
        ).scalar_one()
    with service.client(b) as http:
        assert http.get(f"/v2/licenses/{license_id}/licenseLoas").status_code == 404


def test_b_cannot_read_a_jobs_or_subscriptions(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    a, b, a_npns, job_id = pair
    with service.client(a) as http:
        assert http.get(f"/v1/accounts/subscriptions/status/{job_id}").status_code == 200
    with service.client(b) as http:
        status = http.get(f"/v1/accounts/subscriptions/status/{job_id}")
        details = http.get(f"/v1/accounts/subscriptions/status/{job_id}/details")
        subs = http.get("/v1/accounts/subscriptions?size=1000").json()
    assert status.status_code == 404 and details.status_code == 404
    assert not {s["npn"] for s in subs["embedded"]["subscriptions"]} & set(a_npns)


def test_b_removing_a_npns_changes_nothing_for_a(
    service: RunningService, pair: tuple[Credentials, Credentials, list[str], str]
) -> None:
    a, b, a_npns, _ = pair
    with service.client(b) as http:
        job = http.request("DELETE", "/v1/accounts/subscriptions", json=a_npns[:3]).json()
    status = service.subscribe(b, [])
    assert status["status"] == "COMPLETED"
    with service.client(b) as http:
        detail = http.get(f"/v1/accounts/subscriptions/status/{job['job_id']}/details").json()
    assert {d["result"] for d in detail["embedded"]["details"]} == {"UNCHANGED"}
    with service.client(a) as http:
        subs = http.get("/v1/accounts/subscriptions?size=1000").json()
    assert {s["npn"] for s in subs["embedded"]["subscriptions"]} == set(a_npns)
