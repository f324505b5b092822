"""A population pass's entity pages mark the NPNs they serve active: the activations still
on their way then fetch nothing, and the time they are marked from lets a deactivation
win only where it may be the later change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from producersync.client import Client
from producersync.sync import mirror
from producersync.sync.mirror.engine import write_transaction
from producersync.sync.mirror.queries import population_entry
from producersync.sync.mirror.tables import as_utc
from producersync.sync.pull import ACTIVATION_SKEW, Puller, streams
from tests.sync.mirror_data import BACKENDS, fresh_mirror, wire


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with fresh_mirror(request.param, tmp_path) as engine:
        yield engine


def _serving(records: list[dict[str, Any]]) -> Client:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oauth2/token":
            return httpx2.Response(200, json={"access_token": "t", "expires_in": 3600})
        resource = request.url.path.rsplit("/", 1)[1]
        end = {"href": f"/v2/{resource}?continuationToken=0"}
        embedded = {resource: records} if resource == "entities" else {}
        return httpx2.Response(200, json={"embedded": embedded, "links": {"self": end}})

    return Client("id", "secret", base_url="http://api", transport=httpx2.MockTransport(handler))


def _entities_stream(activating: bool) -> Any:
    return next(s for s in streams(activating=activating) if s.resource == "entities")


def test_only_an_activating_entity_stream_marks_its_npns(engine: sa.Engine) -> None:
    records = wire().records["entities"][:4]
    puller = Puller(_serving(records), engine, 1000)
    assert not any(s.activates for s in streams() if s.resource == "entities")
    assert [s.resource for s in streams(activating=True) if s.activates] == ["entities"]

    puller.page(_entities_stream(False), None, None)
    with engine.connect() as conn:
        assert mirror.active_npns(conn) == []

    before = dt.datetime.now(dt.UTC)
    puller.page(_entities_stream(True), None, None)
    npns = sorted(r["npn"] for r in records)
    with engine.connect() as conn:
        assert mirror.active_npns(conn) == npns
        marked = population_entry(conn, npns[0])
    assert marked is not None and marked.activated_at is not None
    stamp = as_utc(marked.activated_at)
    assert before - ACTIVATION_SKEW <= stamp <= dt.datetime.now(dt.UTC) - ACTIVATION_SKEW


def test_a_later_deactivation_wins_over_the_mark_and_an_older_one_loses(
    engine: sa.Engine,
) -> None:
    records = wire().records["entities"][:2]
    late, stale = sorted(r["npn"] for r in records)
    Puller(_serving(records), engine, 1000).page(_entities_stream(True), None, None)
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        # After the page: a real change. An hour before it: the NPN was subscribed again
        # since (it was served), so this deactivation is not the last word.
        assert mirror.deactivate_npns(conn, [late], now, purge=False) == [late]
        assert mirror.deactivate_npns(conn, [stale], now - dt.timedelta(hours=1), purge=False) == []
        assert mirror.active_npns(conn) == [stale]
        # The activation event of the NPN marked already fetches nothing.
        assert mirror.activate_npns(conn, [stale], now - dt.timedelta(minutes=1)) == []
